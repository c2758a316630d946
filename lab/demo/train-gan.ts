/**
 * Training ToonGAN by distillation from the renderer (see toon-gan.ts for the latent decoding): each step
 * draws z from a seeded RNG (a pure function of the step), renders the targets render(decode(z)) and takes an
 * Adam step on an L1 pixel loss (full resolution plus a 4×-pooled term for the coarse layout) through our
 * StyleGAN2 (mapping + synthesis, rosinality parameterisation with equalised learning rates).
 *
 * Resumable: atomic checkpoints (src/train: params + Adam state + step) every few minutes; the data stream depends only
 * on the step, so a resumed run continues exactly. Sample grids (generated row above its target row) go to
 * the checkpoint's folder. The final asset is a rosinality-style state dict in fp16 plus an fp32 latent_avg.
 *
 * What is distilled is a `GanWorld` (toon-gan.ts): the v1 world by default, or the v2 world's continuous factors
 * (lab/world2/toon-gan.ts) with `world: toonGanV2World`.
 */
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as F from '../../src/engine/ops.js';
import {compile, type Program} from '../../src/engine/session.js';
import {type Tensor, constant, input} from '../../src/engine/tensor.js';
import {StyleclipError} from '../../src/errors.js';
import {readBytes, writeFileAtomic} from '../../src/io/files.js';
import {type HostTensor, type StateDict, numberToHalfBits, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {StyleGAN2, type StyleGAN2Config, expectedStateDict, randomStateDict} from '../../src/models/stylegan2.js';
import {mulberry32Normal} from '../../src/random.js';
import {jitterBatch, offManifoldBasis} from './w-basis.js';
import {avgPool2d, logSoftmax} from '../../src/nn/functional.js';
import {loadCheckpoint, restore, writeTo} from '../../src/train/checkpoint.js';
import {Params, type StepGraph, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam} from '../../src/train/optim.js';
import {type AttributeName, attributeNames, attributeSchema, isAttributeVisible} from '../../src/demo/attributes.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {type DecodedLatent, type GanWorld, auxWidth, decodeLatent, toonGanConfig, toonGanV1World} from './toon-gan.js';

/** Keys that are not trained: FIR kernels (fixed), noise strengths (0: renders have no stochastic detail), noise buffers. */
function isTrainable(key: string): boolean {
  return !key.endsWith('.kernel') && !key.endsWith('noise.weight') && !key.startsWith('noises.');
}

/**
 * Initial parameters (rosinality init: EqualLinear weights N(0,1)/lr_mul, conv weights N(0,1), modulation bias 1),
 * except the ToRGB weights, scaled by `rgbInit`: a small output layer starts the generator at a flat grey
 * instead of random colour blobs that a regression spends its first thousand steps unlearning.
 */
export function initialParams(cfg: StyleGAN2Config, seed: number, rgbInit = 1, auxOf: GanWorld | null = null): Params {
  const sd = randomStateDict(cfg, seed);
  const entries: [string, {shape: number[]; data: Float32Array}][] = [];
  for (const [k, t] of sd) {
    if (!isTrainable(k)) continue;
    const data = t.data as Float32Array;
    if (/^style\.\d+\.weight$/.test(k)) for (let i = 0; i < data.length; i++) data[i]! /= cfg.lrMlp;
    if (/^to_rgbs?[.\d]*\.conv\.weight$/.test(k)) for (let i = 0; i < data.length; i++) data[i]! *= rgbInit;
    entries.push([k, {shape: t.shape, data}]);
  }
  if (auxOf) entries.push(...auxParams(auxOf, cfg.styleDim, seed));
  return new Params(entries);
}

/** A StyleGAN2 whose trainable parameters are the Params' graph inputs (fixed ones as constants). */
export function generatorFromParams(cfg: StyleGAN2Config, params: Params): StyleGAN2 {
  const fixed = randomStateDict(cfg, 0);
  const map = new Map<string, Tensor>();
  for (const [k, shape] of expectedStateDict(cfg)) {
    if (k.startsWith('noises.')) continue;
    map.set(k, params.has(k) ? params.get(k) : constant(fixed.get(k)!.data as Float32Array, shape));
  }
  return StyleGAN2.withParams(cfg, map);
}

/** Zero noise as constants (noise strengths are 0 anyway). */
function zeroNoise(g: StyleGAN2): Tensor[] {
  return Array.from({length: g.numNoise}, (_, i) => constant(new Float32Array(g.noiseRes(i) ** 2), [1, 1, g.noiseRes(i), g.noiseRes(i)]));
}

/** z → image through mapping, broadcast, styles and synthesis. */
export function forward(g: StyleGAN2, z: Tensor): Tensor {
  return g.synthesis(g.styles(g.broadcast(g.mapping(z))), zeroNoise(g));
}

/** The latents of a step (or any stream index): [N·D] standard normals. */
export function latentBatch(seed: number, index: number, N: number, D: number): Float32Array {
  const rng = mulberry32Normal(hashSeed(seed, index));
  const z = new Float32Array(N * D);
  for (let i = 0; i < z.length; i++) z[i] = rng();
  return z;
}

/**
 * Per-pixel loss weights [N,1,H,W] of a batch: 1 + k where render(decode(z)) differs from the same face (same
 * jitter) rendered without its small attributes, 1 elsewhere; normalised to mean 1 over the batch so the loss
 * scale (and the learning rate) stays that of the unweighted L1.
 */
export function attributeWeights(z: Float32Array, D: number, size: number, targets: Float32Array, k: number): Float32Array {
  return attributeWeightsOf(Array.from({length: z.length / D}, (_, n) => decodeLatent(z.subarray(n * D, (n + 1) * D), D)), size, targets, k);
}

/** attributeWeights for faces given by their renderer inputs (e.g. the targets of mixed latents). */
export function attributeWeightsOf(faces: readonly DecodedLatent[], size: number, targets: Float32Array, k: number): Float32Array {
  return pixelWeights(toonGanV1World, faces, size, targets, k);
}

/** The pixel weights of any world's faces: 1 + k where the face differs from `world.bare(face)`, normalised to mean 1. */
export function pixelWeights<Face>(world: Pick<GanWorld<Face>, 'render' | 'bare'>, faces: readonly Face[], size: number, targets: Float32Array, k: number): Float32Array {
  const N = faces.length;
  const plane = size * size;
  const w = new Float32Array(N * plane).fill(1);
  if (k > 0) {
    for (let n = 0; n < N; n++) {
      const bare = world.render(world.bare(faces[n]!), size);
      const t = targets.subarray(n * 3 * plane, (n + 1) * 3 * plane);
      for (let p = 0; p < plane; p++) {
        const d = Math.abs(t[p]! - bare[p]!) + Math.abs(t[plane + p]! - bare[plane + p]!) + Math.abs(t[2 * plane + p]! - bare[2 * plane + p]!);
        if (d > 1e-3) w[n * plane + p] = 1 + k;
      }
    }
    let sum = 0;
    for (const v of w) sum += v;
    const scale = w.length / sum;
    for (let i = 0; i < w.length; i++) w[i]! *= scale;
  }
  return w;
}

/** Held-out latents: a stream disjoint from the training one. */
export function heldOutLatents(N: number, D: number, seed = 7): Float32Array {
  return latentBatch(hashSeed(0x5eed, seed), 0, N, D);
}

export interface TrainGanOptions {
  out: string;
  steps: number;
  checkpoint: string;
  batch?: number;
  lr?: number;
  /** Adam lr multiplier of the mapping layers' raw parameters (their graph scale is lr_mul = 0.01). */
  mappingLrMul?: number;
  seed?: number;
  /** Seconds between checkpoints. */
  checkpointSeconds?: number;
  /** Steps between sample grids. */
  sampleEvery?: number;
  /** Number of latents for latent_avg. */
  avgSamples?: number;
  log?: (line: string) => void;
  config?: StyleGAN2Config;
  /** Stop (with a checkpoint) after this many seconds; the run can be resumed. */
  maxSeconds?: number | undefined;
  /** Scale of the ToRGB weights at initialisation. */
  rgbInit?: number;
  /** Weight of an added MSE term (strong gradients on large colour errors early on). */
  mseWeight?: number;
  /**
   * Extra loss weight on the pixels of the small attributes (beard, mouth, lipstick, glasses): pixels where the
   * target differs from the same face rendered without them get weight 1 + attributeWeight. Thin regions are
   * otherwise a few percent of an L1 loss whose median answer ("no beard", "closed mouth") is already cheap.
   */
  attributeWeight?: number;
  /** What is distilled (default: the v1 world). */
  world?: GanWorld<any>;
  /** Start from the weights of a generator asset (fine-tuning) instead of the random initialisation. */
  initFrom?: string | undefined;
  /**
   * Weight of an auxiliary loss that keeps every decoded attribute linearly readable from W: a linear softmax
   * head per attribute on W (trained with G, not exported), cross-entropy against decode(z)'s attributes. A
   * mapping trained only through the pixel loss can drop the coordinates of small attributes entirely (the
   * 12 000-step generator's W carried no beard information at all); this term forbids that.
   */
  auxWeight?: number;
  /**
   * Style mixing: the share of each batch whose W+ is mixed from two latents at a uniform crossover, with targets
   * from decodeMixed (StyleGAN2 mixes 90 % of its batches), so every layer owns its attributes. On the demo it made
   * the oracle edits and the global directions cleaner but did not stop latent optimisation's muddy moves
   * (docs/experiments.md).
   */
  mixing?: number;
  /**
   * Interpolation training (continuous worlds only): the share of the faces not style-mixed whose W+ is the straight
   * line w(z1) + t·(w(z2) − w(z1)) at a uniform t on every layer, with the target face `world.interpolate(decode(z1),
   * decode(z2), t)` — every factor a share t of the way. It teaches the synthesis that a straight move in W is a
   * straight move of the factors (without it, v2's hair colour swings through other hues along a line in W).
   */
  interpolate?: number;
  /**
   * Off-manifold jitter (needs initFrom): σ of Gaussian noise added to every W+ row, independently, along the
   * directions whose variance over the init generator's W is below `jitterVariance` (lab/demo/w-basis.ts), with the
   * target unchanged. The mapping squeezes W onto a thin manifold; the synthesis never sees the other directions and
   * renders untrained images there, which is where CLIP-guided W+ moves go.
   */
  jitter?: number;
  /** The variance below which a W direction counts as unused (default 3e-3). */
  jitterVariance?: number;
}

/**
 * The style-mixing part of batch `index`: second latents z2 [N·D], and per face the crossover (nLatent for the
 * faces that are not mixed). A pure function of (seed, index).
 */
export function mixingBatch(seed: number, index: number, N: number, D: number, nLatent: number, mixing: number): {z2: Float32Array; crossovers: number[]} {
  const z2 = latentBatch(hashSeed(seed, 0x3a1), index, N, D);
  const rng = new Rng(hashSeed(hashSeed(seed, 0x3a2), index));
  const crossovers = Array.from({length: N}, () => {
    const mixed = rng.next() < mixing;
    const c = 1 + Math.floor(rng.next() * (nLatent - 1));
    return mixed ? c : nLatent;
  });
  return {z2, crossovers};
}

/** The W+ selector of a batch: [N, nLatent, 1], 1 where the layer takes w(z1) (below the crossover), else 0. */
export function mixingMask(crossovers: readonly number[], nLatent: number): Float32Array {
  const m = new Float32Array(crossovers.length * nLatent);
  crossovers.forEach((c, n) => m.fill(1, n * nLatent, n * nLatent + Math.min(c, nLatent)));
  return m;
}

/**
 * The interpolation part of batch `index`: per face, t in (0, 1) for the faces interpolated between z1 and z2 (drawn
 * among those `unmixed`), else null. Its own random stream, so a run without it draws exactly what it drew before.
 */
export function interpolationBatch(seed: number, index: number, unmixed: readonly boolean[], share: number): (number | null)[] {
  const rng = new Rng(hashSeed(hashSeed(seed, 0x3a3), index));
  return unmixed.map((free) => {
    const on = rng.next() < share;
    const t = rng.next();
    return free && on ? t : null;
  });
}

/** Auxiliary head parameters (not part of the generator): aux.<attribute>.weight [K, D], aux.<attribute>.bias [K]. */
export function auxHeadParams(D: number, seed: number): [string, {shape: number[]; data: Float32Array}][] {
  const rng = mulberry32Normal(hashSeed(seed, 0xa0c));
  return attributeNames.flatMap((name) => {
    const K = attributeSchema[name].values.length;
    return [
      [`aux.${name}.weight`, {shape: [K, D], data: Float32Array.from({length: K * D}, () => 0.01 * rng())}],
      [`aux.${name}.bias`, {shape: [K], data: new Float32Array(K)}],
    ] as [string, {shape: number[]; data: Float32Array}][];
  });
}

/** Auxiliary head parameters of a world: v1's softmax heads per attribute, or aux.regression.weight [R, D] and bias [R]. */
function auxParams(world: GanWorld, D: number, seed: number): [string, {shape: number[]; data: Float32Array}][] {
  if (world.aux.kind === 'softmax') return auxHeadParams(D, seed);
  const R = world.aux.width;
  const rng = mulberry32Normal(hashSeed(seed, 0xa0d));
  return [
    ['aux.regression.weight', {shape: [R, D], data: Float32Array.from({length: R * D}, () => 0.01 * rng())}],
    ['aux.regression.bias', {shape: [R], data: new Float32Array(R)}],
  ];
}

/** Number of values of each attribute (schema order): the widths of the one-hot label blocks. */
const LABEL_WIDTHS = attributeNames.map((n) => attributeSchema[n].values.length);

/** One-hot attribute labels of a batch, attributes concatenated in schema order: [N, ΣK]. */
export function attributeLabels(z: Float32Array, D: number): Float32Array {
  return auxTargetsOf(toonGanV1World, Array.from({length: z.length / D}, (_, n) => decodeLatent(z.subarray(n * D, (n + 1) * D), D)));
}

/** The auxiliary targets of a batch of faces: [N, auxWidth(world)]. */
function auxTargetsOf<Face>(world: GanWorld<Face>, faces: readonly Face[]): Float32Array {
  const W = auxWidth(world);
  const out = new Float32Array(faces.length * W);
  faces.forEach((f, n) => out.set(world.auxTargets(f), n * W));
  return out;
}

/** Targets of a batch z [N·D] in a world: [N, 3, size, size]. */
export function renderWorldLatents(world: GanWorld<any>, z: Float32Array, D: number, size: number): Float32Array {
  const N = z.length / D;
  const plane = 3 * size * size;
  const out = new Float32Array(N * plane);
  for (let n = 0; n < N; n++) out.set(world.render(world.decode(z.subarray(n * D, (n + 1) * D), D), size), n * plane);
  return out;
}

/** Learning rate: linear warm-up over 200 steps, constant to half-way, then cosine down to 10%. */
export function lrAt(step: number, total: number, base: number): number {
  const warm = Math.min(1, (step + 1) / 200);
  const half = total / 2;
  const decay = step < half ? 1 : 0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * (step - half)) / half));
  return base * warm * decay;
}

