/**
 * StyleCLIP global directions (Patashnik et al. 2021 §5; global_directions/ and global_torch/ @ f87a47f:
 * GetCode.py GetCodeMS, SingleChannel.py GetFs, StyleCLIP.py GetDt/GetBoundary/SplitS).
 *
 * 1. S statistics: z ~ N(0, I) (seed 5, 100k samples, ψ 0.7) → W → S; per-channel mean μ and std σ (ddof 0).
 * 2. Channel relevance fs3: for channel c and image k, set s_c = μ_c ± α_p·σ_c (α_p = 5), embed both images with
 *    CLIP, Δ_kc = normalise(normalise(f⁺) − normalise(f⁻)); fs3_c = normalise(Σ_k Δ_kc). One unit vector per channel.
 * 3. Edit: R = fs3·Δt; zero |R| < β; R /= max|R|; Δs_c = R_c·σ_c; s' = s + α·Δs (only the selected channels move).
 *
 * This file holds the math and the relevance-file format (bytes in, bytes out). The resumable, sharded driver that
 * writes files lives in global-prepare.ts.
 *
 * Differences from the official code, on purpose: z comes from our own seeded RNG (mulberry32 + Box–Muller), not
 * NumPy's RandomState(5), so our statistics match the official ones only in distribution; ψ applies to every W+ row
 * (as the TF GetCode.py, which truncates row 0 and tiles it; global_torch uses truncation_cutoff 8); images go to
 * CLIP through the differentiable area resize (not uint8 + PIL bicubic), normalised by default ('legacy' = raw
 * [-1, 1]); and each channel starts from the unedited image S (SingleChannel.py edits a shallow copy, so channels it
 * already visited stay at their mean for the rest of the layer).
 *
 * Legend: N images, K relevance images, B rows per program run, C_sel selected channels, S_total all S channels,
 * E CLIP embedding width, D style_dim.
 */
import * as F from '../engine/ops.js';
import {compile, type Program} from '../engine/session.js';
import {type Tensor, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, assertFinite, toFloat32} from '../io/host-tensor.js';
import {parseNpy} from '../io/npy.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import {encodeImages, promptDirection, type TextTokenizer} from '../models/clip/encode.js';
import type {CLIP} from '../models/clip/model.js';
import {type ClipInputMode, clipInputFromGenerated} from '../models/clip/preprocess.js';
import {type NoiseMode, type StyleGAN2, mulberry32Normal} from '../models/stylegan2.js';
import {generate, sampleZ} from '../generate.js';

// ---------------------------------------------------------------------------------------------------------------
// Defaults (the official ones) and errors

/** The official settings (GetCode.py, SingleChannel.py, StyleCLIP.py). */
export const GLOBAL_DEFAULTS = {
  /** z samples for the S statistics. */
  samples: 100_000,
  /** Seed of the z sampler (official: NumPy RandomState(5); ours is a different RNG). */
  seed: 5,
  /** Truncation ψ of the statistics samples. */
  truncation: 0.7,
  /** Images per channel in the relevance average (the first K statistics samples). */
  images: 100,
  /** ± step of the relevance probe, in units of σ_c. */
  alphaP: 5,
  /** Highest resolution whose (non-ToRGB) layers are selected by default. */
  maxRes: 128,
  /** Edit strength (slider range −10…10). */
  alpha: 4.1,
  /** Disentanglement threshold (slider range 0.08…0.4). */
  beta: 0.15,
} as const;

/** Auto-β channel counts: the largest β that still moves at least this many channels. */
export const AUTO_BETA_MIN_CHANNELS = {faces: 20, other: 100} as const;

/** A relevance file that does not belong to the generator / CLIP / settings it is used with. */
export class RelevanceMismatchError extends StyleclipError {
  override name = 'RelevanceMismatchError';
}

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

// ---------------------------------------------------------------------------------------------------------------
// StyleSpace layout helpers

/** Offset of each S layer in the flat S vector (execution order), plus the total at the end. */
export function sOffsets(g: StyleGAN2): number[] {
  const off = [0];
  for (const l of g.layers) off.push(off[off.length - 1]! + l.inChannels);
  return off;
}

/** The official selection: non-ToRGB layers at resolution ≤ 128 (5376 channels for FFHQ-1024). */
export function defaultRelevanceLayers(g: StyleGAN2, maxRes: number = GLOBAL_DEFAULTS.maxRes): number[] {
  return g.layers.filter((l) => l.kind !== 'torgb' && l.res <= maxRes).map((l) => l.sIndex);
}

