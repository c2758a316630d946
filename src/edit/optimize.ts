/**
 * StyleCLIP latent optimisation (Patashnik et al. 2021 §4; optimization/run_optimization.py @ f87a47f):
 * gradient descent on W+ (or on S without the ToRGB layers) through the generator and CLIP, minimising
 *   L = Σ_b L_clip(G(w_b), t) + λ_L2 · Σ (w − w_s)² + λ_ID · L_ID(G(w), G(w_s))      (mode 'edit')
 *   L = Σ_b L_clip(G(w_b), t)                                                        (mode 'free_generation')
 * with Adam (lr 0.1) and the official schedule: linear ramp-up over the first 5 % of steps, cosine ramp-down
 * over the last 25 %. A batch of N latents is optimised together (losses summed). Noise is fixed.
 */
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, input} from '../engine/tensor.js';
import {check} from '../errors.js';
import {type HostTensor, assertFinite} from '../io/host-tensor.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {generate, sampleZ, toWPlus} from '../models/generate.js';
import {checkStyles, styleName} from '../models/stylespace.js';
import {type StepGraph, type TrainStep, Params, RunInputs, compileStep, trainLoop} from '../train/loop.js';
import {Adam, SGD} from '../train/optim.js';
import {type IdentityFeatures, clipLoss, identityLoss, l2Loss} from './losses.js';
import {OPTIMIZE_DEFAULTS} from './optimize-defaults.js';

export type OptimizeMode = 'edit' | 'free_generation';
export type LrSchedule = 'rampdown' | 'constant';
export type OptimizerKind = 'adam' | 'sgd';

