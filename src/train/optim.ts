/**
 * Optimizers over host parameters, in the style of tinygrad's nn/optim.py: a base class whose `step(grads)` walks
 * parameter groups (each with its own learning rate or schedule and weight decay) and calls the subclass's
 * per-parameter update; state (step count and named buffers) is saveable, so a checkpoint resumes exactly.
 *
 *   SGD    p ← p − lr·g
 *   Adam   (Kingma & Ba 2015, PyTorch semantics) m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,
 *          p ← p − lr · (m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + ε)
 *   AdamW  (Loshchilov & Hutter 2019) p ← p·(1 − lr·wd) on the parameters of the decay mask, then Adam
 *   Ranger (StyleCLIP's mapper optimizer, mapper/training/ranger.py @ f87a47f, lessw2020 "Ranger 20.4.11")
 *          = RAdam (Liu et al. 2020) + Lookahead (Zhang et al. 2019) + gradient centralisation (Yong et al. 2020):
 *   g ← g − mean(g over all axes but 0)                  (GC, only for parameters with rank > 1)
 *   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
 *   ρ∞ = 2/(1 − β2) − 1,  ρ_t = ρ∞ − 2t β2ᵗ/(1 − β2ᵗ)
 *   ρ_t > 5:  p ← p − lr · r_t/(1 − β1ᵗ) · m/(√v + ε),   r_t = √((1 − β2ᵗ)(ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
 *   else:     p ← p − lr/(1 − β1ᵗ) · m                     (un-rectified SGD with momentum)
 *   every k steps: slow ← slow + α(p − slow), p ← slow  (slow starts at the initial p)
 *   Defaults as in the official file: α 0.5, k 6, ρ threshold 5, β (0.95, 0.999), ε 1e-5, weight decay 0, GC on.
 *   Note √v is NOT bias-corrected in ranger.py's denominator (the √(1 − β2ᵗ) sits in r_t instead); ε is added to √v.
 *
 * Arithmetic is done in float64 and stored in float32. Buffers keep torch's names (exp_avg, exp_avg_sq,
 * slow_buffer) and are saved as `<parameter name>.<buffer>`.
 */
import {StyleclipError, check} from '../errors.js';

/** A trainable host tensor, updated in place. */
export interface Param {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A learning rate: a constant, or a schedule of the step index t = 0, 1, … (updates done before this one). */
export type LearningRate = number | ((step: number) => number);

/** Parameters sharing a learning rate and weight decay; unset fields take the optimizer's defaults. */
export interface ParamGroup {
  params: readonly Param[];
  lr?: LearningRate;
  weightDecay?: number;
}

/** An optimizer's whole state: the updates done and its buffers, named `<parameter name>.<buffer>`. */
export interface OptimizerState {
  step: number;
  buffers: Map<string, Float32Array>;
}

interface Group {
  params: Param[];
  lr: LearningRate;
  weightDecay: number;
}

export abstract class Optimizer {
  abstract readonly kind: string;
  readonly groups: readonly Group[];
  /** Updates done so far (t of the bias corrections; the index of the next step). */
  steps = 0;
  /** Per parameter name, its buffers (created on first use). */
  protected readonly buffers = new Map<string, Record<string, Float32Array>>();

  /** `params`: the parameters (one group) or parameter groups; `defaults` fill what a group leaves unset. */
  constructor(params: readonly Param[] | readonly ParamGroup[], defaults: {lr: LearningRate; weightDecay?: number}) {
    const groups: readonly ParamGroup[] = params.length > 0 && 'params' in params[0]! ? (params as ParamGroup[]) : [{params: params as Param[]}];
    const seen = new Set<string>();
    this.groups = groups.map((gr) => {
      for (const p of gr.params) {
        check(!seen.has(p.name), `parameter ${p.name} is in two parameter groups`);
        seen.add(p.name);
      }
      return {params: [...gr.params], lr: gr.lr ?? defaults.lr, weightDecay: gr.weightDecay ?? defaults.weightDecay ?? 0};
    });
  }

  /** The learning rate the next step uses in group `group`. */
  lr(group = 0): number {
    const lr = this.groups[group]!.lr;
    return typeof lr === 'function' ? lr(this.steps) : lr;
  }

  /** One update of every parameter, from gradients by parameter name (they may be modified, e.g. by GC). */
  step(grads: ReadonlyMap<string, Float32Array>): void {
    const lrs = this.groups.map((_, k) => this.lr(k));
    this.steps++;
    this.groups.forEach((gr, k) => {
      for (const p of gr.params) {
        const g = grads.get(p.name);
        if (!g || g.length !== p.data.length) throw new StyleclipError(`${this.kind}: no gradient of the right size for parameter ${p.name}`);
        this.update(p, g, lrs[k]!, gr.weightDecay);
      }
    });
  }

