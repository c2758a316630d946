/**
 * Finite-difference checks of every primitive op's VJP rule (see test/helpers/gradcheck.ts for the method and the
 * tolerances). float64 wherever ORT's CPU kernels support double; float32 for Conv/ConvTranspose/Erf.
 * Non-smooth ops (Relu, Abs, Max, MaxPool, …) get inputs at least 0.1 away from their kinks/ties (ε ≤ 1e-2).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {grad, vjp} from '../../src/engine/autodiff.js';
import {toOnnx} from '../../src/engine/onnx.js';
import * as F from '../../src/engine/ops.js';
import {OPS} from '../../src/engine/ops.js';
import {configureEngine} from '../../src/engine/session.js';
import {Tensor, constant, input} from '../../src/engine/tensor.js';
import {compile, graphKey} from '../../src/engine/session.js';
import {type GradInput, type GradcheckOptions, checkGradients, gradcheck, rng} from '../helpers/gradcheck.js';

beforeAll(() => configureEngine({threads: 1}));
afterAll(() => configureEngine({threads: 0}));

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

/** Normal values pushed at least `gap` away from zero. */
function awayFromZero(shape: number[], seed: number, gap = 0.2): Float64Array {
  const R = rng(seed);
  return Float64Array.from({length: numel(shape)}, () => {
    const u = R.normal();
    return Math.sign(u || 1) * (gap + Math.abs(u));
  });
}
/** Positive values in [lo, lo + 2). */
function positive(shape: number[], seed: number, lo = 0.3): Float64Array {
  const R = rng(seed);
  return Float64Array.from({length: numel(shape)}, () => lo + 2 * R.uniform());
}
/** A random permutation of an evenly spaced grid (spacing `gap`), centred on 0: distinct values, no ties. */
function distinct(shape: number[], seed: number, gap = 0.1): Float64Array {
  const n = numel(shape);
  const R = rng(seed);
  const v = Float64Array.from({length: n}, (_, i) => (i - (n - 1) / 2) * gap);
  for (let i = n - 1; i > 0; i--) {
    const k = R.int(i + 1);
    [v[i], v[k]] = [v[k]!, v[i]!];
  }
  return v;
}
const i64 = (values: number[], shape: number[]) => constant(BigInt64Array.from(values.map(BigInt)), shape, 'int64');

interface Case {
  /** The primitive op this case is about (must appear in the forward graph). */
  op: string;
  name: string;
  f: (...xs: Tensor[]) => Tensor | Tensor[];
  inputs: GradInput[];
  opts?: GradcheckOptions;
}

const f32: GradcheckOptions = {dtype: 'float32'};

// Max/Min: b broadcast along rows, a kept ≥ 0.2 away from b.
const bRow = awayFromZero([3], 11);
const aAway = (() => {
  const d = awayFromZero([2, 3], 12);
  return d.map((v, i) => bRow[i % 3]! + v);
})();

