/**
 * The resumable, shardable driver of the global-directions preprocessing (StyleCLIP SingleChannel.py, which runs
 * for hours at full scale). Node-only: it journals to disk.
 *
 * Work directory `<out>.parts/` beside the output file:
 *   manifest.json               the run's settings and model fingerprints (RelevanceMeta + chunk size)
 *   stats.safetensors           s_mean, s_std [S_total] and the K relevance images' flat S [K, S_total]
 *   chunk-<start>-<end>.safetensors   fs3 rows [end − start, E] for selected channels start…end−1
 *   checksums.txt               '<file> <sha256>' per line, appended after each statistics or chunk file is on disk
 * Every file is written atomically (temporary file + rename), so a kill leaves only whole files and temporary
 * ones, which the next run removes. Rerunning the same command reuses the statistics and every finished chunk whose
 * sha256 matches its line in checksums.txt; a file that does not match (damaged or edited) or has no line (killed
 * before its line was written) is computed again and reported in `discarded`. Different settings or models give a
 * named error. When all chunks exist the relevance file is written (atomically) and the work directory removed. Shards (`channels: [A, B]`)
 * are independent runs with their own outputs; mergeRelevanceFiles joins them.
 */
import {createHash} from 'node:crypto';
import {existsSync, readdirSync} from 'node:fs';
import path from 'node:path';
import {StyleclipError, check} from '../errors.js';
import {appendDurable, checkWritable, makeDir, readBytes, removeDir, removeStaleTemps, writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {layerChannels} from '../models/stylespace.js';
import {GLOBAL_DEFAULTS} from './global-defaults.js';
import {type GlobalProgress, computeChannelRelevance, computeSStats, defaultRelevanceLayers} from './global-relevance.js';
import {
  type Relevance,
  type RelevanceMeta,
  RelevanceMismatchError,
  clipProbe,
  generatorFingerprint,
  generatorProbe,
  parseRelevance,
  serializeRelevance,
  settingsDiff,
} from './global-relevance-file.js';

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
  /** Journal files an interrupted run left that did not match their checksum (or had none): computed again. */
  discarded: string[];
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
  checkWritable(opts.out, 'relevance file');
  const run = await startRun(g, clip, opts);
  if (existsSync(opts.out)) return finishedOutput(run);
  openJournal(run);
  const stats = await statistics(g, run);
  const rows = readChunks(run);
  const resumedChannels = run.chunks.reduce((a, [s, e]) => a + (rows.has(s) ? e - s : 0), 0);
  await computeChunks(g, clip, run, stats, rows, resumedChannels);
  return writeOutput(run, stats, rows, resumedChannels);
}

/** A prepare run's settings: the options with defaults filled in, the selected channels and the recorded meta. */
interface Run {
  opts: PrepareOptions;
  meta: RelevanceMeta;
  /** Flat S index of every selected channel. */
  sel: Int32Array;
  /** This shard's half-open range over sel, and the chunks that tile it. */
  range: [number, number];
  chunks: [number, number][];
  chunkChannels: number;
  batch: number;
  clipInput: ClipInputMode;
  dir: string;
  /** sha256 of the journal files, from checksums.txt. */
  checksums: Map<string, string>;
  discarded: string[];
}

/** Check the options, select the channels and fingerprint the models. */
async function startRun(g: StyleGAN2, clip: CLIP, opts: PrepareOptions): Promise<Run> {
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
  const sel = layerChannels(g, layers);
  const [A, B] = opts.channels ?? [0, sel.length];
  if (!(Number.isInteger(A) && Number.isInteger(B) && A >= 0 && A < B && B <= sel.length)) {
    throw new StyleclipError(`bad channel range ${A}:${B}: expected 0 ≤ A < B ≤ ${sel.length} (the number of selected channels)`);
  }
  const chunkChannels = opts.chunkChannels ?? Math.max(1, Math.round(256 / (2 * images)));
  check(Number.isInteger(chunkChannels) && chunkChannels >= 1, `chunkChannels must be a positive integer, got ${chunkChannels}`);
  const chunks: [number, number][] = [];
  for (let s = A; s < B; s += chunkChannels) chunks.push([s, Math.min(B, s + chunkChannels)]);
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
  return {opts, meta, sel, range: [A, B], chunks, chunkChannels, batch, clipInput, dir: partsDir(opts.out), checksums: new Map(), discarded: []};
}

function mismatch(where: string, diff: string): RelevanceMismatchError {
  return new RelevanceMismatchError(`${where} was made with different settings or models (${diff}); rerun with the same flags, or delete it to start over`);
}

