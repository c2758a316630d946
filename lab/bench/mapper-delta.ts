/**
 * Where a latent mapper moves W+: for validation faces (seed 1234, ψ 0.7), the mapper's move 0.1·M(w) on each W+
 * row split into its part along the off-manifold basis (the directions of W whose variance over the basis
 * generator's samples is below --variance; lab/demo/w-basis.ts) and the rest, each measured as a norm and in units
 * of the directions' spread (√variance over the generator's own W), and the mean pixel change when only one part is
 * applied. A generator trained with off-manifold jitter should barely move for the off-manifold part.
 *
 *   node --import tsx lab/bench/mapper-delta.ts GENERATOR MAPPER [--basis GENERATOR0] [--variance 0.012]
 *        [--faces 6] [--grid FILE.png]   (grid rows: input, full move, off-manifold part only, the rest only)
 */
import {readFileSync} from 'node:fs';
import {flag} from '../../bench/common.js';
import {configureEngine} from '../../src/engine/session.js';
import {StyleclipError} from '../../src/errors.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {mapperFromBytes, runMapper} from '../../src/models/mapper.js';
import {writeGridPng} from '../demo/train-gan.js';
import {basisBelow, wSpectrum} from '../demo/w-basis.js';

configureEngine({threads: 2});
const [genFile, mapperFile] = process.argv.slice(2);
if (!genFile || !mapperFile || genFile.startsWith('--') || mapperFile.startsWith('--')) throw new StyleclipError('usage: mapper-delta.ts GENERATOR MAPPER [--basis GENERATOR0] [--variance V] [--faces N] [--grid FILE.png]');
const variance = Number(flag('variance', '0.012'));
const N = Number(flag('faces', '6'));
const grid = flag('grid', '');
const g = loadGenerator(genFile);
const [L, D] = [g.nLatent, g.config.styleDim];
const basisFile = flag('basis', genFile);
const own = await wSpectrum(genFile);
const {basis} = basisBelow(basisFile === genFile ? own : await wSpectrum(basisFile), variance);

const wp = await toWPlus(g, sampleZ(g, N, 1234), 'z', 0.7);
const {delta} = await runMapper(mapperFromBytes(readFileSync(mapperFile)), wp);
const w0 = wp.data as Float32Array;
const move = Float32Array.from(delta.data as Float32Array, (d) => 0.1 * d);
const off = new Float32Array(move.length);
for (let r = 0; r < N * L; r++) {
  for (const b of basis) {
    let p = 0;
    for (let j = 0; j < D; j++) p += move[r * D + j]! * b[j]!;
    for (let j = 0; j < D; j++) off[r * D + j]! += p * b[j]!;
  }
}

/** Root-mean-square over faces of a row's move: its norm, and its norm in units of the generator's W spread. */
function rowStats(x: Float32Array, r: number): {norm: number; sigmas: number} {
  let [norm, sigmas] = [0, 0];
  for (let i = 0; i < N; i++) {
    const o = (i * L + r) * D;
    for (let k = 0; k < D; k++) {
      let p = 0;
      for (let j = 0; j < D; j++) p += x[o + j]! * own.vectors[k]![j]!;
      norm += p * p;
      sigmas += (p * p) / Math.max(own.values[k]!, 1e-12);
    }
  }
  return {norm: Math.sqrt(norm / N), sigmas: Math.sqrt(sigmas / N)};
}
const rest = Float32Array.from(move, (m, i) => m - off[i]!);
console.log(`${basis.length} off-manifold directions (variance < ${variance} in ${basisFile}'s W)`);
for (let r = 0; r < L; r++) {
  const [a, b] = [rowStats(off, r), rowStats(rest, r)];
  console.log(`row ${String(r).padStart(2)}: off-manifold |move| ${a.norm.toFixed(2)} (${a.sigmas.toFixed(0)} σ)   rest |move| ${b.norm.toFixed(2)} (${b.sigmas.toFixed(1)} σ)`);
}

const render = async (x: Float32Array): Promise<Float32Array> => (await generate(g, {latent: {dtype: 'float32', shape: [N, L, D], data: x}, space: 'w+'})).image.data as Float32Array;
const plus = (m: Float32Array): Float32Array => Float32Array.from(w0, (w, i) => w + m[i]!);
const rows = [await render(w0), await render(plus(move)), await render(plus(off)), await render(plus(rest))];
const change = (img: Float32Array): string => ((img.reduce((s, v, i) => s + Math.abs(v - rows[0]![i]!), 0) / img.length) * 127.5).toFixed(1);
console.log(`mean |Δpixel| (/255): full move ${change(rows[1]!)}, off-manifold part ${change(rows[2]!)}, the rest ${change(rows[3]!)}`);
if (grid) {
  await writeGridPng(grid, rows, N, g.config.size);
  console.log(`wrote ${grid} (rows: input, full move, off-manifold part, the rest)`);
}
