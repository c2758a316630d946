/**
 * The demo encoder's trainer (lab/demo/train-encoder.ts) and its shipping path: a trained-format file loads through
 * the product's e4e loader and computes what the training graph computed; mismatched files are named errors; a short
 * run lowers the loss on a fixed batch; a run stopped and resumed from its checkpoint ends where an uninterrupted
 * run ends; `styleclip invert` without --encoder uses the demo encoder (a tiny one put in place through the
 * test-only STYLECLIP_DEMO_ENCODER), and the web bundle picks it up. A tiny 32 px generator keeps the training fast.
 */
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {DEMO_ENCODER_ENV, demoAssetPath} from '../../src/demo/assets.js';
import {checkEncoderFits, encode} from '../../src/edit/invert.js';
import {compile, configureEngine} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import type {StateDict} from '../../src/io/host-tensor.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseNpy} from '../../src/io/npy.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {Encoder, expectedEncoderStateDict, inferEncoderConfig} from '../../src/models/encoder/e4e.js';
import {encoderFromBytes} from '../../src/models/encoder/load.js';
import {loadClip} from '../../src/models/clip/load.js';
import {encodeImages} from '../../src/models/clip/encode.js';
import {clipInputFromGenerated} from '../../src/models/clip/preprocess.js';
import {generate} from '../../src/models/generate.js';
import {generatorFromBytes, loadGenerator} from '../../src/models/load-generator.js';
import {type StyleGAN2Config, randomStateDict} from '../../src/models/stylegan2.js';
import {mulberry32Normal} from '../../src/random.js';
import {demoBundleFiles} from '../../src/server/bundle.js';
import {loadCheckpoint} from '../../src/train/checkpoint.js';
import {Params, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam} from '../../src/train/optim.js';
import type {FaceAttributes} from '../../src/demo/attributes.js';
import {renderBatch, renderFaceTensor} from '../../src/demo/render.js';
import {hashSeed} from '../../src/demo/rng.js';
import {
  DEFAULT_TRAIN_ENCODER, DEMO_ENCODER_ARCH, ENC_TRAIN_STREAM, type EncoderArch, type TrainEncoderOptions, encoderAssetBytes, encoderBatch, encoderConfigFor,
  encoderStepGraph, exportStateDict, initEncoderState, regionWeights, trainEncoder, trainableLookup,
} from '../demo/train-encoder.js';
import {decodeLatent, decodeMixed} from '../demo/toon-gan.js';
import {expectAllClose} from '../../test/helpers/allclose.js';
import {expectOneLineError, runCliWith} from '../../test/helpers/cli.js';

configureEngine({threads: 1});
const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-demo-encoder-'));

/** A 32 px generator with 16-wide styles (8 W+ rows) and a latent_avg, as a safetensors file. */
const TINY_G: StyleGAN2Config = {size: 32, styleDim: 16, nMlp: 2, channels: {4: 16, 8: 16, 16: 12, 32: 8}, lrMlp: 0.01, blurKernel: [1, 3, 3, 1]};
function tinyGeneratorBytes(seed: number): Uint8Array {
  const sd = randomStateDict(TINY_G, seed, {noiseStrength: 0.1});
  const rnd = mulberry32Normal(seed + 1);
  sd.set('latent_avg', {dtype: 'float32', shape: [16], data: Float32Array.from({length: 16}, () => 0.5 * rnd())});
  return serializeSafetensors(sd);
}
const TINY_ARCH: EncoderArch = {inputWidth: 8, depths: [8, 12, 16, 24], units: [1, 1, 1, 1], seReduction: 4};
const genBytes = tinyGeneratorBytes(3);
const genFile = path.join(tmp, 'tiny-g.safetensors');
writeFileSync(genFile, genBytes);
const g = generatorFromBytes(genBytes);
const cfg = encoderConfigFor(g, TINY_ARCH);

