/**
 * Does a hue-blind "grey hair" text direction make grey hair with global directions? (diagnostic, lab/world2/README.md)
 *
 *   node --import tsx lab/bench/hue-flat.ts --generator G --relevance R [--colour grey] [--pairs 200] [--k 0,2,4,8] [--alphas 6,10]
 *
 * Renders --pairs face pairs that differ only in the hair's hue (same L and chroma, chroma ≥ 0.08, hues 60–300° apart),
 * embeds both with the editing ToonCLIP and takes the top-k principal directions of the (normalised) embedding
 * differences: the hue subspace. The prompt's text direction with that subspace projected out is then used as the
 * global direction's Δt (40 channels), and the evaluation classifier counts the faces (seed 4242, ψ 0.7) that end
 * with the colour as their top hair colour among those that did not show it before.
 */
import {DemoAssetDir, flag} from '../../bench/common.js';
import {loadDemoClassifier, topValues} from '../../src/demo/classifier.js';
import {neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {Rng} from '../../src/demo/rng.js';
import {configureEngine} from '../../src/engine/session.js';
import {editStyles} from '../../src/edit/global-edit.js';
import {loadRelevance} from '../../src/edit/global-relevance-file.js';
import {promptDirection} from '../../src/models/clip/encode.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {embedRenders} from '../demo/train-clip.js';
import {sampleFactors} from '../world2/factors.js';
import {renderFactorsTensor} from '../world2/render.js';

configureEngine({threads: Number(flag('threads', '1'))});
const assets = new DemoAssetDir();
const g = loadGenerator(assets.file('generator', 'generator'));
const rel = loadRelevance(assets.file('relevance', 'relevance'));
const clip = loadClip(assets.file('clip'));
const colour = flag('colour', 'grey');
const PAIRS = Number(flag('pairs', '200'));
const ks = flag('k', '0,2,4,8').split(',').map(Number);
const alphas = flag('alphas', '6,10').split(',').map(Number);
const E = clip.config.embedDim;

// hue pairs
const rng = new Rng(99);
const B = 50;
const diffs: Float32Array[] = [];
while (diffs.length < PAIRS) {
  const a = new Float32Array(B * 3 * 64 * 64);
  const b = new Float32Array(B * 3 * 64 * 64);
  for (let i = 0; i < B; i++) {
    let f = sampleFactors(rng).factors;
    while (f.hairC < 0.08) f = sampleFactors(rng).factors;
    const h = {...f, hairH: (f.hairH + 60 + 240 * rng.next()) % 360};
    renderFactorsTensor(f, 64, a, i * 3 * 64 * 64);
    renderFactorsTensor(h, 64, b, i * 3 * 64 * 64);
  }
  const ea = await embedRenders(clip, a, B);
  const eb = await embedRenders(clip, b, B);
  for (let i = 0; i < B; i++) {
    const d = new Float32Array(E);
    for (let e = 0; e < E; e++) d[e] = eb[i * E + e]! - ea[i * E + e]!;
    diffs.push(d);
  }
}
/** v minus its projection on the orthonormal vectors `basis`, in place. */
function projectOut(v: Float64Array, basis: readonly Float64Array[]): Float64Array {
  for (const u of basis) {
    const p = u.reduce((s, ui, i) => s + ui * v[i]!, 0);
    for (let i = 0; i < E; i++) v[i] -= p * u[i]!;
  }
  return v;
}
// principal directions by power iteration with deflation
const M = new Float64Array(E * E);
for (const d of diffs) for (let i = 0; i < E; i++) for (let j = 0; j < E; j++) M[i * E + j] += d[i]! * d[j]!;
const basis: Float64Array[] = [];
const total = Array.from({length: E}, (_, i) => M[i * E + i]!).reduce((s, v) => s + v, 0);
for (let k = 0; k < Math.max(...ks); k++) {
  let v = Float64Array.from({length: E}, (_, i) => Math.sin(i * 7.1 + k));
  let lambda = 0;
  for (let it = 0; it < 300; it++) {
    const w = new Float64Array(E);
    for (let i = 0; i < E; i++) for (let j = 0; j < E; j++) w[i] += M[i * E + j]! * v[j]!;
    projectOut(w, basis);
    lambda = Math.hypot(...w);
    v = w.map((t) => t / lambda);
  }
  basis.push(v);
  console.log(`hue direction ${k}: ${((100 * lambda) / total).toFixed(1)} % of the hue pairs' variance`);
}

const dt0 = await promptDirection(clip, loadDefaultTokenizer(), neutralPrompt, promptFor('hairColor', colour as never));
const classifier = loadDemoClassifier(assets.file('classifier'));
const base = await generate(g, {latent: await toWPlus(g, sampleZ(g, 40, 4242), 'z', 0.7), space: 'w+', returnStyles: true});
const before = (await classifier.classify(base.image)).map(topValues);
const eligible = before.map((t) => t.hairColor !== colour);
for (const k of ks) {
  const dt = projectOut(Float64Array.from(dt0), basis.slice(0, k));
  const kept = Math.hypot(...dt);
  const dir = Float32Array.from(dt, (t) => t / kept);
  const cells: string[] = [];
  for (const alpha of alphas) {
    const {styles} = editStyles(g, rel, base.styles!, dir, {alpha, minChannels: 40});
    const after = (await classifier.classify((await generate(g, {latent: styles, space: 's'})).image)).map(topValues);
    const hits = after.filter((t, i) => eligible[i] && t.hairColor === colour).length;
    const counts = new Map<string, number>();
    after.forEach((t, i) => eligible[i] && counts.set(t.hairColor, (counts.get(t.hairColor) ?? 0) + 1));
    cells.push(`α ${alpha}: ${hits}/${eligible.filter(Boolean).length} (${[...counts].sort((p, q) => q[1] - p[1]).slice(0, 3).map(([c, n]) => `${c} ${n}`).join(', ')})`);
  }
  console.log(`k ${k} (|Δt| kept ${kept.toFixed(2)}): ${cells.join('   ')}`);
}