/** Mixed W+ [N, L, D]: w1 on the layers where `mask` [N, L, 1] is 1 (below each face's crossover), w2 elsewhere. */
export function mixedWPlus(g: StyleGAN2, w1: Tensor, w2: Tensor, mask: Tensor): Tensor {
  return F.add(F.mul(g.broadcast(w1), mask), F.mul(g.broadcast(w2), F.sub(1, mask)));
}

/** The training step's graph: data [z, target, pixel weights, labels(, z2, mixing mask)(, W+ jitter)] → loss and metrics l1, l1_4, aux CE. */
function trainStepGraph(cfg: StyleGAN2Config, params: Params, N: number, mseWeight: number, auxWeight: number, mixing: boolean, world: GanWorld, jitter = false): StepGraph {
  const g = generatorFromParams(cfg, params);
  const z = input('z', [N, cfg.styleDim]);
  const target = input('target', [N, 3, cfg.size, cfg.size]);
  const weight = input('weight', [N, 1, cfg.size, cfg.size]);
  const labels = input('labels', [N, auxWidth(world)]);
  const z2 = input('z2', [N, cfg.styleDim]);
  const mask = input('mix', [N, g.nLatent, 1]);
  const w = g.mapping(z);
  const wJitter = jitter ? input('w_jitter', [N, g.nLatent, cfg.styleDim]) : null;
  const wMixed = mixing ? mixedWPlus(g, w, g.mapping(z2), mask) : g.broadcast(w);
  const wPlus = wJitter ? F.add(wMixed, wJitter) : wMixed;
  const img = g.synthesis(g.styles(wPlus), zeroNoise(g));
  let aux: Tensor = F.zeros([]);
  if (auxWeight > 0 && world.aux.kind === 'regression') {
    const pred = F.add(F.matmul(w, F.transpose(params.get('aux.regression.weight'), [1, 0])), params.get('aux.regression.bias'));
    aux = F.div(F.sum(F.square(F.sub(pred, labels))), N);
  } else if (auxWeight > 0) {
    let off = 0;
    attributeNames.forEach((name, i) => {
      const logits = F.add(F.matmul(w, F.transpose(params.get(`aux.${name}.weight`), [1, 0])), params.get(`aux.${name}.bias`));
      const y = F.slice(labels, {1: [off, off + LABEL_WIDTHS[i]!]});
      aux = F.sub(aux, F.div(F.sum(F.mul(y, logSoftmax(logits, -1))), N));
      off += LABEL_WIDTHS[i]!;
    });
  }
  const l1 = F.mean(F.mul(F.abs(F.sub(img, target)), weight));
  const l14 = F.mean(F.abs(F.sub(avgPool2d(img, 4), avgPool2d(target, 4))));
  let loss = F.add(l1, F.mul(l14, 0.5));
  if (mseWeight > 0) loss = F.add(loss, F.mul(F.mean(F.square(F.sub(img, target))), mseWeight));
  if (auxWeight > 0) loss = F.add(loss, F.mul(aux, auxWeight));
  return {loss, metrics: {l1, l1_4: l14, aux}, dataInputs: [z, target, weight, labels, ...(mixing ? [z2, mask] : []), ...(wJitter ? [wJitter] : [])]};
}

