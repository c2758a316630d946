/**
 * Host-side optimizers with saveable state, for mapper training: Ranger (the default of StyleCLIP's mapper,
 * mapper/training/ranger.py @ f87a47f, lessw2020 "Ranger 20.4.11").
 *
 * Ranger = RAdam (Liu et al. 2020) + Lookahead (Zhang et al. 2019) + gradient centralisation (Yong et al. 2020):
 *   g ← g − mean(g over all axes but 0)                  (GC, only for parameters with rank > 1)
 *   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
 *   ρ∞ = 2/(1 − β2) − 1,  ρ_t = ρ∞ − 2t β2ᵗ/(1 − β2ᵗ)
 *   ρ_t > 5:  p ← p − lr · r_t/(1 − β1ᵗ) · m/(√v + ε),   r_t = √((1 − β2ᵗ)(ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
 *   else:     p ← p − lr/(1 − β1ᵗ) · m                     (un-rectified SGD with momentum)
 *   every k steps: slow ← slow + α(p − slow), p ← slow  (slow starts at the initial p)
 * Defaults as in the official file: α 0.5, k 6, ρ threshold 5, β (0.95, 0.999), ε 1e-5, weight decay 0, GC on.
 * Note √v is NOT bias-corrected in ranger.py's denominator (the √(1 − β2ᵗ) sits in r_t instead); ε is added to √v.
 * Arithmetic is done in float64 and stored in float32.
 */
import {StyleclipError, check} from '../errors.js';

/** An optimizer over a fixed list of float32 parameter arrays, whose whole state can be saved and restored. */
export interface HostStatefulOptimizer {
  readonly kind: 'ranger' | 'adam';
  /** Steps taken so far. */
  readonly steps: number;
  /** One update; `grads` may be modified (Ranger centralises them in place, as ranger.py does). */
  update(params: Float32Array[], grads: Float32Array[], lr: number): void;
  /** The state as named arrays (per parameter index k: `${k}.<buffer>`) plus the step count. */
  state(): {step: number; buffers: Map<string, Float32Array>};
  /** Restore a state produced by state() for the same parameter shapes. */
  load(state: {step: number; buffers: ReadonlyMap<string, Float32Array>}): void;
}

export interface RangerOptions {
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
export function centralizeGradient(g: Float32Array, shape: readonly number[]): void {
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

export class Ranger implements HostStatefulOptimizer {
  readonly kind = 'ranger' as const;
  readonly alpha: number;
  readonly k: number;
  readonly nSmaThreshold: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly useGc: boolean;
  private readonly gcMinRank: number;
  private readonly shapes: number[][];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /** Lookahead slow weights; set from the parameters on the first step (as ranger.py does). */
  private slow: Float32Array[] | null = null;
  private t = 0;

  /** `shapes`: the shape of each parameter (GC needs the rank and first axis). */
  constructor(shapes: readonly (readonly number[])[], opts: RangerOptions = {}) {
    const {alpha = 0.5, k = 6, nSmaThreshold = 5, betas = [0.95, 0.999], eps = 1e-5, weightDecay = 0, useGc = true, gcConvOnly = false} = opts;
    check(alpha >= 0 && alpha <= 1, `Ranger: invalid slow update rate α ${alpha}`);
    check(Number.isInteger(k) && k >= 1, `Ranger: invalid lookahead steps k ${k}`);
    check(eps > 0, `Ranger: invalid eps ${eps}`);
    this.alpha = alpha;
    this.k = k;
    this.nSmaThreshold = nSmaThreshold;
    this.betas = betas;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.useGc = useGc;
    this.gcMinRank = gcConvOnly ? 3 : 1;
    this.shapes = shapes.map((s) => [...s]);
    const sizes = this.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
  }

  get steps(): number {
    return this.t;
  }

  update(params: Float32Array[], grads: Float32Array[], lr: number): void {
    check(params.length === this.shapes.length && grads.length === params.length, `Ranger: expected ${this.shapes.length} parameters`);
    check(lr > 0, `Ranger: invalid learning rate ${lr}`);
    this.slow ??= params.map((p) => Float32Array.from(p));
    this.t++;
    const [b1, b2] = this.betas;
    const {stepSize, rectified} = radamStepSize(this.t, this.betas, this.nSmaThreshold);
    params.forEach((p, j) => {
      const g = grads[j]!;
      const shape = this.shapes[j]!;
      if (this.useGc && shape.length > this.gcMinRank) centralizeGradient(g, shape);
      const m = this.m[j]!;
      const v = this.v[j]!;
      for (let i = 0; i < p.length; i++) {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
        let x = p[i]!;
        if (this.weightDecay !== 0) x -= this.weightDecay * lr * x;
        x -= rectified ? (stepSize * lr * m[i]!) / (Math.sqrt(v[i]!) + this.eps) : stepSize * lr * m[i]!;
        p[i] = x;
      }
      if (this.t % this.k === 0) {
        const s = this.slow![j]!;
        for (let i = 0; i < p.length; i++) {
          s[i] = s[i]! + this.alpha * (p[i]! - s[i]!);
          p[i] = s[i]!;
        }
      }
    });
  }

  state(): {step: number; buffers: Map<string, Float32Array>} {
    const buffers = new Map<string, Float32Array>();
    this.shapes.forEach((_, j) => {
      buffers.set(`${j}.exp_avg`, this.m[j]!);
      buffers.set(`${j}.exp_avg_sq`, this.v[j]!);
      if (this.slow) buffers.set(`${j}.slow_buffer`, this.slow[j]!);
    });
    return {step: this.t, buffers};
  }

  load({step, buffers}: {step: number; buffers: ReadonlyMap<string, Float32Array>}): void {
    check(Number.isInteger(step) && step >= 0, `Ranger state: invalid step ${step}`);
    const get = (name: string, n: number) => {
      const b = buffers.get(name);
      if (!b) throw new StyleclipError(`Ranger state has no buffer '${name}'`);
      if (b.length !== n) throw new StyleclipError(`Ranger state buffer '${name}' has ${b.length} values, expected ${n}`);
      return Float32Array.from(b);
    };
    this.shapes.forEach((_, j) => {
      this.m[j] = get(`${j}.exp_avg`, this.m[j]!.length);
      this.v[j] = get(`${j}.exp_avg_sq`, this.v[j]!.length);
    });
    this.slow = step > 0 ? this.shapes.map((_, j) => get(`${j}.slow_buffer`, this.m[j]!.length)) : null;
    this.t = step;
  }
}
