/**
 * The directions a generator's W does not use: eigenvectors of the covariance of W over samples whose variance is
 * below a threshold. ToonGAN's off-manifold jitter (lab/demo/train-gan.ts `jitter`) adds noise along them so the
 * synthesis network learns to ignore them: a W+ move there (what mappers and latent optimisation reach) then renders
 * the face it started from instead of an untrained image.
 */
import {sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';

/** Eigenvalues (descending) and unit eigenvectors (rows, same order) of a symmetric matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(matrix: readonly ArrayLike<number>[]): {values: number[]; vectors: Float64Array[]} {
  const n = matrix.length;
  const A = matrix.map((r) => Float64Array.from(r));
  const V = Array.from({length: n}, (_, i) => Float64Array.from({length: n}, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q]![q]! - A[p]![p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const [akp, akq] = [A[k]![p]!, A[k]![q]!];
          A[k]![p] = c * akp - s * akq;
          A[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const [apk, aqk] = [A[p]![k]!, A[q]![k]!];
          A[p]![k] = c * apk - s * aqk;
          A[q]![k] = s * apk + c * aqk;
        }
        // V's columns are the eigenvectors; keep them as V[k][p].
        for (let k = 0; k < n; k++) {
          const [vkp, vkq] = [V[k]![p]!, V[k]![q]!];
          V[k]![p] = c * vkp - s * vkq;
          V[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({length: n}, (_, i) => i).sort((a, b) => A[b]![b]! - A[a]![a]!);
  return {values: order.map((i) => A[i]![i]!), vectors: order.map((i) => Float64Array.from({length: n}, (_, k) => V[k]![i]!))};
}

/** Covariance [D][D] of the rows of `x` ([N, D] row-major). */
export function covariance(x: Float32Array, N: number, D: number): Float64Array[] {
  const mean = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) mean[d]! += x[i * D + d]! / N;
  const C = Array.from({length: D}, () => new Float64Array(D));
  const c = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) c[d] = x[i * D + d]! - mean[d]!;
    for (let a = 0; a < D; a++) for (let b = a; b < D; b++) C[a]![b]! += (c[a]! * c[b]!) / N;
  }
  for (let a = 0; a < D; a++) for (let b = 0; b < a; b++) C[a]![b] = C[b]![a]!;
  return C;
}

/** Eigen-decomposition of the covariance of a generator's W over `samples` latents z (seed 7, ψ 1). */
export async function wSpectrum(generatorFile: string, samples = 4000): Promise<{values: number[]; vectors: Float64Array[]}> {
  const g = loadGenerator(generatorFile);
  const [D, L] = [g.config.styleDim, g.nLatent];
  const wPlus = (await toWPlus(g, sampleZ(g, samples, 7), 'z', 1)).data as Float32Array;
  const w = new Float32Array(samples * D);
  for (let i = 0; i < samples; i++) w.set(wPlus.subarray(i * L * D, i * L * D + D), i * D);
  return symmetricEigen(covariance(w, samples, D));
}

/** Unit directions of W whose variance over `samples` generator latents (z at ψ 1) is below `maxVariance`. */
export async function offManifoldBasis(generatorFile: string, maxVariance: number, samples = 4000): Promise<{basis: Float64Array[]; variances: number[]}> {
  return basisBelow(await wSpectrum(generatorFile, samples), maxVariance);
}

/** The eigenvectors of a spectrum whose eigenvalue is below `maxVariance`, with their eigenvalues. */
export function basisBelow({values, vectors}: {values: number[]; vectors: Float64Array[]}, maxVariance: number): {basis: Float64Array[]; variances: number[]} {
  const keep = values.flatMap((v, i) => (v < maxVariance ? [i] : []));
  return {basis: keep.map((i) => vectors[i]!), variances: keep.map((i) => values[i]!)};
}

/** Noise for one batch: per face and W+ row, σ·Σ_j ε_j·basis_j with ε standard normal from `normal`. [N, L, D]. */
export function jitterBatch(basis: readonly Float64Array[], sigma: number, N: number, L: number, D: number, normal: () => number): Float32Array {
  const out = new Float32Array(N * L * D);
  for (let r = 0; r < N * L; r++) {
    for (const b of basis) {
      const e = sigma * normal();
      for (let d = 0; d < D; d++) out[r * D + d]! += e * b[d]!;
    }
  }
  return out;
}
