/**
 * Train the demo mappers (one per prompt of both quality lists, the `train:demo` recipe) for another generator or
 * ToonCLIP, e.g. a candidate generator before it replaces the shipped one:
 *
 *   node --import tsx lab/scripts/train-mappers.ts --generator G --out-dir DIR [--clip C] [--only "grey hair,bald"] [--steps N]
 *
 * Writes DIR/<slug>.safetensors; a mapper whose file exists is skipped, so rerunning the command continues a set.
 * The identity network is the shipped one (assets/demo/identity.safetensors). Runs on one thread.
 */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {editTargets, heldOutEditTargets} from '../../src/demo/attributes.js';
import {mapperSlug} from '../../src/demo/assets.js';
import {DEMO_MAPPER_DEFAULTS} from '../../src/edit/mapper-defaults.js';
import {demoMapperArgs} from '../demo/mapper-recipe.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const {values: a} = parseArgs({
  options: {
    generator: {type: 'string'},
    clip: {type: 'string', default: path.join(ROOT, 'assets/demo/toonclip.safetensors')},
    'out-dir': {type: 'string'},
    only: {type: 'string', default: ''},
    steps: {type: 'string', default: String(DEMO_MAPPER_DEFAULTS.steps)},
  },
});
if (!a.generator || !a['out-dir']) {
  console.error('error: --generator and --out-dir are required (see lab/scripts/train-mappers.ts)');
  process.exit(2);
}
const only = a.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
const targets = [...editTargets, ...heldOutEditTargets].filter((t) => only.length === 0 || only.includes(t.name));
if (targets.length === 0) {
  console.error(`error: --only names no prompt of the quality lists: '${a.only}'`);
  process.exit(2);
}
// The CLI runs from the repository (for tsx); the user's paths are taken from where this command runs.
const [generator, clip, outDir] = [path.resolve(a.generator), path.resolve(a.clip), path.resolve(a['out-dir'])];
mkdirSync(outDir, {recursive: true});
for (const t of targets) {
  const out = path.join(outDir, `${mapperSlug(t.name)}.safetensors`);
  if (existsSync(out)) continue;
  const files = {generator, clip, identity: path.join(ROOT, 'assets/demo/identity.safetensors'), out, checkpoint: out.replace(/\.safetensors$/, '.ckpt.safetensors')};
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), '--threads', '1', 'mapper', 'train', ...demoMapperArgs(t, files, Number(a.steps))], {cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'});
  console.log(`${t.name}: ${r.status === 0 ? 'done' : `failed (${r.status})`} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (r.status !== 0) {
    console.error((r.stderr ?? '').split('\n').filter((l) => !l.startsWith('mapper ')).join('\n'));
    process.exit(1);
  }
}