const CASES: Case[] = [
  // --- binary, with broadcasting
  {op: 'Add', name: 'same shape', f: (a, b) => F.add(a!, b!), inputs: [{shape: [2, 3]}, {shape: [2, 3]}]},
  {op: 'Add', name: 'broadcast [2,3,4]+[3,1]', f: (a, b) => F.add(a!, b!), inputs: [{shape: [2, 3, 4]}, {shape: [3, 1]}]},
  {op: 'Add', name: 'broadcast [4]+[2,1,4] and scalar', f: (a, b) => F.add(F.add(a!, b!), 1.5), inputs: [{shape: [4]}, {shape: [2, 1, 4]}]},
  {op: 'Sub', name: 'broadcast [2,3]-[3]', f: (a, b) => F.sub(a!, b!), inputs: [{shape: [2, 3]}, {shape: [3]}]},
  {op: 'Sub', name: 'broadcast [1,3]-[2,1] and number - x', f: (a, b) => F.sub(2, F.sub(a!, b!)), inputs: [{shape: [1, 3]}, {shape: [2, 1]}]},
  {op: 'Mul', name: 'broadcast [2,1,4]*[3,1]', f: (a, b) => F.mul(a!, b!), inputs: [{shape: [2, 1, 4]}, {shape: [3, 1]}]},
  {op: 'Mul', name: 'x*x (same input twice)', f: (a) => F.mul(a!, a!), inputs: [{shape: [5]}]},
  {
    op: 'Div',
    name: 'broadcast [2,3]/[3]',
    f: (a, b) => F.div(a!, b!),
    inputs: [{shape: [2, 3]}, {shape: [3], data: awayFromZero([3], 3, 0.5)}],
  },
  {op: 'Div', name: 'number / x', f: (a) => F.div(1.5, a!), inputs: [{shape: [4], data: awayFromZero([4], 4, 0.5)}]},
  {op: 'Max', name: 'broadcast [2,3] vs [3]', f: (a, b) => F.maximum(a!, b!), inputs: [{shape: [2, 3], data: aAway}, {shape: [3], data: bRow}]},
  {op: 'Min', name: 'broadcast [2,3] vs [3]', f: (a, b) => F.minimum(a!, b!), inputs: [{shape: [2, 3], data: aAway}, {shape: [3], data: bRow}]},
  {op: 'Min', name: 'vs scalar', f: (a) => F.minimum(a!, 0), inputs: [{shape: [6], data: awayFromZero([6], 5)}]},
  {op: 'Pow', name: 'p = 3', f: (a) => F.pow(a!, 3), inputs: [{shape: [5]}]},
  {op: 'Pow', name: 'p = 0.5', f: (a) => F.pow(a!, 0.5), inputs: [{shape: [5], data: positive([5], 6)}]},
  {op: 'Pow', name: 'p = -1.5', f: (a) => F.pow(a!, -1.5), inputs: [{shape: [5], data: positive([5], 7)}]},
  {
    op: 'Where',
    name: 'broadcast cond [2,3], a [2,1], b [3]',
    f: (a, b) => F.where(constant(new Uint8Array([1, 0, 1, 0, 0, 1]), [2, 3], 'bool'), a!, b!),
    inputs: [{shape: [2, 1]}, {shape: [3]}],
  },
  {op: 'Where', name: 'with a number branch', f: (a) => F.where(F.greater(a!, 0), 0.5, a!), inputs: [{shape: [6], data: awayFromZero([6], 8)}]},
  // Comparisons have no gradient; their inputs still lie on the differentiated path.
  {op: 'Greater', name: 'where(x > 0.3, x², -x)', f: (a) => F.where(F.greater(a!, 0.3), F.mul(a!, a!), F.neg(a!)), inputs: [{shape: [8], data: distinct([8], 9, 0.25)}]},
  {op: 'Less', name: 'where(x < y, x, 2y)', f: (a, b) => F.where(F.less(a!, b!), a!, F.mul(b!, 2)), inputs: [{shape: [2, 3], data: aAway}, {shape: [3], data: bRow}]},
  {op: 'Equal', name: 'where(x == x, x, 0)', f: (a) => F.where(F.equal(a!, a!), F.exp(a!), 0), inputs: [{shape: [4]}]},
  {op: 'GreaterOrEqual', name: 'where(x >= 0, x, 3x)', f: (a) => F.where(F.greaterOrEqual(a!, 0), a!, F.mul(a!, 3)), inputs: [{shape: [6], data: awayFromZero([6], 10)}]},
  {op: 'LessOrEqual', name: 'where(x <= 0, x², x)', f: (a) => F.where(F.lessOrEqual(a!, 0), F.mul(a!, a!), a!), inputs: [{shape: [6], data: awayFromZero([6], 13)}]},
  // --- unary
  {op: 'Neg', name: '', f: (a) => F.neg(a!), inputs: [{shape: [2, 3]}]},
  {op: 'Exp', name: '', f: (a) => F.exp(a!), inputs: [{shape: [2, 3]}]},
  {op: 'Log', name: '', f: (a) => F.log(a!), inputs: [{shape: [6], data: positive([6], 14)}]},
  {op: 'Sqrt', name: '', f: (a) => F.sqrt(a!), inputs: [{shape: [6], data: positive([6], 15)}]},
  {op: 'Reciprocal', name: '', f: (a) => F.reciprocal(a!), inputs: [{shape: [6], data: awayFromZero([6], 16, 0.4)}]},
  {op: 'Sigmoid', name: '', f: (a) => F.sigmoid(a!), inputs: [{shape: [2, 3]}]},
  {op: 'Tanh', name: '', f: (a) => F.tanh(a!), inputs: [{shape: [2, 3]}]},
  {op: 'Abs', name: '', f: (a) => F.abs(a!), inputs: [{shape: [6], data: awayFromZero([6], 17)}]},
  {op: 'Sign', name: 'sign(x)·x', f: (a) => F.mul(F.sign(a!), a!), inputs: [{shape: [6], data: awayFromZero([6], 18)}]},
  {op: 'Erf', name: 'float32', f: (a) => F.erf(a!), inputs: [{shape: [2, 3]}], opts: f32},
  {op: 'Relu', name: '', f: (a) => F.relu(a!), inputs: [{shape: [8], data: awayFromZero([8], 19)}]},
  {op: 'LeakyRelu', name: 'alpha 0.2', f: (a) => F.leakyRelu(a!, 0.2), inputs: [{shape: [8], data: awayFromZero([8], 20)}]},
  {op: 'Identity', name: '', f: (a) => F.identity(a!), inputs: [{shape: [2, 3]}]},
  {
    op: 'Cast',
    name: 'float32 -> float64 -> float32',
    f: (a) => F.cast(F.exp(F.cast(a!, 'float64')), 'float32'),
    inputs: [{shape: [2, 3]}],
    opts: f32,
  },
  // --- shape ops
  {op: 'Reshape', name: '[2,3,4] -> [4,-1]', f: (a) => F.reshape(F.exp(a!), [4, -1]), inputs: [{shape: [2, 3, 4]}]},
  {op: 'Transpose', name: 'perm [2,0,1]', f: (a) => F.transpose(a!, [2, 0, 1]), inputs: [{shape: [2, 3, 4]}]},
  {op: 'Expand', name: '[3,1] -> [2,3,4]', f: (a) => F.expand(a!, [2, 3, 4]), inputs: [{shape: [3, 1]}]},
  {op: 'Slice', name: 'contiguous', f: (a) => F.slice(a!, {1: [1, 3]}), inputs: [{shape: [2, 5]}]},
  {op: 'Slice', name: 'step 2 from 1', f: (a) => F.slice(a!, {1: [1, null, 2]}), inputs: [{shape: [3, 6]}]},
  {op: 'Slice', name: 'step 3 (trim overshoot)', f: (a) => F.slice(a!, {0: [0, null, 3]}), inputs: [{shape: [7, 2]}]},
  {op: 'Slice', name: 'negative bounds', f: (a) => F.slice(a!, {0: [-3, -1]}), inputs: [{shape: [5, 2]}]},
  {op: 'Slice', name: 'clamped Python bounds with step', f: (a) => F.slice(a!, {1: [-100, 100, 3]}), inputs: [{shape: [2, 7]}]},
  {op: 'Slice', name: 'two axes, steps 2 and 3, negative start', f: (a) => F.slice(a!, {0: [1, null, 2], 2: [-5, null, 3]}), inputs: [{shape: [5, 2, 6]}]},
  {op: 'Pad', name: 'positive, value 0.5', f: (a) => F.pad(a!, [1, 0, 2, 1], 0.5), inputs: [{shape: [2, 3]}]},
  {op: 'Pad', name: 'negative (crop) and mixed', f: (a) => F.pad(a!, [-1, 2, 0, -2], 0), inputs: [{shape: [4, 5]}]},
  {op: 'Concat', name: 'three inputs, axis 1', f: (a, b, c) => F.concat([a!, b!, c!], 1), inputs: [{shape: [2, 1, 3]}, {shape: [2, 2, 3]}, {shape: [2, 3, 3]}]},
  {op: 'Concat', name: 'same input twice, axis -1', f: (a) => F.concat([a!, F.exp(a!), a!], -1), inputs: [{shape: [2, 2]}]},
  {op: 'Gather', name: 'axis 0, repeated and negative indices', f: (a) => F.gather(a!, i64([2, 0, 2, -1], [4]), 0), inputs: [{shape: [4, 3]}]},
  {op: 'Gather', name: 'axis 1, 2-D indices with repeats', f: (a) => F.gather(a!, i64([1, 1, 0, 2], [2, 2]), 1), inputs: [{shape: [2, 3, 2]}]},
  {op: 'Gather', name: 'axis 2, scalar index', f: (a) => F.gather(a!, i64([1], []), 2), inputs: [{shape: [2, 2, 3]}]},
  {
    op: 'Gather',
    name: 'int32 indices',
    f: (a) => F.gather(a!, constant(new Int32Array([0, 0, 1]), [3], 'int32'), 0),
    inputs: [{shape: [2, 2]}],
  },
  {op: 'GatherND', name: 'k = 2, repeated', f: (a) => F.gatherND(a!, i64([0, 1, 2, 3, 0, 1], [3, 2])), inputs: [{shape: [3, 4]}]},
  {op: 'GatherND', name: 'k = 1 rows', f: (a) => F.gatherND(a!, i64([2, 0, 2], [3, 1])), inputs: [{shape: [3, 2, 2]}]},
  {
    op: 'ScatterNDAdd',
    name: 'duplicate rows; grads for data and updates',
    f: (d, u) => F.scatterNDAdd(F.mul(d!, d!), i64([1, 3, 1], [3, 1]), F.mul(u!, u!)),
    inputs: [{shape: [4, 3]}, {shape: [3, 3]}],
  },
  // --- reductions
  {op: 'ReduceSum', name: 'axes [0,2], keepdims', f: (a) => F.sum(a!, [0, 2], true), inputs: [{shape: [2, 3, 4]}]},
  {op: 'ReduceSum', name: 'axes [1], no keepdims', f: (a) => F.sum(a!, [1]), inputs: [{shape: [2, 3, 4]}]},
  {op: 'ReduceSum', name: 'all', f: (a) => F.sum(F.mul(a!, a!)), inputs: [{shape: [2, 3]}]},
  {op: 'ReduceMean', name: 'axes [-1], keepdims', f: (a) => F.mean(a!, [-1], true), inputs: [{shape: [2, 3, 4]}]},
  {op: 'ReduceMean', name: 'axes [0,1], no keepdims', f: (a) => F.mean(a!, [0, 1]), inputs: [{shape: [2, 3, 4]}]},
  {op: 'ReduceMax', name: 'axis 1, keepdims', f: (a) => F.max(a!, [1], true), inputs: [{shape: [2, 4, 3], data: distinct([2, 4, 3], 21)}]},
  {op: 'ReduceMax', name: 'axes [0,2], no keepdims', f: (a) => F.max(a!, [0, 2]), inputs: [{shape: [2, 4, 3], data: distinct([2, 4, 3], 22)}]},
  {op: 'Softmax', name: 'axis -1', f: (a) => F.softmax(a!, -1), inputs: [{shape: [2, 5]}]},
  {op: 'Softmax', name: 'axis 1 of 3-D', f: (a) => F.softmax(a!, 1), inputs: [{shape: [2, 3, 4]}]},
  // --- matmul
  {op: 'MatMul', name: '2-D', f: (a, b) => F.matmul(a!, b!), inputs: [{shape: [3, 4]}, {shape: [4, 2]}]},
  {op: 'MatMul', name: 'batch broadcast [2,1,3,4]@[3,4,5]', f: (a, b) => F.matmul(a!, b!), inputs: [{shape: [2, 1, 3, 4]}, {shape: [3, 4, 5]}]},
  {op: 'MatMul', name: 'batch broadcast [3,4]@[2,4,2]', f: (a, b) => F.matmul(a!, b!), inputs: [{shape: [3, 4]}, {shape: [2, 4, 2]}]},
  // --- convolutions (float32 only in ORT)
  {op: 'Conv', name: 'stride 1, pad 1', f: (x, w) => F.conv2d(x!, w!, {padding: 1}), inputs: [{shape: [2, 3, 5, 4]}, {shape: [4, 3, 3, 3]}], opts: f32},
  {
    op: 'Conv',
    name: 'stride 2, asymmetric pad [1,0,2,1]',
    f: (x, w) => F.conv2d(x!, w!, {stride: 2, padding: [1, 0, 2, 1]}),
    inputs: [{shape: [1, 2, 7, 6]}, {shape: [3, 2, 3, 3]}],
    opts: f32,
  },
  {
    // H = 5, k = 3, s = 2, bottom pad 1: the last input row is used although the strided conv skips a row.
    op: 'Conv',
    name: 'stride 2, bottom/right pad 1, remainder rows',
    f: (x, w) => F.conv2d(x!, w!, {stride: 2, padding: [0, 0, 1, 1]}),
    inputs: [{shape: [1, 2, 5, 5]}, {shape: [2, 2, 3, 3]}],
    opts: f32,
  },
  {
    op: 'Conv',
    name: 'stride 2, no pad, odd size (unused last row)',
    f: (x, w) => F.conv2d(x!, w!, {stride: 2}),
    inputs: [{shape: [1, 2, 6, 7]}, {shape: [2, 2, 3, 2]}],
    opts: f32,
  },
  {op: 'Conv', name: 'dilation 2, pad 2', f: (x, w) => F.conv2d(x!, w!, {dilation: 2, padding: 2}), inputs: [{shape: [1, 2, 6, 5]}, {shape: [3, 2, 3, 3]}], opts: f32},
  {
    op: 'Conv',
    name: 'dilation 2, stride 2, asymmetric pad',
    f: (x, w) => F.conv2d(x!, w!, {dilation: 2, stride: 2, padding: [2, 1, 0, 1]}),
    inputs: [{shape: [1, 2, 8, 7]}, {shape: [2, 2, 3, 3]}],
    opts: f32,
  },
  {op: 'Conv', name: 'groups 2', f: (x, w) => F.conv2d(x!, w!, {groups: 2, padding: 1}), inputs: [{shape: [2, 4, 4, 4]}, {shape: [6, 2, 3, 3]}], opts: f32},
  {
    op: 'Conv',
    name: 'depthwise (groups = C), stride 2',
    f: (x, w) => F.conv2d(x!, w!, {groups: 3, stride: 2, padding: 1}),
    inputs: [{shape: [2, 3, 5, 5]}, {shape: [3, 1, 3, 3]}],
    opts: f32,
  },
  {op: 'Conv', name: '1x1', f: (x, w) => F.conv2d(x!, w!), inputs: [{shape: [2, 3, 2, 3]}, {shape: [4, 3, 1, 1]}], opts: f32},
  {
    op: 'ConvTranspose',
    name: 'stride 2, pad 1, outputPadding 1',
    f: (x, w) => F.convTranspose2d(x!, w!, {stride: 2, padding: 1, outputPadding: 1}),
    inputs: [{shape: [2, 3, 3, 4]}, {shape: [3, 2, 3, 3]}],
    opts: f32,
  },
  {
    op: 'ConvTranspose',
    name: 'stride 2, no pad, kernel 4',
    f: (x, w) => F.convTranspose2d(x!, w!, {stride: 2}),
    inputs: [{shape: [1, 2, 3, 3]}, {shape: [2, 3, 4, 4]}],
    opts: f32,
  },
  {
    op: 'ConvTranspose',
    name: 'groups 2, stride 2, asymmetric pad',
    f: (x, w) => F.convTranspose2d(x!, w!, {stride: 2, groups: 2, padding: [1, 0, 0, 1]}),
    inputs: [{shape: [1, 4, 3, 3]}, {shape: [4, 3, 3, 3]}],
    opts: f32,
  },
  {
    op: 'ConvTranspose',
    name: 'dilation 2, stride 1, pad 1',
    f: (x, w) => F.convTranspose2d(x!, w!, {dilation: 2, padding: 1}),
    inputs: [{shape: [1, 2, 3, 4]}, {shape: [2, 2, 3, 3]}],
    opts: f32,
  },
  {
    // outputPadding 1 ≥ stride 1 is allowed because dilation is 2; the VJP's conv then yields an extra row.
    op: 'ConvTranspose',
    name: 'stride 1, dilation 2, outputPadding 1',
    f: (x, w) => F.convTranspose2d(x!, w!, {dilation: 2, outputPadding: 1}),
    inputs: [{shape: [1, 2, 3, 3]}, {shape: [2, 2, 2, 2]}],
    opts: f32,
  },
  {op: 'MaxPool', name: 'k 2, even', f: (x) => F.maxPool2d(x!, 2), inputs: [{shape: [1, 2, 4, 4], data: distinct([1, 2, 4, 4], 23)}]},
  {op: 'MaxPool', name: 'k 2, odd size (cropped)', f: (x) => F.maxPool2d(x!, 2), inputs: [{shape: [2, 1, 5, 3], data: distinct([2, 1, 5, 3], 24)}]},
];

