/** Composite layers: forward values against plain-JS references, gradients against finite differences. */
import {describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {adaptiveAvgPool2d, avgPool2d, gelu, layerNorm, quickGelu, upsampleNearest} from '../../src/nn/functional.js';
import {expectAllClose} from '../helpers/allclose.js';
import {gradcheck, rng} from '../helpers/gradcheck.js';

const randn = (n: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({length: n}, () => r.normal());
};

/** Plain-JS adaptive average pooling of one [H, W] plane (PyTorch's window rule). */
function adaptivePoolRef(x: Float32Array, H: number, W: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    const a = Math.floor((i * H) / oh), b = Math.ceil(((i + 1) * H) / oh);
    for (let j = 0; j < ow; j++) {
      const c = Math.floor((j * W) / ow), d = Math.ceil(((j + 1) * W) / ow);
      let s = 0;
      for (let y = a; y < b; y++) for (let x2 = c; x2 < d; x2++) s += x[y * W + x2]!;
      out[i * ow + j] = s / ((b - a) * (d - c));
    }
  }
  return out;
}

describe('composite layers: forward', () => {
  it('layerNorm matches the definition', async () => {
    const x = input('x', [3, 5]);
    const w = F.constant(new Float32Array([1, 2, 3, 4, 5]), [5]);
    const b = F.constant(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5]), [5]);
    const p = await compile([x], [layerNorm(x, w, b)]);
    const xv = randn(15, 1);
    const [r] = await p.run([xv]);
    const ref: number[] = [];
    for (let i = 0; i < 3; i++) {
      const row = Array.from(xv.slice(i * 5, i * 5 + 5));
      const mu = row.reduce((a, c) => a + c, 0) / 5;
      const v = row.reduce((a, c) => a + (c - mu) ** 2, 0) / 5;
      row.forEach((c, j) => ref.push(((c - mu) / Math.sqrt(v + 1e-5)) * (j + 1) + 0.1 * (j + 1)));
    }
    expectAllClose(r!.data as Float32Array, ref, {atol: 1e-5, what: 'layerNorm'});
  });

  it('upsampleNearest repeats pixels; avgPool2d averages windows', async () => {
    const x = input('x', [1, 1, 2, 3]);
    const up = upsampleNearest(x, 2);
    const pool = avgPool2d(up, 2);
    const p = await compile([x], [up, pool]);
    const xv = new Float32Array([1, 2, 3, 4, 5, 6]);
    const [u, q] = await p.run([xv]);
    expect(Array.from(u!.data as Float32Array)).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
    expectAllClose(q!.data as Float32Array, xv, {atol: 1e-7, what: 'avgPool of nearest upsample'});
  });

  it.each([
    [188, 112],
    [160, 256],
    [7, 3],
  ])('adaptiveAvgPool2d %i -> %i matches the window rule', async (n, m) => {
    const x = input('x', [1, 2, n, n]);
    const p = await compile([x], [adaptiveAvgPool2d(x, m)]);
    const xv = randn(2 * n * n, 3);
    const [r] = await p.run([xv]);
    const ref = [...adaptivePoolRef(xv.subarray(0, n * n), n, n, m, m), ...adaptivePoolRef(xv.subarray(n * n), n, n, m, m)];
    expectAllClose(r!.data as Float32Array, ref, {atol: 1e-5, what: `adaptive pool ${n}->${m}`});
  });

  it('quickGelu and gelu match their formulas', async () => {
    const x = input('x', [7]);
    const p = await compile([x], [quickGelu(x), gelu(x)]);
    const xv = new Float32Array([-3, -1, -0.2, 0, 0.3, 1, 2.5]);
    const [a, b] = await p.run([xv]);
    expectAllClose(a!.data as Float32Array, Array.from(xv, (v) => v / (1 + Math.exp(-1.702 * v))), {atol: 1e-6, what: 'quickGelu'});
    // erf via Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
    const erf = (v: number) => {
      const s = Math.sign(v), a = Math.abs(v), t = 1 / (1 + 0.3275911 * a);
      return s * (1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a));
    };
    expectAllClose(b!.data as Float32Array, Array.from(xv, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), {atol: 1e-6, what: 'gelu'});
  });
});

describe('composite layers: gradients by finite differences', () => {
  it('layerNorm (x, weight and bias)', async () => {
    await gradcheck((x, w, b) => layerNorm(x!, w!, b!), [{shape: [3, 6]}, {shape: [6]}, {shape: [6]}], {what: 'layerNorm'});
  });
  it('quickGelu', async () => {
    await gradcheck((x) => quickGelu(x!), [{shape: [10]}], {what: 'quickGelu'});
  });
  it('gelu (float32: ORT has no double Erf)', async () => {
    await gradcheck((x) => gelu(x!), [{shape: [10]}], {dtype: 'float32', what: 'gelu'});
  });
  it('upsampleNearest', async () => {
    await gradcheck((x) => upsampleNearest(x!, 3), [{shape: [1, 2, 2, 3]}], {what: 'upsampleNearest'});
  });
  it('avgPool2d (float32: ORT has no double Conv)', async () => {
    await gradcheck((x) => avgPool2d(x!, 2), [{shape: [1, 2, 4, 6]}], {dtype: 'float32', what: 'avgPool2d'});
  });
  it('adaptiveAvgPool2d 7 -> 3 (overlapping windows)', async () => {
    await gradcheck((x) => adaptiveAvgPool2d(F.cast(x!, 'float32'), 3), [{shape: [1, 1, 7, 7]}], {dtype: 'float32', what: 'adaptiveAvgPool2d'});
  });
});
