/** ToonGAN of the first, categorical world: the latent decoding, the renderer's explicit jitter source, the trainer's pieces (the shipped generator is tested in world2-models.test.ts). */
import {describe, expect, it} from 'vitest';
import {attributeNames, attributeSchema} from '../../src/demo/attributes.js';
import {JITTER_UNIFORMS, renderFace, renderFaceTensor} from '../../src/demo/render.js';
import {Rng} from '../../src/demo/rng.js';
import {MIX_OWNER, USED_DIMS, decodeLatent, decodeMixed, normalQuantile, renderLatent, sphereCoordinateCdf, toonGanConfig} from '../demo/toon-gan.js';
import {attributeLabels, attributeWeights, attributeWeightsOf, forward, heldOutLatents, interpolationBatch, mixedWPlus, mixingBatch, mixingMask, rescaleW, wScaleDivisor} from '../demo/train-gan.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {StyleGAN2, randomStateDict} from '../../src/models/stylegan2.js';
import {mulberry32Normal} from '../../src/random.js';
import {toFloat32} from '../../src/io/host-tensor.js';

const D = toonGanConfig.styleDim;

function latents(n: number, seed: number): Float32Array[] {
  const rng = mulberry32Normal(seed);
  return Array.from({length: n}, () => Float32Array.from({length: D}, () => rng()));
}

describe('explicit jitter source', () => {
  it('reproduces the seeded render when fed the seed stream', () => {
    const attrs = {hairColor: 'red', hairStyle: 'curly', glasses: 'round', beard: 'goatee', mouth: 'smiling', lipstick: 'none', skinTone: 'tan', eyeColor: 'green', background: 'pink'} as const;
    for (const seed of [3, 77]) {
      const rng = new Rng(seed);
      const stream = Array.from({length: JITTER_UNIFORMS}, () => rng.next());
      expect(renderFace(attrs, {jitter: stream})).toEqual(renderFace(attrs, {seed}));
    }
  });

  it('rejects a short or out-of-range source', () => {
    const attrs = decodeLatent(latents(1, 1)[0]!).attributes;
    expect(() => renderFaceTensor(attrs, {jitter: new Float64Array(10)})).toThrow(/needs 34/);
    expect(() => renderFaceTensor(attrs, {jitter: new Float64Array(JITTER_UNIFORMS).fill(1)})).toThrow(/\[0, 1\)/);
  });
});

describe('latent decoding', () => {
  it('is deterministic and scale-invariant (it reads PixelNorm(z))', () => {
    const [z] = latents(1, 5);
    const a = decodeLatent(z!);
    expect(decodeLatent(Float32Array.from(z!))).toEqual(a);
    expect(decodeLatent(z!.map((v) => v * 3)).attributes).toEqual(a.attributes);
    expect(renderLatent(z!)).toEqual(renderLatent(z!));
    expect(USED_DIMS).toBeLessThanOrEqual(D);
  });

  it('covers every attribute value with about the schema frequencies, and jitter uniforms in [0, 1)', () => {
    const n = 3000;
    const counts = new Map<string, number>();
    for (const z of latents(n, 11)) {
      const {attributes, jitter} = decodeLatent(z);
      for (const name of attributeNames) counts.set(`${name}=${attributes[name]}`, (counts.get(`${name}=${attributes[name]}`) ?? 0) + 1);
      for (const u of jitter) expect(u >= 0 && u < 1).toBe(true);
    }
    for (const name of attributeNames) {
      attributeSchema[name].values.forEach((v, k) => {
        const f = (counts.get(`${name}=${v}`) ?? 0) / n;
        expect(f, `${name}=${v}`).toBeGreaterThan(0);
        expect(Math.abs(f - attributeSchema[name].probs[k]!), `${name}=${v}`).toBeLessThan(0.03); // binomial sd ≤ 0.009
      });
    }
  });

  it('uses exact marginals (sphere-coordinate CDF and normal quantile)', () => {
    expect(sphereCoordinateCdf(0, D)).toBeCloseTo(0.5, 6);
    expect(sphereCoordinateCdf(1, D)).toBeCloseTo(0.8413, 2);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
  });
});

