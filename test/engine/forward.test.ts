/**
 * Forward values of the engine's ops against small independent reference implementations (plain float64 loops),
 * plus the ONNX writer (dtypes ORT must accept) and the session layer (cache identity, feed validation).
 */
import * as ort from 'onnxruntime-node';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import * as F from '../../src/engine/ops.js';
import {toOnnx} from '../../src/engine/onnx.js';
import {compile, configureEngine, graphKey, liveSessions, sessionsCreated} from '../../src/engine/session.js';
import {type Tensor, constant, input} from '../../src/engine/tensor.js';
import {expectAllClose} from '../helpers/allclose.js';
import {rng} from '../helpers/gradcheck.js';

beforeAll(() => configureEngine({threads: 1}));
afterAll(() => configureEngine({threads: 0}));

// --- plain-JS reference implementations (row-major, float64) -------------------------------------------------

interface Nd {
  data: Float64Array;
  shape: number[];
}
const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const stridesOf = (s: readonly number[]) => {
  const st = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1]! * s[i + 1]!;
  return st;
};
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return idx;
}
const ravel = (idx: readonly number[], shape: readonly number[]) => idx.reduce((p, v, a) => p * shape[a]! + v, 0);

function randn(shape: number[], seed: number): Nd {
  const R = rng(seed);
  return {data: Float64Array.from({length: numel(shape)}, () => R.normal()), shape};
}

function conv2dRef(x: Nd, w: Nd, o: {stride?: number; pads?: number[]; dilation?: number; groups?: number}): Nd {
  const {stride = 1, dilation = 1, groups = 1} = o;
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = w.shape as [number, number, number, number];
  const Ho = Math.floor((H + pt! + pb! - dilation * (kh - 1) - 1) / stride) + 1;
  const Wo = Math.floor((W + pl! + pr! - dilation * (kw - 1) - 1) / stride) + 1;
  const out = new Float64Array(N * O * Ho * Wo);
  const Og = O / groups;
  for (let n = 0; n < N; n++)
    for (let oc = 0; oc < O; oc++) {
      const g = Math.floor(oc / Og);
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = 0;
          for (let c = 0; c < Cg; c++)
            for (let p = 0; p < kh; p++)
              for (let q = 0; q < kw; q++) {
                const h = i * stride - pt! + p * dilation;
                const v = j * stride - pl! + q * dilation;
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                s += x.data[((n * C + g * Cg + c) * H + h) * W + v]! * w.data[((oc * Cg + c) * kh + p) * kw + q]!;
              }
          out[((n * O + oc) * Ho + i) * Wo + j] = s;
        }
    }
  return {data: out, shape: [N, O, Ho, Wo]};
}

/** Scatter form: every x element adds x·w into the (uncropped) output, then pads are cropped. */
function convTranspose2dRef(x: Nd, w: Nd, o: {stride?: number; pads?: number[]; dilation?: number; groups?: number; outputPadding?: [number, number]}): Nd {
  const {stride = 1, dilation = 1, groups = 1} = o;
  const [pt, pl, pb, pr] = (o.pads ?? [0, 0, 0, 0]) as [number, number, number, number];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Og, kh, kw] = w.shape as [number, number, number, number];
  const Cg = C / groups;
  const O = Og * groups;
  const Ho = (H - 1) * stride + dilation * (kh - 1) + 1 - pt - pb + oph;
  const Wo = (W - 1) * stride + dilation * (kw - 1) + 1 - pl - pr + opw;
  const out = new Float64Array(N * O * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / Cg);
      for (let h = 0; h < H; h++)
        for (let v = 0; v < W; v++) {
          const xv = x.data[((n * C + c) * H + h) * W + v]!;
          for (let oc = 0; oc < Og; oc++)
            for (let p = 0; p < kh; p++)
              for (let q = 0; q < kw; q++) {
                const i = h * stride + p * dilation - pt;
                const j = v * stride + q * dilation - pl;
                if (i < 0 || i >= Ho || j < 0 || j >= Wo) continue;
                out[((n * O + g * Og + oc) * Ho + i) * Wo + j]! += xv * w.data[((c * Og + oc) * kh + p) * kw + q]!;
              }
        }
    }
  return {data: out, shape: [N, O, Ho, Wo]};
}

