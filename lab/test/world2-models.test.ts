/**
 * The v2 models' pieces (lab/world2): ToonGAN v2's latent decoding is smooth, monotone in each factor's own
 * coordinate, covers the named values with their schema probabilities, and style mixing takes every factor group whole
 * from the latent that owns it; the v2 classifier's labels are masked in the gaps, its regression targets round-trip,
 * and its graph (the v1 classifier with a regression head) survives the fp16 asset.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {LATENT_DECODING_VERSION} from '../demo/toon-gan.js';
import {forward, heldOutLatents} from '../demo/train-gan.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {readBytes} from '../../src/io/files.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {zeroShotAccuracyV2} from '../world2/clip-eval.js';
import {renderFactorsTensor} from '../world2/render.js';
import {attributeNames, attributeSchema, attributeValues} from '../../src/demo/attributes.js';
import {DemoClassifier, type ClassifierConfig, demoClassifierFromBytes, initClassifierState, loadDemoClassifier} from '../../src/demo/classifier.js';
import {Rng} from '../../src/demo/rng.js';
import {mulberry32Normal} from '../../src/random.js';
import {classifierAssetBytes} from '../demo/train-classifier.js';
import {pixelWeights} from '../demo/train-gan.js';
import {LABEL_WIDTH, REGRESSION_WIDTH, decodeRegression, encodeFaces, evaluateClassifierV2, labelOf, regressionTargets, renderFaces, trainingBatchV2} from '../world2/classifier.js';
import {type FactorName, type Factors, factorNames, factorSpecs, namedRegions, prototypeFactors, regionSlack, regionValue, sampleFactors} from '../world2/factors.js';
import {
  ATTRIBUTE_COORDS_V2, GAP_SHARE, LAYOUT_COORDS_V2, MIX_OWNER_V2, USED_DIMS_V2, decodeLatentV2, decodeMixedV2, decodeUniforms, factorGroup,
  LATENT_DECODING_V2, POLAR_CORE, decodeLatentPolar, generatorWorld, latentUniforms, polarColour, toonGanV2World,
} from '../world2/toon-gan.js';

const D = 64;
/** The colour attributes (decoded separably from OKLab L, a, b). */
const COLOURS = ['hairColor', 'eyeColor', 'background'] as const;
const latent = (rnd: () => number): Float32Array => Float32Array.from({length: D}, () => rnd());
const relSpan = (n: FactorName): number => factorSpecs[n].max - factorSpecs[n].min;
const diff = (n: FactorName, a: number, b: number): number => {
  const d = Math.abs(a - b);
  return (factorSpecs[n] as {circular?: boolean}).circular ? Math.min(d, 360 - d) : d;
};

