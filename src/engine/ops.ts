/**
 * Primitive ops. Each op has three parts side by side: shape inference (in the builder function), ONNX emission
 * (`emit`, opset 17) and its vector-Jacobian product (`vjp`), written with these same ops so that gradients are
 * themselves differentiable. Composite layers (layer norm, nearest upsample, pooling, …) live in nn/ and need no
 * rules of their own.
 *
 * Shape legend: N batch, C/I/O channels, H/W spatial, k kernel, L sequence, D width.
 */
import {StyleclipError} from '../errors.js';
import {type Attrs, type DType, type Shape, Tensor, constant, fromNumbers, isFloat, numel, scalar} from './tensor.js';

/** What an op contributes to an ONNX graph. `b` hands out names for helper initializers. */
export interface Emitter {
  node(opType: string, inputs: string[], outputs: string[], attrs?: Record<string, OnnxAttr>): void;
  /** An int64 helper initializer (shapes, axes, pads, …) and its name. */
  ints(values: readonly number[]): string;
  /** A helper scalar/tensor initializer of the given dtype. */
  values(values: readonly number[], dtype: DType, shape: Shape): string;
  /** A fresh intermediate value name. */
  tmp(): string;
}

export type OnnxAttr = {i: number} | {f: number} | {ints: readonly number[]} | {floats: readonly number[]} | {s: string};

export interface OpDef {
  emit(e: Emitter, t: Tensor, ins: string[], out: string): void;
  /** Gradients w.r.t. each input given the cotangent g of the output (null: no gradient flows). */
  vjp?(g: Tensor, t: Tensor): (Tensor | null)[];
}

export const OPS: Record<string, OpDef> = {};

function op(name: string, shape: Shape, dtype: DType, inputs: Tensor[], attrs: Attrs = {}): Tensor {
  if (!(name in OPS)) throw new Error(`internal: unknown op ${name}`);
  return new Tensor(name, shape, dtype, inputs, attrs);
}

type Operand = Tensor | number;

function lift(x: Operand, like: Tensor): Tensor {
  return typeof x === 'number' ? scalar(x, like.dtype) : x;
}

// ---------------------------------------------------------------------------------------------------------------
// Broadcasting helpers