function padRef(x: Nd, pads: number[], value: number): Nd {
  const r = x.shape.length;
  const shape = x.shape.map((d, i) => d + pads[i]! + pads[i + r]!);
  const out = new Float64Array(numel(shape));
  for (let k = 0; k < out.length; k++) {
    const idx = unravel(k, shape).map((v, a) => v - pads[a]!);
    out[k] = idx.every((v, a) => v >= 0 && v < x.shape[a]!) ? x.data[ravel(idx, x.shape)]! : value;
  }
  return {data: out, shape};
}

/** Python range semantics for x[start:stop:step], step > 0. */
function pyRange(n: number, start: number | null, stop: number | null, step: number): number[] {
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = start === null ? 0 : norm(start);
  const e = stop === null ? n : norm(stop);
  const out: number[] = [];
  for (let i = s; i < e; i += step) out.push(i);
  return out;
}
function sliceRef(x: Nd, spec: Record<number, [number | null, number | null, number?]>): Nd {
  const r = x.shape.length;
  const lists = x.shape.map((d, a) => {
    const sp = spec[a] ?? spec[a - r];
    return sp ? pyRange(d, sp[0], sp[1], sp[2] ?? 1) : Array.from({length: d}, (_, i) => i);
  });
  const shape = lists.map((l) => l.length);
  const out = new Float64Array(numel(shape));
  for (let k = 0; k < out.length; k++) out[k] = x.data[ravel(unravel(k, shape).map((v, a) => lists[a]![v]!), x.shape)]!;
  return {data: out, shape};
}

function gatherRef(x: Nd, idx: number[], idxShape: number[], axis: number): Nd {
  const shape = [...x.shape.slice(0, axis), ...idxShape, ...x.shape.slice(axis + 1)];
  const out = new Float64Array(numel(shape));
  const ir = idxShape.length;
  for (let k = 0; k < out.length; k++) {
    const o = unravel(k, shape);
    let j = idx[ravel(o.slice(axis, axis + ir), idxShape)]!;
    if (j < 0) j += x.shape[axis]!;
    out[k] = x.data[ravel([...o.slice(0, axis), j, ...o.slice(axis + ir)], x.shape)]!;
  }
  return {data: out, shape};
}

function softmaxRef(x: Nd, axis: number): Nd {
  const out = new Float64Array(x.data.length);
  const st = stridesOf(x.shape)[axis]!;
  const n = x.shape[axis]!;
  for (let k = 0; k < x.data.length; k++) {
    if (unravel(k, x.shape)[axis] !== 0) continue;
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, x.data[k + i * st]!);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(x.data[k + i * st]! - m);
    for (let i = 0; i < n; i++) out[k + i * st] = Math.exp(x.data[k + i * st]! - m) / s;
  }
  return {data: out, shape: x.shape};
}

function matmulRef(a: Nd, b: Nd): Nd {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const r = Math.max(ba.length, bb.length);
  const pa = [...new Array<number>(r - ba.length).fill(1), ...ba];
  const pb = [...new Array<number>(r - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const out = new Float64Array(numel(batch) * m * n);
  for (let t = 0; t < numel(batch); t++) {
    const bi = unravel(t, batch);
    const ia = ravel(bi.map((v, i) => (pa[i] === 1 ? 0 : v)), pa);
    const ib = ravel(bi.map((v, i) => (pb[i] === 1 ? 0 : v)), pb);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) s += a.data[ia * m * k + i * k + l]! * b.data[ib * k * n + l * n + j]!;
        out[t * m * n + i * n + j] = s;
      }
  }
  return {data: out, shape: [...batch, m, n]};
}