describe('ToonGAN v2 latent decoding', () => {
  it('reads PixelNorm(z): scale-invariant and deterministic, every factor inside its range', () => {
    const rnd = mulberry32Normal(11);
    for (let k = 0; k < 20; k++) {
      const z = latent(rnd);
      const f = decodeLatentV2(z);
      expect(decodeLatentV2(z)).toEqual(f);
      const scaled = decodeLatentV2(z.map((v) => 2 * v));
      for (const n of factorNames) expect(diff(n, scaled[n], f[n]) / relSpan(n), n).toBeLessThan(1e-5);
      for (const n of factorNames) {
        const {min, max} = factorSpecs[n];
        // Colour chroma comes from |(a, b)|, which may exceed the factor's nominal range a little in the corners.
        expect(f[n], n).toBeGreaterThanOrEqual(min - 1e-9);
        if (!n.endsWith('C')) expect(f[n], n).toBeLessThanOrEqual(max + 1e-9);
      }
    }
    expect(() => decodeLatentV2(new Float32Array(USED_DIMS_V2 - 1))).toThrow(/style_dim/);
  });

  it('each single-coordinate factor rises strictly with its own uniform; no coordinate moves another group', () => {
    const rng = new Rng(4);
    const own: [number, FactorName][] = [
      [ATTRIBUTE_COORDS_V2.hairColor[0]!, 'hairL'], [ATTRIBUTE_COORDS_V2.eyeColor[0]!, 'eyeL'], [ATTRIBUTE_COORDS_V2.background[0]!, 'bgL'],
      [ATTRIBUTE_COORDS_V2.hairStyle[0]!, 'hairCoverage'], [ATTRIBUTE_COORDS_V2.glasses[0]!, 'glassesFrame'], [ATTRIBUTE_COORDS_V2.glasses[1]!, 'glassesDark'],
      [ATTRIBUTE_COORDS_V2.beard[0]!, 'beardJaw'], [ATTRIBUTE_COORDS_V2.mouth[0]!, 'smile'], [ATTRIBUTE_COORDS_V2.mouth[1]!, 'mouthOpen'],
      [ATTRIBUTE_COORDS_V2.lipstick[0]!, 'lipstickIntensity'], [ATTRIBUTE_COORDS_V2.skinTone[0]!, 'skinTone'], [LAYOUT_COORDS_V2.faceRx!, 'faceRx'],
    ];
    for (let t = 0; t < 3; t++) {
      const q = Array.from({length: USED_DIMS_V2}, () => rng.uniform(0.05, 0.95));
      for (const [d, n] of own) {
        const base = decodeUniforms(q);
        let prev = -Infinity;
        for (let k = 1; k < 40; k++) {
          const f = decodeUniforms(q.map((v, i) => (i === d ? k / 40 : v)));
          expect(f[n], `${n} at q ${k / 40}`).toBeGreaterThan(prev);
          prev = f[n];
          for (const m of factorNames) if (factorGroup(m) !== factorGroup(n)) expect(f[m]).toBe(base[m]);
        }
      }
    }
  });

  it('is continuous in z: a 16× smaller step in any coordinate gives a ≥ 8× smaller factor change', () => {
    const rnd = mulberry32Normal(5);
    const z = latent(rnd);
    for (let d = 0; d < USED_DIMS_V2; d += 3) {
      const at = (h: number) => decodeLatentV2(z.map((v, i) => (i === d ? v + h : v)));
      const f0 = decodeLatentV2(z);
      const [a, b] = [at(1e-3), at(1e-3 / 16)];
      let big = 0;
      let small = 0;
      for (const n of factorNames) {
        big = Math.max(big, diff(n, a[n], f0[n]) / relSpan(n));
        small = Math.max(small, diff(n, b[n], f0[n]) / relSpan(n));
      }
      expect(small, `coordinate ${d}`).toBeLessThanOrEqual(big / 8 + 1e-9);
    }
  });

  it('decodes a colour separably: OKLab L, a and b each follow only their own coordinate (a region\'s preimage is a box)', () => {
    const rng = new Rng(8);
    for (const a of COLOURS) {
      const prefix = a === 'hairColor' ? 'hair' : a === 'eyeColor' ? 'eye' : 'bg';
      const [dL, dA, dB] = ATTRIBUTE_COORDS_V2[a] as [number, number, number];
      const lab = (f: Factors): [number, number, number] => {
        const [C, H] = [f[`${prefix}C` as FactorName], (f[`${prefix}H` as FactorName] * Math.PI) / 180];
        return [f[`${prefix}L` as FactorName], C * Math.cos(H), C * Math.sin(H)];
      };
      for (let t = 0; t < 4; t++) {
        const q = Array.from({length: USED_DIMS_V2}, () => rng.uniform(0.02, 0.98));
        const [L0, a0, b0] = lab(decodeUniforms(q));
        const with_ = (d: number, v: number) => lab(decodeUniforms(q.map((x, i) => (i === d ? v : x))));
        for (const v of [0.1, 0.5, 0.9]) {
          const [, a1, b1] = with_(dL, v);
          expect(Math.abs(a1 - a0) + Math.abs(b1 - b0), `${a}: L's coordinate moves a, b`).toBeLessThan(1e-9);
          const [L2, , b2] = with_(dA, v);
          expect(Math.abs(L2 - L0) + Math.abs(b2 - b0), `${a}: a's coordinate moves L, b`).toBeLessThan(1e-9);
          const [L3, a3] = with_(dB, v);
          expect(Math.abs(L3 - L0) + Math.abs(a3 - a0), `${a}: b's coordinate moves L, a`).toBeLessThan(1e-9);
        }
      }
    }
  });

  it('names each non-colour value with about its schema probability (less the gap share); few faces fall in the gaps', () => {
    const rnd = mulberry32Normal(9);
    const n = 1200;
    const counts = Object.fromEntries(attributeNames.map((a) => [a, {} as Record<string, number>]));
    for (let i = 0; i < n; i++) {
      const f = decodeLatentV2(latent(rnd));
      for (const a of attributeNames) {
        for (const [v, r] of Object.entries(namedRegions[a])) if (regionSlack(f, r) >= 1) counts[a]![v] = (counts[a]![v] ?? 0) + 1;
      }
    }
    for (const a of attributeNames.filter((x) => !(COLOURS as readonly string[]).includes(x))) {
      let named = 0;
      attributeSchema[a].values.forEach((v, k) => {
        const share = (counts[a]![v] ?? 0) / n;
        named += share;
        // Binomial σ at n = 1200 is ≤ 0.015; the gap part adds a little to every region.
        expect(Math.abs(share - (1 - GAP_SHARE) * attributeSchema[a].probs[k]!), `${a} ${v}: ${share.toFixed(3)}`).toBeLessThan(0.045);
      });
      expect(named, a).toBeGreaterThan(1 - GAP_SHARE - 0.06);
    }
    // Colours (separable: the product of the marginals) name fewer faces, but every value still has its share.
    for (const a of COLOURS) {
      for (const v of attributeSchema[a].values) expect((counts[a]![v] ?? 0) / n, `${a} ${v}`).toBeGreaterThan(0.005);
    }
  });

  it('style mixing takes each factor group whole from z1 when the crossover lies above its owner, else from z2', () => {
    const rnd = mulberry32Normal(21);
    const [z1, z2] = [latent(rnd), latent(rnd)];
    const [f1, f2] = [decodeLatentV2(z1), decodeLatentV2(z2)];
    for (let c = 1; c <= 10; c++) {
      const m = decodeMixedV2(z1, z2, c);
      for (const n of factorNames) {
        const owner = MIX_OWNER_V2[factorGroup(n)];
        expect(m[n], `${n} at crossover ${c}`).toBe(c > owner ? f1[n] : f2[n]);
      }
    }
    // The geometry is owned by index 0: always z1's. A crossover past every owner is z1's decoding.
    expect(decodeMixedV2(z1, z2, 10)).toEqual(f1);
    expect(() => decodeMixedV2(z1, z2, 0)).toThrow(/crossover/);
  });

  it('uniforms are the sphere-coordinate CDF of PixelNorm(z): a coordinate at 0 maps to ½', () => {
    const z = new Float32Array(D).fill(1);
    z[0] = 0;
    expect(latentUniforms(z)[0]).toBeCloseTo(0.5, 6);
  });

  it('the v2 world: pixel weights mark exactly the small features, auxiliary targets are the classifier targets', () => {
    const f = prototypeFactors({glasses: 'round', beard: 'full', mouth: 'smiling'});
    const size = 32;
    const target = toonGanV2World.render(f, size);
    const w = pixelWeights(toonGanV2World, [f], size, target, 4);
    const bare = renderFaces([{...f, glassesFrame: 0, beardDensity: 0, smile: 0, mouthOpen: 0, lipstickIntensity: 0}], size);
    const plane = size * size;
    const hi = Math.max(...w);
    let marked = 0;
    for (let p = 0; p < plane; p++) {
      const changed = [0, 1, 2].some((c) => Math.abs(target[c * plane + p]! - bare[c * plane + p]!) > 1e-3);
      expect(w[p] === hi, `pixel ${p}`).toBe(changed);
      if (changed) marked++;
    }
    expect(marked).toBeGreaterThan(30);
    expect(toonGanV2World.auxTargets(f)).toEqual(Float32Array.from(regressionTargets, (t) => t.encode(f)));
  });
});