  /** Update one parameter at step t = this.steps (already counted). */
  protected abstract update(p: Param, g: Float32Array, lr: number, weightDecay: number): void;

  /** A parameter's buffer, zero-filled (or from `init`) on first use. */
  protected buffer(p: Param, name: string, init?: () => Float32Array): Float32Array {
    let b = this.buffers.get(p.name);
    if (!b) this.buffers.set(p.name, (b = {}));
    return (b[name] ??= init ? init() : new Float32Array(p.data.length));
  }

  state(): OptimizerState {
    const buffers = new Map<string, Float32Array>();
    for (const gr of this.groups) for (const p of gr.params) for (const [b, data] of Object.entries(this.buffers.get(p.name) ?? {})) buffers.set(`${p.name}.${b}`, data);
    return {step: this.steps, buffers};
  }

  /** Restore a state from state() of an optimizer of the same kind over the same parameters. */
  load({step, buffers}: OptimizerState): void {
    check(Number.isInteger(step) && step >= 0, `${this.kind} state: invalid step ${step}`);
    const names = this.groups.flatMap((gr) => gr.params.map((p) => p.name));
    for (const key of buffers.keys()) {
      if (!names.some((n) => key.startsWith(`${n}.`))) throw new StyleclipError(`${this.kind} state buffer '${key}' belongs to no parameter`);
    }
    this.buffers.clear();
    for (const gr of this.groups) {
      for (const p of gr.params) {
        for (const b of this.bufferNames(step)) {
          const data = buffers.get(`${p.name}.${b}`);
          if (!data || data.length !== p.data.length) throw new StyleclipError(`${this.kind} state buffer '${p.name}.${b}' is missing or has the wrong size`);
          this.buffer(p, b, () => Float32Array.from(data));
        }
      }
    }
    this.steps = step;
  }

  /** The buffers every parameter has after `step` updates (none before the first). */
  protected abstract bufferNames(step: number): string[];
}

/** Plain gradient descent. */
export class SGD extends Optimizer {
  readonly kind = 'sgd';

  constructor(params: readonly Param[] | readonly ParamGroup[], {lr}: {lr: LearningRate}) {
    super(params, {lr});
  }

  protected update(p: Param, g: Float32Array, lr: number): void {
    const x = p.data;
    for (let i = 0; i < x.length; i++) x[i] = x[i]! - lr * g[i]!;
  }

  protected bufferNames(): string[] {
    return [];
  }
}

export interface AdamOptions {
  lr: LearningRate;
  betas?: [number, number];
  eps?: number;
}

/** Adam, bias-corrected (PyTorch semantics). Weight decay is AdamW's. */
export class Adam extends Optimizer {
  readonly kind: string = 'adam';
  readonly betas: [number, number];
  readonly eps: number;
  /** Which parameters weight decay applies to (AdamW). */
  protected decays: (p: Param) => boolean = () => false;

  /** `weightDecay` (AdamW only): the default of groups that set none. */
  constructor(params: readonly Param[] | readonly ParamGroup[], {lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0}: AdamOptions & {weightDecay?: number}) {
    super(params, {lr, weightDecay});
    this.betas = betas;
    this.eps = eps;
    if (new.target === Adam) check(this.groups.every((gr) => gr.weightDecay === 0), 'Adam has no weight decay; use AdamW');
  }

  protected update(p: Param, g: Float32Array, lr: number, weightDecay: number): void {
    const x = p.data;
    if (weightDecay !== 0 && this.decays(p)) {
      const f = 1 - lr * weightDecay; // decoupled: p ← p·(1 − lr·wd), stored, before the Adam step
      for (let i = 0; i < x.length; i++) x[i]! *= f;
    }
    const [b1, b2] = this.betas;
    const c1 = 1 - b1 ** this.steps;
    const c2 = 1 - b2 ** this.steps;
    const m = this.buffer(p, 'exp_avg');
    const v = this.buffer(p, 'exp_avg_sq');
    for (let i = 0; i < x.length; i++) {
      const gi = g[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      x[i]! -= lr * ((m[i]! / c1) / (Math.sqrt(v[i]! / c2) + this.eps));
    }
  }

  protected bufferNames(step: number): string[] {
    return step > 0 ? ['exp_avg', 'exp_avg_sq'] : [];
  }
}

/**
 * AdamW: decoupled weight decay p ← p·(1 − lr·wd) (stored, then the Adam step) on the parameters `decay` selects
 * (default all; CLIP, for example, decays weight matrices only). `weightDecay` defaults to PyTorch's 0.01 and
 * applies to groups that set none.
 */
export class AdamW extends Adam {
  override readonly kind = 'adamw';