function reduceRef(x: Nd, axes: number[], keepdims: boolean, kind: 'sum' | 'mean' | 'max'): Nd {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Float64Array(numel(kept)).fill(kind === 'max' ? -Infinity : 0);
  for (let k = 0; k < x.data.length; k++) {
    const o = ravel(unravel(k, x.shape).map((v, i) => (axes.includes(i) ? 0 : v)), kept);
    acc[o] = kind === 'max' ? Math.max(acc[o]!, x.data[k]!) : acc[o]! + x.data[k]!;
  }
  if (kind === 'mean') {
    const cnt = axes.reduce((p, a) => p * x.shape[a]!, 1);
    for (let i = 0; i < acc.length; i++) acc[i]! /= cnt;
  }
  return {data: acc, shape: keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i))};
}

// --- harness ---------------------------------------------------------------------------------------------------

/** Compile `f` on inputs with the given values (one program), run it, compare each output with its reference. */
async function checkForward(dtype: 'float32' | 'float64', args: Nd[], f: (...xs: Tensor[]) => Tensor[], refs: Nd[], tol = dtype === 'float64' ? 1e-12 : 1e-5) {
  const xs = args.map((a, i) => input(`a${i}`, a.shape, dtype));
  const outs = f(...xs);
  const prog = await compile(xs, outs);
  const res = await prog.run(args.map((a) => (dtype === 'float32' ? Float32Array.from(a.data) : a.data)));
  outs.forEach((o, k) => {
    expect(o.shape, `output ${k} symbolic shape`).toEqual(refs[k]!.shape);
    expect(res[k]!.shape).toEqual(refs[k]!.shape);
    expect(res[k]!.data.length).toBe(numel(refs[k]!.shape));
    expectAllClose(res[k]!.data as Float64Array, refs[k]!.data, {atol: tol, rtol: tol, what: `output ${k}`});
  });
}

