/**
 * Train the demo encoder for a demo generator (one step of `npm run train:demo`), then evaluate the written file:
 *
 *   node --import tsx lab/scripts/train-encoder.ts [--generator assets/demo/generator.safetensors] [--world v2|v1]
 *        [--steps N] [--stop-at N] [--samples N] [--renders N] [--lr X] [--warmup N] [--seed N] [--psi-min X]
 *        [--mixing X] [--intermediate X] [--pixel-weight X] [--latent-weight X] [--delta-weight X]
 *        [--attribute-weight K] [--multiscale-weight X] [--clip-weight X] [--clip FILE]
 *        [--width N] [--depths A,B,C,D] [--units A,B,C,D] [--se N]
 *        [--checkpoint .train/encoder.ckpt.safetensors] [--checkpoint-minutes M] [--out assets/demo/encoder.safetensors]
 *        [--eval N] [--eval-refine STEPS] [--classifier FILE] [--grid FILE.png] [--json] [--json-file FILE] [--eval-only] [--threads N]
 *
 * Resumes from the checkpoint when it exists (delete it to start over; a checkpoint of another generator, world or
 * architecture is refused). --stop-at N stops after step N (checkpoint written, no export) for a run continued later.
 * After training, the encoder file (encoder + the generator as decoder + latent_avg, see lab/demo/train-encoder.ts)
 * is written and measured on --eval held-out renders (default 200): reconstruction error (mean |x − G(E(x))| in
 * 8-bit units, PSNR) and the evaluation classifier's agreement between each render and its reconstruction over the
 * visible attributes (v2: assets/demo/classifier.safetensors; v1: lab/runs/v1/classifier.safetensors). --json
 * writes the numbers to bench-results/encoder-quality.json (or --json-file); --grid writes renders next to their
 * reconstructions (default bench-results/encoder-grid.png). --eval-only measures an existing --out file; --eval-refine
 * STEPS measures the inversions refined by that many projection steps (pixel loss), as `invert --refine` makes them:
 * what the generator can show near the encoder's answer, the ceiling a longer-trained encoder approaches.
 */
import {parseArgs} from 'node:util';
import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {attributeNames} from '../../src/demo/attributes.js';
import {loadDemoClassifier} from '../../src/demo/classifier.js';
import {configureEngine} from '../../src/engine/session.js';
import {readBytes, writeFileAtomic} from '../../src/io/files.js';
import {DEFAULT_TRAIN_ENCODER, type EncoderArch, type World, evaluateEncoder, trainEncoder, writeEncoderAsset} from '../demo/train-encoder.js';

const {values} = parseArgs({
  options: {
    generator: {type: 'string', default: 'assets/demo/generator.safetensors'},
    world: {type: 'string', default: 'v2'},
    steps: {type: 'string'},
    'stop-at': {type: 'string'},
    samples: {type: 'string'},
    renders: {type: 'string'},
    lr: {type: 'string'},
    warmup: {type: 'string'},
    seed: {type: 'string'},
    'psi-min': {type: 'string'},
    mixing: {type: 'string'},
    intermediate: {type: 'string'},
    'pixel-weight': {type: 'string'},
    'latent-weight': {type: 'string'},
    'delta-weight': {type: 'string'},
    'attribute-weight': {type: 'string'},
    'multiscale-weight': {type: 'string'},
    'clip-weight': {type: 'string'},
    clip: {type: 'string'},
    width: {type: 'string'},
    depths: {type: 'string'},
    units: {type: 'string'},
    se: {type: 'string'},
    checkpoint: {type: 'string'},
    'checkpoint-minutes': {type: 'string', default: '5'},
    out: {type: 'string', default: 'assets/demo/encoder.safetensors'},
    eval: {type: 'string', default: '200'},
    classifier: {type: 'string'},
    grid: {type: 'string', default: 'bench-results/encoder-grid.png'},
    json: {type: 'boolean', default: false},
    'json-file': {type: 'string', default: 'bench-results/encoder-quality.json'},
    'eval-only': {type: 'boolean', default: false},
    'eval-refine': {type: 'string', default: '0'},
    threads: {type: 'string'},
  },
});

function fail(msg: string): never {
  console.error(`error: ${msg}`);
  process.exit(1);
}
const num = (name: keyof typeof values, dflt: number, {int = false, min = -Infinity} = {}): number => {
  const v = values[name];
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x)) || x < min) fail(`--${name} must be ${int ? 'an integer' : 'a number'} ≥ ${min}, got '${String(v)}'`);
  return x;
};
const four = (name: 'depths' | 'units', dflt: readonly number[]): [number, number, number, number] => {
  const v = values[name];
  const xs = v === undefined ? [...dflt] : v.split(',').map(Number);
  if (xs.length !== 4 || xs.some((x) => !Number.isInteger(x) || x < 1)) fail(`--${name} must be four positive integers A,B,C,D, got '${v}'`);
  return xs as [number, number, number, number];
};