describe('training targets', () => {
  it('attribute weights: 1 + k exactly where the small attributes are drawn, normalised to mean 1', () => {
    const attrs = {hairColor: 'red', hairStyle: 'short', glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none', skinTone: 'tan', eyeColor: 'green', background: 'pink'} as const;
    // Find one latent whose face has none of the small attributes and one with a beard and a smile.
    const zs = latents(400, 21);
    const plain = zs.find((z) => {
      const a = decodeLatent(z).attributes;
      return a.beard === attrs.beard && a.mouth === attrs.mouth && a.lipstick === attrs.lipstick && a.glasses === attrs.glasses;
    })!;
    const busy = zs.find((z) => {
      const a = decodeLatent(z).attributes;
      return a.beard === 'full' && a.mouth === 'smiling';
    })!;
    const z = new Float32Array(2 * D);
    z.set(plain, 0);
    z.set(busy, D);
    const targets = new Float32Array([...renderLatent(plain), ...renderLatent(busy)]);
    expect(attributeWeights(z, D, 64, targets, 0).every((v) => v === 1)).toBe(true);
    const w = attributeWeights(z, D, 64, targets, 8);
    const plane = 64 * 64;
    expect(w.reduce((a, b) => a + b, 0) / w.length).toBeCloseTo(1, 5);
    const lo = Math.min(...w);
    // The plain face has no emphasised pixel; the bearded, smiling one has a few hundred at 9× the base weight.
    expect(w.subarray(0, plane).every((v) => v === lo)).toBe(true);
    const hi = w.subarray(plane).filter((v) => v !== lo);
    expect(hi.length).toBeGreaterThan(200);
    for (const v of hi) expect(v / lo).toBeCloseTo(9, 5);
    // Emphasised pixels are where the render differs from the same face without beard/mouth/lipstick/glasses.
    const {attributes, jitter} = decodeLatent(busy);
    const bare = renderFaceTensor({...attributes, beard: 'none', mouth: 'neutral', lipstick: 'none', glasses: 'none'}, {jitter});
    const t = targets.subarray(3 * plane);
    for (let p = 0; p < plane; p++) {
      const differs = Math.abs(t[p]! - bare[p]!) + Math.abs(t[plane + p]! - bare[plane + p]!) + Math.abs(t[2 * plane + p]! - bare[2 * plane + p]!) > 1e-3;
      expect(w[plane + p] !== lo).toBe(differs);
    }
  });

  it('attribute labels are the one-hot decoded attributes, in schema order', () => {
    const zs = latents(5, 8);
    const z = new Float32Array(zs.length * D);
    zs.forEach((r, i) => z.set(r, i * D));
    const y = attributeLabels(z, D);
    const total = attributeNames.reduce((a, n) => a + attributeSchema[n].values.length, 0);
    expect(y.length).toBe(5 * total);
    zs.forEach((r, i) => {
      const a = decodeLatent(r).attributes;
      const expected: number[] = attributeNames.flatMap((n) => attributeSchema[n].values.map((v) => (v === a[n] ? 1 : 0)));
      expect([...y.subarray(i * total, (i + 1) * total)]).toEqual(expected);
    });
  });
});

describe('style-mixing targets', () => {
  const L = Math.log2(toonGanConfig.size) * 2 - 2;
  // Two latents whose faces differ in every attribute.
  const pair = (() => {
    const zs = latents(400, 11);
    for (let i = 0; i < zs.length; i++) {
      for (let j = i + 1; j < zs.length; j++) {
        const [a, b] = [decodeLatent(zs[i]!).attributes, decodeLatent(zs[j]!).attributes];
        if (attributeNames.every((n) => a[n] !== b[n])) return [zs[i]!, zs[j]!] as const;
      }
    }
    throw new Error('no pair of latents differing in every attribute');
  })();
  const [z1, z2] = pair;
  const [a1, a2] = [decodeLatent(z1), decodeLatent(z2)];

  it('a crossover at (or past) the last layer is the plain decoding of z1', () => {
    for (const c of [L, L + 3]) expect(decodeMixed(z1, z2, c)).toEqual(a1);
  });

  it('coarse layers own the shapes, the 32 px layers the colours; the geometry always follows z1', () => {
    const from = (c: number) => decodeMixed(z1, z2, c);
    // Crossover 1: only W+ index 0 from z1 — every attribute and the colour shades from z2.
    expect(from(1).attributes).toEqual(a2.attributes);
    // Crossover 4 (4–16 px layers from z1): hair style, glasses, beard and mouth from z1; all colours from z2.
    const m = from(4).attributes;
    for (const n of ['hairStyle', 'glasses', 'beard', 'mouth'] as const) expect(m[n]).toBe(a1.attributes[n]);
    for (const n of ['hairColor', 'skinTone', 'background', 'lipstick', 'eyeColor'] as const) expect(m[n]).toBe(a2.attributes[n]);
    for (let c = 1; c <= L; c++) {
      const j = from(c).jitter;
      // Slots 0–18: pose and shape (and the rotation sign in slot 4) always from z1.
      for (let slot = 0; slot <= 18; slot++) expect(j[slot]).toBe(a1.jitter[slot]);
      // Colour shades (19–32) follow the colour layers.
      for (let slot = 19; slot <= 32; slot++) expect(j[slot]).toBe((c > 5 ? a1 : a2).jitter[slot]);
    }
    // Moving the crossover up only ever hands attributes from z2 to z1, never back.
    for (let c = 1; c < L; c++) {
      for (const n of attributeNames) if (from(c).attributes[n] === a1.attributes[n]) expect(from(c + 1).attributes[n]).toBe(a1.attributes[n]);
    }
    expect(Object.values(MIX_OWNER).every((o) => o >= 1 && o < L)).toBe(true);
    expect(() => decodeMixed(z1, z2, 0)).toThrow(/crossover/);
  });

  it('mixing batches are a pure function of the step, mix about the asked share, and mask the layers below the crossover', () => {
    const a = mixingBatch(1, 5, 400, D, L, 0.5);
    expect(mixingBatch(1, 5, 400, D, L, 0.5)).toEqual(a);
    expect(mixingBatch(1, 6, 400, D, L, 0.5).z2).not.toEqual(a.z2);
    const mixed = a.crossovers.filter((c) => c < L);
    expect(mixed.length / 400).toBeGreaterThan(0.4);
    expect(mixed.length / 400).toBeLessThan(0.6);
    expect(new Set(mixed)).toEqual(new Set(Array.from({length: L - 1}, (_, i) => i + 1)));
    expect(mixingBatch(1, 5, 50, D, L, 0).crossovers.every((c) => c === L)).toBe(true);
    // The second latents are not the first ones.
    expect(a.z2).not.toEqual(Float32Array.from(latents(1, 1)[0]!));
    const mask = mixingMask([1, 3, L], L);
    expect(Array.from(mask.subarray(0, L))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, L));
    expect(Array.from(mask.subarray(L, 2 * L))).toEqual(Array.from({length: L}, (_, l) => (l < 3 ? 1 : 0)));
    expect(Array.from(mask.subarray(2 * L)).every((v) => v === 1)).toBe(true);
  });

  it('the mixed W+ takes w1 below each crossover and w2 from it on', async () => {
    const g = StyleGAN2.fromStateDict(randomStateDict(toonGanConfig, 3), {config: toonGanConfig});
    const [w1, w2, m] = [input('w1', [3, D]), input('w2', [3, D]), input('m', [3, L, 1])];
    const prog = await compile([w1, w2, m], [mixedWPlus(g, w1, w2, m)]);
    const [v1, v2] = [heldOutLatents(3, D, 1), heldOutLatents(3, D, 2)];
    const crossovers = [1, 4, L];
    const [out] = await prog.run([v1, v2, mixingMask(crossovers, L)]);
    const wp = out!.data as Float32Array;
    crossovers.forEach((c, n) => {
      for (let l = 0; l < L; l++) {
        const src = l < c ? v1 : v2;
        expect(Array.from(wp.subarray((n * L + l) * D, (n * L + l + 1) * D))).toEqual(Array.from(src.subarray(n * D, (n + 1) * D)));
      }
    });
  });

  it('interpolation batches are pure, pick about the asked share of the unmixed faces only, with t in (0, 1)', () => {
    const unmixed = Array.from({length: 400}, (_, n) => n % 4 !== 0);
    const a = interpolationBatch(1, 5, unmixed, 0.5);
    expect(interpolationBatch(1, 5, unmixed, 0.5)).toEqual(a);
    expect(interpolationBatch(1, 6, unmixed, 0.5)).not.toEqual(a);
    a.forEach((t, n) => {
      if (!unmixed[n]) expect(t).toBeNull();
      if (t !== null) expect(t > 0 && t < 1).toBe(true);
    });
    const share = a.filter((t) => t !== null).length / unmixed.filter(Boolean).length;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(interpolationBatch(1, 5, unmixed, 0).every((t) => t === null)).toBe(true);
  });

  it('a fractional mask gives the straight line between the two latents on every layer', async () => {
    const g = StyleGAN2.fromStateDict(randomStateDict(toonGanConfig, 3), {config: toonGanConfig});
    const [w1, w2, m] = [input('w1', [2, D]), input('w2', [2, D]), input('m', [2, L, 1])];
    const prog = await compile([w1, w2, m], [mixedWPlus(g, w1, w2, m)]);
    const [v1, v2] = [heldOutLatents(2, D, 1), heldOutLatents(2, D, 2)];
    const ts = [0.25, 0.8];
    const mask = new Float32Array(2 * L);
    ts.forEach((t, n) => mask.fill(1 - t, n * L, (n + 1) * L));
    const [out] = await prog.run([v1, v2, mask]);
    const wp = out!.data as Float32Array;
    ts.forEach((t, n) => {
      for (let l = 0; l < L; l++) {
        for (let d = 0; d < D; d++) expect(wp[(n * L + l) * D + d]).toBeCloseTo(v1[n * D + d]! + t * (v2[n * D + d]! - v1[n * D + d]!), 5);
      }
    });
  });

  it('the attribute weights of decoded faces equal those of the latents they decode', () => {
    const z = heldOutLatents(4, D);
    const targets = Float32Array.from({length: 4 * 3 * 64 * 64}, (_, i) => Math.sin(i));
    const faces = Array.from({length: 4}, (_, n) => decodeLatent(z.subarray(n * D, (n + 1) * D)));
    expect(attributeWeightsOf(faces, 64, targets, 8)).toEqual(attributeWeights(z, D, 64, targets, 8));
  });
});

