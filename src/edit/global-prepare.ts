/**
 * The resumable, shardable driver of the global-directions preprocessing (StyleCLIP SingleChannel.py, which runs
 * for hours at full scale). Node-only: it journals to disk.
 *
 * Work directory `<out>.parts/` beside the output file:
 *   manifest.json               the run's settings and model fingerprints (RelevanceMeta + chunk size)
 *   stats.safetensors           s_mean, s_std [S_total] and the K relevance images' flat S [K, S_total]
 *   chunk-<start>-<end>.safetensors   fs3 rows [end − start, E] for selected channels start…end−1
 * Every file is written atomically (temporary file + rename), so a kill leaves only whole files. Rerunning the same
 * command reuses the statistics and every finished chunk; different settings or models give a named error. When all
 * chunks exist the relevance file is written (atomically) and the work directory removed. Shards (`channels: [A, B]`)
 * are independent runs with their own outputs; mergeRelevanceFiles joins them.
 */
import {existsSync, mkdirSync, readdirSync, rmSync} from 'node:fs';
import path from 'node:path';
import {StyleclipError, check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {
  type EditDefaults,
  GLOBAL_DEFAULTS,
  type GlobalProgress,
  checkEditDefaults,
  type OfficialRelevanceFiles,
  type Relevance,
  type RelevanceMeta,
  RelevanceMismatchError,
  clipProbe,
  computeChannelRelevance,
  computeSStats,
  defaultRelevanceLayers,
  generatorFingerprint,
  generatorProbe,
  mergeRelevance,
  parseRelevance,
  relevanceFromOfficial,
  selectedChannels,
  serializeRelevance,
  settingsDiff,
} from './global-directions.js';

export interface PrepareOptions {
  /** Output relevance file (.safetensors); the journal lives in `<out>.parts/`. */
  out: string;
  samples?: number;
  seed?: number;
  truncation?: number;
  /** Relevance images K (the first K statistics samples). */
  images?: number;
  alphaP?: number;
  /** S layers to select (execution indices); default non-ToRGB layers at resolution ≤ 128. */
  layers?: number[];
  /** Half-open range over the selected channels (a shard); default all. */
  channels?: [number, number];
  /** Generator passes per program run. */
  batch?: number;
  /** Samples per program run for the statistics. */
  statsBatch?: number;
  /** Selected channels per journal chunk (the unit of resumption). Default: about 256 passes per chunk. */
  chunkChannels?: number;
  clipInput?: ClipInputMode;
  noise?: NoiseMode;
  onProgress?: (p: PrepareProgress) => void;
  /** Called after each chunk is on disk. */
  onChunk?: (c: {start: number; end: number; done: number; total: number}) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface PrepareProgress extends GlobalProgress {
  /** Selected channels finished (including resumed ones) and in this shard. */
  channelsDone: number;
  channelsTotal: number;
}

export interface PrepareResult {
  relevance: Relevance;
  out: string;
  /** Channels computed by this call. */
  computedChannels: number;
  /** Channels taken from an interrupted run's chunks. */
  resumedChannels: number;
  /** The output already existed with the same settings; nothing was computed. */
  alreadyComplete: boolean;
  statsResumed: boolean;
}

interface Manifest {
  format: 'styleclip-global-prepare/1';
  meta: RelevanceMeta;
  chunkChannels: number;
}

/** The work directory of a prepare run. */
export function partsDir(out: string): string {
  return `${out}.parts`;
}

function chunkName(start: number, end: number): string {
  return `chunk-${String(start).padStart(6, '0')}-${String(end).padStart(6, '0')}.safetensors`;
}

function describeRange(m: RelevanceMeta): string {
  return `${m.rangeStart}:${m.rangeEnd}`;
}

/** Compute (or resume) a channel-relevance file. See the file header for the journal layout. */
export async function prepareRelevance(g: StyleGAN2, clip: CLIP, opts: PrepareOptions): Promise<PrepareResult> {
  const {
    samples = GLOBAL_DEFAULTS.samples,
    seed = GLOBAL_DEFAULTS.seed,
    truncation = GLOBAL_DEFAULTS.truncation,
    images = GLOBAL_DEFAULTS.images,
    alphaP = GLOBAL_DEFAULTS.alphaP,
    clipInput = 'normalized',
    noise = 'const',
    batch = 8,
  } = opts;
  check(Number.isInteger(images) && images >= 1, `images must be a positive integer, got ${images}`);
  check(Number.isInteger(samples) && samples >= 2, `samples must be an integer ≥ 2, got ${samples}`);
  check(images <= samples, `images (${images}) cannot exceed samples (${samples}): the relevance images are the first statistics samples`);
  check(Number.isFinite(alphaP) && alphaP > 0, `alphaP must be positive, got ${alphaP}`);
  check(Number.isInteger(batch) && batch >= 1, `batch must be a positive integer, got ${batch}`);
  const layers = opts.layers ? [...opts.layers].sort((a, b) => a - b) : defaultRelevanceLayers(g);
  check(layers.length > 0, 'no layers selected');
  for (const l of layers) check(Number.isInteger(l) && l >= 0 && l < g.layers.length, `layer ${l} does not exist: this generator has S layers 0…${g.layers.length - 1}`);
  const sel = selectedChannels(g, layers);
  const [A, B] = opts.channels ?? [0, sel.length];
  if (!(Number.isInteger(A) && Number.isInteger(B) && A >= 0 && A < B && B <= sel.length)) {
    throw new StyleclipError(`bad channel range ${A}:${B}: expected 0 ≤ A < B ≤ ${sel.length} (the number of selected channels)`);
  }
  const chunkChannels = opts.chunkChannels ?? Math.max(1, Math.round(256 / (2 * images)));
  check(Number.isInteger(chunkChannels) && chunkChannels >= 1, `chunkChannels must be a positive integer, got ${chunkChannels}`);

  const meta: RelevanceMeta = {
    generator: generatorFingerprint(g),
    generatorProbe: await generatorProbe(g),
    clipEmbedDim: clip.config.embedDim,
    clipProbe: await clipProbe(clip),
    clipInput,
    alphaP,
    images,
    samples,
    seed,
    truncation,
    noise,
    layers,
    rangeStart: A,
    rangeEnd: B,
    selectedTotal: sel.length,
    source: 'styleclip-ts',
  };
  const E = meta.clipEmbedDim;
  const dir = partsDir(opts.out);
  const mismatch = (where: string, diff: string) =>
    new RelevanceMismatchError(`${where} was made with different settings or models (${diff}); rerun with the same flags, or delete it to start over`);

  // A finished output with the same settings: nothing to do.
  if (existsSync(opts.out)) {
    const done = parseRelevance(readBytes(opts.out, 'relevance file'), `relevance file '${opts.out}'`);
    const diff = settingsDiff(done.meta, meta) || (describeRange(done.meta) !== describeRange(meta) ? `channel range ${describeRange(done.meta)} vs ${describeRange(meta)}` : '');
    if (diff) throw mismatch(`existing output '${opts.out}'`, diff);
    rmSync(dir, {recursive: true, force: true});
    return {relevance: done, out: opts.out, computedChannels: 0, resumedChannels: B - A, alreadyComplete: true, statsResumed: true};
  }

  // Journal: create, or check that it belongs to this run.
  mkdirSync(dir, {recursive: true});
  const manifestPath = path.join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    let m: Manifest;
    try {
      m = JSON.parse(new TextDecoder().decode(readBytes(manifestPath, 'prepare manifest'))) as Manifest;
    } catch {
      throw new StyleclipError(`prepare journal '${manifestPath}' is not valid JSON; delete '${dir}' to start over`);
    }
    const diff =
      settingsDiff(m.meta, meta) ||
      (describeRange(m.meta) !== describeRange(meta) ? `channel range ${describeRange(m.meta)} vs ${describeRange(meta)}` : '') ||
      (m.chunkChannels !== chunkChannels ? `chunk size ${m.chunkChannels} vs ${chunkChannels}` : '');
    if (diff) throw mismatch(`the unfinished run in '${dir}'`, diff);
  } else {
    const m: Manifest = {format: 'styleclip-global-prepare/1', meta, chunkChannels};
    writeFileAtomic(manifestPath, new TextEncoder().encode(JSON.stringify(m, null, 1)), 'prepare manifest');
  }

  // 1. Statistics (and the relevance images' S).
  const total = g.sDim();
  const statsPath = path.join(dir, 'stats.safetensors');
  let sMean: Float32Array;
  let sStd: Float32Array;
  let imgS: Float32Array;
  let statsResumed = false;
  if (existsSync(statsPath)) {
    const t = parseSafetensors(readBytes(statsPath, 'prepare statistics'), {what: `prepare statistics '${statsPath}'`}).tensors;
    const get = (k: string, n: number) => {
      const v = t.get(k);
      check(v && v.dtype === 'float32' && v.data.length === n, `prepare statistics '${statsPath}' lacks '${k}' (${n} values); delete '${dir}' to start over`);
      return Float32Array.from(v.data as Float32Array);
    };
    sMean = get('s_mean', total);
    sStd = get('s_std', total);
    imgS = get('images', images * total);
    statsResumed = true;
  } else {
    const st = await computeSStats(g, {
      samples,
      seed,
      truncation,
      keep: images,
      ...(opts.statsBatch !== undefined ? {batch: opts.statsBatch} : {}),
      ...(opts.signal ? {signal: opts.signal} : {}),
      onProgress: (p) => opts.onProgress?.({...p, channelsDone: 0, channelsTotal: B - A}),
    });
    [sMean, sStd, imgS] = [st.mean, st.std, st.kept];
    const tensors = new Map<string, HostTensor>([
      ['s_mean', {dtype: 'float32', shape: [total], data: sMean}],
      ['s_std', {dtype: 'float32', shape: [total], data: sStd}],
      ['images', {dtype: 'float32', shape: [images, total], data: imgS}],
    ]);
    writeFileAtomic(statsPath, serializeSafetensors(tensors), 'prepare statistics');
  }

  // 2. Relevance, chunk by chunk.
  const chunks: [number, number][] = [];
  for (let s = A; s < B; s += chunkChannels) chunks.push([s, Math.min(B, s + chunkChannels)]);
  const rows = new Map<number, Float32Array>();
  let resumedChannels = 0;
  for (const [s, e] of chunks) {
    const p = path.join(dir, chunkName(s, e));
    if (!existsSync(p)) continue;
    try {
      const t = parseSafetensors(readBytes(p, 'relevance chunk'), {what: `relevance chunk '${p}'`}).tensors.get('fs3');
      if (t && t.dtype === 'float32' && t.shape[0] === e - s && t.shape[1] === E) {
        rows.set(s, Float32Array.from(t.data as Float32Array));
        resumedChannels += e - s;
      }
    } catch {
      // unreadable chunk (should not happen with atomic writes): compute it again
    }
  }
  const todo = chunks.filter(([s]) => !rows.has(s));
  const passesTotal = todo.reduce((a, [s, e]) => a + 2 * images * (e - s), 0);
  let passesDone = 0;
  let channelsDone = resumedChannels;
  const t0 = performance.now();
  for (const [s, e] of todo) {
    if (opts.signal?.aborted) throw new StyleclipError('relevance computation cancelled');
    const fs3 = await computeChannelRelevance(g, clip, {mean: sMean, std: sStd}, imgS, sel.subarray(s, e), {
      alphaP,
      batch,
      clipInput,
      noise,
      ...(opts.signal ? {signal: opts.signal} : {}),
      onProgress: (pr) => {
        const done = passesDone + pr.done;
        const elapsedS = (performance.now() - t0) / 1000;
        opts.onProgress?.({phase: 'relevance', done, total: passesTotal, elapsedS, etaS: (elapsedS / done) * (passesTotal - done), channelsDone, channelsTotal: B - A});
      },
    });
    writeFileAtomic(path.join(dir, chunkName(s, e)), serializeSafetensors(new Map([['fs3', {dtype: 'float32', shape: [e - s, E], data: fs3}]]), {start: String(s), end: String(e)}), 'relevance chunk');
    rows.set(s, fs3);
    passesDone += 2 * images * (e - s);
    channelsDone += e - s;
    await opts.onChunk?.({start: s, end: e, done: channelsDone, total: B - A});
  }

  // 3. Assemble, write, clean up.
  const fs3 = new Float32Array((B - A) * E);
  for (const [s] of chunks) fs3.set(rows.get(s)!, (s - A) * E);
  const relevance: Relevance = {fs3, channels: sel.slice(A, B), sMean, sStd, meta};
  writeFileAtomic(opts.out, serializeRelevance(relevance), 'relevance file');
  rmSync(dir, {recursive: true, force: true});
  return {relevance, out: opts.out, computedChannels: B - A - resumedChannels, resumedChannels, alreadyComplete: false, statsResumed};
}

/** Chunk files present in a prepare journal (for inspection and tests). */
export function journalChunks(out: string): string[] {
  const dir = partsDir(out);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^chunk-\d+-\d+\.safetensors$/.test(f)).sort();
}

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

/** Read official fs3.npy plus S mean/std .npy files (see relevanceFromOfficial for the layout). */
export function loadOfficialRelevance(g: StyleGAN2, files: {fs3: string; mean: string; std: string}): Relevance {
  const bytes: OfficialRelevanceFiles = {fs3: readBytes(files.fs3, 'fs3 file'), mean: readBytes(files.mean, 'S mean file'), std: readBytes(files.std, 'S std file')};
  return relevanceFromOfficial(g, bytes, `fs3 file '${files.fs3}'`);
}

/** Merge shard files into one relevance file (checks coverage and fingerprints; see mergeRelevance). */
export function mergeRelevanceFiles(files: readonly string[], out: string, {requireComplete = true} = {}): Relevance {
  check(files.length > 0, 'nothing to merge: give at least one relevance shard');
  const merged = mergeRelevance(files.map(loadRelevance), files.map((f) => `'${f}'`), {requireComplete});
  writeFileAtomic(out, serializeRelevance(merged), 'merged relevance file');
  return merged;
}
