/**
 * Training of the demo encoder: an e4e-style encoder (src/models/encoder/e4e.ts: IR-SE body, feature pyramid,
 * progressive style deltas, W+ = codes + latent_avg) for a 64 px demo generator, on the one training substrate
 * (train/loop.ts, Adam, checkpoint.ts) with the engine's autodiff through the frozen generator.
 *
 * Every batch mixes two kinds of images (pure in (seed, step), so a resumed run sees the data an uninterrupted one
 * would):
 *   generator samples  z → W at ψ uniform in [psiMin, 1] (truncated toward the generator's latent_avg); with
 *                      probability `mixing` a second z takes over from a uniform crossover row (style mixing, as
 *                      e4e's training latents have). x = clamp(G(W+), −1, 1) with the checkpoint's noise. The
 *                      latent is known: loss λ_lat · mean (Ŵ+ − W+)² plus the pixel loss.
 *   renders            faces of the demo world the generator was made for (v1: src/demo/render.ts, v2:
 *                      lab/world2/render.ts, with in-between values), the images users will invert: pixel loss only.
 *   loss   λ_pix · mean ω·|G(Ŵ+) − x| (L1, [-1, 1] units) + λ_lat · latent MSE (samples) + λ_Δ · mean Δ_i² (e4e's delta
 *          regulariser: the rows' offsets from row 0 stay small, which keeps inversions editable)
 *          [+ λ_ms · Σ_{f=2,4} mean |pool_f(G(Ŵ+)) − pool_f(x)| (coarser scales) + λ_clip · mean (1 − cos) of a feature
 *          CLIP's image embeddings of G(Ŵ+) and x]
 *   ω      the region weights (`regionWeights`, ToonGAN's `pixelWeights`): 1 + k on the pixels where a face differs
 *          from itself without its small features (glasses, beard, mouth expression, lipstick) and with another eye
 *          colour, 1 elsewhere, normalised to mean 1. The small features are a few percent of the pixels, so an
 *          unweighted L1 is nearly as low with every mouth smiling and every thin beard gone. Renders: their own
 *          layout. Samples: the layout of the face the generator was distilled from (the world's decoding of z_a,
 *          or of (z_a, z_b) at the crossover), which the truncated sample approximates.
 * The identity term of the projector (face-recognition features) does not apply to cartoon faces; the optional
 * feature term uses the editing ToonCLIP's image tower (never the evaluation CLIP or the classifier).
 *
 * BatchNorms are trained as fixed-statistics affine layers (running mean 0, variance 1; γ and β learnt), so the
 * exported state dict loads through the product's eval-mode loader and computes exactly what was trained; each
 * residual branch starts at zero (γ = 0 on its last BatchNorm), so a fresh body is a chain of shortcuts.
 *
 * The exported file is an e4e checkpoint in safetensors: `encoder.*` (fp16), `decoder.*` (the generator's own
 * tensors, unchanged, so the file inverts on its own and a replaced generator is detected) and `latent_avg`
 * [L, D]. `evaluateEncoder` measures it on held-out renders as `styleclip invert` runs it.
 *
 * Legend: B batch (G samples + R renders), L W+ rows, D style width, S side (64).
 */
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import * as F from '../../src/engine/ops.js';
import {type Tensor, constant, input} from '../../src/engine/tensor.js';
import {StyleclipError, check} from '../../src/errors.js';
import {readBytes, writeFileAtomic} from '../../src/io/files.js';
import {type HostTensor, type StateDict, numberToHalfBits, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {encodePng} from '../../src/io/image.js';
import {type EncoderConfig, encoderForward, expectedEncoderStateDict} from '../../src/models/encoder/e4e.js';
import {loadEncoder} from '../../src/models/encoder/load.js';
import {BN_EPS, type ParamLookup} from '../../src/models/identity/irse.js';
import {generate} from '../../src/models/generate.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {encode} from '../../src/edit/invert.js';
import {project} from '../../src/edit/project.js';
import {mulberry32Normal} from '../../src/random.js';
import {loadCheckpoint, writeTo} from '../../src/train/checkpoint.js';
import {Params, type StepGraph, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam} from '../../src/train/optim.js';
import {type AttributeName, type FaceAttributes, attributeNames, isAttributeVisible} from '../../src/demo/attributes.js';
import {type DemoClassifier, topValues} from '../../src/demo/classifier.js';
import {renderBatch, renderFaceTensor} from '../../src/demo/render.js';
import {type CLIP, normalize} from '../../src/models/clip/model.js';
import {loadClip} from '../../src/models/clip/load.js';
import {clipInputFromGenerated} from '../../src/models/clip/preprocess.js';
import {avgPool2d} from '../../src/nn/functional.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {renderFaces, sampleFaces} from '../world2/classifier.js';
import {type Factors, isVisible} from '../world2/factors.js';
import {toonGanV2World} from '../world2/toon-gan.js';
import {learningRate} from './train-classifier.js';
import {pixelWeights} from './train-gan.js';
import {type GanWorld, toonGanV1World} from './toon-gan.js';

export type World = 'v1' | 'v2';

/** Seed-stream tags: training renders and samples, held-out evaluation and tests draw from disjoint streams. */
export const ENC_TRAIN_STREAM = 0xe4c00001;
export const ENC_EVAL_STREAM = 0xe4c00002;
export const ENC_TEST_STREAM = 0xe4c00003;

/** The body of a demo encoder (the style count, style width and input side come from the generator). */
export interface EncoderArch {
  /** Channels of the input layer. */
  inputWidth: number;
  /** Channels of the four stages; the last is also the feature-pyramid width the style blocks read. */
  depths: [number, number, number, number];
  /** Units per stage (the first of each has stride 2). */
  units: [number, number, number, number];
  /** SE squeeze ratio. */
  seReduction: number;
}

/** The demo encoder's body: 4 stages of IR-SE units, 32 → 4 px for a 64 px input (IR-SE50 is 64/…/512 × [3,4,14,3]). */
export const DEMO_ENCODER_ARCH: EncoderArch = {inputWidth: 24, depths: [32, 48, 64, 96], units: [1, 2, 2, 1], seReduction: 4};

/** The encoder config for a generator: input side = the generator's resolution, one style per W+ row. */
export function encoderConfigFor(g: StyleGAN2, arch: EncoderArch): EncoderConfig {
  const S = g.config.size;
  check(S >= 16 && Number.isInteger(Math.log2(S)), `the generator's resolution ${S} is not a power of two ≥ 16`);
  // The state-dict layout marks a new stage only by a change of width, so consecutive stages must differ.
  check(arch.depths.every((d, i) => i === 0 || d !== arch.depths[i - 1]), `the encoder's stage widths ${arch.depths.join(', ')} must differ from one stage to the next (a stage starts where the width changes)`);
  return {kind: 'e4e', inputSize: S, body: {inputWidth: arch.inputWidth, depths: [...arch.depths], units: [...arch.units], seReduction: arch.seReduction}, styleCount: g.nLatent, styleDim: g.config.styleDim, featureWidth: arch.depths[3]};
}

const isRunningStat = (k: string) => /\.(running_mean|running_var|num_batches_tracked)$/.test(k);
const isPrelu = (k: string) => /(input_layer\.2|res_layer\.2)\.weight$/.test(k);
const isBatchNorm = (k: string, expected: Set<string>) => {
  const m = /^(.*)\.(weight|bias)$/.exec(k);
  return m !== null && expected.has(`${m[1]}.running_mean`);
};

/** The trainable keys and shapes of an encoder config (the state dict without BatchNorm running statistics). */
export function trainableShapes(cfg: EncoderConfig): [string, number[]][] {
  return expectedEncoderStateDict(cfg).filter(([k]) => !isRunningStat(k));
}

/**
 * A fresh encoder (trainable tensors, float32): convolutions He-normal, BatchNorms γ 1 β 0 except the last of each
 * residual branch (γ 0), PReLU slopes 0.25, biases 0, style linears N(0, 0.25²) (EqualLinear scales by 1/√D), so
 * the first inversions sit near latent_avg.
 */
export function initEncoderState(cfg: EncoderConfig, seed: number): StateDict {
  const rnd = mulberry32Normal(seed);
  const keys = new Set(expectedEncoderStateDict(cfg).map(([k]) => k));
  const sd: StateDict = new Map();
  for (const [k, shape] of trainableShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (isPrelu(k)) data.fill(0.25);
    else if (isBatchNorm(k, keys)) data.fill(k.endsWith('.weight') && !/res_layer\.4\.weight$/.test(k) ? 1 : 0);
    else if (/styles\.\d+\.linear\.weight$/.test(k)) for (let i = 0; i < n; i++) data[i] = 0.25 * rnd();
    else if (shape.length === 4) {
      const std = Math.sqrt(2 / (shape[1]! * shape[2]! * shape[3]!));
      for (let i = 0; i < n; i++) data[i] = std * rnd();
    } // other biases stay 0
    sd.set(k, {dtype: 'float32', shape, data});
  }
  return sd;
}

/**
 * The parameter lookup encoderForward needs, over trainable graph inputs: `<bn>.scale` = γ/√(1 + eps) and
 * `<bn>.shift` = β (eval mode with running mean 0 and variance 1, as exported), PReLU slopes as [1,C,1,1].
 */
export function trainableLookup(params: Params): ParamLookup {
  const k = 1 / Math.sqrt(1 + BN_EPS);
  const c4 = (t: Tensor) => F.reshape(t, [1, t.shape[0]!, 1, 1]);
  return (key) => {
    const bn = /^(.*)\.(scale|shift)$/.exec(key);
    if (bn) return bn[2] === 'scale' ? F.mul(c4(params.get(`${bn[1]}.weight`)), k) : c4(params.get(`${bn[1]}.bias`));
    return isPrelu(key) ? c4(params.get(key)) : params.get(key);
  };
}

/** The full state dict of trained tensors: running mean 0 and variance 1 added for every BatchNorm. */
export function exportStateDict(cfg: EncoderConfig, trained: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, shape] of expectedEncoderStateDict(cfg)) {
    if (k.endsWith('.num_batches_tracked')) continue;
    if (k.endsWith('.running_mean') || k.endsWith('.running_var')) {
      const data = new Float32Array(shape[0]!);
      if (k.endsWith('.running_var')) data.fill(1);
      out.set(k, {dtype: 'float32', shape, data});
    } else {
      const t = trained.get(k);
      if (!t) throw new StyleclipError(`the trained encoder lacks '${k}'`);
      out.set(k, t);
    }
  }
  return out;
}

