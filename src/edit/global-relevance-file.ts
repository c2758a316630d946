/**
 * The channel-relevance file of StyleCLIP global directions: its format (safetensors + JSON metadata), the
 * fingerprints that tie it to a generator and a CLIP, merging shards, StyleCLIP's precomputed fs3.npy, and reading
 * and writing files. The maths that fills it is in global-relevance.ts.
 *
 * Legend: C_sel selected channels (fs3 rows), S_total all S channels, E CLIP embedding width.
 */
import {StyleclipError, check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {type HostTensor, firstNonFinite, isHostTensor, toFloat32} from '../io/host-tensor.js';
import {parseNpy} from '../io/npy.js';
import {describe, numpyArrayGlobals, unpickle} from '../io/pickle.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import {encodeImages} from '../models/clip/encode.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import {sampleZ} from '../models/generate.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {convLayers, layerChannels} from '../models/stylespace.js';
import {GLOBAL_DEFAULTS} from './global-defaults.js';
import {defaultRelevanceLayers, flatStylesOfZ} from './global-relevance.js';

/** A relevance file that does not belong to the generator / CLIP / settings it is used with. */
export class RelevanceMismatchError extends StyleclipError {
  override name = 'RelevanceMismatchError';
}

// ---------------------------------------------------------------------------------------------------------------
// Fingerprints

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
  return pickEven(await flatStylesOfZ(g, sampleZ(g, 1, 0x5eed), 1), 32);
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
function probesMatch(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (!a || !b) return true; // nothing to compare (e.g. official files)
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-3 + 1e-3 * Math.abs(b[i]!));
}

// ---------------------------------------------------------------------------------------------------------------
// The file

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

/** Check recommended edit settings (from a file or a command line). */
function checkEditDefaults(d: EditDefaults, what: string): void {
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

const RELEVANCE_FORMAT = 'styleclip-global-relevance/1';

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
  check(meta.generator.layers.every((c) => Number.isSafeInteger(c) && c >= 0), `${what}: the generator fingerprint's layer widths are not non-negative integers`);
  check(Number.isSafeInteger(meta.rangeStart) && Number.isSafeInteger(meta.rangeEnd), `${what}: the channel range is not a pair of integers`);
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
  const used = new Uint8Array(S);
  for (let i = 0; i < C; i++) {
    check(ch[i]! >= 0 && ch[i]! < S, `${what}: channel index ${ch[i]} is outside S (0…${S - 1})`);
    check(used[ch[i]!] === 0, () => `${what}: channel index ${ch[i]} appears twice in 'channels' (rows ${ch.indexOf(ch[i]!)} and ${i})`);
    used[ch[i]!] = 1;
  }
  checkFiniteValues(fs3.data as Float32Array, `${what}: 'fs3'`);
  checkFiniteValues(sMean.data as Float32Array, `${what}: 's_mean'`);
  checkFiniteValues(sStd.data as Float32Array, `${what}: 's_std'`);
  // Copy: parsed arrays may view the file's bytes.
  return {fs3: Float32Array.from(fs3.data as Float32Array), channels: Int32Array.from(ch), sMean: Float32Array.from(sMean.data as Float32Array), sStd: Float32Array.from(sStd.data as Float32Array), meta};
}

