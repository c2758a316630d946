/**
 * Projection of an image into a StyleGAN2 generator's latent space by optimisation, after the StyleGAN2 paper's
 * description (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Appendix D):
 *   start     at a given W+ (e.g. an encoder's inversion) or at the mean w̄ of W (estimated from z samples)
 *   variables w (W: one vector for every layer) or W+ (one per layer), and optionally the noise maps n_i
 *   each step w̃ = w + N(0, (λ_w σ_W t²)²), t = max(0, 1 − step/(0.75·steps)),  σ_W² = E‖w − w̄‖²
 *   loss      λ_pix · mean (G(w̃, n) − x)² + λ_perc · (1 − ⟨f(G), f(x)⟩) + α Σ_{i,j} L_{i,j}
 *             L_{i,j} = (mean n_ij(x, y)·n_ij(x − 1, y))² + (mean n_ij(x, y)·n_ij(x, y − 1))² over the pyramid
 *             n_i0 = n_i, n_i(j+1) = 2 × 2 average of n_ij × 2, down to 8 × 8 (wrapping at the edges)
 *   update    Adam, peak lr 0.1 with a linear ramp-up over the first 5 % of steps and a cosine ramp-down over
 *             the last 25 %; after each step the noise maps are renormalised to zero mean and unit variance.
 * The paper's image distance is LPIPS (VGG16); its weights are not available offline, so the perceptual term here
 * is the identity-feature distance of a face-recognition network we can load (face-api's FaceRecognitionNet ships
 * in a dependency; IR-SE50 when given), beside a pixel MSE. Runs on the one training loop (train/loop.ts).
 *
 * Legend: N batch (1), L W+ rows, D style width, H/W image side.
 */
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, input} from '../engine/tensor.js';
import {check} from '../errors.js';
import {type HostTensor, assertFinite, toFloat32} from '../io/host-tensor.js';
import {sampleZ} from '../models/generate.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {mulberry32Normal} from '../random.js';
import {Params, RunInputs, compileStep, trainLoop} from '../train/loop.js';
import {Adam} from '../train/optim.js';
import {type IdentityFeatures, identityLoss} from './losses.js';
import {rampdownLr} from './optimize.js';
import {PROJECT_DEFAULTS as D} from './project-defaults.js';

