/**
 * Which StyleSpace channels a hair-colour prompt's relevance picks, and what each does alone:
 *
 *   node --import tsx lab/bench/channel-probe.ts [--generator G] [--relevance R] [--colour grey] [--faces 16] [--top 12]
 *
 * Every channel of the relevance file is moved alone by +5σ along the sign of its relevance to "a face with <colour>
 * hair" on --faces faces (seed 4242, ψ 0.7), and the evaluation classifier's regression head reads the hair's L and
 * chroma (|(a, b)|, in its own units) before and after. Prints the most relevant channels with their effect, and the
 * channels that lower the chroma most with their relevance rank (lab/world2/README.md, session 12). Defaults: the
 * shipped generator and relevance.
 */
import {DemoAssetDir, flag} from '../../bench/common.js';
import {loadDemoClassifier} from '../../src/demo/classifier.js';
import {neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {relevanceScores} from '../../src/edit/global-edit.js';
import {loadRelevance} from '../../src/edit/global-relevance-file.js';
import type {HostTensor} from '../../src/io/host-tensor.js';
import {promptDirection} from '../../src/models/clip/encode.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {locateChannel} from '../../src/models/stylespace.js';
import {regressionTargets} from '../world2/classifier.js';

const assets = new DemoAssetDir();
const g = loadGenerator(assets.file('generator', 'generator'));
const rel = loadRelevance(assets.file('relevance', 'relevance'));
const colour = flag('colour', 'grey');
const N = Number(flag('faces', '16'));
const TOP = Number(flag('top', '12'));
const dt = await promptDirection(loadClip(assets.file('clip')), loadDefaultTokenizer(), neutralPrompt, promptFor('hairColor', colour as never));
const R = relevanceScores(rel, dt);
const base = await generate(g, {latent: await toWPlus(g, sampleZ(g, N, 4242), 'z', 0.7), space: 'w+', returnStyles: true});
const classifier = loadDemoClassifier(assets.file('classifier'));
const at = (name: string): number => regressionTargets.findIndex((t) => t.name === name);
const [iL, iA, iB] = [at('hairL'), at('hairA'), at('hairB')];

/** Mean hair L and chroma the classifier reads. */
async function hair(img: HostTensor): Promise<{L: number; C: number}> {
  const r = (await classifier.run(img)).regression!;
  const mean = (f: (x: Float32Array) => number) => r.reduce((s, x) => s + f(x), 0) / r.length;
  return {L: mean((x) => x[iL]!), C: mean((x) => Math.hypot(x[iA]!, x[iB]!))};
}

const before = await hair(base.image);
const order = [...R.keys()].sort((x, y) => Math.abs(R[y]!) - Math.abs(R[x]!));
const rank = new Map(order.map((k, i) => [k, i]));
const rows: {rank: number; layer: number; r: number; dL: number; dC: number}[] = [];
for (let k = 0; k < rel.channels.length; k++) {
  const j = rel.channels[k]!;
  const {layer, index} = locateChannel(g, j);
  const styles = base.styles!.map((t) => ({...t, data: Float32Array.from(t.data as Float32Array)}));
  const C = styles[layer]!.shape[1]!;
  for (let n = 0; n < N; n++) styles[layer]!.data[n * C + index]! += 5 * rel.sStd[j]! * Math.sign(R[k]!);
  const after = await hair((await generate(g, {latent: styles, space: 's'})).image);
  rows.push({rank: rank.get(k)!, layer, r: R[k]!, dL: after.L - before.L, dC: after.C - before.C});
}
const show = (title: string, xs: typeof rows) => {
  console.log(title);
  for (const x of xs.slice(0, TOP)) console.log(`  rank ${String(x.rank).padStart(4)}  layer ${String(x.layer).padStart(2)}  R ${x.r.toFixed(3).padStart(6)}  ΔL ${x.dL.toFixed(3).padStart(6)}  Δchroma ${x.dC.toFixed(3).padStart(6)}`);
};
console.log(`"${promptFor('hairColor', colour as never)}" on ${N} faces: hair L ${before.L.toFixed(3)}, chroma ${before.C.toFixed(3)} before (classifier units)`);
show(`the ${TOP} most relevant channels, each moved alone:`, [...rows].sort((a, b) => a.rank - b.rank));
show(`the ${TOP} channels that lower the chroma most:`, [...rows].sort((a, b) => a.dC - b.dC));