export interface LossWeights {
  /** L1 pixel loss on every image. */
  pixel: number;
  /** Latent MSE on the generator samples. */
  latent: number;
  /** e4e's delta regulariser: mean square of row i's offset from row 0, i ≥ 1. */
  delta: number;
  /** k of the region weights (1 + k on the small features' pixels, see the file header); 0: plain L1. */
  attribute: number;
  /** L1 between the images average-pooled ×2 and ×4 (summed). */
  multiscale: number;
  /** 1 − cos between the feature CLIP's image embeddings of reconstruction and input (needs a CLIP). */
  clip: number;
}

export const DEFAULT_LOSS_WEIGHTS: LossWeights = {pixel: 1, latent: 1, delta: 0.01, attribute: 0, multiscale: 0, clip: 0};

/** A v1 face as the encoder meets it: attributes and either a jitter seed (renders) or jitter uniforms (decoded samples). */
export interface V1Face {
  attributes: FaceAttributes;
  seed?: number;
  jitter?: ArrayLike<number>;
}

/** The render and the bare face (small features off, eye colour changed) that the region weights compare, per world. */
export const REGION_WORLDS: {v1: Pick<GanWorld<V1Face>, 'render' | 'bare'>; v2: Pick<GanWorld<Factors>, 'render' | 'bare'>} = {
  v1: {
    render: (f, size) => renderFaceTensor(f.attributes, {size, ...(f.seed !== undefined ? {seed: f.seed} : {}), ...(f.jitter ? {jitter: f.jitter} : {})}),
    bare: (f) => ({...f, attributes: {...toonGanV1World.bare({attributes: f.attributes, jitter: new Float64Array(0)}).attributes, eyeColor: f.attributes.eyeColor === 'brown' ? 'blue' : 'brown'}}),
  },
  v2: {
    render: (f, size) => toonGanV2World.render(f, size),
    bare: (f) => ({...toonGanV2World.bare(f), eyeL: f.eyeL > 0.5 ? f.eyeL - 0.3 : f.eyeL + 0.3, eyeH: (f.eyeH + 180) % 360}),
  },
};

