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
import * as F from '../engine/ops.js';
import {type Tensor, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {sampleZ, toWPlus} from '../models/generate.js';
import type {HostTensor} from '../io/host-tensor.js';
import {assertFinite, toFloat32} from '../io/host-tensor.js';
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
  expectedMapperStateDict,
  levelsMapper,
  levelsSplit,
  mapLatent,
  mapperFromBytes,
  mapperMetadata,
} from '../models/mapper.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {mulberry32} from '../random.js';
import {type Checkpoint, parseCheckpoint} from '../train/checkpoint.js';
import {type StepGraph, type TrainStep, Params, RunInputs, compileStep, trainLoop} from '../train/loop.js';
import {Adam, type Optimizer, Ranger} from '../train/optim.js';
import {type IdentityFeatures, clipLoss, identityLoss} from './losses.js';
import {MAPPER_DEFAULTS} from './mapper-defaults.js';

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

/** The dataset order of epoch e: a Fisher–Yates shuffle seeded by (seed, e). */
function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
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
interface TrainingLatents {
  n: number;
  /** Values per W+ row set (L·D). */
  rowSize: number;
  /** Write latent i as W+ [L, D] into `out` at `at`. */
  row: (i: number, out: Float32Array, at: number) => void;
}

async function trainingLatents(g: StyleGAN2, opts: MapperTrainOptions, seed: number): Promise<TrainingLatents> {
  const [L, D] = [g.nLatent, g.config.styleDim];
  if (opts.latents) {
    const t = opts.latents;
    check(t.shape.length === 3 && t.shape[1] === L && t.shape[2] === D, `training latents must be W+ [N, ${L}, ${D}] for this generator, got [${t.shape.join(', ')}]`);
    const data = toFloat32(t);
    assertFinite(data, 'training latents');
    return {n: t.shape[0]!, rowSize: L * D, row: (i, out, at) => out.set(data.subarray(i * L * D, (i + 1) * L * D), at)};
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
    rowSize: L * D,
    row: (i, out, at) => {
      for (let l = 0; l < L; l++) out.set(w.subarray(i * D, (i + 1) * D), at + l * D);
    },
  };
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

/**
 * The loss of one step: the mapper weights (`param(key)`) and the batch W+ [B, L, D] plus the noise are inputs, so
 * one compiled program serves every step; G, CLIP and the identity network are constants. The prompt's features
 * and the λs are run inputs, so a mapper for another prompt reuses the compiled session.
 */
export function mapperTrainingGraph(g: StyleGAN2, clip: CLIP, cfg: MapperConfig, param: (key: string) => Tensor, o: MapperGraphOptions): StepGraph {
  const [L, D, E, B] = [g.nLatent, g.config.styleDim, clip.config.embedDim, o.batch];
  const run = new RunInputs();
  const w = input('w', [B, L, D]);
  const nz = g.noiseInputs(B);
  const wHat = mapLatent(w, levelsMapper(w, param, cfg)); // [B, L, D]
  const img = g.synthesis(g.styles(wHat), nz); // [B, 3, H, W]
  const clipTerm = F.mean(clipLoss(clip, img, run.feed('text', o.text, [1, E]), o.clipInput));
  const l2Term = F.mean(F.square(F.sub(wHat, w))); // nn.MSELoss: mean
  let idTerm: Tensor = F.scalar(0);
  let total = F.add(F.mul(clipTerm, run.feed('lambda_clip', Float32Array.of(o.lambdaClip), [])), F.mul(l2Term, run.feed('lambda_l2', Float32Array.of(o.lambdaL2), [])));
  if (o.identity && o.lambdaId > 0) {
    idTerm = F.mean(identityLoss(o.identity, img, o.identity.features(g.synthesis(g.styles(w), nz)))); // against G(w)
    total = F.add(total, F.mul(idTerm, run.feed('lambda_id', Float32Array.of(o.lambdaId), [])));
  }
  return {loss: total, metrics: {clip: clipTerm, l2: l2Term, id: idTerm}, dataInputs: [w, ...nz], runInputs: run.list};
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

  const groups = {...ALL_GROUPS, ...opts.groups};
  const {mapper, resume} = startingMapper(g, opts, {meta, groups, steps});
  const cfg = mapper.config;
  const prompt = opts.prompt ?? mapper.prompt;
  const params = new Params(expectedMapperStateDict(cfg).map(([k, shape]) => [k, {shape, data: toFloat32(mapper.weights.get(k)!)}]));
  const step = await compileStep(params, () => mapperTrainingGraph(g, clip, cfg, (k) => params.get(k), {text: opts.text, batch, lambdaClip, lambdaL2, lambdaId, identity, clipInput}), {keepWarm: true});
  const opt = optimizer === 'ranger' ? new Ranger(params.all, {lr}) : new Adam(params.all, {lr});
  const checkpointMeta = {...meta, ...mapperMetadata(new LevelsMapper(cfg, params.toStateDict(), prompt)), format: CHECKPOINT_FORMAT};
  // Released when the run ends; its session stays warm for the next prompt (see engine/session.ts).
  const history = await fit(step, opt, opts, {steps, batch, seed, data, noiseFeeds: g.noiseArrays(noise, batch), resume, checkpointEvery, checkpointMeta}).finally(() => step.program.release());
  return {mapper: new LevelsMapper(cfg, params.toStateDict(), prompt), history, step: steps};
}

/** Run the loop: batches from the seeded epoch order, checkpoints every N steps (and on cancellation). */
async function fit(
  step: TrainStep,
  opt: Optimizer,
  opts: MapperTrainOptions,
  o: {steps: number; batch: number; seed: number; data: TrainingLatents; noiseFeeds: Float32Array[]; resume: Checkpoint | null; checkpointEvery: number; checkpointMeta: Record<string, string>},
): Promise<MapperStepInfo[]> {
  const rowSize = o.data.rowSize;
  const wBuf = new Float32Array(o.batch * rowSize);
  const history: MapperStepInfo[] = [];
  await trainLoop(step, opt, {
    steps: o.steps,
    batch: (i) => {
      batchIndices(i, o.data.n, o.batch, o.seed).forEach((idx, b) => o.data.row(idx, wBuf, b * rowSize));
      return [wBuf, ...o.noiseFeeds];
    },
    resume: o.resume,
    ...(opts.onCheckpoint && o.checkpointEvery > 0 ? {checkpoint: {every: o.checkpointEvery, meta: o.checkpointMeta, write: opts.onCheckpoint}} : {}),
    onStep: async (r) => {
      const info: MapperStepInfo = {step: r.step, steps: o.steps, loss: r.loss, clip: r.metrics.clip!, l2: r.metrics.l2!, id: r.metrics.id!};
      history.push(info);
      await opts.onStep?.(info);
    },
    ...(opts.signal ? {signal: opts.signal} : {}),
    what: 'mapper training',
    divergenceHint: 'try a lower --lr',
  });
  return history;
}

/**
 * A fresh mapper, or the one of the resume checkpoint with its training state; the checkpoint's settings must
 * match this run's for the continuation to be exact.
 */
function startingMapper(
  g: StyleGAN2,
  opts: MapperTrainOptions,
  run: {meta: Record<string, string>; groups: Record<MapperGroup, boolean>; steps: number},
): {mapper: LevelsMapper; resume: Checkpoint | null} {
  const [L, D] = [g.nLatent, g.config.styleDim];
  if (!opts.resume) {
    const cfg: MapperConfig = {styleDim: D, nLatent: L, groups: run.groups, split: opts.split ?? levelsSplit(L), generatorSize: g.config.size};
    const mapper = LevelsMapper.random(cfg, opts.seed ?? 0);
    mapper.rowsFor(L);
    return {mapper, resume: null};
  }
  const what = 'resume checkpoint';
  const ck = parseCheckpoint(opts.resume, what);
  if (ck.meta.format !== CHECKPOINT_FORMAT) throw new StyleclipError(`${what} is not a mapper training checkpoint (safetensors metadata format '${ck.meta.format ?? 'none'}')`);
  const mapper = mapperFromBytes(opts.resume, what);
  mapper.checkGenerator({nLatent: L, styleDim: D, size: g.config.size});
  const diffs = Object.entries(run.meta).filter(([k, v]) => ck.meta[k] !== v).map(([k, v]) => `${k} ${ck.meta[k] ?? '(none)'} ≠ ${v}`);
  for (const k of MAPPER_GROUPS) if (mapper.config.groups[k] !== run.groups[k]) diffs.push(`${k} group ${mapper.config.groups[k] ? 'on' : 'off'} ≠ ${run.groups[k] ? 'on' : 'off'}`);
  if (diffs.length) throw new MapperMismatchError(`resume checkpoint was made with other settings: ${diffs.join('; ')}`);
  check(ck.step <= run.steps, `resume checkpoint is at step ${ck.step}, beyond steps = ${run.steps}`);
  return {mapper, resume: ck};
}
