/**
 * StyleCLIP latent-mapper training (Patashnik et al. 2021 §5; mapper/training/coach.py @ f87a47f):
 *   ŵ = w + 0.1·M(w),   L = λ_clip · mean_b L_clip(G(ŵ_b), t) + λ_L2 · MSE(ŵ, w) + λ_ID · mean_b (1 − ⟨f(G(ŵ_b)), f(G(w_b))⟩)
 * MSE is torch.nn.MSELoss (a mean over all elements, unlike the sum in latent optimisation); the CLIP and ID terms
 * are batch means. Only the mapper weights are trained: they are graph INPUTS, so one compiled program serves
 * every step. Defaults are the official ones: Ranger, lr 0.5 (constant), batch 2, 50 000 steps, λ_L2 0.8,
 * λ_ID 0.1 (0 when no identity network is given), fixed noise, training latents sampled at ψ 0.7 (5000) when
 * none are given. Batches are drawn epoch by epoch from a seeded shuffle (drop_last, as the DataLoader), so the
 * batch of step i depends only on (seed, i): a run resumed from a checkpoint repeats the uninterrupted run exactly.
 */
import {grad} from '../engine/autodiff.js';
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {sampleZ, toWPlus} from '../models/generate.js';
import type {HostTensor, StateDict} from '../io/host-tensor.js';
import {assertFinite, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';

import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import {
  ALL_GROUPS,
  CHECKPOINT_FORMAT,
  LevelsMapper,
  MAPPER_GROUPS,
  type MapperConfig,
  type MapperGroup,
  MapperMismatchError,
  OPTIM_PREFIX,
  expectedMapperStateDict,
  levelsMapper,
  levelsSplit,
  mapLatent,
  mapperFromBytes,
  mapperMetadata,
} from '../models/mapper.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {mulberry32} from '../random.js';
import {clipLoss} from './losses.js';
import {MAPPER_DEFAULTS} from './mapper-defaults.js';
import type {IdentityFeatures} from './optimize.js';
import {Adam} from '../train/trainer.js';
import {type HostStatefulOptimizer, Ranger} from './ranger.js';

export type MapperOptimizer = 'ranger' | 'adam';

export interface MapperTrainOptions {
  /** Text features [E] of the prompt (unnormalised is fine). */
  text: Float32Array;
  /** The prompt, recorded in the mapper's metadata. */
  prompt?: string;
  /** Training latents W+ [N, L, D]; otherwise `samples` latents are sampled (z → W at `truncation` → W+). */
  latents?: HostTensor;
  /** Number of sampled training latents when `latents` is absent (official train_dataset_size 5000). */
  samples?: number;
  /** Seed of the sampled latents, the shuffle and the mapper initialisation. */
  seed?: number;
  /** ψ for sampled latents (needs latent_avg; 1 otherwise). */
  truncation?: number;
  /** Total steps (a resumed run continues up to this). */
  steps?: number;
  batch?: number;
  lr?: number;
  optimizer?: MapperOptimizer;
  lambdaClip?: number;
  lambdaL2?: number;
  /** ID loss weight; needs `identity`. Official 0.1 for faces; 0 = off (identity-changing prompts, other domains). */
  lambdaId?: number;
  identity?: IdentityFeatures | null;
  /** Which groups to train; a disabled group outputs zeros. */
  groups?: Partial<Record<MapperGroup, boolean>>;
  /** Row split [a, b]; default levelsSplit(n_latent). */
  split?: [number, number];
  clipInput?: ClipInputMode;
  noise?: NoiseMode;
  /** Call onCheckpoint every N completed steps (0 = never); also once on cancellation. */
  checkpointEvery?: number;
  /** Receives safetensors bytes of the training state (mapper + optimizer + step); write them atomically. */
  onCheckpoint?: (bytes: Uint8Array, step: number) => void | Promise<void>;
  /** Continue from a checkpoint (bytes from onCheckpoint). */
  resume?: Uint8Array;
  onStep?: (info: MapperStepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface MapperStepInfo {
  step: number;
  steps: number;
  loss: number;
  clip: number;
  l2: number;
  id: number;
}

export interface MapperTrainResult {
  mapper: LevelsMapper;
  /** Steps run in this call (from the resume point on). */
  history: MapperStepInfo[];
  /** Steps completed in total. */
  step: number;
}

// ---------------------------------------------------------------------------------------------------------
// Training state file: the mapper weights under their official keys (so a checkpoint also loads as a mapper),
// optimizer buffers under 'optim.<param key>.<buffer>', and the run's settings in the metadata.

export interface MapperCheckpoint {
  mapper: LevelsMapper;
  step: number;
  optimizer: MapperOptimizer;
  optimState: {step: number; buffers: Map<string, Float32Array>};
  /** The run settings recorded at save time (strings). */
  meta: Record<string, string>;
}

function optimKeyed(state: {buffers: Map<string, Float32Array>}, keys: readonly string[]): StateDict {
  const out: StateDict = new Map();
  for (const [name, data] of state.buffers) {
    const dot = name.indexOf('.');
    const key = keys[Number(name.slice(0, dot))]!;
    out.set(`${OPTIM_PREFIX}${key}.${name.slice(dot + 1)}`, {dtype: 'float32', shape: [data.length], data});
  }
  return out;
}

export function serializeMapperCheckpoint(c: MapperCheckpoint): Uint8Array {
  const keys = expectedMapperStateDict(c.mapper.config).map(([k]) => k);
  const tensors: StateDict = new Map([...c.mapper.weights, ...optimKeyed(c.optimState, keys)]);
  const meta = {...c.meta, ...mapperMetadata(c.mapper), format: CHECKPOINT_FORMAT, step: String(c.step), optimizer: c.optimizer, optim_step: String(c.optimState.step)};
  return serializeSafetensors(tensors, meta);
}

export function parseMapperCheckpoint(bytes: Uint8Array, what = 'mapper checkpoint'): MapperCheckpoint {
  const file = parseSafetensors(bytes, {what});
  const meta = file.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) throw new StyleclipError(`${what} is not a mapper training checkpoint (safetensors metadata format '${meta.format ?? 'none'}')`);
  const mapper = mapperFromBytes(bytes, what);
  const optimizer = meta.optimizer;
  if (optimizer !== 'ranger' && optimizer !== 'adam') throw new StyleclipError(`${what}: unknown optimizer '${String(optimizer)}'`);
  const step = Number(meta.step);
  const optimStep = Number(meta.optim_step);
  check(Number.isInteger(step) && step >= 0 && Number.isInteger(optimStep), `${what}: invalid step '${meta.step}'`);
  const keys = expectedMapperStateDict(mapper.config).map(([k]) => k);
  const buffers = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (!name.startsWith(OPTIM_PREFIX)) continue;
    const rest = name.slice(OPTIM_PREFIX.length);
    const j = keys.findIndex((k) => rest.startsWith(`${k}.`));
    if (j < 0) throw new StyleclipError(`${what}: optimizer tensor '${name}' belongs to no mapper parameter`);
    buffers.set(`${j}.${rest.slice(keys[j]!.length + 1)}`, toFloat32(t));
  }
  return {mapper, step, optimizer, optimState: {step: optimStep, buffers}, meta};
}

// ---------------------------------------------------------------------------------------------------------

/** The dataset order of epoch e: a Fisher–Yates shuffle seeded by (seed, e). */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const rng = mulberry32((Math.imul(seed, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const p = Int32Array.from({length: n}, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Dataset indices of the batch at `step` (drop_last: ⌊N/B⌋ batches per epoch). */
export function batchIndices(step: number, n: number, batch: number, seed: number): number[] {
  const perEpoch = Math.floor(n / batch);
  const perm = epochPermutation(n, seed, Math.floor(step / perEpoch));
  const j = step % perEpoch;
  return Array.from(perm.subarray(j * batch, (j + 1) * batch));
}

/** Training latents: the given W+, or `samples` W latents sampled at ψ and broadcast on use. */
async function trainingLatents(g: StyleGAN2, opts: MapperTrainOptions, seed: number): Promise<{n: number; row: (i: number, out: Float32Array, at: number) => void}> {
  const [L, D] = [g.nLatent, g.config.styleDim];
  if (opts.latents) {
    const t = opts.latents;
    check(t.shape.length === 3 && t.shape[1] === L && t.shape[2] === D, `training latents must be W+ [N, ${L}, ${D}] for this generator, got [${t.shape.join(', ')}]`);
    const data = toFloat32(t);
    assertFinite(data, 'training latents');
    return {n: t.shape[0]!, row: (i, out, at) => out.set(data.subarray(i * L * D, (i + 1) * L * D), at)};
  }
  const {samples = MAPPER_DEFAULTS.samples, truncation = MAPPER_DEFAULTS.truncation} = opts;
  check(Number.isInteger(samples) && samples >= 1, `samples must be a positive integer, got ${samples}`);
  const z = sampleZ(g, samples, seed);
  const w = new Float32Array(samples * D);
  const chunk = 500;
  for (let at = 0; at < samples; at += chunk) {
    const n = Math.min(chunk, samples - at);
    const part: HostTensor = {dtype: 'float32', shape: [n, D], data: (z.data as Float32Array).subarray(at * D, (at + n) * D)};
    const wp = toFloat32(await toWPlus(g, part, 'z', g.latentAvg ? truncation : 1)); // [n, L, D], rows equal
    for (let i = 0; i < n; i++) w.set(wp.subarray(i * L * D, i * L * D + D), (at + i) * D);
  }
  return {
    n: samples,
    row: (i, out, at) => {
      for (let l = 0; l < L; l++) out.set(w.subarray(i * D, (i + 1) * D), at + l * D);
    },
  };
}

function makeOptimizer(kind: MapperOptimizer, shapes: number[][]): HostStatefulOptimizer {
  if (kind === 'ranger') return new Ranger(shapes);
  if (kind === 'adam') return new Adam(shapes.map((s) => s.reduce((a, b) => a * b, 1)));
  throw new StyleclipError(`unknown optimizer '${String(kind)}' (valid: ranger, adam)`);
}

/** Settings a resumed run must share with the checkpoint for the continuation to be exact. */
function runMeta(o: {optimizer: string; batch: number; seed: number; n: number; latentSource: string}): Record<string, string> {
  return {optimizer: o.optimizer, batch: String(o.batch), seed: String(o.seed), dataset_size: String(o.n), latents: o.latentSource};
}

export interface MapperGraphOptions {
  text: Float32Array;
  batch: number;
  lambdaClip: number;
  lambdaL2: number;
  lambdaId: number;
  identity: IdentityFeatures | null;
  clipInput: ClipInputMode;
}

export interface MapperGraph {
  /** Program inputs: the mapper parameters (expectedMapperStateDict order), then W+ [B, L, D], then the noise inputs. */
  inputs: Tensor[];
  /** Program outputs: total loss, CLIP term, L2 term, ID term, then one gradient per parameter. */
  outputs: Tensor[];
  grads: Tensor[];
}

/**
 * The training graph of one step: mapper weights and the batch are inputs, so one compiled program serves every
 * step; G, CLIP and the identity network are constants.
 */
export function mapperTrainingGraph(g: StyleGAN2, clip: CLIP, cfg: MapperConfig, o: MapperGraphOptions): MapperGraph {
  const [L, D, E, B] = [g.nLatent, g.config.styleDim, clip.config.embedDim, o.batch];
  const keyed = expectedMapperStateDict(cfg);
  const pIn = keyed.map(([, shape], j) => input(`p${String(j).padStart(2, '0')}`, shape));
  const byKey = new Map(keyed.map(([k], j) => [k, pIn[j]!]));
  const w = input('w', [B, L, D]);
  const nz = g.noiseInputs(B);
  const wHat = mapLatent(w, levelsMapper(w, (k) => byKey.get(k)!, cfg)); // [B, L, D]
  const img = g.synthesis(g.styles(wHat), nz); // [B, 3, H, W]
  const clipTerm = F.mean(clipLoss(clip, img, constant(o.text, [1, E]), o.clipInput));
  const l2Term = F.mean(F.square(F.sub(wHat, w))); // nn.MSELoss: mean
  let idTerm: Tensor = F.scalar(0);
  let total = F.add(F.mul(clipTerm, o.lambdaClip), F.mul(l2Term, o.lambdaL2));
  if (o.identity && o.lambdaId > 0) {
    const ref = F.stopGradient(o.identity.features(g.synthesis(g.styles(w), nz))); // features of G(w)
    idTerm = F.mean(F.sub(1, F.sum(F.mul(o.identity.features(img), ref), [1])));
    total = F.add(total, F.mul(idTerm, o.lambdaId));
  }
  const grads = grad(total, pIn);
  return {inputs: [...pIn, w, ...nz], outputs: [total, clipTerm, l2Term, idTerm, ...grads], grads};
}

/** Train a levels mapper for a prompt. See MapperTrainOptions for the (official) defaults. */
export async function trainMapper(g: StyleGAN2, clip: CLIP, opts: MapperTrainOptions): Promise<MapperTrainResult> {
  const {
    steps = MAPPER_DEFAULTS.steps,
    batch = MAPPER_DEFAULTS.batch,
    lr = MAPPER_DEFAULTS.lr,
    optimizer = MAPPER_DEFAULTS.optimizer,
    lambdaClip = MAPPER_DEFAULTS.lambdaClip,
    lambdaL2 = MAPPER_DEFAULTS.lambdaL2,
    lambdaId = opts.identity ? MAPPER_DEFAULTS.lambdaId : 0,
    identity = null,
    clipInput = MAPPER_DEFAULTS.clipInput,
    noise = MAPPER_DEFAULTS.noise,
    checkpointEvery = 0,
    seed = MAPPER_DEFAULTS.seed,
  } = opts;
  const E = clip.config.embedDim;
  const [L, D] = [g.nLatent, g.config.styleDim];
  check(opts.text.length === E, `text features have ${opts.text.length} values, CLIP's embedding is ${E}`);
  check(Number.isInteger(steps) && steps >= 1, `steps must be a positive integer, got ${steps}`);
  check(Number.isInteger(batch) && batch >= 1, `batch must be a positive integer, got ${batch}`);
  check(Number.isFinite(lr) && lr > 0, `lr must be positive, got ${lr}`);
  check(Number.isInteger(checkpointEvery) && checkpointEvery >= 0, `checkpointEvery must be a non-negative integer, got ${checkpointEvery}`);
  check(Number.isInteger(seed) && seed >= 0, `seed must be a non-negative integer, got ${seed}`);
  for (const [name, v] of [['lambdaClip', lambdaClip], ['lambdaL2', lambdaL2], ['lambdaId', lambdaId]] as const) check(Number.isFinite(v) && v >= 0, `${name} must be ≥ 0, got ${v}`);
  check(lambdaId === 0 || identity, 'lambdaId > 0 needs an identity network');
  if (optimizer !== 'ranger' && optimizer !== 'adam') throw new StyleclipError(`unknown optimizer '${String(optimizer)}' (valid: ranger, adam)`);

  const data = await trainingLatents(g, opts, seed);
  check(data.n >= batch, `need at least batch = ${batch} training latents, got ${data.n}`);
  const meta = runMeta({optimizer, batch, seed, n: data.n, latentSource: opts.latents ? 'file' : `sampled psi=${g.latentAvg ? (opts.truncation ?? MAPPER_DEFAULTS.truncation) : 1}`});

  // The mapper: fresh, or from the checkpoint (whose settings must match this run's).
  const groups = {...ALL_GROUPS, ...opts.groups};
  let mapper: LevelsMapper;
  let start = 0;
  let resumeState: MapperCheckpoint | null = null;
  if (opts.resume) {
    resumeState = parseMapperCheckpoint(opts.resume, 'resume checkpoint');
    mapper = resumeState.mapper;
    mapper.checkGenerator({nLatent: L, styleDim: D, size: g.config.size});
    const diffs = Object.entries(meta).filter(([k, v]) => resumeState!.meta[k] !== v).map(([k, v]) => `${k} ${resumeState!.meta[k] ?? '(none)'} ≠ ${v}`);
    for (const k of MAPPER_GROUPS) if (mapper.config.groups[k] !== groups[k]) diffs.push(`${k} group ${mapper.config.groups[k] ? 'on' : 'off'} ≠ ${groups[k] ? 'on' : 'off'}`);
    if (diffs.length) throw new MapperMismatchError(`resume checkpoint was made with other settings: ${diffs.join('; ')}`);
    start = resumeState.step;
    check(start <= steps, `resume checkpoint is at step ${start}, beyond steps = ${steps}`);
  } else {
    const split: [number, number] = opts.split ?? levelsSplit(L);
    const cfg: MapperConfig = {styleDim: D, nLatent: L, groups, split, generatorSize: g.config.size};
    mapper = LevelsMapper.random(cfg, seed);
    mapper.rowsFor(L);
  }
  const cfg = mapper.config;
  const keyed = expectedMapperStateDict(cfg);
  const params = keyed.map(([k]) => Float32Array.from(toFloat32(mapper.weights.get(k)!)));
  const opt = makeOptimizer(optimizer, keyed.map(([, s]) => s));
  if (resumeState) opt.load(resumeState.optimState);

  const graph = mapperTrainingGraph(g, clip, cfg, {text: opts.text, batch, lambdaClip, lambdaL2, lambdaId, identity, clipInput});
  const grads = graph.grads;
  const prog = await compile(graph.inputs, graph.outputs);
  const noiseFeeds = g.noiseArrays(noise, batch);

  const snapshot = (step: number) =>
    serializeMapperCheckpoint({
      mapper: new LevelsMapper(cfg, new Map(keyed.map(([k, shape], j) => [k, {dtype: 'float32' as const, shape, data: Float32Array.from(params[j]!)}])), opts.prompt ?? mapper.prompt),
      step,
      optimizer,
      optimState: opt.state(),
      meta,
    });

  const history: MapperStepInfo[] = [];
  const wBuf = new Float32Array(batch * L * D);
  for (let i = start; i < steps; i++) {
    if (opts.signal?.aborted) {
      if (opts.onCheckpoint && checkpointEvery > 0 && i > start) await opts.onCheckpoint(snapshot(i), i);
      throw new StyleclipError(`mapper training cancelled at step ${i}`);
    }
    batchIndices(i, data.n, batch, seed).forEach((idx, b) => data.row(idx, wBuf, b * L * D));
    const out = await prog.run([...params, wBuf, ...noiseFeeds]);
    const num = (k: number) => (out[k]!.data as Float32Array)[0]!;
    const info: MapperStepInfo = {step: i, steps, loss: num(0), clip: num(1), l2: num(2), id: num(3)};
    if (!Number.isFinite(info.loss)) throw new StyleclipError(`mapper training diverged at step ${i} (loss ${info.loss}); try a lower --lr`);
    history.push(info);
    await opts.onStep?.(info);
    opt.update(params, grads.map((_, k) => out[4 + k]!.data as Float32Array), lr);
    if (opts.onCheckpoint && checkpointEvery > 0 && (i + 1) % checkpointEvery === 0) await opts.onCheckpoint(snapshot(i + 1), i + 1);
  }
  const finalWeights: StateDict = new Map(keyed.map(([k, shape], j) => [k, {dtype: 'float32', shape, data: params[j]!}]));
  return {mapper: new LevelsMapper(cfg, finalWeights, opts.prompt ?? mapper.prompt), history, step: steps};
}