/** Region weights [n,1,S,S] of faces of a world whose images are `images` (see the file header); all 1 when k is 0. */
export function regionWeights(world: World, faces: readonly (V1Face | Factors)[], size: number, images: Float32Array, k: number): Float32Array {
  return world === 'v1' ? pixelWeights(REGION_WORLDS.v1, faces as V1Face[], size, images, k) : pixelWeights(REGION_WORLDS.v2, faces as Factors[], size, images, k);
}

export interface BatchSpec {
  /** Generator samples per batch. */
  samples: number;
  /** Renders per batch. */
  renders: number;
  world: World;
  seed: number;
  /** Lowest truncation ψ of the samples (uniform in [psiMin, 1]). */
  psiMin: number;
  /** Share of samples with a second latent from a crossover row on. */
  mixing: number;
  /** v2: share of in-between attribute values of the renders. */
  intermediate: number;
}

/**
 * The step graph: data inputs z_a, z_b [G,D], ψ [G,1], mixing mask [G,L,1] (then renders [R,3,S,S], then with
 * w.attribute > 0 the region weights [B,1,S,S]); G's noise is the checkpoint's. Metrics: pixel (all, unweighted),
 * pixel_samples, pixel_renders (L1, [-1, 1] units), latent, delta, and multiscale / clip when weighted.
 */