/** Parse a layer list: S indices ("0,2,3") or layer names ("conv1,convs.0"), validated against g. */
export function parseLayerList(g: StyleGAN2, spec: string): number[] {
  const parts = spec.split(',').map((p) => p.trim()).filter(Boolean);
  check(parts.length > 0, `layer list '${spec}' is empty`);
  const out = parts.map((p) => {
    if (/^\d+$/.test(p)) {
      const i = Number(p);
      check(i < g.layers.length, `layer ${i} does not exist: this generator has S layers 0…${g.layers.length - 1}`);
      return i;
    }
    const l = g.layers.find((x) => x.name === p);
    if (!l) throw new StyleclipError(`unknown layer '${p}' (layers: ${g.layers.map((x) => x.name).join(', ')})`);
    return l.sIndex;
  });
  check(new Set(out).size === out.length, `layer list '${spec}' names a layer twice`);
  return out.sort((a, b) => a - b);
}

/** Flat S indices of every channel of the given layers, in execution order. */
export function selectedChannels(g: StyleGAN2, layers: readonly number[]): Int32Array {
  const off = sOffsets(g);
  const sorted = [...layers].sort((a, b) => a - b);
  const out: number[] = [];
  for (const l of sorted) for (let c = 0; c < g.layers[l]!.inChannels; c++) out.push(off[l]! + c);
  return Int32Array.from(out);
}