describe('forward values against plain-JS references', () => {
  it('conv2d: stride, asymmetric padding, dilation, groups, depthwise', async () => {
    const x = randn([2, 4, 7, 6], 1);
    const w1 = randn([3, 4, 3, 3], 2);
    const w2 = randn([4, 2, 3, 2], 3);
    const w3 = randn([4, 1, 3, 3], 4);
    const cfgs = [
      {w: w1, o: {}},
      {w: w1, o: {stride: 2, pads: [1, 0, 2, 1]}},
      {w: w1, o: {dilation: 2, pads: [2, 1, 0, 1]}},
      {w: w2, o: {groups: 2, stride: 2, pads: [0, 1, 1, 0]}},
      {w: w3, o: {groups: 4, pads: [1, 1, 1, 1], stride: 3}},
    ];
    await checkForward(
      'float32',
      [x, w1, w2, w3],
      (xt, a, b, c) =>
        cfgs.map(({w, o}) => {
          const wt = w === w1 ? a! : w === w2 ? b! : c!;
          const p = (o as {pads?: number[]}).pads;
          return F.conv2d(xt!, wt, {...o, ...(p ? {padding: p as [number, number, number, number]} : {})});
        }),
      cfgs.map(({w, o}) => conv2dRef(x, w, o)),
      2e-5,
    );
  });

  it('convTranspose2d: stride 2, padding, outputPadding (both and per-axis), groups, dilation', async () => {
    const x = randn([2, 4, 3, 4], 5);
    const w1 = randn([4, 3, 3, 3], 6);
    const w2 = randn([4, 2, 4, 3], 7);
    const cfgs: {w: Nd; o: {stride?: number; pads?: number[]; dilation?: number; groups?: number; outputPadding?: [number, number]}}[] = [
      {w: w1, o: {}},
      {w: w1, o: {stride: 2, pads: [1, 1, 1, 1], outputPadding: [1, 1]}},
      {w: w1, o: {stride: 2, pads: [1, 0, 0, 2], outputPadding: [1, 0]}},
      {w: w2, o: {stride: 2, groups: 2, pads: [0, 1, 1, 0]}},
      {w: w1, o: {dilation: 2, pads: [1, 1, 1, 1]}},
      {w: w2, o: {dilation: 2, outputPadding: [1, 1]}},
    ];
    await checkForward(
      'float32',
      [x, w1, w2],
      (xt, a, b) =>
        cfgs.map(({w, o}) =>
          F.convTranspose2d(xt!, w === w1 ? a! : b!, {
            ...(o.stride ? {stride: o.stride} : {}),
            ...(o.dilation ? {dilation: o.dilation} : {}),
            ...(o.groups ? {groups: o.groups} : {}),
            ...(o.pads ? {padding: o.pads as [number, number, number, number]} : {}),
            ...(o.outputPadding ? {outputPadding: o.outputPadding} : {}),
          }),
        ),
      cfgs.map(({w, o}) => convTranspose2dRef(x, w, o)),
      2e-5,
    );
  });

  it('pad (positive, negative, value) and slice (steps, negative and clamped bounds)', async () => {
    const x = randn([3, 5, 7], 8);
    const pads = [
      [1, 0, 2, 0, 3, 1],
      [-1, 2, 0, 1, -2, -3],
    ];
    const specs: Record<number, [number | null, number | null, number?]>[] = [
      {1: [1, 4]},
      {2: [1, null, 2]},
      {0: [-2, null], 2: [-100, 100, 3]},
      {1: [-4, -1, 2], 2: [6, 1]},
      {[-1]: [0, null, 4]},
    ];
    await checkForward(
      'float64',
      [x],
      (xt) => [F.pad(xt!, pads[0]!, 0.25), F.pad(xt!, pads[1]!), ...specs.map((s) => F.slice(xt!, s))],
      [padRef(x, pads[0]!, 0.25), padRef(x, pads[1]!, 0), ...specs.map((s) => sliceRef(x, s))],
    );
  });

  it('slice that selects nothing (with a step) gives an empty tensor', async () => {
    const x = randn([4, 3], 9);
    const specs: Record<number, [number | null, number | null, number?]>[] = [{0: [0, 0, 2]}, {0: [3, 1]}, {0: [1, 1, 3]}];
    await checkForward('float64', [x], (xt) => specs.map((s) => F.slice(xt!, s)), specs.map((s) => sliceRef(x, s)));
  });

  it('gather (axes 0/1/2, repeated, negative, 2-D and scalar indices)', async () => {
    const x = randn([3, 4, 5], 10);
    const cases: [number[], number[], number][] = [
      [[2, 0, 2, -1], [4], 0],
      [[1, 1, 3, 0, -4, 2], [2, 3], 1],
      [[4], [], 2],
    ];
    await checkForward(
      'float64',
      [x],
      (xt) => cases.map(([idx, shape, axis]) => F.gather(xt!, constant(BigInt64Array.from(idx.map(BigInt)), shape, 'int64'), axis)),
      cases.map(([idx, shape, axis]) => gatherRef(x, idx, shape, axis)),
    );
  });

  it('softmax, matmul (broadcast batch dims) and reductions (keepdims both)', async () => {
    const x = randn([2, 3, 4], 11);
    const a = randn([2, 1, 3, 4], 12);
    const b = randn([3, 4, 5], 13);
    const red: [number[], boolean, 'sum' | 'mean' | 'max'][] = [
      [[0, 2], true, 'sum'],
      [[1], false, 'sum'],
      [[0, 1, 2], false, 'sum'],
      [[2], true, 'mean'],
      [[0, 1], false, 'mean'],
      [[1], true, 'max'],
      [[0, 2], false, 'max'],
    ];
    await checkForward(
      'float64',
      [x, a, b],
      (xt, at, bt) => [
        F.softmax(xt!, -1),
        F.softmax(xt!, 1),
        F.matmul(at!, bt!),
        F.matmul(F.reshape(bt!, [3, 4, 5]), F.transpose(bt!, [0, 2, 1])),
        ...red.map(([axes, keep, kind]) => (kind === 'sum' ? F.sum : kind === 'mean' ? F.mean : F.max)(xt!, axes, keep)),
      ],
      [
        softmaxRef(x, 2),
        softmaxRef(x, 1),
        matmulRef(a, b),
        matmulRef(b, {data: transposeLast(b), shape: [3, 5, 4]}),
        ...red.map(([axes, keep, kind]) => reduceRef(x, axes, keep, kind)),
      ],
    );
  });

  it('maxPool2d (odd sizes are floored)', async () => {
    const x = randn([1, 2, 5, 4], 14);
    const ref = (() => {
      const out = new Float64Array(1 * 2 * 2 * 2);
      for (let c = 0; c < 2; c++)
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 2; j++) {
            let m = -Infinity;
            for (let p = 0; p < 2; p++) for (let q = 0; q < 2; q++) m = Math.max(m, x.data[(c * 5 + 2 * i + p) * 4 + 2 * j + q]!);
            out[(c * 2 + i) * 2 + j] = m;
          }
      return {data: out, shape: [1, 2, 2, 2]};
    })();
    await checkForward('float64', [x], (xt) => [F.maxPool2d(xt!, 2)], [ref]);
  });
});