describe('the polar colour code (experiment)', () => {
  it('decodes deterministically inside the ranges and leaves every non-colour factor as the lab code does', () => {
    const rnd = mulberry32Normal(21);
    const colour = new Set(['hairL', 'hairC', 'hairH', 'eyeL', 'eyeC', 'eyeH', 'bgL', 'bgC', 'bgH']);
    for (let k = 0; k < 50; k++) {
      const z = latent(rnd);
      const f = decodeLatentPolar(z);
      expect(decodeLatentPolar(z)).toEqual(f);
      const lab = decodeLatentV2(z);
      for (const n of factorNames) {
        expect(f[n], n).toBeGreaterThanOrEqual(factorSpecs[n].min - 1e-9);
        expect(f[n], n).toBeLessThanOrEqual(factorSpecs[n].max + 1e-9);
        if (!colour.has(n)) expect(f[n], n).toBe(lab[n]);
      }
    }
  });

  it('fades chroma to 0 continuously as the hue pair nears the origin, and reads the hue as its angle', () => {
    expect(polarColour(0.2, 0, 0).C).toBe(0);
    expect(polarColour(0.2, 1e-4, 0).C).toBeLessThan(1e-6);
    expect(polarColour(0.2, POLAR_CORE, 0).C).toBeCloseTo(0.2, 12);
    expect(polarColour(0.2, 0, -1).H).toBeCloseTo(270, 9);
    // Less chroma is the same move for every hue: the chroma coordinate alone sets it.
    for (const h of [0, 90, 200, 300]) expect(polarColour(0.01, Math.cos((h * Math.PI) / 180), Math.sin((h * Math.PI) / 180)).C).toBeCloseTo(0.01, 12);
  });
});