/** The output exists: nothing to do if it was made with the same settings (a named error otherwise). */
function finishedOutput(run: Run): PrepareResult {
  const {out} = run.opts;
  const done = parseRelevance(readBytes(out, 'relevance file'), `relevance file '${out}'`);
  const diff = settingsDiff(done.meta, run.meta) || (describeRange(done.meta) !== describeRange(run.meta) ? `channel range ${describeRange(done.meta)} vs ${describeRange(run.meta)}` : '');
  if (diff) throw mismatch(`existing output '${out}'`, diff);
  removeDir(run.dir, 'prepare journal');
  return {relevance: done, out, computedChannels: 0, resumedChannels: run.range[1] - run.range[0], alreadyComplete: true, statsResumed: true, discarded: []};
}

/** Create the journal, or check that the one there belongs to this run; read its checksums, drop temporary files. */
function openJournal(run: Run): void {
  const {dir, meta, chunkChannels} = run;
  makeDir(dir, 'prepare journal');
  removeStaleTemps(dir);
  removeStaleTemps(path.dirname(path.resolve(run.opts.out)), path.basename(run.opts.out));
  const manifestPath = path.join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    const m: Manifest = {format: 'styleclip-global-prepare/1', meta, chunkChannels};
    writeFileAtomic(manifestPath, new TextEncoder().encode(JSON.stringify(m, null, 1)), 'prepare manifest');
    return;
  }
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
  const sums = path.join(dir, CHECKSUMS);
  if (!existsSync(sums)) return;
  // A kill while appending leaves at most a partial last line, which does not parse and is ignored.
  for (const line of new TextDecoder().decode(readBytes(sums, 'prepare checksums')).split('\n')) {
    const hit = /^([\w.-]+) ([0-9a-f]{64})$/.exec(line);
    if (hit) run.checksums.set(hit[1]!, hit[2]!);
  }
}

const CHECKSUMS = 'checksums.txt';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Write a journal file atomically, then record its sha256. */
function journalWrite(run: Run, name: string, bytes: Uint8Array, what: string): void {
  writeFileAtomic(path.join(run.dir, name), bytes, what);
  const sum = sha256(bytes);
  appendDurable(path.join(run.dir, CHECKSUMS), `${name} ${sum}\n`, 'prepare checksums');
  run.checksums.set(name, sum);
}

/** A journal file's bytes when present and matching its recorded sha256; else null (and noted in `discarded`). */
function journalRead(run: Run, name: string, what: string): Uint8Array | null {
  const p = path.join(run.dir, name);
  if (!existsSync(p)) return null;
  const bytes = readBytes(p, what);
  if (run.checksums.get(name) === sha256(bytes)) return bytes;
  run.discarded.push(name);
  return null;
}

const STATS = 'stats.safetensors';

/** S mean, std [S_total] and the relevance images' flat S [K, S_total]; resumed: read from the journal. */
interface Stats {
  mean: Float32Array;
  std: Float32Array;
  images: Float32Array;
  resumed: boolean;
}

/** The S statistics: from the journal, else computed and journalled. */
async function statistics(g: StyleGAN2, run: Run): Promise<Stats> {
  const {opts, meta} = run;
  const total = g.sDim();
  const statsPath = path.join(run.dir, STATS);
  const journalled = journalRead(run, STATS, 'prepare statistics');
  if (journalled) {
    const t = parseSafetensors(journalled, {what: `prepare statistics '${statsPath}'`}).tensors;
    const get = (k: string, n: number) => {
      const v = t.get(k);
      check(v && v.dtype === 'float32' && v.data.length === n, `prepare statistics '${statsPath}' lacks '${k}' (${n} values); delete '${run.dir}' to start over`);
      return Float32Array.from(v.data as Float32Array);
    };
    return {mean: get('s_mean', total), std: get('s_std', total), images: get('images', meta.images * total), resumed: true};
  }
  const st = await computeSStats(g, {
    samples: meta.samples,
    seed: meta.seed,
    truncation: meta.truncation,
    keep: meta.images,
    ...(opts.statsBatch !== undefined ? {batch: opts.statsBatch} : {}),
    ...(opts.signal ? {signal: opts.signal} : {}),
    onProgress: (p) => opts.onProgress?.({...p, channelsDone: 0, channelsTotal: meta.rangeEnd - meta.rangeStart}),
  });
  const tensors = new Map<string, HostTensor>([
    ['s_mean', {dtype: 'float32', shape: [total], data: st.mean}],
    ['s_std', {dtype: 'float32', shape: [total], data: st.std}],
    ['images', {dtype: 'float32', shape: [meta.images, total], data: st.kept}],
  ]);
  journalWrite(run, STATS, serializeSafetensors(tensors), 'prepare statistics');
  return {mean: st.mean, std: st.std, images: st.kept, resumed: false};
}

