/**
 * `npm run train:demo`: reproduce every shipped demo model from scratch, in order, each step resumable
 * (rerun the command after an interruption: finished steps — marked in .train/ — are skipped, a running step
 * continues from its checkpoints in .train/; the shipped assets are overwritten). Writes the measured duration of each step to assets/demo/TRAINING.md.
 *
 *   classifier   the evaluation classifier (region labels, factor regression)      → assets/demo/classifier.safetensors
 *   gan          ToonGAN (continuous factors, factor-group mixing; three runs)        → assets/demo/generator.safetensors
 *   clip         ToonCLIP (seed 1, edits; captions with in-between faces, counterfactual pairs, embedding 128)
 *                                                                                     → assets/demo/toonclip.safetensors
 *   clip-eval    ToonCLIP (seed 2, used only to evaluate edits)                       → assets/demo/toonclip-eval.safetensors
 *   encoder      the demo encoder (invert and the web app's photos)                   → assets/demo/encoder.safetensors
 *   relevance    global-direction relevance and edit defaults                         → assets/demo/relevance.safetensors
 *   identity     the demo identity network (the ID loss of mappers and optimisation)  → assets/demo/identity.safetensors
 *   mappers      one mapper per prompt of both quality lists                          → assets/demo/mappers/<slug>.safetensors
 *
 * The long runs (gan, clip, clip-eval, encoder, identity) keep their checkpoints in lab/runs/ (committed between
 * sessions, so a run of several hours continues); rerunning the step resumes it. The world they are trained on is
 * lab/world2 (continuous factors; lab/world2/README.md has every run's measurements).
 *
 * Flags: --force STEP (redo one step from scratch), --only STEP, --mapper-steps N (default 800), --relevance-images K
 * (default 100, the official count), --relevance-samples N (default 20000).
 */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {fileURLToPath} from 'node:url';
import {editTargets, heldOutEditTargets} from '../../src/demo/attributes.js';
import {mapperSlug} from '../../src/demo/assets.js';
import {DEMO_MAPPER_DEFAULTS} from '../../src/edit/mapper-defaults.js';
import {demoMapperArgs} from '../demo/mapper-recipe.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO = path.join(ROOT, 'assets/demo');
// Strict: a mistyped flag must not start hours of training.
const {values: flags} = (() => {
  try {
    return parseArgs({
      strict: true,
      options: {
        force: {type: 'string', multiple: true, default: []},
        only: {type: 'string', default: ''},
        'mapper-steps': {type: 'string'},
        'relevance-images': {type: 'string'},
        'relevance-samples': {type: 'string'},
        help: {type: 'boolean', short: 'h', default: false},
      },
    });
  } catch (e) {
    console.error(`error: train:demo: ${e instanceof Error ? e.message : String(e)} (try --help)`);
    process.exit(2);
  }
})();
if (flags.help) {
  console.log('usage: npm run train:demo -- [--only STEP] [--force STEP] [--mapper-steps N] [--relevance-images K] [--relevance-samples N] (see lab/scripts/train-demo.ts)');
  process.exit(0);
}
const opt = (name: 'mapper-steps' | 'relevance-images' | 'relevance-samples', dflt: string): string => flags[name] ?? dflt;
const force = new Set(flags.force);
const only = flags.only;

const tsx = (script: string, ...rest: string[]) => [process.execPath, '--import', 'tsx', path.join(ROOT, script), ...rest];
const cli = (...rest: string[]) => tsx('src/cli/main.ts', ...rest);

interface Step {
  name: string;
  outputs: string[];
  commands: string[][];
}

const G = path.join(DEMO, 'generator.safetensors');
const CLIP = path.join(DEMO, 'toonclip.safetensors');
/** Steps of the demo encoder's run (see lab/demo/train-encoder.ts; the estimate behind the number is in docs/demo-models.md). */
const ENCODER_STEPS = '12000';
/** The prompts that get a shipped mapper (both quality lists), and where each mapper goes. */
const MAPPER_TARGETS = [...editTargets, ...heldOutEditTargets];
const mapperOut = (t: {name: string}): string => path.join(DEMO, 'mappers', `${mapperSlug(t.name)}.safetensors`);