/** A fresh state with every BatchNorm, PReLU and bias moved off its initial value, so the check sees them all. */
function perturbedState(seed: number): StateDict {
  const sd = initEncoderState(cfg, seed);
  const rnd = mulberry32Normal(seed + 7);
  for (const t of sd.values()) if (t.shape.length === 1) for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i]! += 0.2 * rnd();
  return sd;
}

describe('the trained-format file and the product loader', () => {
  it('reads the demo shape from the state dict alone: 64 px in, the demo body, 10 styles of 64', () => {
    const demo = loadGenerator(demoAssetPath('generator'));
    const c = encoderConfigFor(demo, DEMO_ENCODER_ARCH);
    const sd = exportStateDict(c, initEncoderState(c, 1));
    expect(inferEncoderConfig(sd, 'e4e')).toEqual(c);
    expect(c).toMatchObject({inputSize: 64, styleCount: demo.nLatent, styleDim: demo.config.styleDim, featureWidth: DEMO_ENCODER_ARCH.depths[3]});
  });

  it('loads through encoderFromBytes with its decoder and computes what the training graph computes', async () => {
    const state = perturbedState(1);
    const {encoder, decoder} = encoderFromBytes(encoderAssetBytes(cfg, state, genBytes, {}, {half: false}));
    expect(encoder.config).toEqual(cfg);
    expect(encoder.latentAvg?.length).toBe(cfg.styleCount * cfg.styleDim);
    expect(decoder?.nLatent).toBe(g.nLatent);
    checkEncoderFits(encoder, g);
    const rnd = mulberry32Normal(5);
    const x = Float32Array.from({length: 2 * 3 * 32 * 32}, () => Math.tanh(rnd()));
    const xi = input('x', [2, 3, 32, 32]);
    const [loaded] = await (await compile([xi], [encoder.forward(xi)])).run([x]);
    const params = Params.fromStateDict(state);
    const xt = input('x', [2, 3, 32, 32]);
    const {encoderForward} = await import('../../src/models/encoder/e4e.js');
    const prog = await compile([...params.all.map((p) => p.input), xt], [encoderForward(xt, cfg, trainableLookup(params))]);
    const [trained] = await prog.run([...params.values, x]);
    expect(loaded!.shape).toEqual([2, cfg.styleCount, cfg.styleDim]);
    expectAllClose(loaded!.data as Float32Array, trained!.data as Float32Array, {atol: 1e-5, rtol: 0, what: 'codes'});
  });

  it('names what does not fit: a missing tensor, a wrong shape, unequal feature widths, latent_avg, the generator', () => {
    const full = exportStateDict(cfg, initEncoderState(cfg, 2));
    const without = new Map(full);
    without.delete('styles.1.linear.bias');
    expect(() => Encoder.fromStateDict(without)).toThrow(/does not match the model: 1 missing key \[styles\.1\.linear\.bias\]/);
    const reshaped = new Map(full);
    reshaped.set('latlayer1.weight', {dtype: 'float32', shape: [24, 8, 1, 1], data: new Float32Array(192)});
    expect(() => Encoder.fromStateDict(reshaped)).toThrow(/shape mismatch \[latlayer1\.weight: expected \[24, 16, 1, 1\], got \[24, 8, 1, 1\]\]/);
    // Style blocks that read 12 channels from a body whose last stage has 24.
    const narrow = {...cfg, featureWidth: 12};
    const sd: StateDict = new Map(expectedEncoderStateDict(narrow).map(([k, s]) => [k, {dtype: 'float32', shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1))}]));
    expect(() => Encoder.fromStateDict(sd)).toThrow(/the style blocks read 12 channels but the body's last stage has 24/);
    expect(() => Encoder.fromStateDict(full, {latentAvg: new Float32Array(5)})).toThrow(/latent_avg has 5 values, expected \[8, 16\] or \[16\]/);
    const {encoder} = encoderFromBytes(encoderAssetBytes(cfg, initEncoderState(cfg, 2), genBytes, {}));
    expect(() => checkEncoderFits(encoder, loadGenerator(demoAssetPath('generator')))).toThrow(expect.objectContaining({name: 'EncoderMismatchError', message: expect.stringMatching(/^the encoder predicts 8 styles of width 16, but the generator takes W\+ with 10 rows of width 64/)}));
  });
});