describe('classifier v2 data', () => {
  it('labels by region where visible, nothing in the gaps', () => {
    const rng = new Rng(8);
    const faces = Array.from({length: 60}, () => sampleFactors(rng, 0.5).factors);
    const {labels} = encodeFaces(faces);
    let gaps = 0;
    faces.forEach((f, i) => {
      let off = 0;
      for (const a of attributeNames) {
        const values: readonly string[] = attributeValues(a);
        const block = Array.from(labels.subarray(i * LABEL_WIDTH + off, i * LABEL_WIDTH + off + values.length));
        const label = labelOf(f, a);
        if (label === undefined) {
          gaps++;
          expect(block.every((v) => v === 0)).toBe(true);
        } else {
          expect(block[values.indexOf(label)]).toBe(1);
          expect(block.reduce((s, v) => s + v, 0)).toBe(1);
          expect(regionValue(f, a)).toBe(label);
        }
        off += values.length;
      }
    });
    expect(gaps).toBeGreaterThan(0);
    // Hand-made gaps: glasses half faded in, a beard between coverages, hair colour on a bald head.
    const base = prototypeFactors();
    expect(labelOf({...base, glassesFrame: 0.4}, 'glasses')).toBeUndefined();
    expect(labelOf({...base, glassesFrame: 0.05}, 'glasses')).toBe('none');
    expect(labelOf({...base, beardJaw: 0.45, beardDensity: 0.8}, 'beard')).toBeUndefined();
    expect(labelOf(prototypeFactors({hairStyle: 'bald'}), 'hairColor')).toBeUndefined();
    expect(labelOf(prototypeFactors({hairStyle: 'bald'}), 'hairStyle')).toBe('bald');
  });

  it('regression targets decode back to the factors (hues as chroma-weighted cos/sin) and mask what cannot be seen', () => {
    const rng = new Rng(12);
    for (let k = 0; k < 30; k++) {
      const f = sampleFactors(rng, 0.5).factors;
      const d = decodeRegression(regressionTargets.map((t) => t.encode(f)));
      for (const n of Object.keys(d) as FactorName[]) {
        if (n.endsWith('H') && f[(n.slice(0, -1) + 'C') as FactorName] < 1e-6) continue; // no hue without chroma
        expect(diff(n, d[n]!, f[n]), n).toBeLessThan(1e-6 * Math.max(1, relSpan(n)));
      }
    }
    const bald: Factors = prototypeFactors({hairStyle: 'bald', glasses: 'sunglasses'});
    const {mask} = encodeFaces([bald]);
    regressionTargets.forEach((t, j) => {
      // Bald: hair colour and shape hidden; sunglasses: eye colour hidden; no lipstick: no hue; no beard coverage: no density.
      const hidden = (t.name.startsWith('hair') && t.name !== 'hairCoverage') || t.name.startsWith('eye') || t.name === 'lipstickCos' || t.name === 'lipstickSin' || t.name === 'beardDensity';
      expect(mask[j], t.name).toBe(hidden ? 0 : 1);
    });
  });

  it('training batches are pure in the step, with images, labels, targets and masks of the right widths', () => {
    const opts = {batch: 2, seed: 0, noise: 0.05, stream: 77, size: 32};
    const a = trainingBatchV2(3, opts);
    expect(trainingBatchV2(3, opts)).toEqual(a);
    expect(trainingBatchV2(4, opts)[0]).not.toEqual(a[0]);
    expect(a.map((x) => x.length)).toEqual([2 * 3 * 32 * 32, 2 * LABEL_WIDTH, 2 * REGRESSION_WIDTH, 2 * REGRESSION_WIDTH]);
  });

  it('the classifier with a regression head runs and round-trips the fp16 asset, outputs and all', async () => {
    const cfg: ClassifierConfig = {inputSize: 16, convs: [{out: 4, kernel: 4, stride: 2}, {out: 8, kernel: 3, stride: 2}], slope: 0.2, regression: REGRESSION_WIDTH};
    const sd = initClassifierState(cfg, 3);
    expect(sd.get('regression.weight')!.shape).toEqual([REGRESSION_WIDTH, 8 * 4 * 4]);
    const full = new DemoClassifier(sd, {strides: '2,2', input_size: '16'});
    const bytes = classifierAssetBytes(sd, cfg, {});
    const half = demoClassifierFromBytes(bytes);
    expect(half.config).toEqual(cfg);
    expect(JSON.parse(half.metadata.regression_targets!)).toEqual(regressionTargets.map((t) => t.name));
    const rng = new Rng(2);
    const img = {dtype: 'float32' as const, shape: [2, 3, 16, 16], data: renderFaces([sampleFactors(rng).factors, sampleFactors(rng).factors], 16)};
    const [ra, rb] = [await full.run(img), await half.run(img)];
    expect(ra.regression).toHaveLength(2);
    ra.regression!.forEach((r, i) => {
      expect(r.length).toBe(REGRESSION_WIDTH);
      r.forEach((v, j) => expect(rb.regression![i]![j]).toBeCloseTo(v, 2));
    });
    // Without the head (v1), no regression outputs.
    const v1 = new DemoClassifier(initClassifierState({...cfg, regression: 0}, 3), {strides: '2,2', input_size: '16'});
    expect((await v1.run(img)).regression).toBeNull();
  });
});