export interface OptimizeOptions {
  /** Text features [E] (unnormalised is fine) of the prompt. */
  text: Float32Array;
  /** Starting W+ [N, L, D]; otherwise sampled from `seed` at `truncation` (edit) or the mean latent (free_generation). */
  latent?: HostTensor;
  /** Starting S (one [N, C_k] tensor per layer) instead of W+, e.g. after a global-direction edit; implies space 's'. */
  styles?: readonly HostTensor[];
  seed?: number;
  mode?: OptimizeMode;
  /** Optimise W+ or S (StyleSpace without the ToRGB layers). */
  space?: 'w+' | 's';
  steps?: number;
  lr?: number;
  lambdaL2?: number;
  /** ID loss weight; needs `identity`. StyleCLIP uses 0.005 for faces, 0 elsewhere. */
  lambdaId?: number;
  identity?: IdentityFeatures | null;
  truncation?: number;
  clipInput?: ClipInputMode;
  optimizer?: OptimizerKind;
  lrSchedule?: LrSchedule;
  noise?: NoiseMode;
  /** Return an intermediate image every N steps through onStep (0 = never). */
  saveEvery?: number;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface StepInfo {
  step: number;
  steps: number;
  lr: number;
  loss: number;
  clip: number;
  l2: number;
  id: number;
  /** The current image [N,3,H,W] on save steps (every `saveEvery`), else undefined. */
  image?: HostTensor;
}

export interface OptimizeResult {
  /** Final W+ [N,L,D] (null in S mode). */
  wPlus: HostTensor | null;
  /** Final S vectors (all layers, ToRGB ones unchanged) in S mode. */
  styles: HostTensor[] | null;
  image: HostTensor;
  initialImage: HostTensor;
  /** The starting W+ (null when starting from S). */
  initialWPlus: HostTensor | null;
  history: Omit<StepInfo, 'image'>[];
}

/** The official learning-rate schedule: lr · ramp, ramp = min(1, t/0.05) · (0.5 − 0.5·cos(π·min(1, (1 − t)/0.25))). */
export function rampdownLr(t: number, lr: number, rampdown: number = OPTIMIZE_DEFAULTS.lrRampDown, rampup: number = OPTIMIZE_DEFAULTS.lrRampUp): number {
  let ramp = Math.min(1, (1 - t) / rampdown);
  ramp = 0.5 - 0.5 * Math.cos(ramp * Math.PI);
  return lr * ramp * Math.min(1, t / rampup);
}

/** Run StyleCLIP latent optimisation. See OptimizeOptions for the defaults (the official ones). */
export async function optimizeLatent(g: StyleGAN2, clip: CLIP, opts: OptimizeOptions): Promise<OptimizeResult> {
  const {
    mode = OPTIMIZE_DEFAULTS.mode,
    space = opts.styles ? 's' : OPTIMIZE_DEFAULTS.space,
    steps = OPTIMIZE_DEFAULTS.steps,
    lr = OPTIMIZE_DEFAULTS.lr,
    lambdaL2 = OPTIMIZE_DEFAULTS.lambdaL2,
    lambdaId = opts.identity ? OPTIMIZE_DEFAULTS.lambdaId : 0,
    identity = null,
    truncation = OPTIMIZE_DEFAULTS.truncation,
    clipInput = OPTIMIZE_DEFAULTS.clipInput,
    optimizer = OPTIMIZE_DEFAULTS.optimizer,
    lrSchedule = OPTIMIZE_DEFAULTS.lrSchedule,
    noise = OPTIMIZE_DEFAULTS.noise,
    saveEvery = OPTIMIZE_DEFAULTS.saveEvery,
  } = opts;
  const E = clip.config.embedDim;
  check(opts.text.length === E, `text features have ${opts.text.length} values, CLIP's embedding is ${E}`);
  check(Number.isInteger(steps) && steps >= 1, `steps must be a positive integer, got ${steps}`);
  check(Number.isFinite(lr) && lr > 0, `lr must be positive, got ${lr}`);
  check(lambdaId === 0 || identity, 'lambdaId > 0 needs an identity network');
  const start = await startingPoint(g, opts, {mode, space, truncation, noise});
  const N = start.image.shape[0]!;
  const params = variables(g, start, space);
  const ref = identity && lambdaId > 0 && mode === 'edit' ? await identityFeatures(identity, start.image) : null;
  const step = await compileStep(params, () => lossGraph(g, clip, params, {text: opts.text, N, start, mode, lambdaL2, lambdaId, identity, ref, clipInput}), {keepWarm: true});

  // Released when the run ends; its session stays warm for the next prompt or face (see engine/session.ts).
  const history = await descend(step, opts, {steps, lr, optimizer, lrSchedule, saveEvery, noiseFeeds: g.noiseArrays(noise, N)}).finally(() => step.program.release());
  return result(g, start, params, space, noise, history);
}

/** Adam or SGD on the variables at the official (or a constant) learning rate; the history of the steps. */
async function descend(
  step: TrainStep,
  opts: OptimizeOptions,
  o: {steps: number; lr: number; optimizer: OptimizerKind; lrSchedule: LrSchedule; saveEvery: number; noiseFeeds: Float32Array[]},
): Promise<Omit<StepInfo, 'image'>[]> {
  const schedule = o.lrSchedule === 'rampdown' ? (t: number) => rampdownLr(t / o.steps, o.lr) : o.lr;
  const opt = o.optimizer === 'adam' ? new Adam(step.params.all, {lr: schedule}) : new SGD(step.params.all, {lr: schedule});
  const history: Omit<StepInfo, 'image'>[] = [];
  await trainLoop(step, opt, {
    steps: o.steps,
    batch: () => o.noiseFeeds,
    onStep: async (r) => {
      const info: StepInfo = {step: r.step, steps: o.steps, lr: r.lr, loss: r.loss, clip: r.metrics.clip!, l2: r.metrics.l2!, id: r.metrics.id!};
      history.push({...info});
      if (o.saveEvery > 0 && r.step % o.saveEvery === 0) info.image = {...r.outputs.image!, data: Float32Array.from(r.outputs.image!.data as Float32Array)};
      await opts.onStep?.(info);
    },
    ...(opts.signal ? {signal: opts.signal} : {}),
    what: 'optimisation',
    divergenceHint: 'try a lower --lr',
  });
  return history;
}

interface Start {
  image: HostTensor;
  /** All S vectors of the start (S mode). */
  styles: HostTensor[] | null;
  /** The starting W+ (null when starting from S). */
  wPlus: HostTensor | null;
}

/** The starting point: given S, given W+, the mean latent (free_generation) or a seed's W+ at ψ. */
async function startingPoint(g: StyleGAN2, opts: OptimizeOptions, o: {mode: OptimizeMode; space: 'w+' | 's'; truncation: number; noise: NoiseMode}): Promise<Start> {
  const [L, D] = [g.nLatent, g.config.styleDim];
  if (opts.styles) {
    check(o.space === 's' || opts.space === undefined, 'a start in S (styles) needs space "s"');
    checkStyles(g, opts.styles);
    return {...(await generate(g, {latent: [...opts.styles], space: 's', noise: o.noise})), wPlus: null};
  }
  let w0: HostTensor;
  if (opts.latent) {
    const t = opts.latent;
    check(t.shape.length === 3 && t.shape[1] === L && t.shape[2] === D, `the start latent must be W+ [N, ${L}, ${D}], got [${t.shape.join(', ')}]`);
    assertFinite(t, 'latent');
    w0 = t;
  } else if (o.mode === 'free_generation') {
    check(g.latentAvg, 'free_generation starts at the mean latent, which this checkpoint does not have (latent_avg)');
    const data = new Float32Array(L * D);
    for (let l = 0; l < L; l++) data.set(g.latentAvg, l * D);
    w0 = {dtype: 'float32', shape: [1, L, D], data};
  } else {
    w0 = await toWPlus(g, sampleZ(g, 1, opts.seed ?? 0), 'z', g.latentAvg ? o.truncation : 1);
  }
  const {image, styles} = await generate(g, {latent: w0, space: 'w+', noise: o.noise, returnStyles: o.space === 's'});
  return {image, styles, wPlus: w0};
}

/** The optimised variables: W+, or the non-ToRGB S vectors (ToRGB styles stay at their starting values). */
function variables(g: StyleGAN2, start: Start, space: 'w+' | 's'): Params {
  if (space === 'w+') return new Params([['wplus', {shape: start.wPlus!.shape, data: start.wPlus!.data as Float32Array}]]);
  const vars = g.layers.filter((l) => l.kind !== 'torgb');
  return new Params(vars.map((l) => [styleName(l.sIndex), {shape: start.styles![l.sIndex]!.shape, data: start.styles![l.sIndex]!.data as Float32Array}]));
}

/**
 * L = Σ_b L_clip + λ_L2 · Σ (v − v_0)² + λ_ID · Σ_b L_ID (edit mode), or the CLIP term alone; the image as output.
 * The run's own values (text features, start v_0, fixed S vectors, identity reference, λs) are run inputs, so
 * another prompt or face builds the same graph and reuses the compiled session.
 */
function lossGraph(
  g: StyleGAN2,
  clip: CLIP,
  params: Params,
  o: {text: Float32Array; N: number; start: Start; mode: OptimizeMode; lambdaL2: number; lambdaId: number; identity: IdentityFeatures | null; ref: Float32Array | null; clipInput: ClipInputMode},
): StepGraph {
  const run = new RunInputs();
  const nz = g.noiseInputs(o.N);
  const vars = params.all;
  const img = vars[0]!.name === 'wplus'
    ? g.synthesis(g.styles(vars[0]!.input), nz)
    : g.synthesis(g.layers.map((l) => vars.find((v) => v.name === styleName(l.sIndex))?.input ?? run.feed(`start:${styleName(l.sIndex)}`, o.start.styles![l.sIndex]!.data as Float32Array, [o.N, l.inChannels])), nz);
  const clipTerm = F.sum(clipLoss(clip, img, run.feed('text', o.text, [1, o.text.length]), o.clipInput));
  let l2: Tensor = F.scalar(0);
  let id: Tensor = F.scalar(0);
  let total = clipTerm;
  if (o.mode === 'edit') {
    for (const v of vars) l2 = F.add(l2, l2Loss(v.input, run.feed(`start:${v.name}`, Float32Array.from(v.data), [...v.shape])));
    total = F.add(total, F.mul(l2, run.feed('lambda_l2', Float32Array.of(o.lambdaL2), [])));
    if (o.ref) {
      id = F.sum(identityLoss(o.identity!, img, run.feed('id_ref', o.ref, [o.N, o.ref.length / o.N]))); // against the starting images
      total = F.add(total, F.mul(id, run.feed('lambda_id', Float32Array.of(o.lambdaId), [])));
    }
  }
  return {loss: total, metrics: {clip: clipTerm, l2, id}, outputs: {image: img}, dataInputs: nz, runInputs: run.list};
}

/** The final latent (W+, or all S vectors with the ToRGB ones unchanged) and its image. */
async function result(g: StyleGAN2, start: Start, params: Params, space: 'w+' | 's', noise: NoiseMode, history: Omit<StepInfo, 'image'>[]): Promise<OptimizeResult> {
  const base = {initialImage: start.image, initialWPlus: start.wPlus, history};
  if (space === 's') {
    const styles = g.layers.map((l) => {
      const v = params.all.find((p) => p.name === styleName(l.sIndex));
      return v ? ({dtype: 'float32', shape: [...v.shape], data: v.data} as HostTensor) : start.styles![l.sIndex]!;
    });
    return {...base, wPlus: null, styles, image: (await generate(g, {latent: styles, space: 's', noise})).image};
  }
  const wPlus: HostTensor = {dtype: 'float32', shape: [...params.all[0]!.shape], data: params.all[0]!.data};
  return {...base, wPlus, styles: null, image: (await generate(g, {latent: wPlus, space: 'w+', noise})).image};
}

/** Identity features of the start images; like generate(), one session per network and batch size, kept. */
async function identityFeatures(net: IdentityFeatures, image: HostTensor): Promise<Float32Array> {
  const x = input('image', image.shape);
  const [f] = await (await compile([x], [net.features(x)])).run([image.data as Float32Array]);
  return f!.data as Float32Array;
}
