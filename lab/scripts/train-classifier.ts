/**
 * Train the demo evaluation classifier from scratch (one step of `npm run train:demo`):
 *
 *   node --import tsx lab/scripts/train-classifier.ts [--steps N] [--batch N] [--lr X] [--seed N]
 *        [--out assets/demo/classifier.safetensors] [--checkpoint .train/classifier.ckpt.safetensors]
 *        [--eval N] [--threads N]
 *
 * Resumes from the checkpoint when it exists (delete it to start over). Prints progress lines, then evaluates
 * the written fp16 asset on held-out renders and prints per-attribute accuracy and the timings.
 */
import {parseArgs} from 'node:util';
import {statSync} from 'node:fs';
import {attributeNames} from '../../src/demo/attributes.js';
import {defaultClassifierConfig, loadDemoClassifier} from '../../src/demo/classifier.js';
import {EVAL_STREAM, defaultTrainOptions, evaluateClassifier, trainClassifier, writeClassifierAsset} from '../demo/train-classifier.js';
import {configureEngine} from '../../src/engine/session.js';

const {values} = parseArgs({
  options: {
    steps: {type: 'string'},
    batch: {type: 'string'},
    lr: {type: 'string'},
    seed: {type: 'string'},
    out: {type: 'string', default: 'assets/demo/classifier.safetensors'},
    checkpoint: {type: 'string', default: '.train/classifier.ckpt.safetensors'},
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

configureEngine({threads: num('threads', values.threads, 1)});
const opts = {
  ...defaultTrainOptions,
  steps: num('steps', values.steps, defaultTrainOptions.steps),
  batch: num('batch', values.batch, defaultTrainOptions.batch),
  lr: num('lr', values.lr, defaultTrainOptions.lr),
  seed: num('seed', values.seed, defaultTrainOptions.seed),
  checkpoint: values.checkpoint,
};

const {state, seconds, stepsRun} = await trainClassifier(opts);
console.log(`trained ${stepsRun} steps in ${seconds.toFixed(1)} s (${(seconds / Math.max(1, stepsRun)).toFixed(2)} s/step)`);
writeClassifierAsset(values.out, state, defaultClassifierConfig, {
  steps: String(opts.steps), batch: String(opts.batch), seed: String(opts.seed),
});
console.log(`wrote ${values.out} (${(statSync(values.out).size / 1024).toFixed(0)} KiB, fp16)`);

const nEval = num('eval', values.eval, 2000);
if (nEval > 0) {
  const t0 = performance.now();
  const {accuracy, counts} = await evaluateClassifier(loadDemoClassifier(values.out), {n: nEval, stream: EVAL_STREAM});
  console.log(`held-out accuracy on ${nEval} renders (visible labels only), ${((performance.now() - t0) / 1000).toFixed(1)} s:`);
  for (const a of attributeNames) console.log(`  ${a.padEnd(11)} ${(100 * accuracy[a]).toFixed(2)} %  (${counts[a]} labels)`);
  const worst = Math.min(...attributeNames.map((a) => accuracy[a]));
  console.log(`minimum ${(100 * worst).toFixed(2)} %`);
}
