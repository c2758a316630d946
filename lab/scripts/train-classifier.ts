/**
 * Train the demo evaluation classifier from scratch (one step of `npm run train:demo`):
 *
 *   node --import tsx lab/scripts/train-classifier.ts [--steps N] [--batch N] [--lr X] [--seed N]
 *        [--out assets/demo/classifier.safetensors] [--checkpoint .train/classifier.ckpt.safetensors]
 *        [--eval N] [--threads N] [--world v2|v1] [--regression-weight X]
 *
 * The default world v2 (the shipped demo world) trains lab/world2/classifier.ts: region labels masked in the gaps, a
 * regression head for the attribute factors; --checkpoint defaults to .train/classifier-v2.ckpt.safetensors, and the
 * evaluation reports accuracy per attribute on labelled and on named
 * faces (clean faces and faces with in-between values) and the regression error per factor. --world v1 (the first,
 * categorical demo world) writes lab/runs/v1/classifier.safetensors.
 *
 * Resumes from the checkpoint when it exists (delete it to start over). Prints progress lines, then evaluates
 * the written fp16 asset on held-out renders and prints per-attribute accuracy and the timings.
 */
import {parseArgs} from 'node:util';
import {statSync} from 'node:fs';
import {attributeNames} from '../../src/demo/attributes.js';
import {defaultClassifierConfig, loadDemoClassifier} from '../../src/demo/classifier.js';
import {hashSeed} from '../../src/demo/rng.js';
import {EVAL_STREAM, classifierV2Config, defaultTrainOptions, evaluateClassifier, trainClassifier, writeClassifierAsset} from '../demo/train-classifier.js';
import {TRAIN_INTERMEDIATE, evaluateClassifierV2} from '../world2/classifier.js';
import {configureEngine} from '../../src/engine/session.js';

const {values} = parseArgs({
  options: {
    steps: {type: 'string'},
    batch: {type: 'string'},
    lr: {type: 'string'},
    seed: {type: 'string'},
    out: {type: 'string'},
    checkpoint: {type: 'string'},
    world: {type: 'string', default: 'v2'},
    'regression-weight': {type: 'string'},
    eval: {type: 'string', default: '2000'},
    threads: {type: 'string', default: '1'},
  },
});

function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    console.error(`error: --${name} must be a number, got '${v}'`);
    process.exit(1);
  }
  return n;
}

if (values.world !== 'v1' && values.world !== 'v2') {
  console.error(`error: --world must be v1 or v2, got '${values.world}'`);
  process.exit(1);
}
const v2 = values.world === 'v2';
const out = values.out ?? (v2 ? 'assets/demo/classifier.safetensors' : 'lab/runs/v1/classifier.safetensors');
configureEngine({threads: num('threads', values.threads, 1)});
const opts = {
  ...defaultTrainOptions,
  steps: num('steps', values.steps, defaultTrainOptions.steps),
  batch: num('batch', values.batch, defaultTrainOptions.batch),
  lr: num('lr', values.lr, defaultTrainOptions.lr),
  seed: num('seed', values.seed, defaultTrainOptions.seed),
  checkpoint: values.checkpoint ?? (v2 ? '.train/classifier-v2.ckpt.safetensors' : '.train/classifier.ckpt.safetensors'),
  world: values.world as 'v1' | 'v2',
  regressionWeight: num('regression-weight', values['regression-weight'], 1),
};

const {state, seconds, stepsRun} = await trainClassifier(opts);
console.log(`trained ${stepsRun} steps in ${seconds.toFixed(1)} s (${(seconds / Math.max(1, stepsRun)).toFixed(2)} s/step)`);
writeClassifierAsset(out, state, v2 ? classifierV2Config : defaultClassifierConfig, {
  steps: String(opts.steps), batch: String(opts.batch), seed: String(opts.seed),
});
console.log(`wrote ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB, fp16)`);

const nEval = num('eval', values.eval, 2000);
if (nEval > 0 && v2) {
  const c = loadDemoClassifier(out);
  for (const [what, intermediate] of [['clean faces', 0], [`faces with in-between values (${TRAIN_INTERMEDIATE} per attribute)`, TRAIN_INTERMEDIATE]] as const) {
    const t0 = performance.now();
    const e = await evaluateClassifierV2((x) => c.run(x), {n: nEval, seed: hashSeed(EVAL_STREAM, 2, intermediate * 100), intermediate});
    console.log(`held-out, ${nEval} ${what}, ${((performance.now() - t0) / 1000).toFixed(1)} s: accuracy on labelled faces (region) / on named faces (inside the margin)`);
    for (const a of attributeNames) {
      const r = e.accuracy[a];
      console.log(`  ${a.padEnd(11)} ${(100 * r.labelled).toFixed(2)} % (${r.nLabelled})   ${(100 * r.named).toFixed(2)} % (${r.nNamed})`);
    }
    console.log(`  minimum on named faces ${(100 * Math.min(...attributeNames.map((a) => e.accuracy[a].named))).toFixed(2)} %`);
    console.log(`  regression mean absolute error (factor units; hues in degrees on chromatic colours):`);
    console.log('  ' + Object.entries(e.regression).map(([k, v]) => `${k} ${v.mae.toFixed(k.endsWith('H') || k === 'lipstickHue' ? 1 : 3)}`).join(', '));
  }
} else if (nEval > 0) {
  const t0 = performance.now();
  const {accuracy, counts} = await evaluateClassifier(loadDemoClassifier(out), {n: nEval, stream: EVAL_STREAM});
  console.log(`held-out accuracy on ${nEval} renders (visible labels only), ${((performance.now() - t0) / 1000).toFixed(1)} s:`);
  for (const a of attributeNames) console.log(`  ${a.padEnd(11)} ${(100 * accuracy[a]).toFixed(2)} %  (${counts[a]} labels)`);
  const worst = Math.min(...attributeNames.map((a) => accuracy[a]));
  console.log(`minimum ${(100 * worst).toFixed(2)} %`);
}