  constructor(params: readonly Param[] | readonly ParamGroup[], {weightDecay = 0.01, decay = () => true, ...opts}: AdamOptions & {weightDecay?: number; decay?: (p: Param) => boolean}) {
    super(params, {...opts, weightDecay});
    this.decays = decay;
  }
}

export interface RangerOptions {
  lr: LearningRate;
  /** Lookahead interpolation α ∈ [0, 1]. */
  alpha?: number;
  /** Lookahead sync period (steps). */
  k?: number;
  /** RAdam rectification threshold on ρ_t (ranger.py: N_sma_threshhold). */
  nSmaThreshold?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Gradient centralisation on/off. */
  useGc?: boolean;
  /** GC only for rank > 3 (convolutions) instead of rank > 1. */
  gcConvOnly?: boolean;
}

/** Subtract from g its mean over all axes but the first (per output row), for a [shape[0], rest] layout. */
function centralizeGradient(g: Float32Array, shape: readonly number[]): void {
  const rows = shape[0]!;
  const n = g.length / rows;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += g[r * n + i]!;
    const mean = s / n;
    for (let i = 0; i < n; i++) g[r * n + i]! -= mean;
  }
}

/** ρ_t and the RAdam step size (without lr) at step t; `rectified` tells which branch applies. */
export function radamStepSize(t: number, [b1, b2]: [number, number], threshold = 5): {nSma: number; stepSize: number; rectified: boolean} {
  const b2t = b2 ** t;
  const nSmaMax = 2 / (1 - b2) - 1;
  const nSma = nSmaMax - (2 * t * b2t) / (1 - b2t);
  const rectified = nSma > threshold;
  const stepSize = rectified
    ? Math.sqrt((((((1 - b2t) * (nSma - 4)) / (nSmaMax - 4)) * (nSma - 2)) / nSma) * (nSmaMax / (nSmaMax - 2))) / (1 - b1 ** t)
    : 1 / (1 - b1 ** t);
  return {nSma, stepSize, rectified};
}

export class Ranger extends Optimizer {
  readonly kind = 'ranger';
  readonly alpha: number;
  readonly k: number;
  readonly nSmaThreshold: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly useGc: boolean;
  private readonly gcMinRank: number;

  constructor(params: readonly Param[] | readonly ParamGroup[], opts: RangerOptions) {
    const {lr, alpha = 0.5, k = 6, nSmaThreshold = 5, betas = [0.95, 0.999], eps = 1e-5, weightDecay = 0, useGc = true, gcConvOnly = false} = opts;
    super(params, {lr, weightDecay});
    check(alpha >= 0 && alpha <= 1, `Ranger: invalid slow update rate α ${alpha}`);
    check(Number.isInteger(k) && k >= 1, `Ranger: invalid lookahead steps k ${k}`);
    check(eps > 0, `Ranger: invalid eps ${eps}`);
    this.alpha = alpha;
    this.k = k;
    this.nSmaThreshold = nSmaThreshold;
    this.betas = betas;
    this.eps = eps;
    this.useGc = useGc;
    this.gcMinRank = gcConvOnly ? 3 : 1;
  }

  protected update(p: Param, g: Float32Array, lr: number, weightDecay: number): void {
    check(lr > 0, `Ranger: invalid learning rate ${lr}`);
    const x = p.data;
    const m = this.buffer(p, 'exp_avg');
    const v = this.buffer(p, 'exp_avg_sq');
    const slow = this.buffer(p, 'slow_buffer', () => Float32Array.from(x)); // the weights before the first step
    const [b1, b2] = this.betas;
    const {stepSize, rectified} = radamStepSize(this.steps, this.betas, this.nSmaThreshold);
    if (this.useGc && p.shape.length > this.gcMinRank) centralizeGradient(g, p.shape);
    for (let i = 0; i < x.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      let y = x[i]!;
      if (weightDecay !== 0) y -= weightDecay * lr * y;
      y -= rectified ? (stepSize * lr * m[i]!) / (Math.sqrt(v[i]!) + this.eps) : stepSize * lr * m[i]!;
      x[i] = y;
    }
    if (this.steps % this.k === 0) {
      for (let i = 0; i < x.length; i++) {
        slow[i] = slow[i]! + this.alpha * (x[i]! - slow[i]!);
        x[i] = slow[i]!;
      }
    }
  }

  protected bufferNames(step: number): string[] {
    return step > 0 ? ['exp_avg', 'exp_avg_sq', 'slow_buffer'] : [];
  }
}
