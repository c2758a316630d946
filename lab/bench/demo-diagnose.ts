/**
 * `npm run bench:diagnose`: where a failed demo edit fails — in the generator or in the CLIP that guides it.
 *
 * For each benchmark prompt, on validation faces (seed 777, ψ 0.7, disjoint from bench:quality's 1234):
 *   - oracle: move each face's W (all layers) from the mean W of its current value to the mean W of the target
 *     value. The means come from generator samples labelled by the generator's own training target (the ToonGAN
 *     latent decoding of z — v1: lab/demo/toon-gan.ts decodeLatent; world v2: lab/world2/toon-gan.ts decodeLatentV2,
 *     a sample counting for a value only when its factors lie inside the value's margin — chosen by the generator's
 *     `latent_decoding` metadata), so neither a CLIP nor the classifier picks the direction. If the oracle
 *     succeeds, the generator can show the edit along a straight line in W;
 *   - optimisation (official defaults, --opt-steps 300, on the first --opt-faces faces): success, the editing
 *     ToonCLIP's cosine to the prompt, and the squared W+ distance moved, beside the same for the oracle. An
 *     optimisation that scores a higher cosine than the oracle after a much shorter move, yet fails, means the
 *     CLIP is fooled by a small move (an adversarial direction), not that the generator lacks the edit.
 *   - StyleSpace spread: the oracle's mean change of the relevance's channels in units of their σ, and the share
 *     of its energy in its 20 and 100 largest channels (global directions move the 20 most relevant channels);
 *     also the relevance's specificity: how many of the oracle's 20 largest channels (by |ΔS|/σ) are among the 20
 *     the relevance picks for the prompt (without a relevance file these columns are left out).
 * All scoring is the evaluation classifier's, as in bench:quality.
 *
 * Flags: --assets DIR (assets/demo: generator, toonclip, relevance and classifier from DIR; --generator, --clip,
 * --relevance, --classifier FILE override one), --seeds N (30), --seed S (777), --samples N (4000 labelled samples
 * for the means), --opt-faces N (12, 0 skips optimisation), --opt-steps N (300), --threads N (2),
 * --prompts benchmark|held-out|all (benchmark), --only "mohawk,…".
 */
import {DemoAssetDir, flag} from '../../bench/common.js';
import {chooseTargets} from '../../bench/quality-report.js';
import {configureEngine} from '../../src/engine/session.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import type {HostTensor} from '../../src/io/host-tensor.js';
import {loadClip} from '../../src/models/clip/load.js';
import {encodeTexts, promptDirection} from '../../src/models/clip/encode.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {locateChannel} from '../../src/models/stylespace.js';
import {optimizeLatent} from '../../src/edit/optimize.js';
import {relevanceScores} from '../../src/edit/global-edit.js';
import {loadRelevance} from '../../src/edit/global-relevance-file.js';
import {type AttributeName, type FaceAttributes, attributeNames} from '../../src/demo/attributes.js';
import {scoreEdit, targetPrompt} from '../../src/demo/edit-quality.js';
import {neutralPrompt} from '../../src/demo/captions.js';
import {loadDemoClassifier, topValues} from '../../src/demo/classifier.js';
import {StyleclipError} from '../../src/errors.js';
import {decodeLatent} from '../demo/toon-gan.js';
import {embedRenders} from '../demo/train-clip.js';
import {namedValue} from '../world2/factors.js';
import {generatorWorld, v2DecoderOf} from '../world2/toon-gan.js';

configureEngine({threads: Number(flag('threads', '2'))});
const SEEDS = Number(flag('seeds', '30'));
const SAMPLES = Number(flag('samples', '4000'));
const OPT_FACES = Math.min(SEEDS, Number(flag('opt-faces', '12')));
const OPT_STEPS = Number(flag('opt-steps', '300'));
const chosen = chooseTargets(flag('prompts', 'benchmark'), flag('only', ''));
const targets = [...chosen.benchmark, ...chosen['held-out']];
const assets = new DemoAssetDir();
const ASSETS = assets.dir;

