/**
 * StyleCLIP latent optimisation (Patashnik et al. 2021 §4; optimization/run_optimization.py @ f87a47f):
 * gradient descent on W+ (or on S without the ToRGB layers) through the generator and CLIP, minimising
 *   L = Σ_b L_clip(G(w_b), t) + λ_L2 · Σ (w − w_s)² + λ_ID · L_ID(G(w), G(w_s))      (mode 'edit')
 *   L = Σ_b L_clip(G(w_b), t)                                                        (mode 'free_generation')
 * with Adam (lr 0.1) and the official schedule: linear ramp-up over the first 5 % of steps, cosine ramp-down
 * over the last 25 %. A batch of N latents is optimised together (losses summed). Noise is fixed.
 */
import {grad} from '../engine/autodiff.js';
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, assertFinite} from '../io/host-tensor.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {generate, sampleZ, toWPlus} from '../models/generate.js';
import {checkStyles, styleName} from '../models/stylespace.js';
import {Adam} from '../train/trainer.js';
import {clipLoss, l2Loss} from './losses.js';
import {OPTIMIZE_DEFAULTS} from './optimize-defaults.js';

/** Any identity network: L2-normalised features of [-1, 1] images. */
export interface IdentityFeatures {
  features(img: Tensor): Tensor;
}

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
  const [L, D] = [g.nLatent, g.config.styleDim];

  // Starting point: w_s, or given S.
  let w0: HostTensor | null = null;
  let start: {image: HostTensor; styles: HostTensor[] | null};
  if (opts.styles) {
    check(space === 's' || opts.space === undefined, 'a start in S (styles) needs space "s"');
    checkStyles(g, opts.styles);
    start = await generate(g, {latent: [...opts.styles], space: 's', noise});
  } else {
    if (opts.latent) {
      const t = opts.latent;
      check(t.shape.length === 3 && t.shape[1] === L && t.shape[2] === D, `the start latent must be W+ [N, ${L}, ${D}], got [${t.shape.join(', ')}]`);
      assertFinite(t, 'latent');
      w0 = t;
    } else if (mode === 'free_generation') {
      check(g.latentAvg, 'free_generation starts at the mean latent, which this checkpoint does not have (latent_avg)');
      const data = new Float32Array(L * D);
      for (let l = 0; l < L; l++) data.set(g.latentAvg, l * D);
      w0 = {dtype: 'float32', shape: [1, L, D], data};
    } else {
      w0 = await toWPlus(g, sampleZ(g, 1, opts.seed ?? 0), 'z', g.latentAvg ? truncation : 1);
    }
    start = await generate(g, {latent: w0, space: 'w+', noise, returnStyles: space === 's'});
  }
  const N = start.image.shape[0]!;
  const noiseFeeds = g.noiseArrays(noise, N);

  // Variables: W+, or the non-ToRGB S vectors (ToRGB styles stay at their starting values).
  const varLayers = space === 's' ? g.layers.filter((l) => l.kind !== 'torgb') : [];
  const params: Float32Array[] =
    space === 's' ? varLayers.map((l) => Float32Array.from(start.styles![l.sIndex]!.data as Float32Array)) : [Float32Array.from(w0!.data as Float32Array)];
  const initial = params.map((p) => Float32Array.from(p));

  // Graph: loss terms and gradients w.r.t. the variables.
  const nz = g.noiseInputs(N);
  let vars: Tensor[];
  let img: Tensor;
  if (space === 's') {
    vars = varLayers.map((l) => input(styleName(l.sIndex), [N, l.inChannels]));
    const s = g.layers.map((l) => (l.kind === 'torgb' ? constant(start.styles![l.sIndex]!.data as Float32Array, [N, l.inChannels]) : vars[varLayers.indexOf(l)]!));
    img = g.synthesis(s, nz);
  } else {
    vars = [input('wplus', [N, L, D])];
    img = g.synthesis(g.styles(vars[0]!), nz);
  }
  const textT = constant(opts.text, [1, E]);
  const cTerm = F.sum(clipLoss(clip, img, textT, clipInput));
  let l2: Tensor = F.scalar(0);
  let idTerm: Tensor = F.scalar(0);
  let total = cTerm;
  if (mode === 'edit') {
    vars.forEach((v, k) => (l2 = F.add(l2, l2Loss(v, constant(initial[k]!, v.shape)))));
    total = F.add(total, F.mul(l2, lambdaL2));
    if (identity && lambdaId > 0) {
      const refData = await identityFeatures(identity, start.image);
      const ref = constant(refData, [N, refData.length / N]); // features of the starting images, fixed
      idTerm = F.sum(F.sub(1, F.sum(F.mul(identity.features(img), ref), [1])));
      total = F.add(total, F.mul(idTerm, lambdaId));
    }
  }
  const grads = grad(total, vars);
  const prog = await compile([...vars, ...nz], [total, cTerm, l2, idTerm, img, ...grads]);

  const adam = optimizer === 'adam' ? new Adam(params.map((p) => p.length)) : null;
  const history: Omit<StepInfo, 'image'>[] = [];
  for (let i = 0; i < steps; i++) {
    if (opts.signal?.aborted) throw new StyleclipError('optimisation cancelled');
    const t = i / steps;
    const lrNow = lrSchedule === 'rampdown' ? rampdownLr(t, lr) : lr;
    const out = await prog.run([...params, ...noiseFeeds]);
    const num = (k: number) => (out[k]!.data as Float32Array)[0]!;
    const info: StepInfo = {step: i, steps, lr: lrNow, loss: num(0), clip: num(1), l2: num(2), id: num(3)};
    if (!Number.isFinite(info.loss)) throw new StyleclipError(`optimisation diverged at step ${i} (loss ${info.loss}); try a lower --lr`);
    history.push({...info});
    if (saveEvery > 0 && i % saveEvery === 0) info.image = {dtype: 'float32', shape: out[4]!.shape, data: Float32Array.from(out[4]!.data as Float32Array)};
    await opts.onStep?.(info);
    const gs = grads.map((_, k) => out[5 + k]!.data as Float32Array);
    if (adam) adam.update(params, gs, lrNow);
    else params.forEach((p, k) => p.forEach((v, j) => (p[j] = v - lrNow * gs[k]![j]!)));
  }
  // Final image at the final latent.
  let result: OptimizeResult;
  if (space === 's') {
    const styles = g.layers.map((l): HostTensor => {
      const k = varLayers.indexOf(l);
      return k >= 0 ? {dtype: 'float32', shape: [N, l.inChannels], data: params[k]!} : start.styles![l.sIndex]!;
    });
    const fin = await generate(g, {latent: styles, space: 's', noise});
    result = {wPlus: null, styles, image: fin.image, initialImage: start.image, initialWPlus: w0, history};
  } else {
    const wPlus: HostTensor = {dtype: 'float32', shape: [N, L, D], data: params[0]!};
    const fin = await generate(g, {latent: wPlus, space: 'w+', noise});
    result = {wPlus, styles: null, image: fin.image, initialImage: start.image, initialWPlus: w0, history};
  }
  return result;
}

async function identityFeatures(net: IdentityFeatures, image: HostTensor): Promise<Float32Array> {
  const x = input('image', image.shape);
  const prog = await compile([x], [net.features(x)]);
  const [f] = await prog.run([image.data as Float32Array]);
  return f!.data as Float32Array;
}