export function encoderStepGraph(g: StyleGAN2, cfg: EncoderConfig, params: Params, spec: Pick<BatchSpec, 'samples' | 'renders'>, w: LossWeights, clip: CLIP | null = null): StepGraph {
  check(w.clip === 0 || clip !== null, 'the CLIP feature term needs a CLIP');
  const {samples: G, renders: R} = spec;
  const B = G + R;
  check(B > 0, 'a batch needs samples or renders');
  const [L, D, S] = [g.nLatent, g.config.styleDim, g.config.size];
  const noise = g.noiseArrays('const', 1).map((n, i) => constant(n, [1, 1, g.noiseRes(i), g.noiseRes(i)]));
  const avg = g.latentAvg;
  if (!avg) throw new StyleclipError('the generator has no latent_avg, which the encoder starts from');
  const dataInputs: Tensor[] = [];
  const parts: Tensor[] = [];
  let target: Tensor | null = null;
  if (G > 0) {
    const za = input('z_a', [G, D]);
    const zb = input('z_b', [G, D]);
    const psi = input('psi', [G, 1]);
    const mask = input('mix', [G, L, 1]);
    dataInputs.push(za, zb, psi, mask);
    const wa = g.broadcast(g.truncateBy(g.mapping(za), psi));
    const wb = g.broadcast(g.truncateBy(g.mapping(zb), psi));
    target = F.stopGradient(F.add(F.mul(wa, F.sub(1, mask)), F.mul(wb, mask))); // [G,L,D]
    parts.push(F.stopGradient(F.minimum(F.maximum(g.synthesis(g.styles(target), noise), -1), 1)));
  }
  if (R > 0) {
    const renders = input('renders', [R, 3, S, S]);
    dataInputs.push(renders);
    parts.push(renders);
  }
  const x = parts.length === 1 ? parts[0]! : F.concat(parts, 0); // [B,3,S,S]
  const codes = encoderForward(x, cfg, trainableLookup(params)); // [B,L,D]
  const wHat = F.add(codes, constant(avg, [1, 1, D]));
  const recon = g.synthesis(g.styles(wHat), noise);
  const err = F.abs(F.sub(recon, x)); // [B,3,S,S]
  const pixel = F.mean(err);
  const metrics: Record<string, Tensor> = {pixel};
  if (G > 0 && R > 0) {
    metrics.pixel_samples = F.mean(F.slice(err, {0: [0, G]}));
    metrics.pixel_renders = F.mean(F.slice(err, {0: [G, B]}));
  }
  let weighted = pixel;
  if (w.attribute > 0) {
    const omega = input('weights', [B, 1, S, S]);
    dataInputs.push(omega);
    weighted = F.mean(F.mul(err, omega));
  }
  let loss = F.mul(weighted, w.pixel);
  if (w.multiscale > 0) {
    const pooledL1 = (f: number) => F.mean(F.abs(F.sub(avgPool2d(recon, f), avgPool2d(x, f))));
    const ms = F.add(pooledL1(2), pooledL1(4));
    metrics.multiscale = ms;
    loss = F.add(loss, F.mul(ms, w.multiscale));
  }
  if (w.clip > 0) {
    const R0 = clip!.config.imageResolution;
    const fr = normalize(clip!.encodeImage(clipInputFromGenerated(recon, R0)));
    const fx = F.stopGradient(normalize(clip!.encodeImage(clipInputFromGenerated(x, R0))));
    const c = F.sub(1, F.mean(F.sum(F.mul(fr, fx), [1])));
    metrics.clip = c;
    loss = F.add(loss, F.mul(c, w.clip));
  }
  if (G > 0) {
    const latent = F.mean(F.square(F.sub(F.slice(wHat, {0: [0, G]}), target!)));
    metrics.latent = latent;
    loss = F.add(loss, F.mul(latent, w.latent));
  }
  if (L > 1) {
    const delta = F.mean(F.square(F.sub(F.slice(codes, {1: [1, L]}), F.slice(codes, {1: [0, 1]}))));
    metrics.delta = delta;
    if (w.delta > 0) loss = F.add(loss, F.mul(delta, w.delta));
  }
  return {loss, metrics, dataInputs};
}

/** Faces of the world from one seed: images [n,3,S,S] in [-1, 1], the faces and, per face, which attributes are visible. */
export function worldFaces(world: World, n: number, seed: number, size: number, intermediate = 0): {images: Float32Array; faces: (V1Face | Factors)[]; visible: ((a: AttributeName) => boolean)[]} {
  if (world === 'v1') {
    const r = renderBatch(n, seed, size);
    return {images: r.images, faces: r.attributes.map((attributes, i) => ({attributes, seed: r.seeds[i]!})), visible: r.attributes.map((a: FaceAttributes) => (name: AttributeName) => isAttributeVisible(a, name))};
  }
  const faces = sampleFaces(n, seed, intermediate);
  return {images: renderFaces(faces, size), faces, visible: faces.map((f: Factors) => (name: AttributeName) => isVisible(f, name))};
}