/** Ops with a VJP that are checked by a dedicated test below rather than by finite differences. */
const SPECIAL = new Set(['StopGradient']);

describe('VJP rules match central finite differences', () => {
  for (const c of CASES) {
    it(`${c.op}${c.name ? `: ${c.name}` : ''}`, async () => {
      const r = await gradcheck(c.f, c.inputs, {what: `${c.op} ${c.name}`, ...c.opts});
      expect(r.ops.has(c.op), `${c.op} should appear in the forward graph (got ${[...r.ops].join(', ')})`).toBe(true);
      expect(r.checked).toBeGreaterThan(0);
    });
  }

  it('StopGradient passes the value and blocks the gradient', async () => {
    const x = input('x', [4], 'float64');
    const y = F.mul(x, F.stopGradient(x));
    const [gx] = grad(F.sum(y), [x]);
    const p = await compile([x], [y, gx!]);
    const xv = new Float64Array([1, -2, 3, 0.5]);
    const [yv, gv] = await p.run([xv]);
    expect(Array.from(yv!.data as Float64Array)).toEqual([1, 4, 9, 0.25]);
    expect(Array.from(gv!.data as Float64Array)).toEqual(Array.from(xv));
  });

  it('every op with a VJP has a gradcheck case', () => {
    const covered = new Set([...CASES.map((c) => c.op), ...SPECIAL]);
    const missing = Object.keys(OPS).filter((k) => OPS[k]!.vjp && !covered.has(k));
    expect(missing, `ops with a vjp but no gradcheck case in test/engine/vjp.test.ts`).toEqual([]);
  });
});

