/**
 * Colour paths of the oracle hair-colour edit in a v2 generator: for a few validation faces (ψ 0.7), the straight W
 * move from the mean W of the face's current hair colour to the mean W of the target colour (means over 4000 z at
 * ψ 1 labelled by the v2 latent decoding, values inside their margin), sampled at s = 0 … 1.5, with the v2
 * classifier's top hair colour and its regression of the hair's OKLab (L, a, b) at each point. A generator whose W
 * is linear in colour moves (L, a, b) along a line; the first ToonGAN v2 swings through other hues.
 *
 *   node --import tsx lab/bench/colour-path.ts DIR TARGET   (DIR holds generator.safetensors and classifier.safetensors)
 */
import {configureEngine} from '../../src/engine/session.js';
import {StyleclipError} from '../../src/errors.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {loadDemoClassifier, topValues} from '../../src/demo/classifier.js';
import {attributeValues} from '../../src/demo/attributes.js';
import {decodeLatentV2} from '../world2/toon-gan.js';
import {namedValue} from '../world2/factors.js';
import {regressionTargets} from '../world2/classifier.js';

configureEngine({threads: 1});
const [dir, value] = process.argv.slice(2);
if (!dir || !value || !(attributeValues('hairColor') as readonly string[]).includes(value)) {
  throw new StyleclipError(`usage: colour-path.ts DIR TARGET (TARGET one of ${attributeValues('hairColor').join(', ')})`);
}
const g = loadGenerator(`${dir}/generator.safetensors`);
const classifier = loadDemoClassifier(`${dir}/classifier.safetensors`);
const [D, L, SAMPLES, FACES] = [g.config.styleDim, g.nLatent, 4000, 6];
const z = sampleZ(g, SAMPLES, 99);
const ws = (await toWPlus(g, z, 'z', 1)).data as Float32Array;
const zd = z.data as Float32Array;
const labels = Array.from({length: SAMPLES}, (_, i) => namedValue(decodeLatentV2(zd.subarray(i * D, (i + 1) * D), D), 'hairColor'));
function meanW(v: string): Float64Array {
  const m = new Float64Array(D);
  let n = 0;
  for (let i = 0; i < SAMPLES; i++) {
    if (labels[i] !== v) continue;
    n++;
    for (let d = 0; d < D; d++) m[d]! += ws[i * L * D + d]!;
  }
  if (n === 0) throw new StyleclipError(`no sample decodes to hair colour '${v}'`);
  return m.map((x) => x / n);
}
const w0 = await toWPlus(g, sampleZ(g, FACES, 777), 'z', 0.7);
const start = await classifier.run((await generate(g, {latent: w0, space: 'w+'})).image);
const reg = ['hairL', 'hairA', 'hairB'].map((n) => regressionTargets.findIndex((t) => t.name === n));
const target = meanW(value);
console.log(`hair colour path toward ${value}: s:top value(L, a, b) — L scaled to [-1, 1] over its range, a and b by the chroma range`);
for (let f = 0; f < FACES; f++) {
  const current = topValues(start.probabilities[f]!).hairColor;
  const from = meanW(current);
  const cells: string[] = [];
  for (const s of [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5]) {
    const w = Float32Array.from((w0.data as Float32Array).subarray(f * L * D, (f + 1) * L * D));
    for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) w[l * D + d]! += s * (target[d]! - from[d]!);
    const r = await classifier.run((await generate(g, {latent: {dtype: 'float32', shape: [1, L, D], data: w}, space: 'w+'})).image);
    cells.push(`${s}:${topValues(r.probabilities[0]!).hairColor}(${reg.map((i) => r.regression![0]![i]!.toFixed(2)).join(',')})`);
  }
  console.log(`${current.padEnd(7)} ${cells.join(' ')}`);
}