function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new StyleclipError(`cannot broadcast shapes [${a.join(', ')}] and [${b.join(', ')}]`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Sum g (of a broadcast shape) back down to `shape`: the VJP of broadcasting. */
function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new StyleclipError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise binary ops (numpy broadcasting)

function binary(name: string, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const ta = typeof a === 'number' ? lift(a, b as Tensor) : a;
  const tb = lift(b, ta);
  if (ta.dtype !== tb.dtype) throw new StyleclipError(`${name}: dtype mismatch ${ta.dtype} vs ${tb.dtype}`);
  return op(name, broadcastShapes(ta.shape, tb.shape), outDtype ?? ta.dtype, [ta, tb]);
}

function simple(onnx: string): OpDef['emit'] {
  return (e, _t, ins, out) => e.node(onnx, ins, [out]);
}

export const add = (a: Operand, b: Operand): Tensor => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Tensor => binary('Div', a, b);
export const maximum = (a: Operand, b: Operand): Tensor => binary('Max', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary('Min', a, b);
export const greater = (a: Operand, b: Operand): Tensor => binary('Greater', a, b, 'bool');
export const less = (a: Operand, b: Operand): Tensor => binary('Less', a, b, 'bool');
export const equal = (a: Operand, b: Operand): Tensor => binary('Equal', a, b, 'bool');

OPS.Add = {emit: simple('Add'), vjp: (g, t) => [sumToShape(g, t.inputs[0]!.shape), sumToShape(g, t.inputs[1]!.shape)]};
OPS.Sub = {emit: simple('Sub'), vjp: (g, t) => [sumToShape(g, t.inputs[0]!.shape), sumToShape(neg(g), t.inputs[1]!.shape)]};
OPS.Mul = {
  emit: simple('Mul'),
  vjp: (g, t) => {
    const [a, b] = t.inputs as [Tensor, Tensor];
    return [sumToShape(mul(g, b), a.shape), sumToShape(mul(g, a), b.shape)];
  },
};
OPS.Div = {
  emit: simple('Div'),
  vjp: (g, t) => {
    const [a, b] = t.inputs as [Tensor, Tensor];
    const ga = div(g, b);
    return [sumToShape(ga, a.shape), sumToShape(neg(mul(ga, div(a, b))), b.shape)];
  },
};
// max/min route the gradient to the selected operand (ties go to the first, as a mask).
function selectVjp(firstSelected: (a: Tensor, b: Tensor) => Tensor): NonNullable<OpDef['vjp']> {
  return (g, t) => {
    const [a, b] = t.inputs as [Tensor, Tensor];
    const pick = firstSelected(a, b);
    const z = zerosLike(g);
    return [sumToShape(where(pick, g, z), a.shape), sumToShape(where(pick, z, g), b.shape)];
  };
}
OPS.Max = {emit: simple('Max'), vjp: selectVjp((a, b) => greaterOrEqual(a, b))};
OPS.Min = {emit: simple('Min'), vjp: selectVjp((a, b) => lessOrEqual(a, b))};
OPS.Greater = {emit: simple('Greater'), vjp: () => [null, null]};
OPS.Less = {emit: simple('Less'), vjp: () => [null, null]};
OPS.Equal = {emit: simple('Equal'), vjp: () => [null, null]};
OPS.GreaterOrEqual = {emit: simple('GreaterOrEqual'), vjp: () => [null, null]};
OPS.LessOrEqual = {emit: simple('LessOrEqual'), vjp: () => [null, null]};
export const greaterOrEqual = (a: Operand, b: Operand): Tensor => binary('GreaterOrEqual', a, b, 'bool');
export const lessOrEqual = (a: Operand, b: Operand): Tensor => binary('LessOrEqual', a, b, 'bool');

/** x ** p for a constant exponent p. */
export function pow(x: Tensor, p: number): Tensor {
  if (p === 1) return x;
  if (p === 2) return mul(x, x);
  return op('Pow', x.shape, x.dtype, [x, scalar(p, x.dtype)], {p});
}
OPS.Pow = {
  emit: simple('Pow'),
  vjp: (g, t) => {
    const [x] = t.inputs as [Tensor];
    const p = t.attrs.p as number;
    return [mul(g, mul(pow(x, p - 1), p)), null];
  },
};

/** where(cond, a, b), with broadcasting. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ta = typeof a === 'number' ? lift(a, b as Tensor) : a;
  const tb = lift(b, ta);
  if (cond.dtype !== 'bool') throw new StyleclipError('where: condition must be bool');
  const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape));
  return op('Where', shape, ta.dtype, [cond, ta, tb]);
}
OPS.Where = {
  emit: simple('Where'),
  vjp: (g, t) => {
    const [c, a, b] = t.inputs as [Tensor, Tensor, Tensor];
    const z = zerosLike(g);
    return [null, sumToShape(where(c, g, z), a.shape), sumToShape(where(c, z, g), b.shape)];
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Elementwise unary ops

function unary(name: string, x: Tensor, attrs: Attrs = {}, dtype?: DType): Tensor {
  return op(name, x.shape, dtype ?? x.dtype, [x], attrs);
}

export const neg = (x: Tensor): Tensor => unary('Neg', x);
export const exp = (x: Tensor): Tensor => unary('Exp', x);
export const log = (x: Tensor): Tensor => unary('Log', x);
export const sqrt = (x: Tensor): Tensor => unary('Sqrt', x);
export const reciprocal = (x: Tensor): Tensor => unary('Reciprocal', x);
export const rsqrt = (x: Tensor): Tensor => reciprocal(sqrt(x));
export const sigmoid = (x: Tensor): Tensor => unary('Sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('Tanh', x);
export const abs = (x: Tensor): Tensor => unary('Abs', x);
export const sign = (x: Tensor): Tensor => unary('Sign', x);
export const erf = (x: Tensor): Tensor => unary('Erf', x);
export const relu = (x: Tensor): Tensor => unary('Relu', x);
export const square = (x: Tensor): Tensor => mul(x, x);
export const identity = (x: Tensor): Tensor => unary('Identity', x);
/** Block gradients: the value passes, the VJP is zero (PyTorch `.detach()`). */
export const stopGradient = (x: Tensor): Tensor => unary('StopGradient', x);
export const leakyRelu = (x: Tensor, alpha: number): Tensor => unary('LeakyRelu', x, {alpha});
export function cast(x: Tensor, dtype: DType): Tensor {
  return x.dtype === dtype ? x : unary('Cast', x, {to: dtype}, dtype);
}

OPS.Neg = {emit: simple('Neg'), vjp: (g) => [neg(g)]};
OPS.Exp = {emit: simple('Exp'), vjp: (g, t) => [mul(g, t)]};
OPS.Log = {emit: simple('Log'), vjp: (g, t) => [div(g, t.inputs[0]!)]};
OPS.Sqrt = {emit: simple('Sqrt'), vjp: (g, t) => [div(mul(g, 0.5), t)]};
OPS.Reciprocal = {emit: simple('Reciprocal'), vjp: (g, t) => [neg(mul(g, mul(t, t)))]};
OPS.Sigmoid = {emit: simple('Sigmoid'), vjp: (g, t) => [mul(g, mul(t, sub(1, t)))]};
OPS.Tanh = {emit: simple('Tanh'), vjp: (g, t) => [mul(g, sub(1, mul(t, t)))]};
OPS.Abs = {emit: simple('Abs'), vjp: (g, t) => [mul(g, sign(t.inputs[0]!))]};
OPS.Sign = {emit: simple('Sign'), vjp: (g) => [zerosLike(g)]};
OPS.Erf = {
  emit: simple('Erf'),
  vjp: (g, t) => {
    const x = t.inputs[0]!;
    return [mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))];
  },
};
OPS.Relu = {emit: simple('Relu'), vjp: (g, t) => [where(greater(t.inputs[0]!, 0), g, 0)]};
// PyTorch's leaky_relu backward uses slope 1 where x > 0 and alpha elsewhere (including x == 0).
OPS.LeakyRelu = {
  emit: (e, t, ins, out) => e.node('LeakyRelu', ins, [out], {alpha: {f: t.attrs.alpha as number}}),
  vjp: (g, t) => [where(greater(t.inputs[0]!, 0), g, mul(g, t.attrs.alpha as number))],
};
OPS.Identity = {emit: simple('Identity'), vjp: (g) => [g]};
OPS.StopGradient = {emit: simple('Identity'), vjp: () => [null]};
OPS.Cast = {
  emit: (e, t, ins, out) => e.node('Cast', ins, [out], {to: {i: ONNX_DTYPE[t.dtype]}}),
  vjp: (g, t) => (isFloat(t.inputs[0]!.dtype) ? [cast(g, t.inputs[0]!.dtype)] : [null]),
};