/** fs3 rows of the chunks an interrupted run finished, by chunk start. */
function readChunks(run: Run): Map<number, Float32Array> {
  const E = run.meta.clipEmbedDim;
  const rows = new Map<number, Float32Array>();
  for (const [s, e] of run.chunks) {
    const p = path.join(run.dir, chunkName(s, e));
    const bytes = journalRead(run, chunkName(s, e), 'relevance chunk');
    if (!bytes) continue;
    try {
      const t = parseSafetensors(bytes, {what: `relevance chunk '${p}'`}).tensors.get('fs3');
      if (t && t.dtype === 'float32' && t.shape[0] === e - s && t.shape[1] === E) rows.set(s, Float32Array.from(t.data as Float32Array));
    } catch {
      // unreadable chunk (its checksum matched, so it was written so): compute it again
    }
  }
  return rows;
}

/** Compute the missing chunks, journalling each as soon as it is done. */
async function computeChunks(g: StyleGAN2, clip: CLIP, run: Run, stats: Stats, rows: Map<number, Float32Array>, resumedChannels: number): Promise<void> {
  const {opts, meta} = run;
  const [A, B] = run.range;
  const todo = run.chunks.filter(([s]) => !rows.has(s));
  const passesTotal = todo.reduce((a, [s, e]) => a + 2 * meta.images * (e - s), 0);
  let passesDone = 0;
  let channelsDone = resumedChannels;
  const t0 = performance.now();
  for (const [s, e] of todo) {
    if (opts.signal?.aborted) throw new StyleclipError('relevance computation cancelled');
    const fs3 = await computeChannelRelevance(g, clip, stats, stats.images, run.sel.subarray(s, e), {
      alphaP: meta.alphaP,
      batch: run.batch,
      clipInput: run.clipInput,
      noise: meta.noise,
      ...(opts.signal ? {signal: opts.signal} : {}),
      onProgress: (pr) => {
        const done = passesDone + pr.done;
        const elapsedS = (performance.now() - t0) / 1000;
        opts.onProgress?.({phase: 'relevance', done, total: passesTotal, elapsedS, etaS: (elapsedS / done) * (passesTotal - done), channelsDone, channelsTotal: B - A});
      },
    });
    const E = meta.clipEmbedDim;
    journalWrite(run, chunkName(s, e), serializeSafetensors(new Map([['fs3', {dtype: 'float32', shape: [e - s, E], data: fs3}]]), {start: String(s), end: String(e)}), 'relevance chunk');
    rows.set(s, fs3);
    passesDone += 2 * meta.images * (e - s);
    channelsDone += e - s;
    await opts.onChunk?.({start: s, end: e, done: channelsDone, total: B - A});
  }
}

/** Assemble the chunks, write the relevance file and remove the journal. */
function writeOutput(run: Run, stats: Stats, rows: Map<number, Float32Array>, resumedChannels: number): PrepareResult {
  const {out} = run.opts;
  const [A, B] = run.range;
  const E = run.meta.clipEmbedDim;
  const fs3 = new Float32Array((B - A) * E);
  for (const [s] of run.chunks) fs3.set(rows.get(s)!, (s - A) * E);
  const relevance: Relevance = {fs3, channels: run.sel.slice(A, B), sMean: stats.mean, sStd: stats.std, meta: run.meta};
  writeFileAtomic(out, serializeRelevance(relevance), 'relevance file');
  removeDir(run.dir, 'prepare journal');
  return {relevance, out, computedChannels: B - A - resumedChannels, resumedChannels, alreadyComplete: false, statsResumed: stats.resumed, discarded: run.discarded};
}

/** Chunk files present in a prepare journal (for inspection and tests). */
export function journalChunks(out: string): string[] {
  const dir = partsDir(out);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^chunk-\d+-\d+\.safetensors$/.test(f)).sort();
}

/** Parse "A:B" (0 ≤ A < B ≤ total) into a half-open channel range over the selected set (a shard). */
export function parseChannelRange(spec: string, total: number): [number, number] {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new StyleclipError(`bad channel range '${spec}': expected A:B with integers 0 ≤ A < B ≤ ${total}`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  check(a < b && b <= total, `bad channel range '${spec}': expected 0 ≤ A < B ≤ ${total} (the number of selected channels)`);
  return [a, b];
}