/** A named error at the first NaN or ±Inf: relevance values and S statistics are used as numbers, never as gaps. */
function checkFiniteValues(d: ArrayLike<number>, what: string): void {
  const i = firstNonFinite(d);
  if (i >= 0) throw new StyleclipError(`${what} holds a non-finite value (${d[i]}) at index ${i}`);
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
// StyleCLIP's precomputed files

export interface OfficialRelevanceFiles {
  /** fs3.npy bytes: [C_sel, E] float32/float64, rows in the official channel order. */
  fs3: Uint8Array;
  /** Per-channel means as .npy: 1-D over all S channels (np.concatenate(m) of S_mean_std), or without ToRGB. */
  mean?: Uint8Array;
  /** Per-channel stds as .npy, same layout as `mean`. */
  std?: Uint8Array;
  /** StyleCLIP's `S_mean_std` pickle itself, instead of `mean` and `std` (see parseSMeanStd). */
  meanStd?: Uint8Array;
}

/**
 * StyleCLIP's `S_mean_std` (global_directions/manipulate.py reads it with pickle.load): a list `[means, stds]` of
 * per-layer lists of float numpy arrays ([1, C_k] each); global_torch's `S_Mean_Std` for ffhq256 holds three lists,
 * of which the last two are the means and stds. Read by the restricted unpickler with numpy's array reconstruction
 * as the only extra global. Returns the flat concatenations (np.concatenate(m), np.concatenate(std)).
 */
export function parseSMeanStd(bytes: Uint8Array, what = 'S_mean_std file'): {mean: Float32Array; std: Float32Array} {
  const v = unpickle(bytes, {what, resolveGlobal: numpyArrayGlobals(what)});
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) {
    throw new StyleclipError(`${what}: expected a list [means, stds] of per-layer arrays, got a ${Array.isArray(v) ? `list of ${v.length} items` : describe(v)}`);
  }
  const flat = (list: unknown, name: string): Float32Array => {
    if (!Array.isArray(list) || list.length === 0 || !list.every(isHostTensor)) throw new StyleclipError(`${what}: the ${name} are not a list of numpy arrays`);
    const parts = (list as HostTensor[]).map((t) => toFloat32(t));
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const mean = flat(v[v.length - 2], 'means');
  const std = flat(v[v.length - 1], 'stds');
  check(mean.length === std.length, `${what}: the means have ${mean.length} values but the stds ${std.length}`);
  return {mean, std};
}

/**
 * Load StyleCLIP's precomputed global_directions/npy/<dataset>/fs3.npy with S statistics converted to .npy.
 * fs3 rows follow the official order: every channel of the non-ToRGB layers at resolution ≤ 128 in execution order
 * (conv1_4, conv0_8, conv1_8, …, conv1_128: 5376 rows for FFHQ-1024), which is defaultRelevanceLayers(g) here.
 * The S statistics come as StyleCLIP's `S_mean_std` pickle itself (parseSMeanStd) or as two 1-D .npy files.
 * Stats without the ToRGB layers are accepted too; the ToRGB entries are then 0 (they are never moved).
 */
export function relevanceFromOfficial(g: StyleGAN2, files: OfficialRelevanceFiles, what = 'official fs3.npy'): Relevance {
  const fs3 = parseNpy(files.fs3, {what});
  check(fs3.shape.length === 2, `${what} must be 2-D [channels, embed_dim], got [${fs3.shape.join(', ')}]`);
  const [C, E] = fs3.shape as [number, number];
  const layers = defaultRelevanceLayers(g);
  const channels = layerChannels(g, layers);
  if (C !== channels.length) {
    throw new RelevanceMismatchError(`${what} has ${C} rows, but this generator (${describeFingerprint(generatorFingerprint(g))}) has ${channels.length} channels in non-ToRGB layers at resolution ≤ ${GLOBAL_DEFAULTS.maxRes}`);
  }
  const total = g.sDim();
  const noRgb = layerChannels(g, convLayers(g)); // flat S index of each entry of a without-ToRGB vector
  const npy = (bytes: Uint8Array | undefined, name: string): Float32Array => {
    check(bytes !== undefined, `the S ${name}s are missing: give S_mean_std or the ${name} .npy`);
    const t = parseNpy(bytes, {what: `S ${name} .npy`});
    check(t.shape.length === 1 || (t.shape.length === 2 && t.shape[0] === 1), `S ${name} .npy must be 1-D, got [${t.shape.join(', ')}]`);
    return toFloat32(t);
  };
  const pickled = files.meanStd === undefined ? null : parseSMeanStd(files.meanStd);
  const stat = (d: Float32Array, name: string): Float32Array => {
    const src = pickled ? 'S_mean_std' : `S ${name} .npy`;
    if (d.length === total) return Float32Array.from(d);
    check(d.length === noRgb.length, `${src} has ${d.length} ${name} values; expected ${total} (all S channels) or ${noRgb.length} (without ToRGB)`);
    const out = new Float32Array(total);
    noRgb.forEach((j, i) => (out[j] = d[i]!));
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
  const rows = Float32Array.from(toFloat32(fs3));
  checkFiniteValues(rows, what);
  const sMean = stat(pickled?.mean ?? npy(files.mean, 'mean'), 'mean');
  const sStd = stat(pickled?.std ?? npy(files.std, 'std'), 'std');
  checkFiniteValues(sMean, 'S mean');
  checkFiniteValues(sStd, 'S std');
  return {fs3: rows, channels, sMean, sStd, meta};
}

// ---------------------------------------------------------------------------------------------------------------
// Files on disk

/** Read a relevance file. */
export function loadRelevance(file: string): Relevance {
  return parseRelevance(readBytes(file, 'relevance file'), `relevance file '${file}'`);
}

/**
 * Rewrite a relevance file's recommended edit settings (RelevanceMeta.editDefaults) atomically; null removes
 * them (edits then use the official α 4.1, β 0.15). Returns the updated relevance.
 */
export function setEditDefaults(file: string, defaults: EditDefaults | null): Relevance {
  const rel = loadRelevance(file);
  const meta: RelevanceMeta = {...rel.meta};
  if (defaults === null) delete meta.editDefaults;
  else {
    checkEditDefaults(defaults, 'edit defaults');
    meta.editDefaults = Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined)) as EditDefaults;
  }
  const updated = {...rel, meta};
  writeFileAtomic(file, serializeRelevance(updated), 'relevance file');
  return updated;
}

/** Read official fs3.npy plus StyleCLIP's S_mean_std pickle, or S mean/std .npy files (see relevanceFromOfficial). */
export function loadOfficialRelevance(g: StyleGAN2, files: {fs3: string; meanStd?: string; mean?: string; std?: string}): Relevance {
  check(files.meanStd !== undefined || (files.mean !== undefined && files.std !== undefined), 'the official fs3 needs the S statistics: S_mean_std, or S mean and std .npy files');
  const bytes: OfficialRelevanceFiles = {
    fs3: readBytes(files.fs3, 'fs3 file'),
    ...(files.meanStd !== undefined ? {meanStd: readBytes(files.meanStd, 'S_mean_std file')} : {mean: readBytes(files.mean!, 'S mean file'), std: readBytes(files.std!, 'S std file')}),
  };
  return relevanceFromOfficial(g, bytes, `fs3 file '${files.fs3}'`);
}

/** Merge shard files into one relevance file (checks coverage and fingerprints; see mergeRelevance). */
export function mergeRelevanceFiles(files: readonly string[], out: string, {requireComplete = true} = {}): Relevance {
  check(files.length > 0, 'nothing to merge: give at least one relevance shard');
  const merged = mergeRelevance(files.map(loadRelevance), files.map((f) => `'${f}'`), {requireComplete});
  writeFileAtomic(out, serializeRelevance(merged), 'merged relevance file');
  return merged;
}