describe('W rescaling at export', () => {
  it('divides W by c and leaves every image bit-identical (c a power of two)', async () => {
    const cfg = {...toonGanConfig, size: 16, channels: {4: 16, 8: 16, 16: 8}};
    const sd = randomStateDict(cfg, 5);
    // A trained mapping has non-zero biases (the random init has zeros, which no rescaling would change).
    const rng = mulberry32Normal(8);
    for (const [k, t] of sd) if (/^style\.\d+\.bias$/.test(k)) sd.set(k, {...t, data: Float32Array.from(toFloat32(t), () => rng())});
    const a = StyleGAN2.fromStateDict(sd, {config: cfg});
    const scaled = rescaleW(sd, cfg, 4);
    const b = StyleGAN2.fromStateDict(scaled, {config: cfg});
    const n = 3;
    const z = heldOutLatents(n, D, 3);
    const run = async (g: StyleGAN2) => {
      const zin = input('z', [n, D]);
      const out = await (await compile([zin], [g.mapping(zin), forward(g, zin)])).run([z]);
      return out.map((t) => t.data as Float32Array);
    };
    const [wa, ia] = await run(a);
    const [wb, ib] = await run(b);
    expect([...ib!]).toEqual([...ia!]);
    expect([...wb!]).toEqual([...wa!].map((v) => v / 4));
    // Only the last mapping layer and the modulations change.
    const changed = [...sd.keys()].filter((k) => {
      const after = toFloat32(scaled.get(k)!);
      return toFloat32(sd.get(k)!).some((v, i) => v !== after[i]);
    });
    expect(changed.every((k) => k.startsWith(`style.${cfg.nMlp}.`) || k.endsWith('.modulation.weight'))).toBe(true);
    expect(changed).toContain(`style.${cfg.nMlp}.bias`);
  });

  it('picks the power of two nearest to W\'s scale, never enlarging W', () => {
    expect(wScaleDivisor(3.85)).toBe(4);
    expect(wScaleDivisor(1.55)).toBe(2);
    expect(wScaleDivisor(1.2)).toBe(1);
    expect(wScaleDivisor(0.3)).toBe(1);
  });
});