const steps: Step[] = [
  {
    name: 'classifier',
    outputs: [path.join(DEMO, 'classifier.safetensors')],
    // Region labels masked in the gaps, a regression head for the attribute factors (lab/world2/classifier.ts).
    commands: [tsx('lab/scripts/train-classifier.ts', '--world', 'v2', '--steps', '1400', '--regression-weight', '2', '--threads', '1', '--checkpoint', path.join(ROOT, '.train', 'classifier-v2.ckpt.safetensors'), '--out', path.join(DEMO, 'classifier.safetensors'))],
  },
  {
    name: 'gan',
    outputs: [G],
    // The v2 decoding (lab/world2/toon-gan.ts), v1's pixel weights on the small features, an auxiliary regression
    // from W to the factors, style mixing on 30 % of the faces with factor groups owned by W+ rows; then a fine-tune
    // with 40 % of the unmixed faces on straight W lines between two latents (targets: the factors interpolated the
    // same way), so the W paths the edit methods take render the in-between faces. One thread.
    commands: [
      tsx('lab/scripts/train-gan.ts', '--world', 'v2', '--steps', '18000', '--attribute-weight', '8', '--aux', '0.5', '--mixing', '0.3', '--threads', '1', '--sample-every', '1000', '--checkpoint-minutes', '5', '--checkpoint', path.join(ROOT, 'lab/runs/gan-v2/toongan-v2.ckpt.safetensors'), '--out', path.join(ROOT, 'lab/runs/gan-v2/generator.safetensors')),
      tsx('lab/scripts/train-gan.ts', '--world', 'v2', '--init-from', path.join(ROOT, 'lab/runs/gan-v2/generator.safetensors'), '--steps', '6000', '--lr', '0.002', '--attribute-weight', '8', '--aux', '0.5', '--mixing', '0.3', '--interpolate', '0.4', '--threads', '1', '--sample-every', '250', '--checkpoint-minutes', '5', '--checkpoint', path.join(ROOT, 'lab/runs/gan-v2-interp/toongan-v2-interp.ckpt.safetensors'), '--out', path.join(ROOT, 'lab/runs/gan-v2-interp/generator.safetensors')),
      // Off-manifold jitter: noise of σ 1 on every W+ row along the 34 directions of W with variance < 0.012, the
      // target unchanged, so the synthesis network ignores them (a mapper's move there changed 24.8/255 of the
      // pixels before, 2.8/255 after; lab/bench/mapper-delta.ts).
      tsx('lab/scripts/train-gan.ts', '--world', 'v2', '--init-from', path.join(ROOT, 'lab/runs/gan-v2-interp/generator.safetensors'), '--steps', '6000', '--lr', '0.002', '--attribute-weight', '8', '--aux', '0.5', '--mixing', '0.3', '--interpolate', '0.4', '--jitter', '1', '--jitter-variance', '0.012', '--threads', '1', '--sample-every', '1000', '--checkpoint-minutes', '5', '--checkpoint', path.join(ROOT, 'lab/runs/gan-v2-jitter6k/toongan.ckpt.safetensors'), '--out', G),
    ],
  },
  ...(['clip', 'clip-eval'] as const).map((name) => {
    const seed = name === 'clip' ? '1' : '2';
    const out = path.join(DEMO, name === 'clip' ? 'toonclip.safetensors' : 'toonclip-eval.safetensors');
    const v2clip = (...rest: string[]) => tsx('lab/scripts/train-clip.ts', '--world', 'v2', '--seed', seed, '--batch', '64', '--intermediate', '0.4', '--counterfactual', '0.5', '--counterfactual-blend', '0.5', '--embed', '128', '--width', '128', '--threads', '1', ...rest, '--out', out);
    const ck = (phase: string) => path.join(ROOT, 'lab/runs/clip-v2', `toonclip-v2-${seed}${phase}.ckpt.safetensors`);
    // A 1500-step phase from the previous phase's checkpoint, its pairs mostly captioned by the changed attribute
    // (focus 0.9) and mostly on named values (blend 0.2), the moved attribute drawn with `weights`.
    const focusPhase = (from: string, to: string, weights: string, lr: string, ...rest: string[]) =>
      v2clip('--steps', '1500', ...rest, '--counterfactual-blend', '0.2', '--focus-prob', '0.9', '--counterfactual-weights', weights, '--lr', lr, '--warmup', '30', '--init-from', ck(from), '--checkpoint', ck(to));
    return {
      name,
        outputs: [out],
      // Phase 1 (lab/world2/clip-data.ts): 40 % in-between attributes captioned honestly, half of each batch in
      // counterfactual pairs (one attribute's factors moved, half of the time to an in-between point), embedding and
      // text width 128. It learns hair colour, glasses, skin and background (zero-shot ≥ 99.7 %) but leaves hair
      // style (38.6 %), beard, mouth and eye colour at the majority rate (seed 1); phase 2 draws the moved attribute
      // 4× more often among hair style, beard and mouth (as v1's fine-tunes did). One thread each; the two seeds can
      // run side by side (--only clip, --only clip-eval).
      commands: [
        v2clip('--steps', '3000', '--checkpoint', ck('')),
        v2clip('--steps', '1500', '--counterfactual-weights', 'hairStyle=4,beard=4,mouth=4,eyeColor=2', '--lr', '5e-4', '--warmup', '30', '--init-from', ck(''), '--checkpoint', ck('-phase2')),
        // Phases 3–4: pairs mostly captioned by the changed attribute (focus 0.9) and mostly on named values (blend
        // 0.2); phase 3 lifted beard 65.9 → 80.8 % (seed 1), phase 4 leans on mouth and eye colour.
        focusPhase('-phase2', '-phase3', 'beard=5,mouth=5,eyeColor=3,hairStyle=2', '4e-4'),
        // Phases 4–7 only for the editing ToonCLIP (seed 1): the evaluation one stops after phase 3. Phase 5 (60 % of
        // the batch in pairs) lifted hair style 79.8 → 89.5 %, beard 81.3 → 85.4 %, eye colour 58.0 → 77.4 %; phase 6
        // (mouth 12) mouth 48.0 → 68.6 % (stuck at the majority rate since phase 1) with the others still rising, phase 7
        // mouth 86.7 %, hair style 96.3 %, beard 90.0 %, eye colour 87.1 %.
        ...(seed === '1' ? [
          focusPhase('-phase3', '-phase4', 'mouth=6,eyeColor=4,beard=2,hairStyle=2', '3e-4'),
          focusPhase('-phase4', '-phase5', 'mouth=8,eyeColor=4,beard=6,hairStyle=3', '5e-4', '--counterfactual', '0.6'),
          focusPhase('-phase5', '-phase6', 'mouth=12,beard=8,eyeColor=3,hairStyle=3', '5e-4', '--counterfactual', '0.6'),
          focusPhase('-phase6', '-phase7', 'mouth=12,beard=6,eyeColor=3,hairStyle=2', '4e-4', '--counterfactual', '0.6'),
        ] : []),
      ],
    };
  }),
  {
    name: 'encoder',
    outputs: [path.join(DEMO, 'encoder.safetensors')],
    // The demo encoder for ToonGAN v2 on renderer-v2 faces (30 % with in-between values), evaluated with classifier v2;
    // after clip-v2, whose ToonCLIP gives the feature term.
    commands: [tsx('lab/scripts/train-encoder.ts', '--generator', G, '--world', 'v2', '--steps', ENCODER_STEPS, '--clip-weight', '1', '--clip', CLIP, '--checkpoint-minutes', '5', '--checkpoint', path.join(ROOT, 'lab/runs/encoder-v2/encoder-v2.ckpt.safetensors'), '--out', path.join(DEMO, 'encoder.safetensors'), '--eval', '200', '--json', '--json-file', 'bench-results/encoder-quality-v2.json', '--grid', 'bench-results/encoder-grid-v2.png')],
  },
  {
    name: 'relevance',
    outputs: [path.join(DEMO, 'relevance.safetensors')],
    // The official preparation (StyleSpace statistics over --relevance-samples latents, relevance from
    // --relevance-images images per channel) with ToonCLIP v2; edit defaults from the v2 sweep on validation faces
    // (npm run bench:global-sweep -- --alphas 6,8,11 --channels 20,40,80 --seeds 20, on the
    // jitter generator: auto β with 40 channels at α 6 gave 60.2 % success at 91.2 % preservation, the most success at
    // ≥ 90 %; 20 channels at α 6 53.6 % / 91.9 %).
    commands: [
      cli('global', 'prepare', '--generator', G, '--clip', CLIP, '--samples', opt('relevance-samples', '20000'), '--images', opt('relevance-images', '100'), '--batch', '64', '--out', path.join(DEMO, 'relevance.safetensors')),
      cli('global', 'defaults', path.join(DEMO, 'relevance.safetensors'), '--min-channels', '40', '--alpha', '6'),
    ],
  },
  {
    name: 'identity',
    outputs: [path.join(DEMO, 'identity.safetensors')],
    // The demo world's ArcFace: renders of one person (geometry, skin tone, eye colour) under redrawn hair, glasses,
    // beard, expression, lipstick, background and pose embed together (lab/world2/identity.ts). One thread.
    commands: [tsx('lab/scripts/train-identity.ts', '--steps', '1500', '--threads', '1', '--checkpoint', path.join(ROOT, 'lab/runs/identity-v2/identity.ckpt.safetensors'), '--out', path.join(DEMO, 'identity.safetensors'))],
  },
  {
    name: 'mappers',
    // One mapper per prompt of both quality lists: a user trains a mapper for the prompt they want, so the held-out
    // prompts get theirs with the same default recipe (nothing tuned on them).
    outputs: MAPPER_TARGETS.map(mapperOut),
    commands: MAPPER_TARGETS.map((t) => {
      const files = {generator: G, clip: CLIP, identity: path.join(DEMO, 'identity.safetensors'), out: mapperOut(t), checkpoint: path.join(ROOT, '.train', `mapper-${mapperSlug(t.name)}.ckpt.safetensors`)};
      return cli('mapper', 'train', ...demoMapperArgs(t, files, Number(opt('mapper-steps', String(DEMO_MAPPER_DEFAULTS.steps)))));
    }),
  },
];