const generatorFile = assets.file('generator', 'generator');
const g = loadGenerator(generatorFile);
const clip = loadClip(assets.file('clip', 'clip'));
const tokenizer = loadDefaultTokenizer();
const classifier = loadDemoClassifier(assets.file('classifier', 'classifier'));
const relevanceFile = assets.optional('relevance', 'relevance');
const relevance = relevanceFile ? loadRelevance(relevanceFile) : null;
if (!relevance) console.log(`no relevance in ${ASSETS}: the StyleSpace and specificity columns are left out`);
const [L, D] = [g.nLatent, g.config.styleDim];
if (g.config.size !== clip.config.imageResolution) throw new Error(`bench:diagnose needs a generator at the CLIP's resolution (${clip.config.imageResolution} px), got ${g.config.size} px`);

/** The attribute values the generator was trained to draw for z (its `latent_decoding`); undefined: no clear value. */
function decoderOf(file: string): (z: Float32Array) => Partial<FaceAttributes> {
  if (generatorWorld(file) === 'v1') return (z) => decodeLatent(z, D).attributes;
  const decode = v2DecoderOf(file);
  return (z) => {
    const f = decode(z, D);
    return Object.fromEntries(attributeNames.map((a) => [a, namedValue(f, a)])) as Partial<FaceAttributes>;
  };
}
const decode = decoderOf(generatorFile);

// Labelled W samples: W of z (ψ 1) and the attributes decode(z) the generator was trained to draw for it.
const z = sampleZ(g, SAMPLES, 99);
const wSamples = (await toWPlus(g, z, 'z', 1)).data as Float32Array;
const zData = z.data as Float32Array;
const labels = Array.from({length: SAMPLES}, (_, i) => decode(zData.subarray(i * D, (i + 1) * D)));
const meanCache = new Map<string, Float64Array>();
function meanW(attribute: AttributeName, value: string): Float64Array {
  const key = `${attribute}=${value}`;
  let m = meanCache.get(key);
  if (!m) {
    m = new Float64Array(D);
    let n = 0;
    for (let i = 0; i < SAMPLES; i++) {
      if (labels[i]![attribute] !== value) continue;
      n++;
      for (let d = 0; d < D; d++) m[d]! += wSamples[i * L * D + d]!;
    }
    if (n === 0) throw new StyleclipError(`no sample decodes to ${key}; raise --samples`);
    for (let d = 0; d < D; d++) m[d]! /= n;
    meanCache.set(key, m);
  }
  return m;
}

