/**
 * Finite-difference gradient checker for the symbolic engine.
 *
 * For a function f building output tensor(s) from engine inputs, and concrete input values x, it compiles ONE
 * program computing [f(x)..., ∂L/∂x_wrt...] with L = Σ_k Σ r_k·f_k(x) for fixed random cotangents r_k (baked in
 * as constants), runs it once for the analytic gradient, and then re-runs the same program on perturbed inputs:
 * the FD loss Σ r·f is accumulated in float64 in JS from the program's f outputs (not summed on the device in
 * float32), which keeps float32 round-off out of the difference quotient.
 *
 *   - every coordinate of an input with ≤ `maxCoords` elements, otherwise a random subset of `maxCoords`;
 *   - plus one random-direction check over all checked inputs together: ⟨g, v⟩ ≈ (L(x+εv) − L(x−εv)) / 2ε.
 *
 * Tolerances (|analytic − fd| ≤ atol + rtol·|fd|, with atol scaled by the loss' magnitude):
 *   float64, ε = 1e-6: central differences have truncation error ~ε²·|f'''|/6 ≈ 1e-13 and round-off
 *     ~ ulp(L)/ε ≈ 1e-16·|L|/1e-6 = 1e-10·|L|, so rtol = atol = 1e-6 is loose by >100× yet catches any wrong rule
 *     (a wrong rule is off by O(1)).
 *   float32 (ORT has no double kernels for Conv/ConvTranspose/Erf), eps = 1e-2: the loss carries relative
 *     round-off ~1e-6*M (M = sum |r*f|; 6e-8 per output plus in-graph accumulation), so the quotient carries
 *     ~1e-6*M/2eps = 5e-5*M; truncation is ~eps^2/6*|f'''| = 2e-5 for O(1) curvature. Hence
 *     atol = 1e-3 + 1e-4*M (at least 2x both) and rtol = 1e-2. Gradient entries are O(1) and a wrong rule is
 *     off by O(1), so this still catches it.
 *   The random-direction check scales atol by |v| (it sums that many coordinates' errors).
 *
 * `checkGradients` reports without asserting (so a test can prove a wrong rule is caught); `gradcheck` asserts.
 */
import {vjp} from '../../src/engine/autodiff.js';
import {constant, input, type DType, type Tensor} from '../../src/engine/tensor.js';
import {type Program, compile} from '../../src/engine/session.js';
import {mulberry32} from '../../src/random.js';

export type FloatDType = 'float32' | 'float64';

export interface GradInput {
  shape: number[];
  /** Values (default: seeded standard normal). */
  data?: ArrayLike<number>;
  /** Differentiate w.r.t. this input (default true). Non-float inputs are never differentiated. */
  wrt?: boolean;
  /** Default: the check's dtype. Use 'int64' for index inputs (fed, not perturbed). */
  dtype?: DType;
}

export interface GradcheckOptions {
  dtype?: FloatDType;
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Inputs with more elements than this get a random subset of this many coordinates. */
  maxCoords?: number;
  seed?: number;
  /** Name printed in reports. */
  what?: string;
}

export interface GradcheckReport {
  ok: boolean;
  /** Number of scalar comparisons made. */
  checked: number;
  worst: {input: number; index: number; analytic: number; numeric: number; excess: number} | null;
  message: string;
  /** The compiled program (forward outputs then gradients), for reuse. */
  program: Program;
  /** Op names in the forward graph. */
  ops: Set<string>;
}

/** Small deterministic PRNG (mulberry32) + Box–Muller. */
export function rng(seed: number): {uniform(): number; normal(): number; int(n: number): number} {
  const uniform = mulberry32(seed);
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
    int: (n: number) => Math.floor(uniform() * n),
  };
}

function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function makeArray(dtype: DType, values: ArrayLike<number>): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    case 'int32':
      return Int32Array.from(values);
    case 'bool':
      return Uint8Array.from(values);
  }
}

/** Ops (by name) in the graph computing `outputs`. */
export function opsIn(outputs: readonly Tensor[]): Set<string> {
  const seen = new Set<number>();
  const ops = new Set<string>();
  const stack = [...outputs];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    ops.add(t.op);
    stack.push(...t.inputs);
  }
  return ops;
}