/** Forward-only program (params as inputs) for samples and evaluation during training. */
async function compileForward(cfg: StyleGAN2Config, params: Params, N: number): Promise<Program> {
  const g = generatorFromParams(cfg, params);
  const z = input('z', [N, cfg.styleDim]);
  return compile([...params.names.map((n) => params.get(n)), z], [forward(g, z)]);
}

/** Write a grid PNG: `rows` arrays of images [n,3,H,W] in [−1,1], each a row of n images. */
export async function writeGridPng(file: string, rows: Float32Array[], n: number, size: number, scale = 2): Promise<void> {
  const W = n * size;
  const H = rows.length * size;
  const buf = new Uint8Array(W * H * 3);
  const plane = size * size;
  rows.forEach((row, r) => {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < plane; p++) {
          const y = r * size + Math.floor(p / size);
          const x = i * size + (p % size);
          const v = Math.round((row[(i * 3 + c) * plane + p]! + 1) * 127.5);
          buf[(y * W + x) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  });
  const png = await sharp(buf, {raw: {width: W, height: H, channels: 3}}).resize(W * scale, H * scale, {kernel: 'nearest'}).png().toBuffer();
  writeFileAtomic(file, new Uint8Array(png.buffer, png.byteOffset, png.byteLength), 'sample grid');
}

async function runForward(prog: Program, params: Params, z: Float32Array): Promise<Float32Array> {
  const [out] = await prog.run([...params.values, z]);
  return out!.data as Float32Array;
}

/** latent_avg (mean of mapping(z) over many z) and W's scale (RMS over coordinates of the per-coordinate std). */
async function latentStats(cfg: StyleGAN2Config, params: Params, n: number, seed: number): Promise<{avg: Float32Array; std: number}> {
  const g = generatorFromParams(cfg, params);
  const B = 1000;
  const z = input('z', [B, cfg.styleDim]);
  const prog = await compile([...params.names.map((k) => params.get(k)), z], [g.mapping(z)]);
  const D = cfg.styleDim;
  const acc = new Float64Array(D);
  const sq = new Float64Array(D);
  const chunks = Math.ceil(n / B);
  for (let c = 0; c < chunks; c++) {
    const [w] = await prog.run([...params.values, latentBatch(hashSeed(seed, 0xa7e), c, B, D)]);
    const d = w!.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      acc[i % D]! += d[i]!;
      sq[i % D]! += d[i]! * d[i]!;
    }
  }
  const m = chunks * B;
  let variance = 0;
  for (let i = 0; i < D; i++) variance += sq[i]! / m - (acc[i]! / m) ** 2;
  return {avg: Float32Array.from(acc, (v) => v / m), std: Math.sqrt(variance / D)};
}