/** The faces a world's generator was distilled from for sample latents (z_a, or z_a below the crossover row and z_b from it). */
function decodedFaces(world: World, za: Float32Array, zb: Float32Array, from: (number | null)[], D: number): (V1Face | Factors)[] {
  const gw: GanWorld<V1Face> | GanWorld<Factors> = world === 'v1' ? toonGanV1World : toonGanV2World;
  return from.map((c, i) => {
    const [a, b] = [za.subarray(i * D, (i + 1) * D), zb.subarray(i * D, (i + 1) * D)];
    return c === null ? gw.decode(a, D) : gw.decodeMixed(a, b, c, D);
  });
}

/**
 * The data of a step, in the step graph's input order: pure in (spec.seed, step). With `attributeWeight` k > 0 the
 * region weights follow (samples: of their decoded faces; renders: of their own), each part normalised to mean 1.
 */
export function encoderBatch(step: number, spec: BatchSpec, g: StyleGAN2, attributeWeight = 0): Float32Array[] {
  const {samples: G, renders: R} = spec;
  const [L, D, S] = [g.nLatent, g.config.styleDim, g.config.size];
  const out: Float32Array[] = [];
  const weights: Float32Array[] = [];
  const crossovers: (number | null)[] = [];
  if (G > 0) {
    const rnd = mulberry32Normal(hashSeed(ENC_TRAIN_STREAM, spec.seed, step, 1));
    const za = Float32Array.from({length: G * D}, () => rnd());
    const zb = Float32Array.from({length: G * D}, () => rnd());
    const rng = new Rng(hashSeed(ENC_TRAIN_STREAM, spec.seed, step, 2));
    const psi = new Float32Array(G);
    const mask = new Float32Array(G * L);
    for (let i = 0; i < G; i++) {
      psi[i] = rng.uniform(spec.psiMin, 1);
      const mixed = rng.bool(spec.mixing);
      const from = rng.int(1, L - 1);
      if (mixed) for (let l = from; l < L; l++) mask[i * L + l] = 1;
      crossovers.push(mixed ? from : null);
    }
    out.push(za, zb, psi, mask);
    if (attributeWeight > 0) {
      const faces = decodedFaces(spec.world, za, zb, crossovers, D);
      const targets = new Float32Array(G * 3 * S * S);
      faces.forEach((f, i) => targets.set(spec.world === 'v1' ? REGION_WORLDS.v1.render(f as V1Face, S) : REGION_WORLDS.v2.render(f as Factors, S), i * 3 * S * S));
      weights.push(regionWeights(spec.world, faces, S, targets, attributeWeight));
    }
  }
  if (R > 0) {
    const r = worldFaces(spec.world, R, hashSeed(ENC_TRAIN_STREAM, spec.seed, step, 3), S, spec.intermediate);
    out.push(r.images);
    if (attributeWeight > 0) weights.push(regionWeights(spec.world, r.faces, S, r.images, attributeWeight));
  }
  if (attributeWeight > 0) {
    const all = new Float32Array((G + R) * S * S); // samples' then renders' weights
    let at = 0;
    for (const w of weights) {
      all.set(w, at);
      at += w.length;
    }
    out.push(all);
  }
  return out;
}

export interface TrainEncoderOptions extends BatchSpec {
  /** The generator file (safetensors or any format loadGenerator reads). */
  generator: string;
  arch: EncoderArch;
  steps: number;
  lr: number;
  warmup: number;
  weights: LossWeights;
  /** The feature CLIP of the `clip` loss term (the editing ToonCLIP of the world; never an evaluation model). */
  clip?: string;
  /** Checkpoint file (resumed from when it exists). */
  checkpoint?: string;
  checkpointEvery?: number;
  checkpointSeconds?: number;
  /** Stop after this step (the checkpoint is written there), for a run continued later; default `steps`. */
  stopAt?: number;
  log?: (line: string) => void;
  /** Each step's report (tests). */
  onStep?: (step: number, loss: number, metrics: Record<string, number>) => void;
  signal?: AbortSignal;
}

export const DEFAULT_TRAIN_ENCODER: Omit<TrainEncoderOptions, 'generator'> = {
  arch: DEMO_ENCODER_ARCH, steps: 12000, lr: 1e-3, warmup: 200, weights: DEFAULT_LOSS_WEIGHTS,
  samples: 8, renders: 8, world: 'v1', seed: 0, psiMin: 0.7, mixing: 0.5, intermediate: 0.3, checkpointEvery: 250,
};