export const ONNX_DTYPE: Record<DType, number> = {float32: 1, int32: 6, int64: 7, bool: 9, float64: 11};

// ---------------------------------------------------------------------------------------------------------------
// Constants made on the fly

export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return expand(scalar(0, dtype), shape);
}
function zerosLike(x: Tensor): Tensor {
  return zeros(x.shape, x.dtype);
}
export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  return expand(scalar(value, dtype), shape);
}

// ---------------------------------------------------------------------------------------------------------------
// Shape ops

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape];
  const inferred = s.indexOf(-1);
  if (inferred >= 0) {
    const known = s.reduce((p, d, i) => (i === inferred ? p : p * d), 1);
    s[inferred] = known === 0 ? 0 : x.size / known;
  }
  if (numel(s) !== x.size || s.some((d) => !Number.isInteger(d))) {
    throw new StyleclipError(`reshape: cannot view [${x.shape.join(', ')}] as [${shape.join(', ')}]`);
  }
  if (sameShape(s, x.shape)) return x;
  return op('Reshape', s, x.dtype, [x]);
}
OPS.Reshape = {
  emit: (e, t, ins, out) => e.node('Reshape', [ins[0]!, e.ints(t.shape)], [out]),
  vjp: (g, t) => [reshape(g, t.inputs[0]!.shape)],
};

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new StyleclipError(`transpose: bad permutation [${perm.join(', ')}] for rank ${x.rank}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  return op('Transpose', perm.map((p) => x.shape[p]!), x.dtype, [x], {perm: [...perm]});
}
OPS.Transpose = {
  emit: (e, t, ins, out) => e.node('Transpose', ins, [out], {perm: {ints: t.attrs.perm as number[]}}),
  vjp: (g, t) => {
    const perm = t.attrs.perm as number[];
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [transpose(g, inv)];
  },
};

/** Swap the last two axes. */
function mT(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return transpose(x, perm);
}

export function expand(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes(x.shape, shape);
  if (!sameShape(out, shape)) throw new StyleclipError(`expand: cannot expand [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  if (sameShape(x.shape, shape)) return x;
  return op('Expand', out, x.dtype, [x]);
}
OPS.Expand = {
  emit: (e, t, ins, out) => e.node('Expand', [ins[0]!, e.ints(t.shape)], [out]),
  vjp: (g, t) => [sumToShape(g, t.inputs[0]!.shape)],
};

/**
 * Python-style slice along several axes: `slice(x, {2: [0, 4]})`, or with steps `{2: [0, null, 2]}`.
 * Bounds follow Python (negative counts from the end, clamped).
 */
export function slice(x: Tensor, spec: Record<number, readonly [number | null, number | null, number?]>): Tensor {
  const starts: number[] = [];
  const ends: number[] = [];
  const axes: number[] = [];
  const steps: number[] = [];
  const shape = [...x.shape];
  for (const [k, [s0, e0, st = 1]] of Object.entries(spec)) {
    const axis = normAxis(Number(k), x.rank);
    const n = x.shape[axis]!;
    if (!(st >= 1)) throw new StyleclipError('slice: only positive steps are supported');
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
    const s = s0 === null ? 0 : clampIdx(s0);
    const e = e0 === null ? n : clampIdx(e0);
    const len = Math.max(0, Math.ceil((e - s) / st));
    starts.push(s);
    // End just past the last selected element; an empty selection ends at its start (s - st + 1 could be
    // negative, which ONNX reads as counting from the end).
    ends.push(len === 0 ? s : s + (len - 1) * st + 1);
    axes.push(axis);
    steps.push(st);
    shape[axis] = len;
  }
  if (sameShape(shape, x.shape)) return x;
  return op('Slice', shape, x.dtype, [x], {starts, ends, axes, steps});
}
OPS.Slice = {
  emit: (e, t, ins, out) => {
    const a = t.attrs;
    e.node('Slice', [ins[0]!, e.ints(a.starts as number[]), e.ints(a.ends as number[]), e.ints(a.axes as number[]), e.ints(a.steps as number[])], [out]);
  },
  vjp: (g, t) => {
    // Scatter g back into zeros: zero-insert along strided axes, then pad to the input extent.
    const x = t.inputs[0]!;
    const {starts, axes, steps} = t.attrs as {starts: number[]; axes: number[]; steps: number[]};
    let r = g;
    const pads = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((axis, j) => {
      const st = steps[j]!;
      if (st > 1) r = interleaveZeros(r, axis, st);
      const len = r.shape[axis]!;
      pads[axis] = starts[j]!;
      pads[axis + x.rank] = x.shape[axis]! - starts[j]! - len;
    });
    // Zero-insertion may overshoot the input extent by up to step-1 elements; trim before padding.
    const trim: Record<number, [number, number]> = {};
    axes.forEach((axis) => {
      const over = -pads[axis + x.rank]!;
      if (over > 0) {
        trim[axis] = [0, r.shape[axis]! - over];
        pads[axis + x.rank] = 0;
      }
    });
    if (Object.keys(trim).length) r = slice(r, trim);
    return [pad(r, pads)];
  },
};

/** Insert step-1 zeros after every element along `axis` (length n -> n*step). */
function interleaveZeros(x: Tensor, axis: number, step: number): Tensor {
  const s = [...x.shape];
  const withNew = [...s.slice(0, axis + 1), 1, ...s.slice(axis + 1)];
  const padsNew = new Array<number>(2 * withNew.length).fill(0);
  padsNew[axis + 1 + withNew.length] = step - 1;
  const p = pad(reshape(x, withNew), padsNew);
  s[axis] = s[axis]! * step;
  return reshape(p, s);
}

/** Constant padding; `pads` is ONNX order [begin_0 … begin_{r-1}, end_0 … end_{r-1}]. Negative pads crop. */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length !== 2 * x.rank) throw new StyleclipError(`pad: expected ${2 * x.rank} pad values`);
  if (pads.every((p) => p === 0)) return x;
  const shape = x.shape.map((d, i) => d + pads[i]! + pads[i + x.rank]!);
  return op('Pad', shape, x.dtype, [x], {pads: [...pads], value});
}
OPS.Pad = {
  emit: (e, t, ins, out) => {
    e.node('Pad', [ins[0]!, e.ints(t.attrs.pads as number[]), e.values([t.attrs.value as number], t.dtype, [])], [out]);
  },
  vjp: (g, t) => {
    const pads = t.attrs.pads as number[];
    return [pad(g, pads.map((p) => -p))];
  },
};

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new StyleclipError('concat: no tensors');
  if (xs.length === 1) return xs[0]!;
  const a = normAxis(axis, xs[0]!.rank);
  const shape = [...xs[0]!.shape];
  shape[a] = 0;
  for (const x of xs) {
    if (x.rank !== shape.length || x.shape.some((d, i) => i !== a && d !== shape[i])) {
      throw new StyleclipError(`concat: shapes [${xs.map((t) => t.shape.join('x')).join('], [')}] differ off axis ${axis}`);
    }
    shape[a] += x.shape[a]!;
  }
  return op('Concat', shape, xs[0]!.dtype, [...xs], {axis: a});
}
OPS.Concat = {
  emit: (e, t, ins, out) => e.node('Concat', ins, [out], {axis: {i: t.attrs.axis as number}}),
  vjp: (g, t) => {
    const axis = t.attrs.axis as number;
    let at = 0;
    return t.inputs.map((x) => {
      const s = slice(g, {[axis]: [at, at + x.shape[axis]!]});
      at += x.shape[axis]!;
      return s;
    });
  },
};

