/**
 * lab/demo/w-basis.ts: the eigen-decomposition behind ToonGAN's off-manifold jitter, checked against its definition
 * (C v = λ v, orthonormal vectors), and the jitter noise lying in the chosen directions only, with variance σ².
 */
import {describe, expect, it} from 'vitest';
import {mulberry32Normal} from '../../src/random.js';
import {covariance, jitterBatch, symmetricEigen} from '../demo/w-basis.js';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

describe('w-basis', () => {
  it('symmetricEigen: C v = λ v, orthonormal vectors, eigenvalues descending, trace kept', () => {
    const rnd = mulberry32Normal(3);
    const n = 12;
    const M = Array.from({length: n}, () => Float64Array.from({length: n}, () => rnd()));
    // C = M Mᵀ + a spread diagonal: symmetric positive definite with distinct eigenvalues.
    const C = Array.from({length: n}, (_, i) => Float64Array.from({length: n}, (_, j) => dot(M[i]!, M[j]!) + (i === j ? i * 0.1 : 0)));
    const {values, vectors} = symmetricEigen(C);
    for (let k = 0; k < n; k++) {
      const Cv = C.map((row) => dot(row, vectors[k]!));
      for (let i = 0; i < n; i++) expect(Cv[i]!).toBeCloseTo(values[k]! * vectors[k]![i]!, 8);
      for (let l = 0; l < n; l++) expect(dot(vectors[k]!, vectors[l]!)).toBeCloseTo(k === l ? 1 : 0, 10);
      if (k > 0) expect(values[k]!).toBeLessThanOrEqual(values[k - 1]!);
    }
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(C.reduce((s, r, i) => s + r[i]!, 0), 8);
  });

  it('covariance matches the two-pass definition', () => {
    const x = Float32Array.from([1, 2, 3, 5, 2, 0, 4, 4]); // 4 rows of 2
    const C = covariance(x, 4, 2);
    // means 2.5, 2.75; deviations (-1.5,-0.75) (0.5,2.25) (-0.5,-2.75) (1.5,1.25)
    expect(C[0]![0]).toBeCloseTo((2.25 + 0.25 + 0.25 + 2.25) / 4, 12);
    expect(C[1]![1]).toBeCloseTo((0.5625 + 5.0625 + 7.5625 + 1.5625) / 4, 12);
    expect(C[0]![1]).toBeCloseTo((1.125 + 1.125 + 1.375 + 1.875) / 4, 12);
    expect(C[1]![0]).toBe(C[0]![1]);
  });

  it('jitterBatch: noise only along the basis, each row independent, variance σ² per direction', () => {
    const D = 6;
    const s = Math.SQRT1_2;
    const basis = [Float64Array.from([s, s, 0, 0, 0, 0]), Float64Array.from([0, 0, 0, 0, 0, 1])];
    const other = Float64Array.from([s, -s, 0, 0, 0, 0]);
    const [N, L, sigma] = [200, 10, 0.3];
    const j = jitterBatch(basis, sigma, N, L, D, mulberry32Normal(5));
    let v0 = 0;
    let v1 = 0;
    for (let r = 0; r < N * L; r++) {
      const row = j.subarray(r * D, (r + 1) * D);
      expect(Math.abs(dot(row, other))).toBeLessThan(1e-6);
      expect(row[2]).toBe(0);
      v0 += dot(row, basis[0]!) ** 2 / (N * L);
      v1 += dot(row, basis[1]!) ** 2 / (N * L);
    }
    // 2000 draws: the sample variance is within ~10 % of σ² = 0.09.
    expect(v0).toBeGreaterThan(0.08);
    expect(v0).toBeLessThan(0.1);
    expect(v1).toBeGreaterThan(0.08);
    expect(v1).toBeLessThan(0.1);
    expect(j.subarray(0, D)).not.toEqual(j.subarray(D, 2 * D));
  });
});