/** sha256 (hex, first 16) of a file's bytes: a checkpoint records its generator's, so a resume with another fails. */
export function fingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** Train (or resume) the encoder; returns its trainable state (float32), the config and timing. */
export async function trainEncoder(opts: TrainEncoderOptions): Promise<{state: StateDict; config: EncoderConfig; seconds: number; stepsRun: number; perStep: number}> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const gBytes = readBytes(opts.generator, 'generator');
  const g = generatorFromBytes(gBytes, `generator '${opts.generator}'`);
  const cfg = encoderConfigFor(g, opts.arch);
  const params = Params.fromStateDict(initEncoderState(cfg, hashSeed(ENC_TRAIN_STREAM, opts.seed, -1)));
  const adam = new Adam(params.all, {lr: (s) => learningRate(s, opts)});
  if (opts.weights.clip > 0 && !opts.clip) throw new StyleclipError('the CLIP feature term (weights.clip > 0) needs a CLIP file');
  const clip = opts.weights.clip > 0 ? loadClip(opts.clip!) : null;
  const step = await compileStep(params, () => encoderStepGraph(g, cfg, params, opts, opts.weights, clip));
  const meta: Record<string, string> = {
    generator_sha256: fingerprint(gBytes), world: opts.world, seed: String(opts.seed), samples: String(opts.samples), renders: String(opts.renders),
    steps: String(opts.steps), arch: JSON.stringify(opts.arch),
  };
  const w = opts.weights;
  const terms = [`${w.pixel}·L1${w.attribute ? ` (×${1 + w.attribute} on the small features)` : ''}`, `${w.latent}·latent`, `${w.delta}·delta`, ...(w.multiscale ? [`${w.multiscale}·L1(pool 2, 4)`] : []), ...(w.clip ? [`${w.clip}·(1 − cos) ${path.basename(opts.clip!)}`] : [])];
  log(`encoder: ${params.count} parameters (${cfg.inputSize} px in, ${cfg.styleCount} styles of ${cfg.styleDim}), batch ${opts.samples} samples + ${opts.renders} ${opts.world} renders, ${opts.steps} steps, lr ${opts.lr}, loss ${terms.join(' + ')}`);
  let resume = null;
  if (opts.checkpoint) {
    mkdirSync(path.dirname(path.resolve(opts.checkpoint)), {recursive: true});
    if (existsSync(opts.checkpoint)) {
      resume = loadCheckpoint(opts.checkpoint);
      for (const k of ['generator_sha256', 'world', 'arch', 'samples', 'renders', 'seed'] as const) {
        if (resume.meta[k] !== undefined && resume.meta[k] !== meta[k]) throw new StyleclipError(`checkpoint '${opts.checkpoint}' was made with ${k} ${resume.meta[k]}, this run has ${meta[k]}; delete it to start over`);
      }
      log(`resuming from ${opts.checkpoint} at step ${resume.step}`);
    }
  }
  const stopAt = Math.min(opts.stopAt ?? opts.steps, opts.steps);
  const window = 50;
  const hist: {loss: number; m: Record<string, number>}[] = [];
  const t0 = performance.now();
  let first = -1;
  let timed = 0;
  let timedSeconds = 0;
  const {stepsRun} = await trainLoop(step, adam, {
    steps: stopAt,
    batch: (s) => encoderBatch(s, opts, g, opts.weights.attribute),
    prefetch: true,
    resume,
    ...(opts.checkpoint ? {checkpoint: {every: opts.checkpointEvery ?? 0, ...(opts.checkpointSeconds ? {seconds: opts.checkpointSeconds} : {}), meta, write: writeTo(opts.checkpoint)}} : {}),
    ...(opts.signal ? {signal: opts.signal} : {}),
    what: 'encoder training',
    divergenceHint: 'lower --lr',
    onStep: ({step: s, loss, metrics, seconds}) => {
      if (first < 0) first = s;
      else {
        timed++; // the first step of a run compiles and warms up; it is left out of the speed
        timedSeconds += seconds;
      }
      opts.onStep?.(s, loss, metrics);
      hist.push({loss, m: metrics});
      if (hist.length > window) hist.shift();
      if ((s + 1) % 25 === 0 || s + 1 === stopAt) {
        const mean = (f: (h: (typeof hist)[number]) => number) => hist.reduce((p, h) => p + f(h), 0) / hist.length;
        const names = Object.keys(metrics);
        const perStep = timed ? timedSeconds / timed : seconds;
        const px = (v: number) => `${(v * 127.5).toFixed(2)}/255`;
        log(`step ${s + 1}/${opts.steps}  loss ${mean((h) => h.loss).toFixed(4)}  ${names.map((k) => `${k} ${k.startsWith('pixel') ? px(mean((h) => h.m[k]!)) : mean((h) => h.m[k]!).toFixed(4)}`).join('  ')}  lr ${learningRate(s, opts).toExponential(2)}  ${perStep.toFixed(2)} s/step`);
      }
    },
  });
  await step.program.release();
  return {state: params.toStateDict(), config: cfg, seconds: (performance.now() - t0) / 1000, stepsRun, perStep: timed ? timedSeconds / timed : NaN};
}