export async function checkGradients(
  f: (...xs: Tensor[]) => Tensor | Tensor[],
  specs: readonly GradInput[],
  opts: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const dtype: FloatDType = opts.dtype ?? 'float64';
  const eps = opts.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const rtol = opts.rtol ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const maxCoords = opts.maxCoords ?? 40;
  const R = rng(opts.seed ?? 1234);

  const dts = specs.map((s) => s.dtype ?? dtype);
  const xs = specs.map((s, i) => input(`x${i}`, s.shape, dts[i]));
  const outs = [f(...xs)].flat();
  const ops = opsIn(outs);
  const wrtIdx = specs.map((_, i) => i).filter((i) => specs[i]!.wrt !== false && (dts[i] === 'float32' || dts[i] === 'float64'));
  const rs = outs.map((o) => {
    const r = Float64Array.from({length: o.size}, () => R.normal());
    return {r, t: constant(makeArray(o.dtype, r), o.shape, o.dtype)};
  });
  const grads = vjp(outs, rs.map((r) => r.t), wrtIdx.map((i) => xs[i]!));
  const program = await compile(xs, [...outs, ...grads]);

  const values = specs.map((s) => Float64Array.from(s.data ?? Array.from({length: numel(s.shape)}, () => R.normal())));
  const feedsOf = (vals: Float64Array[]) => vals.map((v, i) => makeArray(dts[i]!, v));
  // Loss Σ r·f in float64 from the (possibly float32) outputs; also Σ|r·f| for the tolerance.
  const lossOf = async (vals: Float64Array[]) => {
    const res = await program.run(feedsOf(vals));
    let L = 0;
    let mag = 0;
    rs.forEach(({r}, k) => {
      const d = res[k]!.data as ArrayLike<number>;
      for (let j = 0; j < r.length; j++) {
        L += r[j]! * Number(d[j]);
        mag += Math.abs(r[j]! * Number(d[j]));
      }
    });
    return {L, mag, res};
  };
  const base = await lossOf(values);
  const analytic = wrtIdx.map((_, j) => Float64Array.from(base.res[outs.length + j]!.data as ArrayLike<number>));
  const atol = opts.atol ?? (dtype === 'float64' ? 1e-6 * Math.max(1, base.mag) : 1e-3 + 1e-4 * base.mag);

  let checked = 0;
  let worst = null as GradcheckReport['worst'];
  const failures: string[] = [];
  const compare = (inputIdx: number, index: number, a: number, n: number) => {
    checked++;
    const excess = Math.abs(a - n) - (atol + rtol * Math.abs(n));
    if (!worst || excess > worst.excess || Number.isNaN(excess)) worst = {input: inputIdx, index, analytic: a, numeric: n, excess};
    if (!(excess <= 0) && failures.length < 5) failures.push(`x${inputIdx}[${index}]: analytic ${a}, numeric ${n}`);
  };

  const perturbed = (dir: Float64Array[], scale: number) => values.map((v, i) => (dir[i] ? v.map((x, j) => x + scale * dir[i]![j]!) : v));

  for (const [j, i] of wrtIdx.entries()) {
    const n = values[i]!.length;
    let coords = Array.from({length: n}, (_, c) => c);
    if (n > maxCoords) {
      for (let c = n - 1; c > 0; c--) {
        const k = R.int(c + 1);
        [coords[c], coords[k]] = [coords[k]!, coords[c]!];
      }
      coords = coords.slice(0, maxCoords);
    }
    for (const c of coords) {
      const dir: Float64Array[] = [];
      dir[i] = new Float64Array(n);
      dir[i]![c] = 1;
      const up = await lossOf(perturbed(dir, eps));
      const dn = await lossOf(perturbed(dir, -eps));
      compare(i, c, analytic[j]![c]!, (up.L - dn.L) / (2 * eps));
    }
  }
  // Random direction over all wrt inputs at once (catches errors in unsampled coordinates).
  if (wrtIdx.length) {
    const dir: Float64Array[] = [];
    let gv = 0;
    for (const [j, i] of wrtIdx.entries()) {
      dir[i] = Float64Array.from({length: values[i]!.length}, () => R.normal());
      dir[i]!.forEach((v, c) => (gv += v * analytic[j]![c]!));
    }
    let norm = 0;
    for (const d of dir) if (d) for (const v of d) norm += v * v;
    const up = await lossOf(perturbed(dir, eps));
    const dn = await lossOf(perturbed(dir, -eps));
    // The directional derivative sums ~√n terms' errors; scale atol by the direction's norm.
    checked++;
    const n = (up.L - dn.L) / (2 * eps);
    const excess = Math.abs(gv - n) - (atol * Math.sqrt(norm) + rtol * Math.abs(n));
    if (!worst || excess > worst.excess || Number.isNaN(excess)) worst = {input: -1, index: -1, analytic: gv, numeric: n, excess};
    if (!(excess <= 0)) failures.push(`direction: ⟨g,v⟩ ${gv}, numeric ${n}`);
  }

  const ok = failures.length === 0;
  const label = opts.what ? `${opts.what}: ` : '';
  const message = ok
    ? `${label}ok (${checked} checks, ${dtype}, eps ${eps})`
    : `${label}gradient mismatch (${dtype}, eps ${eps}, atol ${atol.toExponential(2)}, rtol ${rtol}): ${failures.join('; ')}`;
  return {ok, checked, worst, message, program, ops};
}

/** Assert that analytic gradients match finite differences (see checkGradients). */
export async function gradcheck(
  f: (...xs: Tensor[]) => Tensor | Tensor[],
  specs: readonly GradInput[],
  opts: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const r = await checkGradients(f, specs, opts);
  if (!r.ok) throw new Error(r.message);
  return r;
}