const w0 = await toWPlus(g, sampleZ(g, SEEDS, Number(flag('seed', '777'))), 'z', 0.7);
const base = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
/** Face f's value of flat S channel c. */
function styleAt(styles: readonly HostTensor[], f: number, c: number): number {
  const {layer, index} = locateChannel(g, c);
  return (styles[layer]!.data as Float32Array)[f * g.layers[layer]!.inChannels + index]!;
}
/** Indices of the k largest |x|. */
const topK = (x: ArrayLike<number>, k: number) => Array.from(x, (v, i) => [Math.abs(v), i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map((p) => p[1]);
const before = (await classifier.classify(base.image)).map(topValues) as FaceAttributes[];

/** The editing CLIP's cosine of each image [N, 3, S, S] (generator output, preprocessed as the edit methods do) with a text. */
async function cosines(image: HostTensor, text: Float32Array): Promise<number[]> {
  const E = clip.config.embedDim;
  const x = await embedRenders(clip, image.data as Float32Array, image.shape[0]!);
  const tn = Math.hypot(...text);
  return Array.from({length: image.shape[0]!}, (_, i) => {
    let dot = 0;
    for (let e = 0; e < E; e++) dot += x[i * E + e]! * text[e]!;
    return dot / tn;
  });
}
function sqDistance(a: Float32Array, b: Float32Array, face: number): number {
  let s = 0;
  for (let j = face * L * D; j < (face + 1) * L * D; j++) s += (a[j]! - b[j]!) ** 2;
  return s;
}
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

const rows: string[][] = [];
const overlaps: number[] = [];
for (const t of targets) {
  const target = meanW(t.attribute, t.value);
  const moved = new Float32Array(w0.data as Float32Array);
  before.forEach((b, f) => {
    const from = meanW(t.attribute, b[t.attribute]);
    for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) moved[(f * L + l) * D + d]! += target[d]! - from[d]!;
  });
  const oracle = await generate(g, {latent: {dtype: 'float32', shape: w0.shape, data: moved}, space: 'w+', returnStyles: true});
  const oracleAfter = (await classifier.classify(oracle.image)).map(topValues) as FaceAttributes[];
  const q = scoreEdit(before, oracleAfter, t);
  const row = [t.name, `${pct(q.success)} / ${pct(q.preservation)}`];
  if (relevance && q.rows.length === 0) row.push('no face counted', '—');
  else if (relevance) {
    // Mean ΔS/σ of the oracle over the counted faces, on the relevance's channels.
    const dS = Float64Array.from(relevance.channels, (c) => mean(q.rows.map((f) => styleAt(oracle.styles!, f, c) - styleAt(base.styles!, f, c))) / relevance.sStd[c]!);
    const energy = dS.reduce((a, v) => a + v * v, 0);
    const share = (k: number) => pct(topK(dS, k).reduce((a, i) => a + dS[i]! ** 2, 0) / energy);
    const picked = new Set(topK(relevanceScores(relevance, await promptDirection(clip, tokenizer, neutralPrompt, targetPrompt(t))), 20));
    const overlap = topK(dS, 20).filter((i) => picked.has(i)).length;
    overlaps.push(overlap);
    row.push(`${share(20)} / ${share(100)}`, `${overlap}`);
  }
  if (OPT_FACES > 0) {
    const [text] = [await encodeTexts(clip, tokenizer, [targetPrompt(t)])];
    const sub = {dtype: 'float32' as const, shape: [OPT_FACES, L, D], data: (w0.data as Float32Array).slice(0, OPT_FACES * L * D)};
    const opt = await optimizeLatent(g, clip, {text: text!, latent: sub, steps: OPT_STEPS});
    const optAfter = (await classifier.classify(opt.image)).map(topValues) as FaceAttributes[];
    const qo = scoreEdit(before.slice(0, OPT_FACES), optAfter, t);
    const qOracleSub = scoreEdit(before.slice(0, OPT_FACES), oracleAfter.slice(0, OPT_FACES), t);
    const [cb, co, cp] = [await cosines(base.image, text!), await cosines(oracle.image, text!), await cosines(opt.image, text!)];
    const counted = qo.rows;
    const at = (c: number[]) => mean(counted.map((i) => c[i]!)).toFixed(3);
    const dist = (w: Float32Array, src: Float32Array) => mean(counted.map((i) => sqDistance(w, src, i))).toFixed(1);
    row.push(
      `${pct(qOracleSub.success)} / ${pct(qo.success)}`,
      `${at(cb)} → ${at(co)} / ${at(cp)}`,
      `${dist(moved, w0.data as Float32Array)} / ${dist(opt.wPlus!.data as Float32Array, sub.data)}`,
    );
  }
  rows.push(row);
  console.log(row.join('  |  '));
}

const header = ['prompt', `oracle success / preservation (${SEEDS} faces)`];
if (relevance) header.push('oracle ΔS energy in top 20 / 100 channels', 'of its top 20, picked by the relevance');
if (OPT_FACES > 0) header.push(`success oracle / optimisation (${OPT_FACES} faces)`, 'ToonCLIP cos: input → oracle / optimisation', '|ΔW+|² oracle / optimisation');
console.log(`\n| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\n${ASSETS}: ${generatorFile}${relevance ? `; relevance specificity (oracle's top 20 ∩ relevance's top 20): mean ${mean(overlaps).toFixed(1)} of 20, range ${Math.min(...overlaps)}–${Math.max(...overlaps)}` : ''}`);