function toHalf(t: HostTensor): HostTensor {
  const src = toFloat32(t);
  const bits = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = numberToHalfBits(src[i]!);
  return {dtype: 'float16', shape: t.shape, data: bits};
}

/**
 * The encoder file: `encoder.*` (fp16 unless `half` is false), the generator's tensors as `decoder.*` (unchanged),
 * `latent_avg` [L, D] (the generator's mean W in every row, as e4e stores it) and metadata.
 */
export function encoderAssetBytes(cfg: EncoderConfig, trained: StateDict, generatorBytes: Uint8Array, meta: Record<string, string>, {half = true} = {}): Uint8Array {
  const {tensors: gen} = parseSafetensors(generatorBytes, {what: 'generator'});
  const avg = gen.get('latent_avg');
  if (!avg) throw new StyleclipError('the generator file has no latent_avg');
  const D = cfg.styleDim;
  const avg32 = toFloat32(avg);
  check(avg32.length === D, `the generator's latent_avg has ${avg32.length} values, expected ${D}`);
  const rows = new Float32Array(cfg.styleCount * D);
  for (let l = 0; l < cfg.styleCount; l++) rows.set(avg32, l * D);
  const out: StateDict = new Map();
  for (const [k, t] of exportStateDict(cfg, trained)) out.set(`encoder.${k}`, half ? toHalf(t) : t);
  for (const [k, t] of gen) if (k !== 'latent_avg') out.set(`decoder.${k}`, t);
  out.set('latent_avg', {dtype: 'float32', shape: [cfg.styleCount, D], data: rows});
  return serializeSafetensors(out, {format: 'styleclip-demo-encoder', encoder_type: 'Encoder4Editing', generator_sha256: fingerprint(generatorBytes), ...meta});
}

export function writeEncoderAsset(file: string, cfg: EncoderConfig, trained: StateDict, generatorBytes: Uint8Array, meta: Record<string, string>): void {
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
  writeFileAtomic(file, encoderAssetBytes(cfg, trained, generatorBytes, meta), 'encoder asset');
}

/** Float images in [-1, 1] → the 8-bit values a PNG holds, back in [-1, 1] (what a user's file gives the encoder). */
function quantize(x: Float32Array): Float32Array {
  return Float32Array.from(x, (v) => (Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5) / 255 - 0.5) / 0.5);
}

export interface EncoderQuality {
  world: World;
  n: number;
  /** Mean |x − G(E(x))| over pixels and channels, 8-bit units (0–255). */
  meanAbsError: number;
  /** Mean over faces of 10·log10(255² / MSE). */
  psnr: number;
  /** Share of (face, visible attribute) pairs where the classifier's top value agrees on the render and its reconstruction. */
  agreement: number;
  /** Per attribute: agreement and the number of faces on which it is visible. */
  attributes: Record<AttributeName, {agreement: number; n: number}>;
  /** Share of faces whose every visible attribute agrees. */
  allAgree: number;
  seconds: number;
}

/**
 * Measure an encoder file on `n` held-out renders (stream ENC_EVAL_STREAM, named values only) as `styleclip invert`
 * runs it: 8-bit input, the file's encoder and decoder, the checkpoint's noise, 8-bit reconstruction. `grid`
 * receives the first `gridFaces` renders and reconstructions (pairs of columns) as a PNG.
 */