/** Select rows along `axis` with constant integer indices (any index shape). */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  const a = normAxis(axis, x.rank);
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new StyleclipError('gather: indices must be integers');
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return op('Gather', shape, x.dtype, [x, indices], {axis: a});
}
OPS.Gather = {
  emit: (e, t, ins, out) => e.node('Gather', ins, [out], {axis: {i: t.attrs.axis as number}}),
  vjp: (g, t) => {
    const [x, idx] = t.inputs as [Tensor, Tensor];
    const axis = t.attrs.axis as number;
    // Move the gathered axis to the front, scatter-add rows, move it back.
    const permX = [axis, ...x.shape.map((_, i) => i).filter((i) => i !== axis)];
    const xT = x.shape.filter((_, i) => i !== axis);
    const gFront = moveAxesToFront(g, axis, idx.rank);
    const rows = scatterAddRows(gFront, idx, x.shape[axis]!, xT);
    const inv = new Array<number>(permX.length);
    permX.forEach((p, i) => (inv[p] = i));
    return [transpose(rows, inv), null];
  },
};

function moveAxesToFront(g: Tensor, start: number, count: number): Tensor {
  const perm = [...Array.from({length: count}, (_, i) => start + i), ...g.shape.map((_, i) => i).filter((i) => i < start || i >= start + count)];
  return transpose(g, perm);
}