/**
 * The power of two c that brings W's scale closest to 1 (W → W / c). The auxiliary W-attribute loss lets W grow
 * (the shipped run ended at a per-coordinate std of 3.8), and the edit methods' official step sizes (latent
 * optimisation's lr 0.1, the mapper's 0.1·M(w) residual, the W+ L2 weights) are calibrated on a W of unit order.
 */
export function wScaleDivisor(std: number): number {
  return 2 ** Math.max(0, Math.round(Math.log2(std)));
}

/**
 * Rescale W by 1/c without changing any image: the last mapping layer (linear + leaky ReLU, positively
 * homogeneous) gets weight and bias / c, every style modulation weight × c. With c a power of two this is exact
 * in fp16 and fp32 (z → S, hence every image, is bit-identical).
 */
export function rescaleW(sd: StateDict, cfg: StyleGAN2Config, c: number): StateDict {
  if (c === 1) return sd;
  const out: StateDict = new Map(sd);
  const scale = (k: string, f: number) => {
    const t = sd.get(k)!;
    out.set(k, {...t, data: Float32Array.from(toFloat32(t), (v) => v * f)});
  };
  scale(`style.${cfg.nMlp}.weight`, 1 / c);
  scale(`style.${cfg.nMlp}.bias`, 1 / c);
  for (const k of sd.keys()) if (k.endsWith('.modulation.weight')) scale(k, c);
  return out;
}

function toHalf(t: HostTensor): HostTensor {
  const src = t.data as Float32Array;
  const h = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) h[i] = numberToHalfBits(src[i]!);
  return {dtype: 'float16', shape: t.shape, data: h};
}