describe('autodiff plumbing', () => {
  it('a wrt tensor the outputs do not depend on gets zeros; a cotangent of the wrong shape is rejected', async () => {
    const x = input('x', [3], 'float64');
    const u = input('u', [2, 2], 'float64');
    const y = F.sum(F.exp(x));
    const [gx, gu] = grad(y, [x, u]);
    expect(gu!.shape).toEqual([2, 2]);
    const p = await compile([x, u], [gx!, gu!]);
    const [rx, ru] = await p.run([new Float64Array([0, 1, 2]), new Float64Array(4)]);
    expect(Array.from(rx!.data as Float64Array)).toEqual([1, Math.E, Math.exp(2)].map((v) => expect.closeTo(v, 12)));
    expect(Array.from(ru!.data as Float64Array)).toEqual([0, 0, 0, 0]);
    expect(() => vjp([F.exp(x)], [constant(new Float64Array(2), [2], 'float64')], [x])).toThrow(StyleclipError);
  });

  it('differentiates deep graphs without recursion (20 000-op chain)', () => {
    const x = input('x', [2], 'float64');
    let y = x;
    for (let i = 0; i < 10_000; i++) y = F.tanh(F.add(y, 0.001));
    const [g] = grad(F.sum(y), [x]);
    expect(g!.shape).toEqual([2]);
    expect(graphKey([x], [g!])).toMatch(/^[0-9a-f]{64}$/);
    expect(toOnnx({inputs: [x], outputs: [g!]}).length).toBeGreaterThan(100_000);
  });
});