const spec = {samples: 2, renders: 2, world: 'v1', seed: 0, psiMin: 0.7, mixing: 0.5, intermediate: 0} as const;

describe('training', () => {
  it('lowers the loss on a fixed batch (samples with known W+ and renders)', {timeout: 60_000}, async () => {
    const params = Params.fromStateDict(initEncoderState(cfg, 4));
    const step = await compileStep(params, () => encoderStepGraph(g, cfg, params, spec, DEFAULT_TRAIN_ENCODER.weights));
    const fixed = encoderBatch(0, spec, g);
    const losses: number[] = [];
    await trainLoop(step, new Adam(params.all, {lr: 3e-3}), {steps: 20, batch: () => fixed, onStep: (r) => void losses.push(r.loss)});
    await step.program.release();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]!);
  });

  it('a run stopped and resumed from its checkpoint ends where an uninterrupted run ends', {timeout: 120_000}, async () => {
    const base: TrainEncoderOptions = {...DEFAULT_TRAIN_ENCODER, ...spec, generator: genFile, arch: TINY_ARCH, steps: 6, warmup: 2, lr: 2e-3, checkpointEvery: 0, log: () => {}};
    const whole = await trainEncoder({...base, checkpoint: path.join(tmp, 'whole.ckpt.safetensors')});
    const ck = path.join(tmp, 'parts.ckpt.safetensors');
    const first = await trainEncoder({...base, checkpoint: ck, stopAt: 3});
    expect(first.stepsRun).toBe(3);
    expect(loadCheckpoint(ck).step).toBe(3);
    const rest = await trainEncoder({...base, checkpoint: ck});
    expect(rest.stepsRun).toBe(3);
    expect([...rest.state.keys()]).toEqual([...whole.state.keys()]);
    for (const [k, t] of whole.state) expect(toFloat32(rest.state.get(k)!), k).toEqual(toFloat32(t));
    // The checkpoint belongs to its generator: resuming it with another one is refused.
    const other = path.join(tmp, 'other-g.safetensors');
    writeFileSync(other, tinyGeneratorBytes(9));
    await expect(trainEncoder({...base, generator: other, checkpoint: ck})).rejects.toThrow(/was made with generator_sha256 \w+, this run has \w+; delete it to start over/);
  });
});