describe('generatorWorld', () => {
  it("reads the world from a ToonGAN file's latent decoding and names a generator of no demo world", () => {
    expect(generatorWorld('assets/demo/generator.safetensors')).toBe('v2');
    // A first-world (v1) ToonGAN is named by its decoding's version alone.
    const dir = mkdtempSync(path.join(tmpdir(), 'world-'));
    const v1 = path.join(dir, 'v1.safetensors');
    writeFileSync(v1, serializeSafetensors({x: {dtype: 'float32', shape: [1], data: new Float32Array(1)}}, {latent_decoding: LATENT_DECODING_VERSION}));
    expect(generatorWorld(v1)).toBe('v1');
    rmSync(dir, {recursive: true, force: true});
    expect(() => generatorWorld('../shared/fixtures/stylegan2_tiny_weights.safetensors')).toThrow(/not a demo-world generator/);
  });
});

describe('the shipped classifier (assets/demo, world v2)', () => {
  it('loads with its regression head and reads ≥ 95 % of named values on fresh clean faces', async () => {
    const c = loadDemoClassifier('assets/demo/classifier.safetensors');
    expect(c.config.regression).toBe(REGRESSION_WIDTH);
    expect(JSON.parse(c.metadata.regression_targets!)).toEqual(regressionTargets.map((t) => t.name));
    const e = await evaluateClassifierV2((x) => c.run(x), {n: 200, seed: 0x7e57, intermediate: 0});
    for (const a of attributeNames) {
      expect(e.accuracy[a].nNamed, a).toBeGreaterThan(100);
      expect(e.accuracy[a].named, `${a}: ${(100 * e.accuracy[a].named).toFixed(1)} %`).toBeGreaterThanOrEqual(0.95);
    }
    // Colours are read to within a few OKLab hundredths (hues within ~10°).
    expect(e.regression.hairL!.mae).toBeLessThan(0.05);
    expect(e.regression.hairH!.mae).toBeLessThan(10);
    expect(e.regression.skinTone!.mae).toBeLessThan(0.06);
  });
});