/** zeros([n, ...rest]) with rows idx[j] += g[j] (duplicates accumulate). */
function scatterAddRows(g: Tensor, idx: Tensor, n: number, rest: number[]): Tensor {
  const idx64 = cast(idx, 'int64');
  const indices = reshape(idx64, [...idx.shape, 1]);
  return op('ScatterNDAdd', [n, ...rest], g.dtype, [zeros([n, ...rest], g.dtype), indices, g]);
}
/** data with data[indices[i…, :], …] += updates[i…, …] (duplicates accumulate): ONNX ScatterND, reduction 'add'. */
export function scatterNDAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  if (indices.dtype !== 'int64' || indices.rank < 1) throw new StyleclipError('scatterNDAdd: indices must be int64 with rank >= 1');
  const k = indices.shape[indices.rank - 1]!;
  const want = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
  if (k > data.rank || !sameShape(updates.shape, want)) {
    throw new StyleclipError(`scatterNDAdd: updates [${updates.shape.join(', ')}] should be [${want.join(', ')}]`);
  }
  if (updates.dtype !== data.dtype) throw new StyleclipError('scatterNDAdd: dtype mismatch');
  return op('ScatterNDAdd', data.shape, data.dtype, [data, indices, updates]);
}
OPS.ScatterNDAdd = {
  emit: (e, _t, ins, out) => e.node('ScatterND', ins, [out], {reduction: {s: 'add'}}),
  vjp: (g, t) => {
    const [, indices, updates] = t.inputs as [Tensor, Tensor, Tensor];
    return [g, null, reshape(gatherND(g, indices), updates.shape)];
  },
};
/** ONNX GatherND (batch_dims 0): out[i…] = x[indices[i…, :], …]; indices int64 with last dim k ≤ rank(x). */
export function gatherND(x: Tensor, indices: Tensor): Tensor {
  if (indices.dtype !== 'int64' || indices.rank < 1) throw new StyleclipError('gatherND: indices must be int64 with rank >= 1');
  const k = indices.shape[indices.rank - 1]!;
  if (k > x.rank) throw new StyleclipError(`gatherND: index depth ${k} exceeds rank ${x.rank}`);
  const shape = [...indices.shape.slice(0, -1), ...x.shape.slice(k)];
  return op('GatherND', shape, x.dtype, [x, indices]);
}
OPS.GatherND = {
  emit: simple('GatherND'),
  vjp: (g, t) => {
    const [x, indices] = t.inputs as [Tensor, Tensor];
    return [op('ScatterNDAdd', x.shape, x.dtype, [zerosLike(x), indices, g]), null];
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Reductions

function reduceShape(x: Tensor, axes: readonly number[], keepdims: boolean): {axes: number[]; shape: number[]} {
  const ax = [...new Set(axes.map((a) => normAxis(a, x.rank)))].sort((a, b) => a - b);
  const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return {axes: ax, shape};
}

/** Sum over axes (all axes when omitted). */
export function sum(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const r = reduceShape(x, axes ?? x.shape.map((_, i) => i), keepdims);
  if (r.axes.length === 0) return x;
  return op('ReduceSum', r.shape, x.dtype, [x], {axes: r.axes, keepdims});
}
export function mean(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const r = reduceShape(x, axes ?? x.shape.map((_, i) => i), keepdims);
  if (r.axes.length === 0) return x;
  return op('ReduceMean', r.shape, x.dtype, [x], {axes: r.axes, keepdims});
}
export function max(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const r = reduceShape(x, axes ?? x.shape.map((_, i) => i), keepdims);
  if (r.axes.length === 0) return x;
  return op('ReduceMax', r.shape, x.dtype, [x], {axes: r.axes, keepdims});
}

function unreduce(g: Tensor, t: Tensor): Tensor {
  const x = t.inputs[0]!;
  const axes = t.attrs.axes as number[];
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return expand(reshape(g, kept), x.shape);
}

OPS.ReduceSum = {
  emit: (e, t, ins, out) => e.node('ReduceSum', [ins[0]!, e.ints(t.attrs.axes as number[])], [out], {keepdims: {i: t.attrs.keepdims ? 1 : 0}}),
  vjp: (g, t) => [unreduce(g, t)],
};
OPS.ReduceMean = {
  emit: (e, t, ins, out) => e.node('ReduceMean', ins, [out], {axes: {ints: t.attrs.axes as number[]}, keepdims: {i: t.attrs.keepdims ? 1 : 0}}),
  vjp: (g, t) => {
    const x = t.inputs[0]!;
    const count = (t.attrs.axes as number[]).reduce((p, a) => p * x.shape[a]!, 1);
    return [div(unreduce(g, t), count)];
  },
};
// Ties share nothing: every maximal element receives the full gradient (like a mask; ties are measure-zero).
OPS.ReduceMax = {
  emit: (e, t, ins, out) => e.node('ReduceMax', ins, [out], {axes: {ints: t.attrs.axes as number[]}, keepdims: {i: t.attrs.keepdims ? 1 : 0}}),
  vjp: (g, t) => {
    const x = t.inputs[0]!;
    const axes = t.attrs.axes as number[];
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const mask = equal(x, expand(reshape(t, kept), x.shape));
    return [where(mask, unreduce(g, t), 0)];
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Softmax and matmul

export function softmax(x: Tensor, axis = -1): Tensor {
  return op('Softmax', x.shape, x.dtype, [x], {axis: normAxis(axis, x.rank)});
}
OPS.Softmax = {
  emit: (e, t, ins, out) => e.node('Softmax', ins, [out], {axis: {i: t.attrs.axis as number}}),
  vjp: (g, t) => {
    const axis = t.attrs.axis as number;
    const gy = mul(g, t);
    return [sub(gy, mul(t, sum(gy, [axis], true)))];
  },
};

/** Batched matrix product with numpy broadcasting of the leading dims; both operands rank ≥ 2. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new StyleclipError('matmul: operands must have rank >= 2');
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2) throw new StyleclipError(`matmul: [${a.shape.join(', ')}] @ [${b.shape.join(', ')}] inner dims differ`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return op('MatMul', [...batch, m, n], a.dtype, [a, b]);
}
OPS.MatMul = {
  emit: simple('MatMul'),
  vjp: (g, t) => {
    const [a, b] = t.inputs as [Tensor, Tensor];
    return [sumToShape(matmul(g, mT(b)), a.shape), sumToShape(matmul(mT(a), g), b.shape)];
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Convolutions (NCHW, 2-D)

export interface ConvOptions {
  stride?: number;
  /** [top, left, bottom, right] or one number for all sides. */
  padding?: number | readonly [number, number, number, number];
  dilation?: number;
  groups?: number;
}

function pads4(p: ConvOptions['padding']): [number, number, number, number] {
  if (p === undefined) return [0, 0, 0, 0];
  return typeof p === 'number' ? [p, p, p, p] : [p[0], p[1], p[2], p[3]];
}

/** Cross-correlation as PyTorch's conv2d. x:[N,I,H,W] w:[O,I/groups,kh,kw] -> [N,O,H',W'] */
export function conv2d(x: Tensor, w: Tensor, opts: ConvOptions = {}): Tensor {
  const {stride = 1, dilation = 1, groups = 1} = opts;
  const pads = pads4(opts.padding);
  if (x.rank !== 4 || w.rank !== 4) throw new StyleclipError(`conv2d: expected 4-D input and weight, got [${x.shape}] and [${w.shape}]`);
  const [N, I, H, W] = x.shape as [number, number, number, number];
  const [O, Ig, kh, kw] = w.shape as [number, number, number, number];
  if (Ig * groups !== I || O % groups !== 0) throw new StyleclipError(`conv2d: weight [${w.shape}] does not fit input [${x.shape}] with ${groups} groups`);
  const Ho = Math.floor((H + pads[0] + pads[2] - dilation * (kh - 1) - 1) / stride) + 1;
  const Wo = Math.floor((W + pads[1] + pads[3] - dilation * (kw - 1) - 1) / stride) + 1;
  if (Ho <= 0 || Wo <= 0) throw new StyleclipError(`conv2d: output would be empty for input [${x.shape}]`);
  return op('Conv', [N, O, Ho, Wo], x.dtype, [x, w], {stride, dilation, groups, pads});
}

/**
 * Transposed convolution as PyTorch's conv_transpose2d. x:[N,I,H,W] w:[I,O/groups,kh,kw]. `outputPadding` (one
 * number, or [rows, cols]) adds rows/columns at the bottom/right, as PyTorch's output_padding.
 */
export function convTranspose2d(x: Tensor, w: Tensor, opts: ConvOptions & {outputPadding?: number | readonly [number, number]} = {}): Tensor {
  const {stride = 1, dilation = 1, groups = 1} = opts;
  const op2 = opts.outputPadding ?? 0;
  const [oph, opw] = typeof op2 === 'number' ? [op2, op2] : [op2[0], op2[1]];
  const pads = pads4(opts.padding);
  if (x.rank !== 4 || w.rank !== 4) throw new StyleclipError('convTranspose2d: expected 4-D input and weight');
  const [N, I, H, W] = x.shape as [number, number, number, number];
  const [I2, Og, kh, kw] = w.shape as [number, number, number, number];
  if (I2 !== I || I % groups !== 0) throw new StyleclipError(`convTranspose2d: weight [${w.shape}] does not fit input [${x.shape}]`);
  if (oph < 0 || opw < 0 || (oph >= stride && oph >= dilation) || (opw >= stride && opw >= dilation)) {
    throw new StyleclipError(`convTranspose2d: outputPadding [${oph}, ${opw}] must be smaller than stride or dilation`);
  }
  const Ho = (H - 1) * stride + dilation * (kh - 1) + 1 - pads[0] - pads[2] + oph;
  const Wo = (W - 1) * stride + dilation * (kw - 1) + 1 - pads[1] - pads[3] + opw;
  if (Ho <= 0 || Wo <= 0) throw new StyleclipError(`convTranspose2d: output would be empty for input [${x.shape}]`);
  return op('ConvTranspose', [N, Og * groups, Ho, Wo], x.dtype, [x, w], {stride, dilation, groups, pads, outputPadding: [oph, opw]});
}

function convAttrs(t: Tensor): Record<string, OnnxAttr> {
  const a = t.attrs as {stride: number; dilation: number; groups: number; pads: number[]};
  const w = t.inputs[1]!;
  const [top, left, bottom, right] = a.pads as [number, number, number, number];
  return {
    kernel_shape: {ints: [w.shape[2]!, w.shape[3]!]},
    strides: {ints: [a.stride, a.stride]},
    dilations: {ints: [a.dilation, a.dilation]},
    group: {i: a.groups},
    pads: {ints: [top, left, bottom, right]},
  };
}

OPS.Conv = {
  emit: (e, t, ins, out) => e.node('Conv', ins, [out], convAttrs(t)),
  vjp: (g, t) => {
    const [x, w] = t.inputs as [Tensor, Tensor];
    const a = t.attrs as {stride: number; dilation: number; groups: number; pads: [number, number, number, number]};
    // dx: the transposed conv of g with the same geometry. When (H + pads - dilation·(k-1) - 1) is not a multiple
    // of the stride, the strided conv never reaches the last r rows of the padded input; output padding r puts
    // them back *before* the bottom padding is cropped (as PyTorch's conv backward does). Padding zero rows after
    // the crop would be wrong when the bottom padding is > 0: the cropped rows then include real input rows.
    const [, , kh, kw] = w.shape as [number, number, number, number];
    const base = (g.shape[2]! - 1) * a.stride + a.dilation * (kh - 1) + 1 - a.pads[0] - a.pads[2];
    const baseW = (g.shape[3]! - 1) * a.stride + a.dilation * (kw - 1) + 1 - a.pads[1] - a.pads[3];
    // r = H - base is the remainder of a division by the stride, so 0 <= r < stride as outputPadding requires.
    const outputPadding: [number, number] = [x.shape[2]! - base, x.shape[3]! - baseW];
    const gx = convTranspose2d(g, w, {stride: a.stride, dilation: a.dilation, groups: a.groups, padding: a.pads, outputPadding});
    return [gx, convWeightGrad(x, g, w.shape, a)];
  },
};

OPS.ConvTranspose = {
  emit: (e, t, ins, out) => {
    // Output padding only un-crops the bottom/right: it equals end pads reduced by it, then zero rows beyond the
    // full extent. Emitting it that way avoids ORT's output_padding < stride check (PyTorch allows
    // output_padding < max(stride, dilation)).
    const attrs = convAttrs(t);
    const [oph, opw] = t.attrs.outputPadding as [number, number];
    const [top, left, bottom, right] = t.attrs.pads as [number, number, number, number];
    const eb = bottom - oph;
    const er = right - opw;
    attrs.pads = {ints: [top, left, Math.max(eb, 0), Math.max(er, 0)]};
    if (eb >= 0 && er >= 0) {
      e.node('ConvTranspose', ins, [out], attrs);
    } else {
      const full = e.tmp();
      e.node('ConvTranspose', ins, [full], attrs);
      const zero = e.values([0], t.dtype, []);
      e.node('Pad', [full, e.ints([0, 0, 0, 0, 0, 0, Math.max(-eb, 0), Math.max(-er, 0)]), zero], [out]);
    }
  },
  vjp: (g, t) => {
    const [x, w] = t.inputs as [Tensor, Tensor];
    const a = t.attrs as {stride: number; dilation: number; groups: number; pads: [number, number, number, number]};
    // y = conv^T(x) so dx = conv(g) with the same geometry; extra output-padding rows of g are cropped away by
    // the strided conv's floor.
    const gx = conv2d(g, w, {stride: a.stride, dilation: a.dilation, groups: a.groups, padding: a.pads});
    const gxFit = sameShape(gx.shape, x.shape) ? gx : slice(gx, {2: [0, x.shape[2]!], 3: [0, x.shape[3]!]});
    // The weight gradient is that of a conv from g (input) to x (output), whose weight layout [I, O/groups, k, k]
    // is exactly conv^T's.
    return [gxFit, convWeightGrad(g, x, w.shape, a)];
  },
};

/**
 * Gradient of conv2d(x, w) w.r.t. w given the output cotangent gy: dW[o,i,p,q] = Σ_{n,h,v} gy[n,o,h,v] · xpad[n,i,h·s+p·d,v·s+q·d].
 * Computed as a conv with batch and channels swapped (stride and dilation exchange roles).
 */
function convWeightGrad(x: Tensor, gy: Tensor, wShape: Shape, a: {stride: number; dilation: number; groups: number; pads: readonly number[]}): Tensor {
  const [N, I, H, W] = x.shape as [number, number, number, number];
  const [, , Ho, Wo] = gy.shape as [number, number, number, number];
  const [, , kh, kw] = wShape as [number, number, number, number];
  const G = a.groups;
  const Ig = I / G;
  // x -> [Ig, G*N, H, W] (group-major channels), gy -> [O, N, Ho, Wo] used as a weight with `groups` groups.
  const xr = reshape(transpose(reshape(x, [N, G, Ig, H, W]), [2, 1, 0, 3, 4]), [Ig, G * N, H, W]);
  const gw = transpose(gy, [1, 0, 2, 3]);
  // Trailing pad rows that the forward never reached are dropped so the output is exactly [kh, kw].
  const [pt, pl] = a.pads as [number, number, number, number];
  const usedH = (Ho - 1) * a.stride + 1 + (kh - 1) * a.dilation;
  const usedW = (Wo - 1) * a.stride + 1 + (kw - 1) * a.dilation;
  const padB = usedH - H - pt;
  const padR = usedW - W - pl;
  let xp = xr;
  if (padB < 0 || padR < 0) xp = slice(xr, {2: [0, H + Math.min(padB, 0)], 3: [0, W + Math.min(padR, 0)]});
  const dw = conv2d(xp, gw, {stride: a.dilation, dilation: a.stride, groups: G, padding: [pt, pl, Math.max(padB, 0), Math.max(padR, 0)]});
  // dw: [Ig, O, kh, kw] -> [O, Ig, kh, kw]
  return transpose(dw, [1, 0, 2, 3]);
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling (max pooling is forward + mask VJP; average pooling is a depthwise conv in nn/)

/** Max pooling with kernel == stride (non-overlapping windows), no padding. */
export function maxPool2d(x: Tensor, k: number): Tensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  return op('MaxPool', [N, C, Math.floor(H / k), Math.floor(W / k)], x.dtype, [x], {k});
}
OPS.MaxPool = {
  emit: (e, t, ins, out) => {
    const k = t.attrs.k as number;
    e.node('MaxPool', ins, [out], {kernel_shape: {ints: [k, k]}, strides: {ints: [k, k]}});
  },
  vjp: (g, t) => {
    const x = t.inputs[0]!;
    const k = t.attrs.k as number;
    const [N, C, Ho, Wo] = t.shape as [number, number, number, number];
    const up = (v: Tensor) => reshape(expand(reshape(v, [N, C, Ho, 1, Wo, 1]), [N, C, Ho, k, Wo, k]), [N, C, Ho * k, Wo * k]);
    const xc = slice(x, {2: [0, Ho * k], 3: [0, Wo * k]});
    const gx = where(equal(xc, up(t)), up(g), 0);
    return [pad(gx, [0, 0, 0, 0, 0, 0, x.shape[2]! - Ho * k, x.shape[3]! - Wo * k])];
  },
};

// Re-exports so that model code needs only this module for building graphs.
export {constant, scalar, fromNumbers};