const world = values.world as World;
if (world !== 'v1' && world !== 'v2') fail(`--world must be v1 or v2, got '${values.world}'`);
if (values.threads) configureEngine({threads: num('threads', 1, {int: true, min: 1})});
const d = DEFAULT_TRAIN_ENCODER;
const arch: EncoderArch = {inputWidth: num('width', d.arch.inputWidth, {int: true, min: 1}), depths: four('depths', d.arch.depths), units: four('units', d.arch.units), seReduction: num('se', d.arch.seReduction, {int: true, min: 1})};
const out = values.out!;
const nEval = num('eval', 200, {int: true, min: 0});

if (!values['eval-only']) {
  const opts = {
    ...d, generator: values.generator!, world, arch,
    steps: num('steps', d.steps, {int: true, min: 1}), lr: num('lr', d.lr, {min: 0}), warmup: num('warmup', d.warmup, {int: true, min: 0}),
    seed: num('seed', d.seed, {int: true}), samples: num('samples', d.samples, {int: true, min: 0}), renders: num('renders', d.renders, {int: true, min: 0}),
    psiMin: num('psi-min', d.psiMin, {min: 0}), mixing: num('mixing', d.mixing, {min: 0}), intermediate: num('intermediate', d.intermediate, {min: 0}),
    weights: {
      pixel: num('pixel-weight', d.weights.pixel, {min: 0}), latent: num('latent-weight', d.weights.latent, {min: 0}), delta: num('delta-weight', d.weights.delta, {min: 0}),
      attribute: num('attribute-weight', d.weights.attribute, {min: 0}), multiscale: num('multiscale-weight', d.weights.multiscale, {min: 0}), clip: num('clip-weight', d.weights.clip, {min: 0}),
    },
    clip: values.clip ?? (world === 'v2' ? 'assets/demo/toonclip.safetensors' : 'lab/runs/v1/toonclip.safetensors'),
    checkpoint: values.checkpoint ?? (world === 'v2' ? '.train/encoder-v2.ckpt.safetensors' : '.train/encoder.ckpt.safetensors'),
    checkpointSeconds: 60 * num('checkpoint-minutes', 5, {min: 0}),
    ...(values['stop-at'] ? {stopAt: num('stop-at', 0, {int: true, min: 1})} : {}),
  };
  // SIGINT/SIGTERM cancel the loop, which checkpoints; the same command resumes.
  const ac = new AbortController();
  process.on('SIGINT', () => ac.abort());
  process.on('SIGTERM', () => ac.abort());
  const r = await trainEncoder({...opts, signal: ac.signal}).catch((e: unknown) => {
    if (!ac.signal.aborted) throw e;
    console.log(`stopped by signal (${e instanceof Error ? e.message : String(e)}); resume with the same command`);
    process.exit(0);
  });
  console.log(`trained ${r.stepsRun} steps in ${(r.seconds / 60).toFixed(1)} min (${r.perStep.toFixed(3)} s/step, ${(1 / r.perStep).toFixed(2)} steps/s after the first step)`);
  if (opts.stopAt !== undefined && opts.stopAt < opts.steps) {
    console.log(`stopped at step ${opts.stopAt} of ${opts.steps}; rerun to continue from ${opts.checkpoint}`);
    process.exit(0);
  }
  writeEncoderAsset(out, r.config, r.state, readBytes(opts.generator, 'generator'), {world, steps: String(opts.steps), seed: String(opts.seed), arch: JSON.stringify(arch), samples: String(opts.samples), renders: String(opts.renders)});
  console.log(`wrote ${out}`);
}

if (nEval > 0) {
  const classifierFile = values.classifier ?? (world === 'v2' ? 'assets/demo/classifier.safetensors' : 'lab/runs/v1/classifier.safetensors');
  const refine = num('eval-refine', 0, {int: true, min: 0});
  const q = await evaluateEncoder(out, loadDemoClassifier(classifierFile), {n: nEval, world, refine, ...(values.grid ? {grid: values.grid} : {})});
  console.log(`\nencoder ${out}${refine ? ` + ${refine} projection steps per face` : ''} on ${q.n} held-out ${world} renders (${q.seconds.toFixed(1)} s):`);
  console.log(`  reconstruction  mean |x − G(E(x))| ${q.meanAbsError.toFixed(2)} / 255, PSNR ${q.psnr.toFixed(2)} dB`);
  console.log(`  classifier agreement, render vs reconstruction (visible attributes; target ≥ 90 %):`);
  console.log('  | attribute | agreement | faces |');
  console.log('  | --- | ---: | ---: |');
  for (const a of attributeNames) console.log(`  | ${a} | ${(100 * q.attributes[a].agreement).toFixed(1)} % | ${q.attributes[a].n} |`);
  console.log(`  | **all** | **${(100 * q.agreement).toFixed(1)} %** | ${q.n} |`);
  console.log(`  faces with every visible attribute agreeing: ${(100 * q.allAgree).toFixed(1)} %`);
  if (values.grid) console.log(`  grid (render | reconstruction pairs): ${values.grid}`);
  if (values.json) {
    const file = values['json-file']!;
    mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
    writeFileAtomic(file, new TextEncoder().encode(JSON.stringify({encoder: out, classifier: classifierFile, refine, date: new Date().toISOString(), ...q}, null, 2) + '\n'), 'quality report');
    console.log(`  wrote ${file}`);
  }
}