describe('second-order gradients against finite differences of the first-order gradient', () => {
  const wv = awayFromZero([6], 30);
  it('x -> ∇ₓ Σ tanh(x)·w (Hessian-vector products through Tanh/Mul)', async () => {
    await gradcheck(
      (x, w) => grad(F.sum(F.mul(F.tanh(x!), w!)), [x!])[0]!,
      [{shape: [6]}, {shape: [6], data: wv}],
      {what: 'grad tanh'},
    );
  });
  it('(x, w) -> Σ (∇ₓ Σ tanh(x)·w)² and its gradient w.r.t. x and w', async () => {
    await gradcheck(
      (x, w) => {
        const [g1] = grad(F.sum(F.mul(F.tanh(x!), w!)), [x!]);
        return F.sum(F.mul(g1!, g1!));
      },
      [{shape: [6]}, {shape: [6], data: wv}],
      {what: 'sum (grad tanh)^2'},
    );
  });
  it('softmax/matmul composite: x -> ∇ₓ Σ softmax(x W)·r', async () => {
    const r = constant(Float64Array.from(awayFromZero([3, 4], 31)), [3, 4], 'float64');
    await gradcheck(
      (x, w) => grad(F.sum(F.mul(F.softmax(F.matmul(x!, w!), -1), r)), [x!, w!]),
      [{shape: [3, 2]}, {shape: [2, 4]}],
      {what: 'grad softmax matmul'},
    );
  });
  it('conv (stride 2, asymmetric pad, remainder rows): (x, w) -> ∇_{x,w} Σ tanh(conv(x, w))·r', async () => {
    const R = rng(32);
    const yShape = [1, 2, 2, 2];
    const r = constant(Float32Array.from({length: numel(yShape)}, () => R.normal()), yShape, 'float32');
    await gradcheck(
      (x, w) => grad(F.sum(F.mul(F.tanh(F.conv2d(x!, w!, {stride: 2, padding: [0, 1, 1, 0]})), r)), [x!, w!]),
      [{shape: [1, 2, 5, 5]}, {shape: [2, 2, 3, 3]}],
      {dtype: 'float32', what: 'grad conv'},
    );
  });
  it('convTranspose (stride 2, outputPadding 1): (x, w) -> ∇_{x,w} Σ tanh(convT(x, w))·r', async () => {
    const R = rng(33);
    const yShape = [1, 2, 6, 6];
    const r = constant(Float32Array.from({length: numel(yShape)}, () => R.normal()), yShape, 'float32');
    await gradcheck(
      (x, w) => grad(F.sum(F.mul(F.tanh(F.convTranspose2d(x!, w!, {stride: 2, padding: 1, outputPadding: 1})), r)), [x!, w!]),
      [{shape: [1, 2, 3, 3]}, {shape: [2, 2, 3, 3]}],
      {dtype: 'float32', what: 'grad convT'},
    );
  });
});