/** The full state dict (trained params, fixed kernels, zero noise strengths, N(0,1) noise buffers). */
export function exportStateDict(cfg: StyleGAN2Config, params: Params): StateDict {
  const fixed = randomStateDict(cfg, 1234);
  const trained = params.toStateDict();
  const sd: StateDict = new Map();
  for (const [k] of expectedStateDict(cfg)) sd.set(k, trained.get(k) ?? fixed.get(k)!);
  return sd;
}

/** Write the asset atomically: weights fp16, latent_avg fp32, metadata. */
export function writeGeneratorAsset(file: string, cfg: StyleGAN2Config, params: Params, stats: {avg: Float32Array; std: number}, meta: Record<string, string>, world: GanWorld = toonGanV1World): number {
  const c = wScaleDivisor(stats.std);
  const sd = rescaleW(exportStateDict(cfg, params), cfg, c);
  const latentAvg = stats.avg.map((v) => v / c);
  const out = new Map<string, HostTensor>();
  for (const [k, t] of sd) out.set(k, toHalf(t));
  out.set('latent_avg', {dtype: 'float32', shape: [cfg.styleDim], data: latentAvg});
  const bytes = serializeSafetensors(out, {
    format: 'styleclip-demo-generator',
    model: 'ToonGAN',
    latent_decoding: world.decodingVersion,
    latent_decoding_doc: world.decodingDoc,
    ...(world.name === 'v1' ? {} : {world: world.name}),
    config: JSON.stringify(cfg),
    w_scale_divisor: String(c),
    ...meta,
  });
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
  writeFileAtomic(file, bytes, 'generator asset');
  return bytes.length;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

/** Train (or resume) ToonGAN; writes the asset when `steps` is reached. Returns whether it finished. */
export async function trainToonGan(opts: TrainGanOptions): Promise<{finished: boolean; step: number}> {
  const cfg = opts.config ?? toonGanConfig;
  const {steps, batch: N = 16, lr = 0.002, mappingLrMul = 100, seed = 1, checkpointSeconds = 180, sampleEvery = 250, avgSamples = 10000, mseWeight = 1, rgbInit = 0.1, attributeWeight = 0, auxWeight = 0, mixing = 0, interpolate = 0, jitter = 0, jitterVariance = 3e-3} = opts;
  if (!(mixing >= 0 && mixing <= 1)) throw new StyleclipError(`mixing must be a share in [0, 1], got ${mixing}`);
  if (!(interpolate >= 0 && interpolate <= 1)) throw new StyleclipError(`interpolate must be a share in [0, 1], got ${interpolate}`);
  const log = opts.log ?? ((l: string) => console.log(l));
  const world: GanWorld<any> = opts.world ?? toonGanV1World;
  if (interpolate > 0 && !world.interpolate) throw new StyleclipError(`interpolation training needs a continuous world; the ${world.name} world has none`);
  const D = cfg.styleDim;
  const params = initialParams(cfg, seed, rgbInit, auxWeight > 0 ? world : null);
  // Two parameter groups: the synthesis (and auxiliary head) at the scheduled rate, the mapping layers' raw
  // parameters at that rate × mappingLrMul.
  const isMapping = (n: string) => n.startsWith('style.');
  const adam = new Adam(
    [{params: params.select((n) => !isMapping(n))}, {params: params.select(isMapping), lr: (s) => lrAt(s, steps, lr) * mappingLrMul}],
    {lr: (s) => lrAt(s, steps, lr), betas: [0.9, 0.99]},
  );
  if (opts.initFrom && !existsSync(opts.checkpoint)) {
    const {tensors} = parseSafetensors(readBytes(opts.initFrom, 'generator asset'), {what: `generator asset '${opts.initFrom}'`});
    for (const p of params.all) {
      if (p.name.startsWith('aux.')) continue;
      const t = tensors.get(p.name);
      if (!t || t.shape.join() !== p.shape.join()) throw new StyleclipError(`'${opts.initFrom}' does not match ToonGAN's architecture (parameter ${p.name})`);
      p.data.set(toFloat32(t));
    }
    log(`initialised from ${opts.initFrom}`);
  }
  const resume = existsSync(opts.checkpoint) ? loadCheckpoint(opts.checkpoint) : null;
  if (resume && (resume.meta.world ?? 'v1') !== world.name) throw new StyleclipError(`checkpoint '${opts.checkpoint}' is of the ${resume.meta.world ?? 'v1'} world, not ${world.name}`);
  const start = resume?.step ?? 0;
  if (resume) log(`resumed from ${opts.checkpoint} at step ${start}`);
  log(`ToonGAN${world.name === 'v1' ? '' : ` (${world.name} world)`}: ${params.count.toLocaleString('en')} trainable parameters, batch ${N}, ${steps} steps, lr ${lr} (mapping raw ×${mappingLrMul}), loss ${attributeWeight ? `L1 (×${1 + attributeWeight} on beard/mouth/lipstick/glasses pixels)` : 'L1'} + 0.5·L1(pool4)${mseWeight ? ` + ${mseWeight}·MSE` : ''}${mixing > 0 ? `, style mixing on ${(100 * mixing).toFixed(0)} % of the faces` : ''}${interpolate > 0 ? `, interpolation on ${(100 * interpolate).toFixed(0)} % of the unmixed faces` : ''}${jitter > 0 ? `, off-manifold jitter σ ${jitter}` : ''}`);
  const t0 = performance.now();
  let jitterBasis: Float64Array[] = [];
  if (jitter > 0) {
    if (!opts.initFrom) throw new StyleclipError('off-manifold jitter needs --init-from (the generator whose W defines the unused directions)');
    const b = await offManifoldBasis(opts.initFrom, jitterVariance);
    jitterBasis = b.basis;
    log(`off-manifold jitter σ ${jitter} along ${b.basis.length} W directions of variance < ${jitterVariance} (largest ${Math.max(0, ...b.variances).toExponential(1)})`);
  }
  const step = await compileStep(params, () => trainStepGraph(cfg, params, N, mseWeight, auxWeight, mixing > 0 || interpolate > 0, world, jitter > 0));
  const nLatent = Math.log2(cfg.size) * 2 - 2;
  const SAMPLES = 8;
  const fwd = await compileForward(cfg, params, SAMPLES);
  log(`compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const sampleZ = heldOutLatents(SAMPLES * 2, D);
  const sampleTargets = renderWorldLatents(world, sampleZ, D, cfg.size);
  const dir = path.dirname(path.resolve(opts.checkpoint));
  mkdirSync(dir, {recursive: true});
  const meta = {latent_decoding: world.decodingVersion, world: world.name, config: JSON.stringify(cfg), seed: String(seed), batch: String(N), lr: String(lr), mapping_lr_mul: String(mappingLrMul), mse_weight: String(mseWeight), rgb_init: String(rgbInit), attribute_weight: String(attributeWeight), aux_weight: String(auxWeight), ...(mixing > 0 ? {mixing: String(mixing)} : {}), ...(interpolate > 0 ? {interpolate: String(interpolate)} : {}), ...(jitter > 0 ? {jitter: String(jitter), jitter_variance: String(jitterVariance)} : {}), ...(opts.initFrom ? {init_from: path.basename(opts.initFrom)} : {})};
  const writeSamples = async (s: number) => {
    const per = 3 * cfg.size * cfg.size * SAMPLES;
    const a = await runForward(fwd, params, sampleZ.subarray(0, SAMPLES * D));
    const b = await runForward(fwd, params, sampleZ.subarray(SAMPLES * D));
    const rows = [a, sampleTargets.subarray(0, per), b, sampleTargets.subarray(per)];
    await writeGridPng(path.join(dir, 'toongan-samples.png'), rows, SAMPLES, cfg.size);
    if (s % (sampleEvery * 4) === 0) await writeGridPng(path.join(dir, `toongan-samples-${String(s).padStart(6, '0')}.png`), rows, SAMPLES, cfg.size);
  };

  // SIGINT/SIGTERM or the time limit cancel the loop, which checkpoints; the same command resumes.
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const runStart = performance.now();
  let ema = NaN;
  let emaL1 = NaN;
  let emaAux = NaN;
  let dataSec = 0;
  let reached = start;
  // Loss weights and auxiliary labels are only computed per batch when their term is on; otherwise the graph
  // inputs are constant (unit weights; labels that the zero-weighted auxiliary term never reads).
  const unitWeights = attributeWeight > 0 ? null : new Float32Array(N * cfg.size * cfg.size).fill(1);
  const unusedLabels = auxWeight > 0 ? null : new Float32Array(N * auxWidth(world));
  // Each face's renderer inputs (decoded once: they give the target and the pixel weights), and the extra feeds
  // of style mixing when it is on.
  const plane = 3 * cfg.size * cfg.size;
  const batchAt = (i: number) => {
    const tb = performance.now();
    const z = latentBatch(seed, i, N, D);
    const mix = mixing > 0 || interpolate > 0 ? mixingBatch(seed, i, N, D, nLatent, mixing) : null;
    const lerpT = mix && interpolate > 0 ? interpolationBatch(seed, i, mix.crossovers.map((c) => c >= nLatent), interpolate) : null;
    const faces = Array.from({length: N}, (_, n) => {
      const zn = z.subarray(n * D, (n + 1) * D);
      if (!mix) return world.decode(zn, D);
      const z2n = mix.z2.subarray(n * D, (n + 1) * D);
      const t = lerpT?.[n];
      if (t != null) return world.interpolate!(world.decode(zn, D), world.decode(z2n, D), t);
      return world.decodeMixed(zn, z2n, mix.crossovers[n]!, D);
    });
    const target = new Float32Array(N * plane);
    faces.forEach((f, n) => target.set(world.render(f, cfg.size), n * plane));
    let mask: Float32Array | null = null;
    if (mix) {
      mask = mixingMask(mix.crossovers, nLatent);
      // An interpolated face takes (1 − t)·w(z1) + t·w(z2) on every layer.
      lerpT?.forEach((t, n) => t != null && mask!.fill(1 - t, n * nLatent, (n + 1) * nLatent));
    }
    const extra: Float32Array[] = mix ? [mix.z2, mask!] : [];
    // Deterministic per step, so a resumed run sees the same noise.
    if (jitter > 0) extra.push(jitterBatch(jitterBasis, jitter, N, nLatent, D, mulberry32Normal(seed * 1_000_003 + i + 17)));
    // The auxiliary head reads w(z1), so its targets are those of the unmixed decoding.
    const auxFaces = () => (mix ? Array.from({length: N}, (_, n) => world.decode(z.subarray(n * D, (n + 1) * D), D)) : faces);
    const feeds = [z, target, unitWeights ?? pixelWeights(world, faces, cfg.size, target, attributeWeight), unusedLabels ?? auxTargetsOf(world, auxFaces()), ...extra];
    dataSec += (performance.now() - tb) / 1000;
    return feeds;
  };
  try {
    await trainLoop(step, adam, {
      steps,
      batch: batchAt,
      prefetch: true, // render step s+1 while ORT runs step s
      resume,
      checkpoint: {
        seconds: checkpointSeconds,
        meta,
        write: (bytes, s) => {
          writeTo(opts.checkpoint)(bytes);
          log(`checkpoint: step ${s} -> ${opts.checkpoint}`);
        },
      },
      signal: ac.signal,
      onStep: async ({step: s, loss, metrics, lr: rate}) => {
        reached = s + 1;
        emaAux = Number.isNaN(emaAux) ? metrics.aux! : 0.98 * emaAux + 0.02 * metrics.aux!;
        ema = Number.isNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
        emaL1 = Number.isNaN(emaL1) ? metrics.l1! : 0.98 * emaL1 + 0.02 * metrics.l1!;
        const doneHere = s + 1 - start;
        if ((s + 1) % 25 === 0 || s + 1 === steps) {
          const el = (performance.now() - runStart) / 1000;
          const sps = doneHere / el;
          log(
            `step ${s + 1}/${steps} loss ${loss.toFixed(4)} (ema ${ema.toFixed(4)}, L1 ema ${emaL1.toFixed(4)} = ${(emaL1 * 127.5).toFixed(2)}/255${auxWeight > 0 ? `, W-${world.aux.kind === 'softmax' ? 'attribute CE' : 'factor SE'} ema ${emaAux.toFixed(3)}` : ''}) lr ${rate.toExponential(2)} ` +
              `${sps.toFixed(2)} steps/s (data ${((dataSec / doneHere) * 1000).toFixed(0)} ms/step) elapsed ${fmtTime(el)} ETA ${fmtTime((steps - s - 1) / sps)}`,
          );
        }
        if ((s + 1) % sampleEvery === 0) await writeSamples(s + 1);
        if (opts.maxSeconds !== undefined && (performance.now() - runStart) / 1000 > opts.maxSeconds) ac.abort();
      },
    });
  } catch (e) {
    if (!ac.signal.aborted) throw e;
    log(opts.maxSeconds !== undefined && (performance.now() - runStart) / 1000 > opts.maxSeconds ? 'time limit reached; resume with the same command' : 'stopped by signal; resume with the same command');
    return {finished: false, step: reached};
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  await writeSamples(steps);
  const stats = await latentStats(cfg, params, avgSamples, seed);
  const bytes = writeGeneratorAsset(opts.out, cfg, params, stats, {steps: String(steps), seed: String(seed), batch: String(N), lr: String(lr), attribute_weight: String(attributeWeight), aux_weight: String(auxWeight), ...(mixing > 0 ? {mixing: String(mixing)} : {}), ...(interpolate > 0 ? {interpolate: String(interpolate)} : {})}, world);
  log(`wrote ${opts.out} (${(bytes / 1e6).toFixed(2)} MB)`);
  return {finished: true, step: steps};
}

/** Write the asset from a checkpoint (e.g. to ship the best weights of an unfinished run). */
export async function exportFromCheckpoint(checkpoint: string, out: string, {avgSamples = 10000, config = toonGanConfig, world = toonGanV1World}: {avgSamples?: number; config?: StyleGAN2Config; world?: GanWorld<any>} = {}): Promise<{bytes: number; step: number}> {
  const ck = loadCheckpoint(checkpoint);
  if ((ck.meta.world ?? 'v1') !== world.name) throw new StyleclipError(`checkpoint '${checkpoint}' is of the ${ck.meta.world ?? 'v1'} world, not ${world.name}`);
  const params = initialParams(config, 0, 1, [...ck.params.keys()].some((k) => k.startsWith('aux.')) ? world : null);
  restore(ck, params.all, null);
  const stats = await latentStats(config, params, avgSamples, Number(ck.meta.seed ?? 1));
  const trained = Object.fromEntries(['lr', 'attribute_weight', 'aux_weight'].flatMap((k) => (ck.meta[k] !== undefined ? [[k, ck.meta[k]!]] : [])));
  const bytes = writeGeneratorAsset(out, config, params, stats, {steps: String(ck.step), seed: ck.meta.seed ?? '1', batch: ck.meta.batch ?? '', ...trained}, world);
  return {bytes, step: ck.step};
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation

export interface GanEvaluation {
  samples: number;
  /** Mean |G(z) − render(decode(z))| over held-out z, in [−1, 1] units (×127.5 for 8-bit levels). */
  heldOutL1: number;
  /** Worlds with their own classifier (v2): per attribute, agreement with the decoded named values (GanWorld.namedAgreement). */
  named?: Record<string, {samples: number; renders: number; n: number}> | null;
  /** Classifier results, or null when no classifier was available. */
  classifier: {
    /** Mean over samples and visible attributes of the classifier's top probability. */
    meanConfidence: number;
    /** Same on the renders of the same latents, for reference. */
    rendererMeanConfidence: number;
    /** Fraction of (sample, visible attribute) pairs where the classifier's top value equals decode(z)'s. */
    agreementWithDecoded: number;
    perAttributeAgreement: Record<string, number>;
    /** Per attribute value: frequency of the classifier's top value on samples, on renders, and the schema probability. */
    distribution: Record<string, {value: string; samples: number; renders: number; schema: number}[]>;
  } | null;
}

interface ClassifierLike {
  classify(images: HostTensor, opts?: {batch?: number}): Promise<Record<string, Record<string, number>>[]>;
}

async function tryLoadClassifier(file?: string): Promise<ClassifierLike | null> {
  try {
    // Loaded by a computed specifier: the classifier is a separate demo asset/module and evaluation degrades
    // to the pixel metric without it.
    const spec = '../../src/demo/classifier.js';
    const mod = (await import(spec)) as {loadDemoClassifier(file?: string): ClassifierLike};
    return mod.loadDemoClassifier(file);
  } catch {
    return null;
  }
}

/** Evaluate a generator on `n` held-out latents (classifier confidence, attribute distribution, pixel L1). */
export async function evaluateToonGan(g: StyleGAN2, {n = 1000, batch = 50, classifierPath, log, world = toonGanV1World}: {n?: number; batch?: number; classifierPath?: string; log?: (l: string) => void; world?: GanWorld<any>} = {}): Promise<GanEvaluation> {
  const cfg = g.config;
  const D = cfg.styleDim;
  const z = heldOutLatents(n, D);
  const per = 3 * cfg.size * cfg.size;
  const images = new Float32Array(n * per);
  const targets = renderWorldLatents(world, z, D, cfg.size);
  const zin = input('z', [batch, D]);
  const prog = await compile([zin], [forward(g, zin)]);
  for (let s = 0; s < n; s += batch) {
    const zb = new Float32Array(batch * D);
    zb.set(z.subarray(s * D, Math.min(n, s + batch) * D));
    const [out] = await prog.run([zb]);
    const k = Math.min(batch, n - s);
    images.set((out!.data as Float32Array).subarray(0, k * per), s * per);
    log?.(`generated ${Math.min(n, s + batch)}/${n}`);
  }
  let l1 = 0;
  for (let i = 0; i < images.length; i++) l1 += Math.abs(Math.max(-1, Math.min(1, images[i]!)) - targets[i]!);
  const result: GanEvaluation = {samples: n, heldOutL1: l1 / images.length, classifier: null};
  // The classifier below reads v1 attributes; other worlds bring their own (namedAgreement).
  if (world.name !== 'v1') {
    const faces = Array.from({length: n}, (_, i) => world.decode(z.subarray(i * D, (i + 1) * D), D));
    result.named = world.namedAgreement ? await world.namedAgreement(images.map((v) => Math.max(-1, Math.min(1, v))), targets, faces, cfg.size) : null;
    return result;
  }
  const clf = await tryLoadClassifier(classifierPath);
  if (!clf) return result;
  const shape = [n, 3, cfg.size, cfg.size];
  const clamped = images.map((v) => Math.max(-1, Math.min(1, v)));
  const ps = await clf.classify({dtype: 'float32', shape, data: clamped});
  const pr = await clf.classify({dtype: 'float32', shape, data: targets});
  const decoded = Array.from({length: n}, (_, i) => decodeLatent(z.subarray(i * D, (i + 1) * D)).attributes);
  let conf = 0;
  let confR = 0;
  let agree = 0;
  let count = 0;
  const perAgree: Record<string, [number, number]> = {};
  const freqS: Record<string, Record<string, number>> = {};
  const freqR: Record<string, Record<string, number>> = {};
  const top = (p: Record<string, number>) => Object.entries(p).reduce((a, b) => (b[1] > a[1] ? b : a));
  for (let i = 0; i < n; i++) {
    for (const name of attributeNames) {
      const [vs, cs] = top(ps[i]![name]!);
      const [vr, cr] = top(pr[i]![name]!);
      freqS[name] ??= {};
      freqR[name] ??= {};
      freqS[name][vs] = (freqS[name][vs] ?? 0) + 1;
      freqR[name][vr] = (freqR[name][vr] ?? 0) + 1;
      if (!isAttributeVisible(decoded[i]!, name)) continue;
      conf += cs;
      confR += cr;
      count++;
      const ok = vs === decoded[i]![name] ? 1 : 0;
      agree += ok;
      perAgree[name] ??= [0, 0];
      perAgree[name][0] += ok;
      perAgree[name][1]++;
    }
  }
  const distribution: Record<string, {value: string; samples: number; renders: number; schema: number}[]> = {};
  for (const name of attributeNames as AttributeName[]) {
    const spec = attributeSchema[name];
    distribution[name] = spec.values.map((v, k) => ({value: v, samples: (freqS[name]![v] ?? 0) / n, renders: (freqR[name]![v] ?? 0) / n, schema: spec.probs[k]!}));
  }
  result.classifier = {
    meanConfidence: conf / count,
    rendererMeanConfidence: confR / count,
    agreementWithDecoded: agree / count,
    perAttributeAgreement: Object.fromEntries(Object.entries(perAgree).map(([k, [a, c]]) => [k, a / c])),
    distribution,
  };
  return result;
}

/** Human-readable evaluation report. */
export function formatEvaluation(e: GanEvaluation): string {
  const lines = [`held-out pixel L1 (${e.samples} z): ${e.heldOutL1.toFixed(4)} in [-1,1] units = ${(e.heldOutL1 * 127.5).toFixed(2)} / 255`];
  if (e.named) {
    lines.push('world classifier reads the decoded named value (samples / renders of the same z, faces with a named value):');
    for (const [a, r] of Object.entries(e.named)) lines.push(`  ${a.padEnd(11)} ${(100 * r.samples).toFixed(1)} % / ${(100 * r.renders).toFixed(1)} %  (${r.n})`);
  }
  const c = e.classifier;
  if (!c && e.named !== undefined) return lines.join('\n');
  if (!c) {
    lines.push('evaluation classifier not available: only the pixel metric against render(decode(z)) is reported');
    return lines.join('\n');
  }
  lines.push(`classifier mean confidence (visible attributes): samples ${c.meanConfidence.toFixed(3)}, renders of the same z ${c.rendererMeanConfidence.toFixed(3)}`);
  lines.push(`classifier top value = decoded attribute: ${(100 * c.agreementWithDecoded).toFixed(1)}%  (${Object.entries(c.perAttributeAgreement).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ')})`);
  lines.push('attribute distribution (classifier top value; samples / renders / schema):');
  for (const [name, rows] of Object.entries(c.distribution)) {
    lines.push(`  ${name}: ${rows.map((r) => `${r.value} ${r.samples.toFixed(3)}/${r.renders.toFixed(3)}/${r.schema.toFixed(2)}`).join('  ')}`);
  }
  return lines.join('\n');
}