export async function evaluateEncoder(
  file: string,
  classifier: DemoClassifier,
  {n, world, seed = 0, grid, gridFaces = 16, refine = 0}: {n: number; world: World; seed?: number; grid?: string; gridFaces?: number; refine?: number},
): Promise<EncoderQuality> {
  const t0 = performance.now();
  const {encoder, decoder} = loadEncoder(file);
  if (!decoder) throw new StyleclipError(`encoder file '${file}' holds no decoder`);
  const S = encoder.config.inputSize;
  const R = decoder.config.size;
  check(S === R, `the encoder's input (${S} px) is not the generator's resolution (${R} px)`);
  const per = 3 * S * S;
  let absSum = 0;
  let psnrSum = 0;
  const agree = Object.fromEntries(attributeNames.map((a) => [a, 0])) as Record<AttributeName, number>;
  const counts = {...agree};
  let allAgree = 0;
  const gridPairs: Float32Array[] = [];
  const chunk = 50;
  for (let c = 0; c * chunk < n; c++) {
    const m = Math.min(chunk, n - c * chunk);
    const faces = worldFaces(world, m, hashSeed(ENC_EVAL_STREAM, seed, c), S);
    const x = quantize(faces.images);
    let {wPlus} = await encode(encoder, {dtype: 'float32', shape: [m, 3, S, S], data: x});
    if (refine > 0) wPlus = await refineEach(decoder, x, wPlus, refine);
    const recon = quantize((await generate(decoder, {latent: wPlus, space: 'w+', noise: 'const'})).image.data as Float32Array);
    for (let i = 0; i < m; i++) {
      let se = 0;
      for (let j = i * per; j < (i + 1) * per; j++) {
        const d = Math.abs(recon[j]! - x[j]!) * 127.5;
        absSum += d;
        se += d * d;
      }
      psnrSum += 10 * Math.log10((255 * 255) / Math.max(se / per, 1e-10));
      if (gridPairs.length < 2 * gridFaces) gridPairs.push(x.subarray(i * per, (i + 1) * per), recon.subarray(i * per, (i + 1) * per));
    }
    const [pa, pb] = [await classifier.classify({dtype: 'float32', shape: [m, 3, S, S], data: x}), await classifier.classify({dtype: 'float32', shape: [m, 3, S, S], data: recon})];
    for (let i = 0; i < m; i++) {
      const [ta, tb] = [topValues(pa[i]!), topValues(pb[i]!)];
      let all = true;
      for (const a of attributeNames) {
        if (!faces.visible[i]!(a)) continue;
        counts[a]++;
        if (ta[a] === tb[a]) agree[a]++;
        else all = false;
      }
      if (all) allAgree++;
    }
  }
  if (grid) await writeGrid(grid, gridPairs, S, 8);
  const total = attributeNames.reduce((p, a) => p + counts[a], 0);
  return {
    world, n,
    meanAbsError: absSum / (n * per),
    psnr: psnrSum / n,
    agreement: attributeNames.reduce((p, a) => p + agree[a], 0) / Math.max(1, total),
    attributes: Object.fromEntries(attributeNames.map((a) => [a, {agreement: agree[a] / Math.max(1, counts[a]), n: counts[a]}])) as EncoderQuality['attributes'],
    allAgree: allAgree / n,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * `invert --refine`'s projection (pixel loss alone, as for cartoon faces) of every face from its encoder W+: what
 * the generator can show of a face near the encoder's answer, the ceiling an encoder of this generator approaches.
 */
async function refineEach(g: StyleGAN2, x: Float32Array, wPlus: HostTensor, steps: number): Promise<HostTensor> {
  const [m, L, D] = wPlus.shape as [number, number, number];
  const per = x.length / m;
  const out = new Float32Array(m * L * D);
  const w = toFloat32(wPlus);
  for (let i = 0; i < m; i++) {
    const target: HostTensor = {dtype: 'float32', shape: [1, 3, g.config.size, g.config.size], data: x.slice(i * per, (i + 1) * per)};
    const r = await project(g, target, {start: {dtype: 'float32', shape: [1, L, D], data: w.slice(i * L * D, (i + 1) * L * D)}, steps, optimizeNoise: false});
    out.set(toFloat32(r.wPlus), i * L * D);
  }
  return {dtype: 'float32', shape: [m, L, D], data: out};
}

/** Images [3,S,S] in [-1, 1] laid out `cols` per row (render, reconstruction, render, …) as a PNG, scaled ×3. */
async function writeGrid(file: string, cells: Float32Array[], S: number, cols: number): Promise<void> {
  const rows = Math.ceil(cells.length / cols);
  const [H, W] = [rows * S, cols * S];
  const data = new Float32Array(3 * H * W).fill(1);
  cells.forEach((cell, k) => {
    const [r, c] = [Math.floor(k / cols), k % cols];
    for (let ch = 0; ch < 3; ch++) for (let y = 0; y < S; y++) data.set(cell.subarray(ch * S * S + y * S, ch * S * S + (y + 1) * S), ch * H * W + (r * S + y) * W + c * S);
  });
  const png = await encodePng({dtype: 'float32', shape: [1, 3, H, W], data});
  const {default: sharp} = await import('sharp');
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
  writeFileAtomic(file, new Uint8Array(await sharp(png).resize(W * 3, H * 3, {kernel: 'nearest'}).png().toBuffer()), 'grid image');
}