describe('the shipped generator and ToonCLIPs (assets/demo, world v2)', () => {
  it('ToonGAN loads with latent_avg and the v2 decoding, has a W of unit scale and reproduces render(decode(z)) on held-out z', async () => {
    const g = loadGenerator('assets/demo/generator.safetensors');
    expect(g.config.size).toBe(64);
    expect(g.config.styleDim).toBe(D);
    expect(g.latentAvg?.length).toBe(D);
    expect(parseSafetensors(readBytes('assets/demo/generator.safetensors')).metadata.latent_decoding).toBe(LATENT_DECODING_V2);
    const n = 8;
    const z = heldOutLatents(n, D, 99); // neither the training nor the evaluation stream
    const zin = input('z', [n, D]);
    const [img, w] = await (await compile([zin], [forward(g, zin), g.mapping(zin)])).run([z]);
    // W has unit scale per coordinate (the scale the methods' official step sizes assume).
    const wd = w!.data as Float32Array;
    let variance = 0;
    for (let c = 0; c < D; c++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += wd[i * D + c]! / n;
      for (let i = 0; i < n; i++) variance += (wd[i * D + c]! - m) ** 2 / (n * D);
    }
    expect(Math.sqrt(variance)).toBeGreaterThan(0.3);
    expect(Math.sqrt(variance)).toBeLessThan(1.5);
    const per = 3 * 64 * 64;
    const target = new Float32Array(n * per);
    for (let i = 0; i < n; i++) renderFactorsTensor(decodeLatentV2(z.subarray(i * D, (i + 1) * D)), 64, target, i * per);
    const d = img!.data as Float32Array;
    let diff = 0;
    for (let p = 0; p < n * per; p++) diff += Math.abs(Math.max(-1, Math.min(1, d[p]!)) - target[p]!);
    // Measured 11.2/255 (0.087) on 1000 held-out z; the mean face scores ≥ 0.3, a random generator ≥ 1.
    expect(diff / (n * per)).toBeLessThan(0.2);
  }, 60_000);

  it('both ToonCLIPs load with no extra config (embedding 128) and read hair colour, glasses, beard and mouth zero-shot, well above the majority rate', async () => {
    const tok = loadDefaultTokenizer();
    const evalClip = loadClip('assets/demo/toonclip-eval.safetensors');
    expect(evalClip.config.embedDim).toBe(128);
    const clip = loadClip('assets/demo/toonclip.safetensors');
    expect(clip.config.embedDim).toBe(128);
    expect(clip.config.imageResolution).toBe(64);
    const acc = await zeroShotAccuracyV2(clip, tok, {n: 200, intermediate: 0});
    // The editing ToonCLIP read 99.9 / 100 / 90.0 / 86.7 % on 1000 held-out faces (40 % in between).
    for (const [a, min] of [['hairColor', 0.9], ['glasses', 0.9], ['beard', 0.8], ['mouth', 0.7]] as const) {
      expect(acc[a].count, a).toBeGreaterThan(50);
      expect(acc[a].accuracy, a).toBeGreaterThanOrEqual(min);
      expect(acc[a].accuracy, a).toBeGreaterThanOrEqual(acc[a].majority + 0.15);
    }
  }, 120_000);

  it('the classifier returns one distribution per attribute, at any input size', async () => {
    const c = loadDemoClassifier();
    const rng = new Rng(0xd15);
    for (const size of [64, 96]) {
      const faces = Array.from({length: 3}, () => sampleFactors(rng, 0.5).factors);
      const probs = await c.classify({dtype: 'float32', shape: [3, 3, size, size], data: renderFaces(faces, size)});
      expect(probs).toHaveLength(3);
      for (const p of probs) {
        expect(Object.keys(p)).toEqual(attributeNames);
        for (const a of attributeNames) {
          expect(Object.keys(p[a])).toEqual([...attributeValues(a)]);
          const values = Object.values(p[a]);
          for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
          expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
        }
      }
    }
  });
});
