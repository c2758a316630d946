/**
 * StyleCLIP global directions, the relevance maths (Patashnik et al. 2021 §5; global_directions/ and global_torch/
 * @ f87a47f: GetCode.py GetCodeMS, SingleChannel.py GetFs).
 *
 * 1. S statistics: z ~ N(0, I) (seed 5, 100k samples, ψ 0.7) → W → S; per-channel mean μ and std σ (ddof 0).
 * 2. Channel relevance fs3: for channel c and image k, set s_c = μ_c ± α_p·σ_c (α_p = 5), embed both images with
 *    CLIP, Δ_kc = normalise(normalise(f⁺) − normalise(f⁻)); fs3_c = normalise(Σ_k Δ_kc). One unit vector per channel.
 *
 * The relevance file lives in global-relevance-file.ts, the edit that uses it in global-edit.ts, and the resumable,
 * sharded driver that runs these steps at full scale in global-prepare.ts.
 *
 * Differences from the official code, on purpose: z comes from our own seeded RNG (mulberry32 + Box–Muller), not
 * NumPy's RandomState(5), so our statistics match the official ones only in distribution; ψ applies to every W+ row
 * (as the TF GetCode.py, which truncates row 0 and tiles it; global_torch uses truncation_cutoff 8); images go to
 * CLIP through the differentiable area resize (not uint8 + PIL bicubic), normalised by default ('legacy' = raw
 * [-1, 1]); and each channel starts from the unedited image S (SingleChannel.py edits a shallow copy, so channels it
 * already visited stay at their mean for the rest of the layer).
 *
 * Legend: K relevance images, B rows per program run, S_total all S channels, E CLIP embedding width, D style_dim.
 */