/** Parse "A:B" (0 ≤ A < B ≤ total) into a half-open channel range over the selected set. */
export function parseChannelRange(spec: string, total: number): [number, number] {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new StyleclipError(`bad channel range '${spec}': expected A:B with integers 0 ≤ A < B ≤ ${total}`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  check(a < b && b <= total, `bad channel range '${spec}': expected 0 ≤ A < B ≤ ${total} (the number of selected channels)`);
  return [a, b];
}

/** Host S (one [N, C_l] tensor per layer) → flat rows [N, S_total]. */
export function flattenStyles(g: StyleGAN2, styles: readonly HostTensor[]): Float32Array {
  check(styles.length === g.layers.length, `an S latent needs ${g.layers.length} tensors (one per StyleSpace layer), got ${styles.length}`);
  const N = styles[0]!.shape[0]!;
  const off = sOffsets(g);
  const total = off[off.length - 1]!;
  const flat = new Float32Array(N * total);
  g.layers.forEach((l, k) => {
    const t = styles[k]!;
    check(t.shape.length === 2 && t.shape[0] === N && t.shape[1] === l.inChannels, `S layer s_${String(k).padStart(2, '0')} (${l.name}) must have shape [${N}, ${l.inChannels}], got [${t.shape.join(', ')}]`);
    const d = toFloat32(t);
    for (let n = 0; n < N; n++) flat.set(d.subarray(n * l.inChannels, (n + 1) * l.inChannels), n * total + off[k]!);
  });
  return flat;
}

/** Flat rows [N, S_total] → host S (one [N, C_l] tensor per layer). */
export function unflattenStyles(g: StyleGAN2, flat: Float32Array, N: number): HostTensor[] {
  const off = sOffsets(g);
  const total = off[off.length - 1]!;
  check(flat.length === N * total, `flat S has ${flat.length} values, expected ${N} × ${total}`);
  return g.layers.map((l, k) => {
    const d = new Float32Array(N * l.inChannels);
    for (let n = 0; n < N; n++) d.set(flat.subarray(n * total + off[k]!, n * total + off[k]! + l.inChannels), n * l.inChannels);
    return {dtype: 'float32', shape: [N, l.inChannels], data: d};
  });
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

async function runStyles(g: StyleGAN2, prog: Program, z: Float32Array, truncation: number): Promise<Float32Array> {
  const [s] = await prog.run([z, new Float32Array([truncation])]);
  return s!.data as Float32Array;
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
    const s = await runStyles(g, prog, z, truncation);
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
export async function relevanceProgram(g: StyleGAN2, clip: CLIP, B: number, clipInput: ClipInputMode = 'normalized'): Promise<Program> {
  const sIn = g.layers.map((l, k) => input(`s_${String(k).padStart(2, '0')}`, [B, l.inChannels]));
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
  const off = sOffsets(g);
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
    const feeds = g.layers.map((l, j) => {
      const d = new Float32Array(B * l.inChannels);
      for (let r = 0; r < B; r++) d.set(flat.subarray(r * total + off[j]!, r * total + off[j]! + l.inChannels), r * l.inChannels);
      return d;
    });
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
export function combineRelevanceFeatures(feats: Float32Array, C: number, K: number, E: number): Float32Array {
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

// ---------------------------------------------------------------------------------------------------------------
// Fingerprints and the relevance file

/** What identifies a generator's StyleSpace: resolution, style_dim, W+ rows and every S layer's width. */
export interface GeneratorFingerprint {
  size: number;
  styleDim: number;
  nLatent: number;
  layers: number[];
}

export function generatorFingerprint(g: StyleGAN2): GeneratorFingerprint {
  return {size: g.config.size, styleDim: g.config.styleDim, nLatent: g.nLatent, layers: g.layers.map((l) => l.inChannels)};
}

function describeFingerprint(f: GeneratorFingerprint): string {
  return `${f.size}px, style_dim ${f.styleDim}, ${f.layers.length} S layers / ${f.layers.reduce((a, b) => a + b, 0)} channels`;
}

/** Throw RelevanceMismatchError unless the relevance was made for a generator with g's StyleSpace. */
export function checkGeneratorFingerprint(g: StyleGAN2, rel: Pick<Relevance, 'meta'>, what = 'relevance file'): void {
  const have = generatorFingerprint(g);
  const want = rel.meta.generator;
  const same = have.size === want.size && have.styleDim === want.styleDim && have.nLatent === want.nLatent && have.layers.length === want.layers.length && have.layers.every((c, i) => c === want.layers[i]);
  if (!same) throw new RelevanceMismatchError(`${what} was prepared for another generator (${describeFingerprint(want)}); this generator is ${describeFingerprint(have)}`);
}

/** S of a fixed probe z (ψ = 1), 32 evenly spaced values: tells generators with equal shapes apart. */
export async function generatorProbe(g: StyleGAN2): Promise<number[]> {
  const prog = await stylesProgram(g, 1);
  const s = await runStyles(g, prog, sampleZ(g, 1, 0x5eed).data as Float32Array, 1);
  return pickEven(s, 32);
}

/**
 * Throw RelevanceMismatchError unless g has the StyleSpace shapes and (where the file records one) the probe S of
 * the generator the relevance was prepared for: catches a relevance for another checkpoint of the same architecture.
 */
export async function verifyGeneratorProbe(g: StyleGAN2, rel: Pick<Relevance, 'meta'>, what = 'relevance file'): Promise<void> {
  checkGeneratorFingerprint(g, rel, what);
  if (!rel.meta.generatorProbe) return;
  if (!probesMatch(await generatorProbe(g), rel.meta.generatorProbe)) {
    throw new RelevanceMismatchError(`${what} was prepared for another generator: same shapes (${describeFingerprint(rel.meta.generator)}) but different weights`);
  }
}

/** CLIP features of a fixed probe image, 16 evenly spaced values. */
export async function clipProbe(clip: CLIP): Promise<number[]> {
  const R = clip.config.imageResolution;
  const img = Float32Array.from({length: 3 * R * R}, (_, i) => Math.sin(i * 0.37) * 1.5);
  return pickEven(await encodeImages(clip, {dtype: 'float32', shape: [1, 3, R, R], data: img}), 16);
}

function pickEven(x: Float32Array, n: number): number[] {
  const m = Math.min(n, x.length);
  return Array.from({length: m}, (_, i) => Number(x[Math.floor((i * x.length) / m)]!.toPrecision(7)));
}

/** Probe values agree within float noise (different thread counts or machines). */
export function probesMatch(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (!a || !b) return true; // nothing to compare (e.g. official files)
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-3 + 1e-3 * Math.abs(b[i]!));
}

/** Settings and provenance stored with a relevance file. */
export interface RelevanceMeta {
  generator: GeneratorFingerprint;
  /** S of a probe z (see generatorProbe); absent for converted official files. */
  generatorProbe?: number[];
  clipEmbedDim: number;
  clipProbe?: number[];
  clipInput: ClipInputMode | 'official';
  alphaP: number;
  /** Relevance images K. */
  images: number;
  /** Statistics samples and seed. */
  samples: number;
  seed: number;
  truncation: number;
  noise: NoiseMode;
  /** Selected S layers (execution indices). */
  layers: number[];
  /** This file's half-open range over the selected channels, and the selection's size. */
  rangeStart: number;
  rangeEnd: number;
  selectedTotal: number;
  /** 'styleclip-ts' for our files, 'official-npy' for converted StyleCLIP fs3.npy files. */
  source: string;
  /**
   * Recommended edit settings for this generator/CLIP pair, used when an edit names none. Absent: the official
   * α 4.1, β 0.15 (tuned for ViT-B/32 on FFHQ). A CLIP with a small embedding gives larger cosines, so a fixed β
   * moves far more channels there; such files recommend auto-β (minChannels) instead.
   */
  editDefaults?: EditDefaults;
}

/** Edit settings a relevance file may recommend (see RelevanceMeta.editDefaults). */
export interface EditDefaults {
  alpha?: number;
  beta?: number;
  minChannels?: number;
}

/** The settings an edit uses when it names none: the file's recommendation, else the official defaults. */
export function editDefaultsOf(rel: Relevance): {alpha: number; beta?: number; minChannels?: number} {
  const d = rel.meta.editDefaults ?? {};
  const alpha = d.alpha ?? GLOBAL_DEFAULTS.alpha;
  if (d.minChannels !== undefined) return {alpha, minChannels: d.minChannels};
  return {alpha, beta: d.beta ?? GLOBAL_DEFAULTS.beta};
}

/** Check recommended edit settings (from a file or a command line). */
export function checkEditDefaults(d: EditDefaults, what: string): void {
  check(d.alpha === undefined || (Number.isFinite(d.alpha) && Math.abs(d.alpha) <= 100), `${what}: editDefaults.alpha must be a finite number, got ${d.alpha}`);
  check(d.beta === undefined || (Number.isFinite(d.beta) && d.beta >= 0 && d.beta <= 1), `${what}: editDefaults.beta must be in [0, 1], got ${d.beta}`);
  check(d.minChannels === undefined || (Number.isInteger(d.minChannels) && d.minChannels >= 1), `${what}: editDefaults.minChannels must be a positive integer, got ${d.minChannels}`);
  check(d.beta === undefined || d.minChannels === undefined, `${what}: editDefaults gives both beta and minChannels`);
}

/** A channel relevance table and the S statistics it was made with. */
export interface Relevance {
  /** Unit vectors in CLIP space, [C_sel, E] row-major. */
  fs3: Float32Array;
  /** Flat S index of each fs3 row [C_sel]. */
  channels: Int32Array;
  /** S statistics over all layers [S_total]. */
  sMean: Float32Array;
  sStd: Float32Array;
  meta: RelevanceMeta;
}

export const RELEVANCE_FORMAT = 'styleclip-global-relevance/1';

/**
 * The relevance file: safetensors with `fs3` F32 [C_sel, E], `channels` I32 [C_sel], `s_mean` and `s_std` F32
 * [S_total]; __metadata__ `format` = RELEVANCE_FORMAT and `meta` = JSON of RelevanceMeta.
 */
export function serializeRelevance(rel: Relevance): Uint8Array {
  const C = rel.channels.length;
  const E = rel.meta.clipEmbedDim;
  return serializeSafetensors(
    new Map<string, HostTensor>([
      ['fs3', {dtype: 'float32', shape: [C, E], data: rel.fs3}],
      ['channels', {dtype: 'int32', shape: [C], data: rel.channels}],
      ['s_mean', {dtype: 'float32', shape: [rel.sMean.length], data: rel.sMean}],
      ['s_std', {dtype: 'float32', shape: [rel.sStd.length], data: rel.sStd}],
    ]),
    {format: RELEVANCE_FORMAT, meta: JSON.stringify(rel.meta)},
  );
}

/** Parse and validate a relevance file (see serializeRelevance). */
export function parseRelevance(bytes: Uint8Array, what = 'relevance file'): Relevance {
  const {tensors, metadata} = parseSafetensors(bytes, {what});
  if (metadata.format !== RELEVANCE_FORMAT) {
    throw new StyleclipError(`${what} is not a StyleCLIP relevance file (metadata format '${metadata.format ?? 'none'}', expected '${RELEVANCE_FORMAT}')`);
  }
  let meta: RelevanceMeta;
  try {
    meta = JSON.parse(metadata.meta ?? '') as RelevanceMeta;
  } catch {
    throw new StyleclipError(`${what}: metadata 'meta' is not valid JSON`);
  }
  check(meta && typeof meta === 'object' && meta.generator && Array.isArray(meta.generator.layers), `${what}: metadata 'meta' lacks the generator fingerprint`);
  const need = (k: string, dtype: string, rank: number): HostTensor => {
    const t = tensors.get(k);
    if (!t) throw new StyleclipError(`${what}: missing tensor '${k}'`);
    check(t.dtype === dtype && t.shape.length === rank, `${what}: '${k}' must be ${dtype} of rank ${rank}, got ${t.dtype} [${t.shape.join(', ')}]`);
    return t;
  };
  const fs3 = need('fs3', 'float32', 2);
  const channels = need('channels', 'int32', 1);
  const sMean = need('s_mean', 'float32', 1);
  const sStd = need('s_std', 'float32', 1);
  const [C, E] = fs3.shape as [number, number];
  if (meta.editDefaults !== undefined) {
    check(meta.editDefaults !== null && typeof meta.editDefaults === 'object', `${what}: editDefaults must be an object`);
    checkEditDefaults(meta.editDefaults, what);
  }
  const S = meta.generator.layers.reduce((a, b) => a + b, 0);
  check(channels.shape[0] === C, `${what}: 'channels' has ${channels.shape[0]} entries for ${C} fs3 rows`);
  check(E === meta.clipEmbedDim, `${what}: fs3 width ${E} differs from the recorded CLIP embed dim ${meta.clipEmbedDim}`);
  check(sMean.shape[0] === S && sStd.shape[0] === S, `${what}: s_mean/s_std must have ${S} values (the generator's S channels)`);
  check(C === meta.rangeEnd - meta.rangeStart, `${what}: ${C} fs3 rows for channel range ${meta.rangeStart}:${meta.rangeEnd}`);
  const ch = channels.data as Int32Array;
  for (let i = 0; i < C; i++) check(ch[i]! >= 0 && ch[i]! < S, `${what}: channel index ${ch[i]} is outside S (0…${S - 1})`);
  // Copy: parsed arrays may view the file's bytes.
  return {fs3: Float32Array.from(fs3.data as Float32Array), channels: Int32Array.from(ch), sMean: Float32Array.from(sMean.data as Float32Array), sStd: Float32Array.from(sStd.data as Float32Array), meta};
}

/** Settings two relevance shards must share to be merged or resumed. */
function settingsKey(m: RelevanceMeta): string {
  return JSON.stringify([m.generator, m.clipEmbedDim, m.clipInput, m.alphaP, m.images, m.samples, m.seed, m.truncation, m.noise, m.layers, m.selectedTotal]);
}

/** Describe the first setting in which two metas differ ('' when none). */
export function settingsDiff(a: RelevanceMeta, b: RelevanceMeta): string {
  if (JSON.stringify(a.generator) !== JSON.stringify(b.generator)) return `generator ${describeFingerprint(a.generator)} vs ${describeFingerprint(b.generator)}`;
  if (!probesMatch(a.generatorProbe, b.generatorProbe)) return 'generator weights (same shapes, different S for the probe latent)';
  if (a.clipEmbedDim !== b.clipEmbedDim) return `CLIP embed dim ${a.clipEmbedDim} vs ${b.clipEmbedDim}`;
  if (!probesMatch(a.clipProbe, b.clipProbe)) return 'CLIP weights (different features for the probe image)';
  const keys = ['clipInput', 'alphaP', 'images', 'samples', 'seed', 'truncation', 'noise', 'layers', 'selectedTotal'] as const;
  for (const k of keys) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`;
  return settingsKey(a) === settingsKey(b) ? '' : 'settings';
}

/**
 * Combine shards (any order) into one relevance over their union: they must share generator, CLIP and settings and
 * tile a contiguous channel range with no gap or overlap. Statistics come from the first shard.
 */
export function mergeRelevance(shards: readonly Relevance[], names: readonly string[] = shards.map((_, i) => `shard ${i + 1}`), {requireComplete = true} = {}): Relevance {
  check(shards.length > 0, 'nothing to merge: give at least one relevance shard');
  const order = shards.map((s, i) => ({s, name: names[i]!})).sort((a, b) => a.s.meta.rangeStart - b.s.meta.rangeStart);
  const first = order[0]!;
  for (const {s, name} of order.slice(1)) {
    const diff = settingsDiff(first.s.meta, s.meta);
    if (diff) throw new RelevanceMismatchError(`cannot merge ${name} with ${first.name}: they differ in ${diff}`);
  }
  for (let i = 1; i < order.length; i++) {
    const prev = order[i - 1]!;
    const cur = order[i]!;
    if (cur.s.meta.rangeStart < prev.s.meta.rangeEnd) throw new StyleclipError(`shards overlap: ${prev.name} covers ${prev.s.meta.rangeStart}:${prev.s.meta.rangeEnd} and ${cur.name} starts at ${cur.s.meta.rangeStart}`);
    if (cur.s.meta.rangeStart > prev.s.meta.rangeEnd) throw new StyleclipError(`shards leave a gap: channels ${prev.s.meta.rangeEnd}:${cur.s.meta.rangeStart} are in no shard`);
  }
  const last = order[order.length - 1]!;
  if (requireComplete && (first.s.meta.rangeStart !== 0 || last.s.meta.rangeEnd !== first.s.meta.selectedTotal)) {
    const missing = [first.s.meta.rangeStart > 0 ? `0:${first.s.meta.rangeStart}` : '', last.s.meta.rangeEnd < first.s.meta.selectedTotal ? `${last.s.meta.rangeEnd}:${first.s.meta.selectedTotal}` : ''].filter(Boolean);
    throw new StyleclipError(`shards leave a gap: channels ${missing.join(' and ')} of the ${first.s.meta.selectedTotal} selected are in no shard`);
  }
  const E = first.s.meta.clipEmbedDim;
  const C = order.reduce((a, {s}) => a + s.channels.length, 0);
  const fs3 = new Float32Array(C * E);
  const channels = new Int32Array(C);
  let at = 0;
  for (const {s} of order) {
    fs3.set(s.fs3, at * E);
    channels.set(s.channels, at);
    at += s.channels.length;
  }
  const meta: RelevanceMeta = {...first.s.meta, rangeStart: first.s.meta.rangeStart, rangeEnd: order[order.length - 1]!.s.meta.rangeEnd};
  return {fs3, channels, sMean: first.s.sMean, sStd: first.s.sStd, meta};
}

// ---------------------------------------------------------------------------------------------------------------
// Official precomputed files

export interface OfficialRelevanceFiles {
  /** fs3.npy bytes: [C_sel, E] float32/float64, rows in the official channel order. */
  fs3: Uint8Array;
  /** Per-channel means as .npy: 1-D over all S channels (np.concatenate(m) of S_mean_std), or without ToRGB. */
  mean: Uint8Array;
  /** Per-channel stds as .npy, same layout as `mean`. */
  std: Uint8Array;
}

/**
 * Load StyleCLIP's precomputed global_directions/npy/<dataset>/fs3.npy with S statistics converted to .npy.
 * fs3 rows follow the official order: every channel of the non-ToRGB layers at resolution ≤ 128 in execution order
 * (conv1_4, conv0_8, conv1_8, …, conv1_128: 5376 rows for FFHQ-1024), which is defaultRelevanceLayers(g) here.
 * `S_mean_std` is a pickle of two lists of NumPy arrays ([means per layer], [stds per layer], all 26 layers): it
 * cannot be read without executing NumPy's pickle globals, so convert it once in Python:
 *   m, std = pickle.load(open('S_mean_std', 'rb')); np.save('s_mean.npy', np.concatenate(m)); np.save('s_std.npy', np.concatenate(std))
 * (global_torch's ffhq256 `S_Mean_Std` holds three lists, (_, m, std)). Stats without the ToRGB layers are accepted
 * too; the ToRGB entries are then 0 (they are never moved).
 */
export function relevanceFromOfficial(g: StyleGAN2, files: OfficialRelevanceFiles, what = 'official fs3.npy'): Relevance {
  const fs3 = parseNpy(files.fs3, {what});
  check(fs3.shape.length === 2, `${what} must be 2-D [channels, embed_dim], got [${fs3.shape.join(', ')}]`);
  const [C, E] = fs3.shape as [number, number];
  const layers = defaultRelevanceLayers(g);
  const channels = selectedChannels(g, layers);
  if (C !== channels.length) {
    throw new RelevanceMismatchError(`${what} has ${C} rows, but this generator (${describeFingerprint(generatorFingerprint(g))}) has ${channels.length} channels in non-ToRGB layers at resolution ≤ ${GLOBAL_DEFAULTS.maxRes}`);
  }
  const total = g.sDim();
  const noRgb = g.sDim({withToRgb: false});
  const off = sOffsets(g);
  const stat = (bytes: Uint8Array, name: string): Float32Array => {
    const t = parseNpy(bytes, {what: `S ${name} .npy`});
    const d = toFloat32(t);
    check(t.shape.length === 1 || (t.shape.length === 2 && t.shape[0] === 1), `S ${name} .npy must be 1-D, got [${t.shape.join(', ')}]`);
    if (d.length === total) return Float32Array.from(d);
    check(d.length === noRgb, `S ${name} .npy has ${d.length} values; expected ${total} (all S channels) or ${noRgb} (without ToRGB)`);
    const out = new Float32Array(total);
    let at = 0;
    g.layers.forEach((l, k) => {
      if (l.kind === 'torgb') return;
      out.set(d.subarray(at, at + l.inChannels), off[k]!);
      at += l.inChannels;
    });
    return out;
  };
  const meta: RelevanceMeta = {
    generator: generatorFingerprint(g),
    clipEmbedDim: E,
    clipInput: 'official',
    alphaP: GLOBAL_DEFAULTS.alphaP,
    images: GLOBAL_DEFAULTS.images,
    samples: GLOBAL_DEFAULTS.samples,
    seed: GLOBAL_DEFAULTS.seed,
    truncation: GLOBAL_DEFAULTS.truncation,
    noise: 'const',
    layers,
    rangeStart: 0,
    rangeEnd: C,
    selectedTotal: C,
    source: 'official-npy',
  };
  return {fs3: Float32Array.from(toFloat32(fs3)), channels, sMean: stat(files.mean, 'mean'), sStd: stat(files.std, 'std'), meta};
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Edit

/** R = fs3 · Δt [C_sel] (float64 accumulation). */
export function relevanceScores(rel: Relevance, direction: ArrayLike<number>): Float32Array {
  const E = rel.meta.clipEmbedDim;
  check(direction.length === E, `text direction has ${direction.length} values, the relevance is in a ${E}-d CLIP space`);
  const C = rel.channels.length;
  const r = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    const base = c * E;
    for (let e = 0; e < E; e++) s += rel.fs3[base + e]! * direction[e]!;
    r[c] = s;
  }
  return r;
}

/** The largest β that still moves ≥ k channels: the k-th largest |R| (all channels when fewer than k). */
export function autoBeta(scores: ArrayLike<number>, minChannels: number): number {
  check(Number.isInteger(minChannels) && minChannels >= 1, `min channels must be a positive integer, got ${minChannels}`);
  const a = Float64Array.from(scores, Math.abs).sort().reverse();
  check(a.length > 0, 'no channels in the relevance');
  return a[Math.min(minChannels, a.length) - 1]!;
}

export function checkBeta(beta: number): void {
  if (!(Number.isFinite(beta) && beta >= 0 && beta <= 1)) throw new StyleclipError(`beta must be in [0, 1] (|R| is a cosine; the official slider is 0.08…0.4), got ${beta}`);
}

/** A sparse StyleSpace step: flat S indices and Δs values (unit α). */
export interface StyleDelta {
  channels: Int32Array;
  delta: Float32Array;
  beta: number;
  /** max |R| before thresholding. */
  maxScore: number;
}

/**
 * GetBoundary + SplitS(if_std): keep |R| ≥ β, divide by max|R| of the kept, multiply by σ_c. Empty when nothing
 * passes β.
 */
export function styleDelta(rel: Relevance, scores: Float32Array, beta: number): StyleDelta {
  checkBeta(beta);
  let maxAbs = 0;
  let maxScore = 0;
  const keep: number[] = [];
  for (let c = 0; c < scores.length; c++) {
    const a = Math.abs(scores[c]!);
    maxScore = Math.max(maxScore, a);
    if (a >= beta && a > 0) {
      keep.push(c);
      maxAbs = Math.max(maxAbs, a);
    }
  }
  const channels = Int32Array.from(keep, (c) => rel.channels[c]!);
  const delta = Float32Array.from(keep, (c) => (scores[c]! / maxAbs) * rel.sStd[rel.channels[c]!]!);
  return {channels, delta, beta, maxScore};
}

/** s' = s + α·Δs on host S tensors (one [N, C_l] per layer); untouched channels are copied bit for bit. */
export function applyStyleDelta(g: StyleGAN2, styles: readonly HostTensor[], d: StyleDelta, alpha: number): HostTensor[] {
  check(Number.isFinite(alpha), `alpha must be a finite number, got ${alpha}`);
  check(styles.length === g.layers.length, `an S latent needs ${g.layers.length} tensors (one per StyleSpace layer), got ${styles.length}`);
  const N = styles[0]!.shape[0]!;
  const out = styles.map((t, k) => {
    const l = g.layers[k]!;
    check(t.shape.length === 2 && t.shape[0] === N && t.shape[1] === l.inChannels, `S layer s_${String(k).padStart(2, '0')} (${l.name}) must have shape [${N}, ${l.inChannels}], got [${t.shape.join(', ')}]`);
    const data = Float32Array.from(toFloat32(t));
    assertFinite(data, `S layer s_${String(k).padStart(2, '0')}`);
    return {dtype: 'float32' as const, shape: [N, l.inChannels], data};
  });
  if (alpha === 0) return out;
  const off = sOffsets(g);
  let layer = 0;
  for (let i = 0; i < d.channels.length; i++) {
    const j = d.channels[i]!;
    while (j >= off[layer + 1]!) layer++;
    while (j < off[layer]!) layer--;
    const C = g.layers[layer]!.inChannels;
    const c = j - off[layer]!;
    const data = out[layer]!.data;
    for (let n = 0; n < N; n++) data[n * C + c]! += alpha * d.delta[i]!;
  }
  return out;
}

export interface EditStylesOptions {
  /** Edit strength α (default: the relevance's editDefaults, else the official 4.1; slider −10…10). 0 returns the input exactly. */
  alpha?: number;
  /** Threshold β (default: the relevance's editDefaults, else the official 0.15). Ignored when minChannels is given. */
  beta?: number;
  /** Auto β: the largest β that moves at least this many channels (AUTO_BETA_MIN_CHANNELS: 20 faces, 100 otherwise). */
  minChannels?: number;
}

export interface EditStylesResult {
  styles: HostTensor[];
  channelsMoved: number;
  beta: number;
  /** The α used. */
  alpha: number;
  /** max |R| over the selected channels (a β above it moves nothing). */
  maxScore: number;
}

/** Apply a global-direction edit to S (any number of rows; chains on already edited S). */
export function editStyles(g: StyleGAN2, rel: Relevance, styles: readonly HostTensor[], direction: ArrayLike<number>, opts: EditStylesOptions = {}): EditStylesResult {
  checkGeneratorFingerprint(g, rel);
  const {alpha, beta, d} = resolveEdit(rel, relevanceScores(rel, direction), opts);
  return {styles: applyStyleDelta(g, styles, d, alpha), channelsMoved: d.channels.length, beta, alpha, maxScore: d.maxScore};
}

/** α, β and the sparse step of an edit: what the options name, else the relevance's defaults (editDefaultsOf). */
function resolveEdit(rel: Relevance, scores: Float32Array, opts: EditStylesOptions): {alpha: number; beta: number; d: StyleDelta} {
  const dflt = editDefaultsOf(rel);
  const alpha = opts.alpha ?? dflt.alpha;
  let beta: number;
  if (opts.minChannels !== undefined) beta = autoBeta(scores, opts.minChannels);
  else if (opts.beta !== undefined) beta = opts.beta;
  else beta = dflt.minChannels !== undefined ? autoBeta(scores, dflt.minChannels) : dflt.beta!;
  return {alpha, beta, d: styleDelta(rel, scores, beta)};
}

export interface GlobalEditOptions extends EditStylesOptions {
  neutral: string;
  target: string;
  /** Base S (one [N, C_l] tensor per layer), e.g. from generate({returnStyles: true}) or a previous edit. */
  styles: readonly HostTensor[];
  noise?: NoiseMode;
  templates?: readonly string[];
}

export interface GlobalEditResult extends EditStylesResult {
  image: HostTensor;
  direction: Float32Array;
}

function checkPrompt(text: string, which: string): void {
  if (typeof text !== 'string' || text.trim() === '') throw new StyleclipError(`the ${which} prompt is empty`);
}

/**
 * Interactive global-direction edits: holds the models and the relevance, caches text directions per
 * (neutral, target), and generates from S with the cached program, so a slider move costs one matvec and one
 * generator pass.
 */
export class GlobalEditor {
  readonly g: StyleGAN2;
  readonly clip: CLIP;
  readonly tokenizer: TextTokenizer;
  readonly relevance: Relevance;
  private readonly directions = new Map<string, Promise<Float32Array>>();
  private readonly scores = new Map<string, Float32Array>();

  constructor(g: StyleGAN2, clip: CLIP, tokenizer: TextTokenizer, relevance: Relevance) {
    checkGeneratorFingerprint(g, relevance);
    if (relevance.meta.clipEmbedDim !== clip.config.embedDim) {
      throw new RelevanceMismatchError(`relevance is in a ${relevance.meta.clipEmbedDim}-d CLIP space; this CLIP embeds to ${clip.config.embedDim}`);
    }
    this.g = g;
    this.clip = clip;
    this.tokenizer = tokenizer;
    this.relevance = relevance;
  }

  /** Δt for a prompt pair (79 templates averaged), cached. */
  direction(neutral: string, target: string, templates?: readonly string[]): Promise<Float32Array> {
    checkPrompt(neutral, 'neutral');
    checkPrompt(target, 'target');
    const key = JSON.stringify([neutral, target, templates ?? null]);
    let p = this.directions.get(key);
    if (!p) {
      p = promptDirection(this.clip, this.tokenizer, neutral, target, templates);
      this.directions.set(key, p);
      p.catch(() => this.directions.delete(key));
    }
    return p;
  }

  /** The settings an edit that names none uses (the relevance's editDefaults, else the official ones). */
  get defaults(): {alpha: number; beta?: number; minChannels?: number} {
    return editDefaultsOf(this.relevance);
  }

  /** R = fs3·Δt for a prompt pair, cached. */
  async scoresFor(neutral: string, target: string, templates?: readonly string[]): Promise<Float32Array> {
    const key = JSON.stringify([neutral, target, templates ?? null]);
    let r = this.scores.get(key);
    if (!r) {
      r = relevanceScores(this.relevance, await this.direction(neutral, target, templates));
      this.scores.set(key, r);
    }
    return r;
  }

  /** Edit S and render the result. */
  async edit(opts: GlobalEditOptions): Promise<GlobalEditResult> {
    const {noise = 'const'} = opts;
    const direction = await this.direction(opts.neutral, opts.target, opts.templates);
    const scores = await this.scoresFor(opts.neutral, opts.target, opts.templates);
    const {alpha, beta, d} = resolveEdit(this.relevance, scores, opts);
    const styles = applyStyleDelta(this.g, opts.styles, d, alpha);
    const {image} = await generate(this.g, {latent: styles, space: 's', noise});
    return {styles, image, direction, channelsMoved: d.channels.length, beta, alpha, maxScore: d.maxScore};
  }
}

/** One-shot global-direction edit: Δt from the prompts, edit S, render. For repeated edits use GlobalEditor. */
export async function globalEdit(g: StyleGAN2, clip: CLIP, tokenizer: TextTokenizer, rel: Relevance, opts: GlobalEditOptions): Promise<GlobalEditResult> {
  return new GlobalEditor(g, clip, tokenizer, rel).edit(opts);
}
