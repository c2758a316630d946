/**
 * `npm run bench:global-sweep`: how the global-direction settings (α, and β or the auto-β channel count) trade
 * edit success against preservation on the demo models, scored like `bench:quality` (evaluation classifier) but
 * on validation faces (seed 777 by default, disjoint from the benchmark's 1234), so defaults chosen from this
 * table are not tuned on the benchmark.
 *
 * Flags: --seeds N (30), --seed S (777), --alphas 3,4.1,6 , --channels 10,20,40 (auto β: the k most relevant
 * channels), --betas 0.2,0.3 , --assets DIR (the demo models' folder; default the shipped assets/demo), --relevance FILE,
 * --generator FILE, --clip FILE, --threads N.
 */
import {DemoAssetDir, flag} from '../../bench/common.js';
import {configureEngine} from '../../src/engine/session.js';
import {GlobalEditor} from '../../src/edit/global-edit.js';
import {loadRelevance} from '../../src/edit/global-relevance-file.js';
import {generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {editTargets, type FaceAttributes} from '../../src/demo/attributes.js';
import {scoreEdit} from '../../src/demo/edit-quality.js';
import {neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {loadDemoClassifier, topValues} from '../../src/demo/classifier.js';

const list = (name: string, dflt: string) => flag(name, dflt).split(',').filter((s) => s !== '').map(Number);
configureEngine({threads: Number(flag('threads', '2'))});

const SEEDS = Number(flag('seeds', '30'));
const alphas = list('alphas', '3,4.1,6');
const settings = [...list('channels', '10,20,40').map((k) => ({label: `k${k}`, minChannels: k})), ...list('betas', '').map((b) => ({label: `b${b}`, beta: b}))];

const assets = new DemoAssetDir();
const g = loadGenerator(assets.file('generator', 'generator'));
const clip = loadClip(assets.file('clip', 'clip'));
const editor = new GlobalEditor(g, clip, loadDefaultTokenizer(), loadRelevance(assets.file('relevance', 'relevance')));
const classifier = loadDemoClassifier(assets.file('classifier'));

const w0 = await toWPlus(g, sampleZ(g, SEEDS, Number(flag('seed', '777'))), 'z', 0.7);
const base = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
const before = (await classifier.classify(base.image)).map(topValues) as FaceAttributes[];

const totals = new Map<string, {success: number; preservation: number; n: number}>();
for (const t of editTargets) {
  const target = promptFor(t.attribute, t.value as never);
  const cells: string[] = [];
  for (const s of settings) {
    for (const alpha of alphas) {
      const {image, channelsMoved} = await editor.edit({neutral: neutralPrompt, target, styles: base.styles!, alpha, ...s});
      const q = scoreEdit(before, (await classifier.classify(image)).map(topValues) as FaceAttributes[], t);
      const key = `${s.label} α${alpha}`;
      const acc = totals.get(key) ?? {success: 0, preservation: 0, n: 0};
      totals.set(key, {success: acc.success + q.success, preservation: acc.preservation + q.preservation, n: acc.n + 1});
      cells.push(`${key} (${channelsMoved} ch): ${(100 * q.success).toFixed(0)}/${(100 * q.preservation).toFixed(0)}`);
    }
  }
  console.log(`${t.name}: ${cells.join('  ')}`);
}
console.log(`\naverage success / preservation over ${editTargets.length} prompts, ${SEEDS} validation faces:`);
for (const [key, v] of totals) console.log(`  ${key.padEnd(12)} ${((100 * v.success) / v.n).toFixed(1)} % / ${((100 * v.preservation) / v.n).toFixed(1)} %`);