export interface ProjectOptions {
  /** Start here (W+ [1, L, D]); otherwise at the mean latent. */
  start?: HostTensor;
  steps?: number;
  space?: 'w' | 'w+';
  lr?: number;
  lambdaPixel?: number;
  /** Weight of the identity-feature term; needs `perceptual`. */
  lambdaPerceptual?: number;
  /** The network behind the perceptual term (null: pixel loss only). */
  perceptual?: IdentityFeatures | null;
  wNoiseScale?: number;
  optimizeNoise?: boolean;
  lambdaNoise?: number;
  /** Seed of the w noise (and of the initial noise maps when they are optimised). */
  seed?: number;
  onStep?: (info: ProjectStep) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ProjectStep {
  step: number;
  steps: number;
  lr: number;
  loss: number;
  pixel: number;
  perceptual: number;
  noise: number;
}

export interface ProjectResult {
  /** The projected W+ [1, L, D]. */
  wPlus: HostTensor;
  /** Its image [1, 3, H, W] with `noise`. */
  image: HostTensor;
  /** The noise maps used (the optimised ones, or the checkpoint's). */
  noise: Float32Array[];
  history: ProjectStep[];
}

/** Mean w̄ and spread σ_W = √(E‖w − w̄‖²) of W from z samples (seeded). */
export async function wStatistics(g: StyleGAN2, samples: number = D.wStatSamples, seed = 0x5eed): Promise<{mean: Float32Array; sigma: number}> {
  const Dm = g.config.styleDim;
  const B = Math.min(500, samples);
  const z = input('z', [B, Dm]);
  const prog = await compile([z], [g.mapping(z)]);
  const ws: Float32Array[] = [];
  for (let i = 0; i < Math.ceil(samples / B); i++) ws.push((await prog.run([sampleZ(g, B, seed + i).data as Float32Array]))[0]!.data as Float32Array);
  const n = ws.length * B;
  const mean = new Float64Array(Dm);
  for (const w of ws) for (let j = 0; j < w.length; j++) mean[j % Dm]! += w[j]! / n;
  let ss = 0;
  for (const w of ws) for (let j = 0; j < w.length; j++) ss += (w[j]! - mean[j % Dm]!) ** 2;
  return {mean: Float32Array.from(mean), sigma: Math.sqrt(ss / n)};
}

/** Shift a [1,1,r,r] map by one pixel along `axis`, wrapping around. */
function roll1(x: Tensor, axis: 2 | 3): Tensor {
  const r = x.shape[axis]!;
  return F.concat([F.slice(x, {[axis]: [r - 1, r]}), F.slice(x, {[axis]: [0, r - 1]})], axis);
}

/** The paper's noise regularisation Σ_j L_ij of one noise map [1,1,r,r]. */
export function noiseRegularization(n: Tensor): Tensor {
  let v = n;
  let total: Tensor = F.scalar(0);
  for (;;) {
    total = F.add(total, F.add(F.square(F.mean(F.mul(v, roll1(v, 3)))), F.square(F.mean(F.mul(v, roll1(v, 2))))));
    const r = v.shape[2]!;
    if (r <= 8) break;
    v = F.mul(F.reshape(F.mean(F.reshape(v, [1, 1, r / 2, 2, r / 2, 2]), [3, 5]), [1, 1, r / 2, r / 2]), 2); // 2×2 average × 2
  }
  return total;
}

/** Normalise a noise map in place to zero mean and unit variance. */
function renormalize(n: Float32Array): void {
  let m = 0;
  for (const v of n) m += v / n.length;
  let s = 0;
  for (const v of n) s += (v - m) ** 2 / n.length;
  const sd = Math.sqrt(s) || 1;
  for (let i = 0; i < n.length; i++) n[i] = (n[i]! - m) / sd;
}

/** Project `target` (an image [1, 3, H, W] in [-1, 1] at the generator's resolution) into the generator. */
export async function project(g: StyleGAN2, target: HostTensor, opts: ProjectOptions = {}): Promise<ProjectResult> {
  const {steps = D.steps, space = D.space, lr = D.lr, lambdaPixel = D.lambdaPixel, perceptual = null, wNoiseScale = D.wNoiseScale, optimizeNoise = D.optimizeNoise, lambdaNoise = D.lambdaNoise, seed = 0} = opts;
  const lambdaPerceptual = opts.lambdaPerceptual ?? (perceptual ? D.lambdaPerceptual : 0);
  const [L, Dm, R] = [g.nLatent, g.config.styleDim, g.config.size];
  check(target.shape.length === 4 && target.shape[0] === 1 && target.shape[1] === 3 && target.shape[2] === R && target.shape[3] === R, `the target image must be [1, 3, ${R}, ${R}], got [${target.shape.join(', ')}]`);
  assertFinite(target, 'target image');
  check(Number.isInteger(steps) && steps >= 1, `steps must be a positive integer, got ${steps}`);
  check(Number.isFinite(lr) && lr > 0, `lr must be positive, got ${lr}`);
  check(lambdaPerceptual === 0 || perceptual, 'a perceptual weight needs a perceptual (identity) network');
  const stats = wNoiseScale > 0 || !opts.start ? await wStatistics(g) : null;

  // The starting point.
  let w0: Float32Array;
  if (opts.start) {
    check(opts.start.shape.length === 3 && opts.start.shape[0] === 1 && opts.start.shape[1] === L && opts.start.shape[2] === Dm, `the start latent must be W+ [1, ${L}, ${Dm}], got [${opts.start.shape.join(', ')}]`);
    assertFinite(opts.start, 'start latent');
    w0 = toFloat32(opts.start);
  } else {
    w0 = new Float32Array(L * Dm);
    for (let l = 0; l < L; l++) w0.set(g.latentAvg ?? stats!.mean, l * Dm);
  }
  if (space === 'w') {
    const mean = new Float32Array(Dm);
    for (let l = 0; l < L; l++) for (let d = 0; d < Dm; d++) mean[d]! += w0[l * Dm + d]! / L;
    w0 = mean;
  }
  const noise0 = optimizeNoise ? g.noiseArrays('random', 1, seed + 1) : g.noiseArrays('const', 1);
  const params = new Params([
    ['w', {shape: space === 'w' ? [1, Dm] : [1, L, Dm], data: w0}],
    ...(optimizeNoise ? noise0.map((n, i) => [`noise${i}`, {shape: [1, 1, g.noiseRes(i), g.noiseRes(i)], data: n}] as [string, {shape: number[]; data: Float32Array}]) : []),
  ]);
  const refFeatures = perceptual && lambdaPerceptual > 0 ? await features(perceptual, target) : null;

  const wNoise = input('w_noise', [1, L, Dm]);
  const fixedNoise = optimizeNoise ? [] : g.noiseInputs(1);
  // The target, its features and the λs are run inputs: every projection with these settings shares one session.
  const step = await compileStep(params, () => {
    const run = new RunInputs();
    const w = params.get('w');
    const wp = F.add(space === 'w' ? F.expand(F.reshape(w, [1, 1, Dm]), [1, L, Dm]) : w, wNoise);
    const nz = optimizeNoise ? noise0.map((_, i) => params.get(`noise${i}`)) : fixedNoise;
    const img = g.synthesis(g.styles(wp), nz);
    const x = run.feed('target', toFloat32(target), [...target.shape]);
    const pixel = F.mean(F.square(F.sub(img, x)));
    const perc = refFeatures ? F.sum(identityLoss(perceptual!, img, run.feed('target_features', refFeatures, [1, refFeatures.length]))) : F.scalar(0);
    let reg: Tensor = F.scalar(0);
    if (optimizeNoise) for (const n of nz) reg = F.add(reg, noiseRegularization(n));
    const lambda = (name: string, v: number) => run.feed(name, Float32Array.of(v), []);
    const loss = F.add(F.add(F.mul(pixel, lambda('lambda_pixel', lambdaPixel)), F.mul(perc, lambda('lambda_perceptual', lambdaPerceptual))), F.mul(reg, lambda('lambda_noise', optimizeNoise ? lambdaNoise : 0)));
    return {loss, metrics: {pixel, perceptual: perc, noise: reg}, dataInputs: [wNoise, ...fixedNoise], runInputs: run.list};
  }, {keepWarm: true});

  const sigmaW = stats?.sigma ?? 0;
  const batch = (s: number): Float32Array[] => {
    const t = Math.max(0, 1 - s / (D.wNoiseRampLength * steps));
    const scale = wNoiseScale * sigmaW * t * t;
    const n = new Float32Array(L * Dm);
    if (scale > 0) {
      const rng = mulberry32Normal(seed * 1000003 + s);
      for (let i = 0; i < n.length; i++) n[i] = rng() * scale;
    }
    return [n, ...(optimizeNoise ? [] : noise0)];
  };
  const opt = new Adam(params.all, {lr: (t: number) => rampdownLr(t / steps, lr)});
  const history: ProjectStep[] = [];
  // Released when the run ends; its session stays warm for the next projection (see engine/session.ts).
  await trainLoop(step, opt, {
    steps,
    batch,
    onStep: async (r) => {
      if (optimizeNoise) for (const p of params.all) if (p.name.startsWith('noise')) renormalize(p.data);
      const info: ProjectStep = {step: r.step, steps, lr: r.lr, loss: r.loss, pixel: r.metrics.pixel!, perceptual: r.metrics.perceptual!, noise: r.metrics.noise!};
      history.push(info);
      await opts.onStep?.(info);
    },
    ...(opts.signal ? {signal: opts.signal} : {}),
    what: 'projection',
    divergenceHint: 'try a lower learning rate',
  }).finally(() => step.program.release());

  const w = params.all[0]!.data;
  const wPlusData = new Float32Array(L * Dm);
  for (let l = 0; l < L; l++) wPlusData.set(space === 'w' ? w : w.subarray(l * Dm, (l + 1) * Dm), l * Dm);
  const wPlus: HostTensor = {dtype: 'float32', shape: [1, L, Dm], data: wPlusData};
  const noise = optimizeNoise ? params.all.slice(1).map((p) => p.data) : noise0;
  return {wPlus, image: await renderWithNoise(g, wPlus, noise), noise, history};
}

async function renderWithNoise(g: StyleGAN2, wPlus: HostTensor, noise: Float32Array[]): Promise<HostTensor> {
  const wp = input('wplus', wPlus.shape);
  const nz = g.noiseInputs(1);
  const prog = await compile([wp, ...nz], [g.synthesis(g.styles(wp), nz)]);
  const [img] = await prog.run([wPlus.data as Float32Array, ...noise]);
  return {dtype: 'float32', shape: img!.shape, data: img!.data as Float32Array};
}

async function features(net: IdentityFeatures, image: HostTensor): Promise<Float32Array> {
  const x = input('image', image.shape);
  const prog = await compile([x], [net.features(x)]);
  return (await prog.run([toFloat32(image)]))[0]!.data as Float32Array;
}

