/**
 * The spectrum of a generator's W: eigenvalues of the covariance of W over 4000 samples (z at ψ 1), largest first.
 * A demo generator whose W fills only a few directions renders untrained images for W+ moves along the others
 * (what mappers and latent optimisation reach); lab/world2/README.md has the measurement.
 *
 *   node --import tsx lab/bench/w-spectrum.ts GENERATOR.safetensors
 */
import {configureEngine} from '../../src/engine/session.js';
import {StyleclipError} from '../../src/errors.js';
import {sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
configureEngine({threads: 1});
const file = process.argv[2];
if (!file) throw new StyleclipError('usage: w-spectrum.ts GENERATOR.safetensors');
const g = loadGenerator(file);
const D = g.config.styleDim, L = g.nLatent, N = 4000;
const w = (await toWPlus(g, sampleZ(g, N, 5), 'z', 1)).data as Float32Array;
const mean = new Float64Array(D);
for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) mean[d]! += w[i * L * D + d]! / N;
const C = Array.from({length: D}, () => new Float64Array(D));
for (let i = 0; i < N; i++) for (let a = 0; a < D; a++) { const x = w[i * L * D + a]! - mean[a]!; for (let b = 0; b < D; b++) C[a]![b]! += x * (w[i * L * D + b]! - mean[b]!) / N; }
// Cyclic Jacobi rotations diagonalise the symmetric covariance; its diagonal holds the eigenvalues.
const A = C.map((r) => Float64Array.from(r));
for (let sweep = 0; sweep < 30; sweep++) for (let p = 0; p < D; p++) for (let q = p + 1; q < D; q++) {
  if (Math.abs(A[p]![q]!) < 1e-14) continue;
  const th = (A[q]![q]! - A[p]![p]!) / (2 * A[p]![q]!); const t = Math.sign(th || 1) / (Math.abs(th) + Math.sqrt(th * th + 1));
  const c = 1 / Math.sqrt(t * t + 1), s = t * c;
  for (let k = 0; k < D; k++) { const akp = A[k]![p]!, akq = A[k]![q]!; A[k]![p] = c * akp - s * akq; A[k]![q] = s * akp + c * akq; }
  for (let k = 0; k < D; k++) { const apk = A[p]![k]!, aqk = A[q]![k]!; A[p]![k] = c * apk - s * aqk; A[q]![k] = s * apk + c * aqk; }
}
const ev = A.map((r, i) => r[i]!).sort((a, b) => b - a);
console.log('trace', ev.reduce((a, b) => a + b, 0).toFixed(2));
console.log(ev.map((e) => e.toExponential(1)).join(' '));