function transposeLast(b: Nd): Float64Array {
  const [B, K, N] = b.shape as [number, number, number];
  const out = new Float64Array(b.data.length);
  for (let t = 0; t < B; t++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) out[t * N * K + n * K + k] = b.data[t * K * N + k * N + n]!;
  return out;
}

describe('ONNX writer', () => {
  it('produces a model ORT accepts with int64, float64, bool and float32 tensors (inputs, constants, outputs)', async () => {
    const i = input('i', [3], 'int64');
    const d = input('d', [2, 3], 'float64');
    const m = input('m', [2, 3], 'bool');
    const ci = constant(new BigInt64Array([10n, -20n, 2n ** 40n]), [3], 'int64');
    const cb = constant(new Uint8Array([1, 0, 1]), [3], 'bool');
    const cd = constant(new Float64Array([0.1, 1e300, -Math.PI]), [3], 'float64');
    const sumI = F.add(i, ci);
    const mixed = F.where(m, d, F.where(cb, cd, F.neg(d)));
    const asF32 = F.cast(F.mul(d, 2), 'float32');
    const gt = F.greater(d, cd);
    const bytes = toOnnx({inputs: [i, d, m], outputs: [sumI, mixed, asF32, gt, i, ci, sumI]});
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['i', 'd', 'm']);
    await session.release();

    const prog = await compile([i, d, m], [sumI, mixed, asF32, gt, i, ci, sumI]);
    const dv = new Float64Array([1, 2, 3, 4, 5, 6]);
    const res = await prog.run([new BigInt64Array([1n, 2n, -3n]), dv, new Uint8Array([1, 0, 0, 0, 1, 0])]);
    expect(Array.from(res[0]!.data as BigInt64Array)).toEqual([11n, -18n, 2n ** 40n - 3n]);
    expect(res[0]!.dtype).toBe('int64');
    expect(Array.from(res[1]!.data as Float64Array)).toEqual([1, -2, -Math.PI, 0.1, 5, -Math.PI]);
    expect(res[1]!.data).toBeInstanceOf(Float64Array);
    expect(Array.from(res[2]!.data as Float32Array)).toEqual([2, 4, 6, 8, 10, 12]);
    expect(res[2]!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(res[3]!.data as Uint8Array, Number)).toEqual([1, 0, 1, 1, 0, 1]);
    expect(Array.from(res[4]!.data as BigInt64Array)).toEqual([1n, 2n, -3n]);
    expect(Array.from(res[5]!.data as BigInt64Array)).toEqual([10n, -20n, 2n ** 40n]);
    expect(Array.from(res[6]!.data as BigInt64Array)).toEqual([11n, -18n, 2n ** 40n - 3n]);
  });

  it('attributes: negative ints, floats, strings and large constants survive serialisation', async () => {
    const x = input('x', [2, 3, 4]);
    const big = constant(Float32Array.from({length: 5000}, (_, k) => k / 7), [5000]);
    const outs = [F.softmax(x, -2), F.leakyRelu(x, 0.125), F.sum(big), F.gather(x, constant(new BigInt64Array([-1n]), [1], 'int64'), 2)];
    const prog = await compile([x], outs);
    const xv = Float32Array.from({length: 24}, (_, k) => k - 12);
    const res = await prog.run([xv]);
    expect(Array.from(res[1]!.data as Float32Array)).toEqual(Array.from(xv, (v) => (v > 0 ? v : 0.125 * v)));
    expect(res[2]!.data[0]).toBeCloseTo((4999 * 5000) / 2 / 7, -1);
    expect(Array.from(res[3]!.data as Float32Array)).toEqual([3, 7, 11, 15, 19, 23].map((v) => v - 12));
  });

  it('input names that look like generated names do not collide with internal values', async () => {
    // Internal names are t<id>, c<id>, k<n>, tmp<n>; users may well name inputs like that.
    const x = input('k0', [2, 3], 'float64');
    const y = input('t1', [2, 3], 'float64');
    const out = F.add(F.reshape(F.mul(x, y), [3, 2]), 1);
    const prog = await compile([x, y], [out]);
    const [r] = await prog.run([new Float64Array([1, 2, 3, 4, 5, 6]), new Float64Array([1, 1, 1, 2, 2, 2])]);
    expect(Array.from(r!.data as Float64Array)).toEqual([2, 3, 4, 9, 11, 13]);
  });

  it('rejects duplicate input names with a StyleclipError', () => {
    const a = input('x', [2]);
    const b = input('x', [2]);
    expect(() => toOnnx({inputs: [a, b], outputs: [F.add(a, b)]})).toThrow(StyleclipError);
  });
});