import * as F from '../engine/ops.js';
import {compile, type Program} from '../engine/session.js';
import {type Tensor, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import type {HostTensor} from '../io/host-tensor.js';
import type {CLIP} from '../models/clip/model.js';
import {type ClipInputMode, clipInputFromGenerated} from '../models/clip/preprocess.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {convLayers, styleInputs, unflattenStyles} from '../models/stylespace.js';
import {mulberry32Normal} from '../random.js';
import {GLOBAL_DEFAULTS} from './global-defaults.js';

export interface GlobalProgress {
  /** What is running: the S statistics or the channel relevance. */
  phase: 'stats' | 'relevance';
  done: number;
  total: number;
  /** Seconds since this phase started. */
  elapsedS: number;
  /** Estimated seconds left in this phase (NaN until something is done). */
  etaS: number;
}

function throwIfAborted(signal: AbortSignal | undefined, what: string) {
  if (signal?.aborted) throw new StyleclipError(`${what} cancelled`);
}

/** The official selection: non-ToRGB layers at resolution ≤ 128 (5376 channels for FFHQ-1024). */
export function defaultRelevanceLayers(g: StyleGAN2): number[] {
  return convLayers(g, GLOBAL_DEFAULTS.maxRes);
}

// ---------------------------------------------------------------------------------------------------------------
// 1. S statistics

export interface SStatsOptions {
  /** Number of z samples (official 100 000). */
  samples?: number;
  seed?: number;
  truncation?: number;
  /** Samples per program run. */
  batch?: number;
  /** Also return the flat S of the first `keep` samples ([keep, S_total]), e.g. the relevance images. */
  keep?: number;
  onProgress?: (p: GlobalProgress) => void;
  signal?: AbortSignal;
}

export interface SStats {
  /** Per-channel mean over the samples [S_total] (all layers, execution order). */
  mean: Float32Array;
  /** Per-channel standard deviation (population, ddof 0 as NumPy's std) [S_total]. */
  std: Float32Array;
  samples: number;
  /** Flat S of the first `keep` samples [keep, S_total]. */
  kept: Float32Array;
}

/** z [b,D] → W (mapping) → truncation ψ → W+ → S, concatenated over all layers → [b, S_total]. */
async function stylesProgram(g: StyleGAN2, b: number): Promise<Program> {
  const z = input('z', [b, g.config.styleDim]);
  const psi = input('psi', [1]);
  let w = g.mapping(z);
  if (g.latentAvg) w = g.truncateBy(w, psi);
  const s = F.concat(g.styles(g.broadcast(w)), 1); // [b, S_total]
  return compile([z, psi], [s]);
}

async function runStyles(prog: Program, z: Float32Array, truncation: number): Promise<Float32Array> {
  const [s] = await prog.run([z, new Float32Array([truncation])]);
  return s!.data as Float32Array;
}

/** Flat S rows [N, S_total] of z [N, D] at truncation ψ (the statistics' program). */
export async function flatStylesOfZ(g: StyleGAN2, z: HostTensor, truncation: number): Promise<Float32Array> {
  return runStyles(await stylesProgram(g, z.shape[0]!), z.data as Float32Array, truncation);
}

/**
 * Per-channel mean and std of S over `samples` z draws. Sample i's z is the i-th block of D draws of one seeded
 * stream (so the first K samples equal sampleZ(g, K, seed), whatever the batch). Accumulates shifted sums in float64.
 */
export async function computeSStats(g: StyleGAN2, opts: SStatsOptions = {}): Promise<SStats> {
  const {samples = GLOBAL_DEFAULTS.samples, seed = GLOBAL_DEFAULTS.seed, truncation = GLOBAL_DEFAULTS.truncation, keep = 0} = opts;
  check(Number.isInteger(samples) && samples >= 2, `samples must be an integer ≥ 2, got ${samples}`);
  check(Number.isInteger(keep) && keep >= 0 && keep <= samples, `cannot keep ${keep} of ${samples} samples`);
  check(Number.isFinite(truncation), 'truncation must be a finite number');
  check(truncation === 1 || g.latentAvg, 'truncation needs latent_avg, which this checkpoint does not have');
  const batch = Math.min(opts.batch ?? 500, samples);
  check(Number.isInteger(batch) && batch >= 1, `batch must be a positive integer, got ${opts.batch}`);
  const D = g.config.styleDim;
  const total = g.sDim();
  const prog = await stylesProgram(g, batch);
  const rng = mulberry32Normal(seed);
  const shift = new Float64Array(total);
  const sum = new Float64Array(total);
  const sumSq = new Float64Array(total);
  const kept = new Float32Array(keep * total);
  const t0 = performance.now();
  for (let at = 0; at < samples; at += batch) {
    throwIfAborted(opts.signal, 'S statistics');
    const n = Math.min(batch, samples - at);
    const z = new Float32Array(batch * D); // rows ≥ n stay zero (padding, discarded)
    for (let i = 0; i < n * D; i++) z[i] = rng();
    const s = await runStyles(prog, z, truncation);
    if (at === 0) shift.set(s.subarray(0, total)); // shifted sums: no cancellation when |μ| ≫ σ
    for (let r = 0; r < n; r++) {
      const row = s.subarray(r * total, (r + 1) * total);
      for (let c = 0; c < total; c++) {
        const d = row[c]! - shift[c]!;
        sum[c]! += d;
        sumSq[c]! += d * d;
      }
      if (at + r < keep) kept.set(row, (at + r) * total);
    }
    const done = at + n;
    const elapsedS = (performance.now() - t0) / 1000;
    opts.onProgress?.({phase: 'stats', done, total: samples, elapsedS, etaS: (elapsedS / done) * (samples - done)});
  }
  const mean = new Float32Array(total);
  const std = new Float32Array(total);
  for (let c = 0; c < total; c++) {
    const m = sum[c]! / samples;
    mean[c] = shift[c]! + m;
    std[c] = Math.sqrt(Math.max(0, sumSq[c]! / samples - m * m));
  }
  return {mean, std, samples, kept};
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Channel relevance

export interface RelevanceComputeOptions {
  /** ± step in units of σ_c (official 5). */
  alphaP?: number;
  /** Generator passes per program run (rows of the batch). */
  batch?: number;
  clipInput?: ClipInputMode;
  /** Noise of the probe images (official: the checkpoint's constant noise). */
  noise?: NoiseMode;
  /** Called after each program run with the passes done so far in this call. */
  onProgress?: (p: GlobalProgress) => void;
  signal?: AbortSignal;
}

/**
 * One program for the whole relevance computation: S rows [B, C_l] per layer → synthesis → CLIP input → image
 * features [B, E]. Noise is fed once as [1,1,H,W] and broadcast over the batch.
 */
async function relevanceProgram(g: StyleGAN2, clip: CLIP, B: number, clipInput: ClipInputMode): Promise<Program> {
  const sIn = styleInputs(g, B);
  const nz: Tensor[] = Array.from({length: g.numNoise}, (_, i) => input(`noise${i}`, [1, 1, g.noiseRes(i), g.noiseRes(i)]));
  const img = g.synthesis(sIn, nz); // [B,3,size,size]
  const f = clip.encodeImage(clipInputFromGenerated(img, clip.config.imageResolution, clipInput)); // [B,E]
  return compile([...sIn, ...nz], [f]);
}

/** x / ‖x‖ in place (float64); a zero vector stays zero. Returns the norm. */
function normalizeInPlace(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < x.length; i++) x[i]! /= n;
  return n;
}

/**
 * fs3 rows for the given flat S channels: for each channel and each of the K images (flat S rows `images`
 * [K, S_total]), generate with s_c = μ_c − α_p·σ_c and μ_c + α_p·σ_c in batches of B rows, embed with CLIP and combine
 * as SingleChannel.py GetFs. Returns [channels.length, E]. A channel with σ_c = 0 gets a zero row.
 */
export async function computeChannelRelevance(
  g: StyleGAN2,
  clip: CLIP,
  stats: {mean: Float32Array; std: Float32Array},
  images: Float32Array,
  channels: ArrayLike<number>,
  opts: RelevanceComputeOptions = {},
): Promise<Float32Array> {
  const {alphaP = GLOBAL_DEFAULTS.alphaP, clipInput = 'normalized', noise = 'const'} = opts;
  const total = g.sDim();
  const E = clip.config.embedDim;
  check(images.length > 0 && images.length % total === 0, `relevance images must be flat S rows [K, ${total}]`);
  const K = images.length / total;
  const nC = channels.length;
  const rows = 2 * K * nC; // row (c, k, ±) = ((c·K + k)·2 + (0 for −, 1 for +))
  const B = Math.min(opts.batch ?? 8, rows);
  check(Number.isInteger(B) && B >= 1, `batch must be a positive integer, got ${opts.batch}`);
  const prog = await relevanceProgram(g, clip, B, clipInput);
  const noiseFeeds = g.noiseArrays(noise, 1);
  const feats = new Float32Array(rows * E);
  const flat = new Float32Array(B * total);
  const t0 = performance.now();
  for (let at = 0; at < rows; at += B) {
    throwIfAborted(opts.signal, 'relevance computation');
    const n = Math.min(B, rows - at);
    for (let r = 0; r < B; r++) {
      const row = at + Math.min(r, n - 1); // padding rows repeat the last real row
      const sign = row % 2 === 0 ? -1 : 1;
      const k = (row >> 1) % K;
      const c = channels[Math.floor(row / (2 * K))]!;
      flat.set(images.subarray(k * total, (k + 1) * total), r * total);
      flat[r * total + c] = stats.mean[c]! + sign * alphaP * stats.std[c]!;
    }
    const feeds = unflattenStyles(g, flat, B).map((t) => t.data as Float32Array);
    const [f] = await prog.run([...feeds, ...noiseFeeds]);
    feats.set((f!.data as Float32Array).subarray(0, n * E), at * E);
    const done = at + n;
    const elapsedS = (performance.now() - t0) / 1000;
    opts.onProgress?.({phase: 'relevance', done, total: rows, elapsedS, etaS: (elapsedS / done) * (rows - done)});
  }
  return combineRelevanceFeatures(feats, nC, K, E);
}

/**
 * SingleChannel.py GetFs on features [C, K, 2, E] (− then +): normalise each, take (+) − (−), normalise, average over
 * K, normalise → [C, E]. Zero differences (σ_c = 0) contribute nothing; an all-zero channel stays zero.
 */
function combineRelevanceFeatures(feats: Float32Array, C: number, K: number, E: number): Float32Array {
  check(feats.length === C * K * 2 * E, 'combineRelevanceFeatures: features do not match [C, K, 2, E]');
  const out = new Float32Array(C * E);
  const minus = new Float64Array(E);
  const plus = new Float64Array(E);
  const acc = new Float64Array(E);
  for (let c = 0; c < C; c++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const base = (c * K + k) * 2 * E;
      for (let e = 0; e < E; e++) {
        minus[e] = feats[base + e]!;
        plus[e] = feats[base + E + e]!;
      }
      normalizeInPlace(minus);
      normalizeInPlace(plus);
      for (let e = 0; e < E; e++) plus[e]! -= minus[e]!;
      normalizeInPlace(plus);
      for (let e = 0; e < E; e++) acc[e]! += plus[e]!;
    }
    normalizeInPlace(acc); // the mean's direction: dividing by K first does not change it
    for (let e = 0; e < E; e++) out[c * E + e] = acc[e]!;
  }
  return out;
}