describe('region weights (1 + k on the small features)', () => {
  const S = 64;
  const k = 8;
  /** The test's own definition: the face without glasses, beard, expression and lipstick, brown eyes made blue and others brown. */
  const plain = (a: FaceAttributes): FaceAttributes => ({...a, glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none', eyeColor: a.eyeColor === 'brown' ? 'blue' : 'brown'});
  /** Expected weights of faces: the changed pixels (any channel by more than 10⁻³) get 1 + k, the rest 1, scaled to mean 1. */
  function expected(images: Float32Array, bare: Float32Array[]): {w: Float32Array; changed: number[]} {
    const P = S * S;
    const raw = new Float32Array(bare.length * P).fill(1);
    const changed = bare.map((b, n) => {
      let m = 0;
      for (let p = 0; p < P; p++) {
        if ([0, 1, 2].some((c) => Math.abs(images[n * 3 * P + c * P + p]! - b[c * P + p]!) > 1e-3)) {
          raw[n * P + p] = 1 + k;
          m++;
        }
      }
      return m;
    });
    const total = bare.length * P + k * changed.reduce((a, b) => a + b, 0);
    return {w: raw.map((v) => (v * bare.length * P) / total), changed};
  }
  const demo = loadGenerator(demoAssetPath('generator'));

  it('on a face with every small feature: its glasses, beard, mouth, lipstick and irises, and nowhere else', () => {
    const attrs: FaceAttributes = {hairColor: 'black', hairStyle: 'short', glasses: 'round', beard: 'full', mouth: 'smiling', lipstick: 'red', skinTone: 'light', eyeColor: 'green', background: 'white'};
    const faces = [{attributes: attrs, seed: 7}, {attributes: plain(attrs), seed: 7}];
    const images = new Float32Array(2 * 3 * S * S);
    faces.forEach((f, i) => images.set(renderFaceTensor(f.attributes, {size: S, seed: 7}), i * 3 * S * S));
    const want = expected(images, faces.map((f) => renderFaceTensor(plain(f.attributes), {size: S, seed: 7})));
    const got = regionWeights('v1', faces, S, images, k);
    expect(got).toEqual(want.w);
    // Every feature on is far more pixels than the irises alone (the plain face: only its eye colour changes).
    expect(want.changed[1]).toBeGreaterThan(10);
    expect(want.changed[0]).toBeGreaterThan(5 * want.changed[1]!);
    const values = new Set(got);
    expect(values.size).toBe(2);
    expect(Math.max(...values) / Math.min(...values)).toBeCloseTo(1 + k, 5);
    expect(regionWeights('v1', faces, S, images, 0)).toEqual(new Float32Array(2 * S * S).fill(1));
  });

  it('in a batch: renders by their own layout, samples by the face their latents decode to (crossover included)', () => {
    const spec64 = {samples: 4, renders: 3, world: 'v1', seed: 2, psiMin: 0.7, mixing: 0.5, intermediate: 0} as const;
    const [za, zb, , mix, images, w] = encoderBatch(5, spec64, demo, k);
    const [L, D, P] = [demo.nLatent, demo.config.styleDim, S * S];
    expect(w!.length).toBe(7 * P);
    const r = renderBatch(3, hashSeed(ENC_TRAIN_STREAM, 2, 5, 3), S);
    expect(images).toEqual(r.images);
    expect(w!.subarray(4 * P)).toEqual(expected(r.images, r.attributes.map((a, i) => renderFaceTensor(plain(a), {size: S, seed: r.seeds[i]!}))).w);
    const decoded = Array.from({length: 4}, (_, i) => {
      const from = [...mix!.subarray(i * L, (i + 1) * L)].indexOf(1);
      const [a, b] = [za!.subarray(i * D, (i + 1) * D), zb!.subarray(i * D, (i + 1) * D)];
      return from < 0 ? decodeLatent(a, D) : decodeMixed(a, b, from, D);
    });
    expect(decoded.some((_, i) => mix![i * L + L - 1] === 1)).toBe(true); // a mixed sample is among them
    const targets = new Float32Array(4 * 3 * P);
    decoded.forEach((f, i) => targets.set(renderFaceTensor(f.attributes, {size: S, jitter: f.jitter}), i * 3 * P));
    expect(w!.subarray(0, 4 * P)).toEqual(expected(targets, decoded.map((f) => renderFaceTensor(plain(f.attributes), {size: S, jitter: f.jitter}))).w);
  });

  it('weigh the L1 of the step graph: all-ones weights give the unweighted loss, weights on one face its error alone', async () => {
    const state = initEncoderState(cfg, 4);
    const P = 32 * 32;
    const images = encoderBatch(0, {...spec, samples: 0, renders: 2}, g)[0]!;
    const loss = async (renders: number, k: number, feeds: Float32Array[]) => {
      const params = Params.fromStateDict(state);
      const graph = encoderStepGraph(g, cfg, params, {samples: 0, renders}, {...DEFAULT_TRAIN_ENCODER.weights, latent: 0, delta: 0, attribute: k});
      const prog = await compile([...params.all.map((p) => p.input), ...graph.dataInputs], [graph.loss]);
      const [out] = await prog.run([...params.values, ...feeds]);
      await prog.release();
      return (out!.data as Float32Array)[0]!;
    };
    const unweighted = await loss(2, 0, [images]);
    expect(await loss(2, k, [images, new Float32Array(2 * P).fill(1)])).toBeCloseTo(unweighted, 6);
    // Weight 2 on face 0 and 0 on face 1: the mean error of face 0, as the unweighted loss of face 0 alone.
    const first = new Float32Array(2 * P);
    first.fill(2, 0, P);
    const face0 = await loss(1, 0, [images.slice(0, 3 * P)]);
    expect(await loss(2, k, [images, first])).toBeCloseTo(face0, 6);
    expect(face0).not.toBeCloseTo(unweighted, 3);
  });
});

describe('the coarse-scale and feature-CLIP terms', () => {
  it('are the pooled L1 and 1 − cos of the ToonCLIP embeddings of each reconstruction and its input', {timeout: 60_000}, async () => {
    const state = perturbedState(2);
    const S = 32;
    const P = S * S;
    const images = encoderBatch(1, {...spec, samples: 0, renders: 2}, g)[0]!;
    const clip = loadClip(demoAssetPath('clip'));
    const params = Params.fromStateDict(state);
    const graph = encoderStepGraph(g, cfg, params, {samples: 0, renders: 2}, {...DEFAULT_TRAIN_ENCODER.weights, multiscale: 1, clip: 1}, clip);
    const prog = await compile([...params.all.map((p) => p.input), ...graph.dataInputs], [graph.metrics!.multiscale!, graph.metrics!.clip!]);
    const [ms, cl] = await prog.run([...params.values, images]);
    await prog.release();
    // The reconstructions as `invert` makes them: the exported encoder, then the generator from its W+.
    const {encoder, decoder} = encoderFromBytes(encoderAssetBytes(cfg, state, genBytes, {}, {half: false}));
    const {wPlus} = await encode(encoder, {dtype: 'float32', shape: [2, 3, S, S], data: images});
    const recon = (await generate(decoder!, {latent: wPlus, space: 'w+', noise: 'const'})).image.data as Float32Array;
    // Average pooling by blocks of f×f, then the mean absolute difference, summed over f = 2 and 4.
    let pooled = 0;
    for (const f of [2, 4]) {
      const n = S / f;
      let sum = 0;
      for (let b = 0; b < 6; b++) {
        for (let y = 0; y < n; y++) {
          for (let x = 0; x < n; x++) {
            let d = 0;
            for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) d += recon[b * P + (y * f + dy) * S + x * f + dx]! - images[b * P + (y * f + dy) * S + x * f + dx]!;
            sum += Math.abs(d / (f * f));
          }
        }
      }
      pooled += sum / (6 * n * n);
    }
    expect((ms!.data as Float32Array)[0]).toBeCloseTo(pooled, 5);
    const R = clip.config.imageResolution;
    const xi = input('x', [2, 3, S, S]);
    const prep = await compile([xi], [clipInputFromGenerated(xi, R)]);
    const emb = async (img: Float32Array) => encodeImages(clip, {dtype: 'float32', shape: [2, 3, R, R], data: (await prep.run([img]))[0]!.data as Float32Array});
    const [ea, eb] = [await emb(recon), await emb(images)];
    const E = ea.length / 2;
    let cos = 0;
    for (let i = 0; i < 2; i++) {
      let [ab, aa, bb] = [0, 0, 0];
      for (let j = i * E; j < (i + 1) * E; j++) [ab, aa, bb] = [ab + ea[j]! * eb[j]!, aa + ea[j]! ** 2, bb + eb[j]! ** 2];
      cos += ab / Math.sqrt(aa * bb) / 2;
    }
    await prep.release();
    expect((cl!.data as Float32Array)[0]).toBeCloseTo(1 - cos, 4);
    expect(1 - cos).toBeGreaterThan(1e-3); // an untrained encoder's reconstructions are far from their inputs
  });
});

describe('shipping: the demo encoder as the default', () => {
  // A tiny untrained encoder for the demo generator, in the demo encoder's place through the test-only override.
  const demoG = readFileSync(demoAssetPath('generator'));
  const demoCfg = encoderConfigFor(generatorFromBytes(new Uint8Array(demoG)), TINY_ARCH);
  const file = path.join(tmp, 'demo-encoder.safetensors');
  writeFileSync(file, encoderAssetBytes(demoCfg, initEncoderState(demoCfg, 6), new Uint8Array(demoG), {}));
  const stale = path.join(tmp, 'stale-encoder.safetensors');
  // Same shapes, other decoder weights: the demo generator replaced since the encoder was trained.
  const staleG = randomStateDict(generatorFromBytes(new Uint8Array(demoG)).config, 11);
  staleG.set('latent_avg', {dtype: 'float32', shape: [64], data: new Float32Array(64)});
  writeFileSync(stale, encoderAssetBytes(demoCfg, initEncoderState(demoCfg, 6), serializeSafetensors(staleG), {}));
  const env = (f: string) => ({...process.env, STYLECLIP_DEBUG: '', [DEMO_ENCODER_ENV]: f});
  const image = path.join(tmp, 'face.png');

  it('`styleclip invert` without --encoder inverts with the demo encoder, as --encoder FILE does', {timeout: 120_000}, async () => {
    const gen = await runCliWith({}, 'generate', '--seed', '3', '--out', image);
    expect(gen.code, gen.stderr).toBe(0);
    const a = path.join(tmp, 'default.npy');
    const b = path.join(tmp, 'explicit.npy');
    const r = await runCliWith({env: env(file)}, 'invert', '--image', image, '--save-latent', a, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({encoder: 'demo', shape: [1, 10, 64]});
    const e = await runCliWith({env: env(path.join(tmp, 'none.safetensors'))}, 'invert', '--encoder', file, '--image', image, '--save-latent', b);
    expect(e.code, e.stderr).toBe(0);
    expect(toFloat32(parseNpy(new Uint8Array(readFileSync(a))))).toEqual(toFloat32(parseNpy(new Uint8Array(readFileSync(b)))));
  });

  it('a missing or stale demo encoder is a one-line named error', {timeout: 120_000}, async () => {
    const missing = path.join(tmp, 'none.safetensors');
    expectOneLineError(await runCliWith({env: env(missing)}, 'invert', '--image', image, '--save-latent', path.join(tmp, 'm.npy')), /no --encoder given and the demo encoder is missing \(.*none\.safetensors\): pass --encoder/, {noFile: path.join(tmp, 'm.npy')});
    expectOneLineError(await runCliWith({env: env(stale)}, 'invert', '--image', image, '--save-latent', path.join(tmp, 's.npy')), /its decoder has the shapes of the generator in use but other weights .*retrain it with 'npm run train:demo -- --force encoder'/, {noFile: path.join(tmp, 's.npy')});
  });

  it('the web bundle of the demo takes the demo encoder when it exists', () => {
    const saved = process.env[DEMO_ENCODER_ENV];
    try {
      process.env[DEMO_ENCODER_ENV] = file;
      expect(demoBundleFiles()).toMatchObject({encoder: file, encoderOptional: true});
      expect(demoBundleFiles({generator: 'other.pt'}).encoder).toBeUndefined();
      process.env[DEMO_ENCODER_ENV] = path.join(tmp, 'none.safetensors');
      expect(demoBundleFiles().encoder).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env[DEMO_ENCODER_ENV];
      else process.env[DEMO_ENCODER_ENV] = saved;
    }
  });
});