describe('session cache and feeds', () => {
  const build = (w: Tensor, s: number) => {
    const x = input('x', [2, 40]);
    return {x, y: F.add(F.matmul(x, w), s)};
  };

  it('shares one session between structurally identical graphs that share constants', async () => {
    const w = constant(Float32Array.from({length: 40 * 3}, (_, k) => Math.sin(k)), [40, 3]);
    const g1 = build(w, 1);
    const g2 = build(w, 1);
    expect(graphKey([g1.x], [g1.y])).toBe(graphKey([g2.x], [g2.y]));
    const before = liveSessions();
    await compile([g1.x], [g1.y]);
    await compile([g2.x], [g2.y]);
    expect(liveSessions()).toBe(before + 1);
  });

  it('compiles a different session when a constant differs (large by identity, small by value)', async () => {
    const data = Float32Array.from({length: 40 * 3}, (_, k) => Math.cos(k));
    const w1 = constant(data, [40, 3]);
    const w2 = constant(Float32Array.from(data), [40, 3]);
    const a = build(w1, 1);
    const b = build(w2, 1);
    const c = build(w1, 2);
    const before = liveSessions();
    const pa = await compile([a.x], [a.y]);
    await compile([b.x], [b.y]);
    const pc = await compile([c.x], [c.y]);
    expect(liveSessions()).toBe(before + 3);
    const xv = new Float32Array(80).fill(1);
    const [ra] = await pa.run([xv]);
    const [rc] = await pc.run([xv]);
    expectAllClose(rc!.data as Float32Array, Array.from(ra!.data as Float32Array, (v) => v + 1), {atol: 1e-5});
  });

  it('distinguishes attributes that JSON cannot tell apart (±Infinity pad values) and -0 constants', async () => {
    const x = input('x', [3]);
    const pinf = F.pad(x, [1, 0], Infinity);
    const ninf = F.pad(x, [1, 0], -Infinity);
    expect(graphKey([x], [pinf])).not.toBe(graphKey([x], [ninf]));
    const [p1, p2] = await Promise.all([compile([x], [pinf]), compile([x], [ninf])]);
    const [r1] = await p1.run([new Float32Array([1, 2, 3])]);
    const [r2] = await p2.run([new Float32Array([1, 2, 3])]);
    expect(r1!.data[0]).toBe(Infinity);
    expect(r2!.data[0]).toBe(-Infinity);
    const z1 = F.div(1, F.add(F.mul(x, 0), constant([0], [1])));
    const z2 = F.div(1, F.add(F.mul(x, 0), constant([-0], [1])));
    expect(graphKey([x], [z1])).not.toBe(graphKey([x], [z2]));
  });

  it('a wrong feed length, a missing feed or a wrong feed dtype gives a StyleclipError', async () => {
    const x = input('x', [2, 3]);
    const prog = await compile([x], [F.exp(x)]);
    await expect(prog.run([new Float32Array(5)])).rejects.toThrow(StyleclipError);
    await expect(prog.run([new Float32Array(5)])).rejects.toThrow(/x.*5 values.*\[2, 3\]/);
    await expect(prog.run({y: new Float32Array(6)})).rejects.toThrow(StyleclipError);
    await expect(prog.run([])).rejects.toThrow(StyleclipError);
    await expect(prog.run([new Float64Array(6)])).rejects.toThrow(StyleclipError);
    const ok = await prog.run({x: new Float32Array(6)});
    expect(Array.from(ok[0]!.data as Float32Array)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});


describe('session handles', () => {
  it('shares one session between handles of the same graph and frees it when the last handle is released', async () => {
    const build = () => {
      const x = input('x', [4]);
      return {x, y: F.mul(x, constant(new Float32Array(100).fill(3).subarray(0, 4), [4]))};
    };
    const a = build();
    const before = liveSessions();
    const p1 = await compile([a.x], [a.y]);
    const p2 = await compile([a.x], [a.y]);
    expect(liveSessions()).toBe(before + 1);
    await p1.release();
    await p1.release(); // a second release of the same handle does nothing
    expect(liveSessions()).toBe(before + 1);
    expect(Array.from((await p2.run([Float32Array.from([1, 2, 3, 4])]))[0]!.data as Float32Array)).toEqual([3, 6, 9, 12]);
    await expect(p1.run([Float32Array.from([1, 2, 3, 4])])).rejects.toThrow(/released program/);
    await p2.release();
    expect(liveSessions()).toBe(before);
    // A graph compiled again after that gets a fresh session.
    const p3 = await compile([a.x], [a.y]);
    expect(liveSessions()).toBe(before + 1);
    expect(Array.from((await p3.run([Float32Array.from([1, 1, 1, 1])]))[0]!.data as Float32Array)).toEqual([3, 3, 3, 3]);
    await p3.release();
    expect(liveSessions()).toBe(before);
  });

  it('keeps a released keepWarm session for the next compile of its graph, at most warmSessions of them (oldest freed first)', async () => {
    const build = (k: number) => {
      const x = input('x', [4]);
      return {x, y: F.mul(x, constant(new Float32Array(100).fill(k).subarray(0, 4), [4]))};
    };
    const [a, b, c] = [build(2), build(5), build(7)];
    const before = liveSessions();
    const pa = await compile([a.x], [a.y], {keepWarm: true});
    await pa.release();
    expect(liveSessions()).toBe(before + 1); // warm
    const created = sessionsCreated();
    const pa2 = await compile([a.x], [a.y], {keepWarm: true});
    expect(sessionsCreated()).toBe(created); // taken from the pool
    expect(Array.from((await pa2.run([Float32Array.from([1, 2, 3, 4])]))[0]!.data as Float32Array)).toEqual([2, 4, 6, 8]);
    // A second handle on the warm-taken session: releasing one leaves the other running.
    const pa3 = await compile([a.x], [a.y]);
    await pa2.release();
    expect(Array.from((await pa3.run([Float32Array.from([1, 1, 1, 1])]))[0]!.data as Float32Array)).toEqual([2, 2, 2, 2]);
    await pa3.release();
    // The pool holds 2 (the default): a third released session frees the oldest.
    await (await compile([b.x], [b.y], {keepWarm: true})).release();
    await (await compile([c.x], [c.y], {keepWarm: true})).release();
    expect(liveSessions()).toBe(before + 2);
    const n = sessionsCreated();
    await (await compile([c.x], [c.y])).release(); // c was warm: no new session, and it stays warm
    await (await compile([b.x], [b.y])).release();
    expect(sessionsCreated()).toBe(n);
    await (await compile([a.x], [a.y])).release(); // a was freed: compiled again, and freed again (no keepWarm)
    expect(sessionsCreated()).toBe(n + 1);
    expect(liveSessions()).toBe(before + 2);
  });
});