describe('the checker can fail', () => {
  it('catches a deliberately wrong VJP rule (d(x²) registered as x instead of 2x)', async () => {
    OPS.TestBadSquare = {
      emit: (e, _t, ins, out) => e.node('Mul', [ins[0]!, ins[0]!], [out]),
      vjp: (g, t) => [F.mul(g, t.inputs[0]!)],
    };
    try {
      const r = await checkGradients((x) => new Tensor('TestBadSquare', x!.shape, x!.dtype, [x!]), [{shape: [5]}]);
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/gradient mismatch/);
      await expect(gradcheck((x) => new Tensor('TestBadSquare', x!.shape, x!.dtype, [x!]), [{shape: [5]}])).rejects.toThrow(/gradient mismatch/);
    } finally {
      delete OPS.TestBadSquare;
    }
  });

  it('catches an error in one coordinate of a large input that the sampled subset may miss', async () => {
    // Wrong by +50 % in the last element only; 200 elements > maxCoords = 40: the random direction must catch it.
    OPS.TestBadLast = {
      emit: (e, _t, ins, out) => e.node('Identity', ins, [out]),
      vjp: (g) => {
        const bump = new Float64Array(200);
        bump[199] = 0.5;
        return [F.add(g, F.mul(g, constant(bump, [200], 'float64')))];
      },
    };
    try {
      const r = await checkGradients((x) => new Tensor('TestBadLast', x!.shape, x!.dtype, [x!]), [{shape: [200]}], {maxCoords: 5});
      expect(r.ok).toBe(false);
    } finally {
      delete OPS.TestBadLast;
    }
  });

  it('float32 mode also catches the wrong rule', async () => {
    OPS.TestBadSquare32 = {
      emit: (e, _t, ins, out) => e.node('Mul', [ins[0]!, ins[0]!], [out]),
      vjp: (g, t) => [F.mul(g, t.inputs[0]!)],
    };
    try {
      const r = await checkGradients((x) => new Tensor('TestBadSquare32', x!.shape, x!.dtype, [x!]), [{shape: [2, 3]}], {dtype: 'float32'});
      expect(r.ok).toBe(false);
    } finally {
      delete OPS.TestBadSquare32;
    }
  });
});