const timingsFile = path.join(DEMO, 'TRAINING.md');
/** The timing rows of TRAINING.md as they are now (read just before each update, so rows edited while a step ran survive). */
function readTimings(): Map<string, string> {
  const timings = new Map<string, string>();
  if (!existsSync(timingsFile)) return timings;
  for (const line of readFileSync(timingsFile, 'utf8').split('\n')) {
    const m = line.match(/^\| (\S+) \| (.+) \|$/);
    if (m && m[1] !== 'step' && !m[1]!.startsWith('-')) timings.set(m[1]!, m[2]!);
  }
  return timings;
}

for (const name of [only, ...force].filter((n) => n !== '')) {
  if (!steps.some((s) => s.name === name)) {
    console.error(`error: train:demo: no step '${name}' (steps: ${steps.map((s) => s.name).join(', ')})`);
    process.exit(2);
  }
}
mkdirSync(path.join(DEMO, 'mappers'), {recursive: true});
mkdirSync(path.join(DEMO, 'mappers'), {recursive: true});
mkdirSync(path.join(ROOT, '.train'), {recursive: true});
for (const step of steps) {
  if (only && step.name !== only) continue;
  // A step is done when its marker exists (written after all its commands succeeded); shipped assets alone do not
  // count, so a fresh clone retrains everything from scratch.
  const marker = path.join(ROOT, '.train', `done-${step.name}`);
  // --force redoes the step from scratch: its markers and outputs go (a relevance file doubles as the resumable
  // state of `global prepare`, which refuses to continue one made with another generator).
  if (force.has(step.name)) for (const f of [marker, ...step.commands.map((_, i) => `${marker}-${i}`), ...step.outputs]) rmSync(f, {force: true});
  if (existsSync(marker) && step.outputs.every((o) => existsSync(o))) {
    console.log(`[train:demo] ${step.name}: done (${step.outputs.map((o) => path.relative(ROOT, o)).join(', ')})`);
    continue;
  }
  const cmdMarker = (i: number) => `${marker}-${i}`;
  const pending = step.commands.map((cmd, i) => ({cmd, i})).filter(({i}) => !existsSync(cmdMarker(i)));
  console.log(`[train:demo] ${step.name}: running ${pending.length} command(s)`);
  const t0 = Date.now();
  for (const {cmd, i} of pending) {
    const r = spawnSync(cmd[0]!, cmd.slice(1), {cwd: ROOT, stdio: 'inherit'});
    if (r.status !== 0) {
      console.error(`[train:demo] ${step.name} failed (exit ${r.status}); rerun 'npm run train:demo' to resume`);
      process.exit(r.status ?? 1);
    }
    writeFileSync(cmdMarker(i), new Date().toISOString());
  }
  writeFileSync(marker, new Date().toISOString());
  const minutes = (Date.now() - t0) / 60000;
  const timings = readTimings();
  timings.set(step.name, `${minutes.toFixed(1)} min (this run, ${new Date().toISOString().slice(0, 10)})`);
  writeFileSync(
    timingsFile,
    ['# Demo model training times', '', 'Measured by `npm run train:demo` on the 2-core build machine (wall time of the last run of each step; a resumed step counts only its last part).', '', '| step | time |', '| --- | --- |', ...[...timings].map(([k, v]) => `| ${k} | ${v} |`), ''].join('\n'),
  );
}
console.log('[train:demo] all demo models are in assets/demo/');
