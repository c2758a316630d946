/**
 * Training of the demo evaluation classifier (classifier.ts) on fresh procedural renders: every step renders a
 * new batch whose seed is a pure function of (seed, step), so a resumed run sees exactly the data an
 * uninterrupted one would. Loss: cross-entropy per attribute over the faces where that attribute is visible
 * (hair colour is masked on bald heads, eye colour behind sunglasses), summed over attributes. Adam with a
 * linear warm-up and cosine decay; resumable atomic checkpoints (src/train); the result is written as an fp16
 * safetensors asset and evaluated on held-out renders from a disjoint seed stream.
 *
 * `world: 'v2'` trains the v2 world's classifier (lab/world2/classifier.ts) with the same loop: renders of
 * continuous factors with in-between faces, labels by region (masked in the gaps), and a regression head for the
 * attribute factors whose masked squared error (summed over targets, mean over faces, × regressionWeight) joins the loss.
 */
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import * as F from '../../src/engine/ops.js';
import {input} from '../../src/engine/tensor.js';
import {writeFileAtomic} from '../../src/io/files.js';
import {type HostTensor, type StateDict, numberToHalfBits} from '../../src/io/host-tensor.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {loadCheckpoint, writeTo} from '../../src/train/checkpoint.js';
import {Params, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam} from '../../src/train/optim.js';
import {type AttributeName, type FaceAttributes, attributeNames, attributeValues, isAttributeVisible, valueIndex} from '../../src/demo/attributes.js';
import {
  type ClassifierConfig, DemoClassifier, classifierOutputs, defaultClassifierConfig, initClassifierState, logSoftmax,
  schemaFingerprint, topValues,
} from '../../src/demo/classifier.js';
import {renderBatch} from '../../src/demo/render.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {REGRESSION_WIDTH, regressionTargetNames, trainingBatchV2} from '../world2/classifier.js';

/** Seed-stream tags: training, held-out evaluation and tests draw from disjoint hash streams. */
export const TRAIN_STREAM = 0x7c1a0001;
export const EVAL_STREAM = 0x7c1a0002;
export const TEST_STREAM = 0x7c1a0003;

/** Total number of classes over all attributes (width of the target matrix). */
const totalClasses = attributeNames.reduce((n, a) => n + attributeValues(a).length, 0);

/** One-hot targets [n, Σ values], attribute blocks in schema order; an invisible attribute's block is all zero. */
export function encodeTargets(attrs: readonly FaceAttributes[]): Float32Array {
  const t = new Float32Array(attrs.length * totalClasses);
  attrs.forEach((a, i) => {
    let off = 0;
    for (const name of attributeNames) {
      if (isAttributeVisible(a, name)) t[i * totalClasses + off + valueIndex(name, a[name])] = 1;
      off += attributeValues(name).length;
    }
  });
  return t;
}

/**
 * The training batch of a step: fresh renders plus mild per-image Gaussian pixel noise (σ uniform in [0, noise]),
 * which makes the classifier tolerant of the small artefacts of generated images. Pure in (seed, step).
 */
export function trainingBatch(step: number, {batch, seed, noise}: {batch: number; seed: number; noise: number}): {images: Float32Array; targets: Float32Array} {
  const r = renderBatch(batch, hashSeed(TRAIN_STREAM, seed, step), defaultClassifierConfig.inputSize);
  if (noise > 0) {
    const rng = new Rng(hashSeed(TRAIN_STREAM, seed, step, 1));
    const per = r.images.length / batch;
    for (let i = 0; i < batch; i++) {
      const sigma = rng.uniform(0, noise);
      for (let j = i * per; j < (i + 1) * per; j++) r.images[j]! += sigma * rng.normal();
    }
  }
  return {images: r.images, targets: encodeTargets(r.attributes)};
}

/**
 * Masked cross-entropy summed over attributes, plus per-attribute accuracy (visible labels only) as metrics; with a
 * regression head also its masked squared error (data inputs regression targets and mask [batch, R]).
 */
function lossGraph(params: Params, cfg: ClassifierConfig, batch: number, regressionWeight: number) {
  const size = cfg.inputSize;
  const x = input('images', [batch, 3, size, size]);
  const targets = input('targets', [batch, totalClasses]);
  const {logits, regression} = classifierOutputs(x, cfg, (k) => params.get(k));
  let loss: ReturnType<typeof F.add> | undefined;
  const metrics: Record<string, ReturnType<typeof F.add>> = {};
  let off = 0;
  for (const name of attributeNames) {
    const C = attributeValues(name).length;
    const t = F.slice(targets, {1: [off, off + C]});
    off += C;
    const z = logits[name];
    const count = F.maximum(F.sum(t), 1);
    const nll = F.div(F.neg(F.sum(F.mul(t, logSoftmax(z)))), count);
    loss = loss ? F.add(loss, nll) : nll;
    const isMax = F.cast(F.equal(z, F.max(z, [1], true)), 'float32');
    metrics[`acc.${name}`] = F.div(F.sum(F.mul(t, isMax)), count);
    metrics[`n.${name}`] = F.sum(t);
  }
  const dataInputs = [x, targets];
  if (regression) {
    const R = cfg.regression!;
    const y = input('regression', [batch, R]);
    const mask = input('regression_mask', [batch, R]);
    const se = F.div(F.sum(F.mul(F.square(F.sub(regression, y)), mask)), batch);
    metrics.regression = se;
    loss = F.add(loss!, F.mul(se, regressionWeight));
    dataInputs.push(y, mask);
  }
  return {loss: loss!, metrics, dataInputs};
}

export interface TrainClassifierOptions {
  steps: number;
  batch: number;
  /** Peak learning rate (after warm-up; cosine decay to 1 % of it). */
  lr: number;
  warmup: number;
  seed: number;
  /** Maximum per-image pixel-noise σ of the augmentation (images in [-1, 1]). */
  noise: number;
  /** Checkpoint file (resumed from when it exists), written every `checkpointEvery` steps. */
  checkpoint?: string;
  checkpointEvery: number;
  config?: ClassifierConfig;
  /** 'v2': the continuous world (lab/world2) with the regression head; default 'v1'. */
  world?: 'v1' | 'v2';
  /** Weight of the v2 regression loss. */
  regressionWeight?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export const defaultTrainOptions: TrainClassifierOptions = {
  steps: 2000, batch: 48, lr: 2e-3, warmup: 100, seed: 0, noise: 0.06, checkpointEvery: 100,
};

/** Cosine schedule with linear warm-up. */
export function learningRate(step: number, {steps, lr, warmup}: Pick<TrainClassifierOptions, 'steps' | 'lr' | 'warmup'>): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const t = (step - warmup) / Math.max(1, steps - warmup);
  return lr * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t))));
}

/** The v2 classifier's architecture: v1's convs and heads plus the regression head. */
export const classifierV2Config: ClassifierConfig = {...defaultClassifierConfig, regression: REGRESSION_WIDTH};

/** Train (or resume) and return the float32 state dict plus timing. */
export async function trainClassifier(opts: TrainClassifierOptions): Promise<{state: StateDict; seconds: number; stepsRun: number}> {
  const v2 = opts.world === 'v2';
  const cfg = opts.config ?? (v2 ? classifierV2Config : defaultClassifierConfig);
  if (v2 && cfg.regression !== REGRESSION_WIDTH) throw new RangeError(`the v2 classifier needs a regression head of ${REGRESSION_WIDTH} outputs`);
  const log = opts.log ?? ((l: string) => console.log(l));
  const params = Params.fromStateDict(initClassifierState(cfg, hashSeed(TRAIN_STREAM, opts.seed, -1)));
  const adam = new Adam(params.all, {lr: (s) => learningRate(s, opts)});
  const regressionWeight = opts.regressionWeight ?? 1;
  const step = await compileStep(params, () => lossGraph(params, cfg, opts.batch, regressionWeight));
  log(`classifier${v2 ? ' v2' : ''}: ${params.count} parameters, batch ${opts.batch}, ${opts.steps} steps, lr ${opts.lr}${v2 ? `, ${REGRESSION_WIDTH} regression targets (weight ${regressionWeight})` : ''}`);
  if (opts.checkpoint) mkdirSync(path.dirname(path.resolve(opts.checkpoint)), {recursive: true});
  if (opts.checkpoint && existsSync(opts.checkpoint)) log(`resuming from ${opts.checkpoint}`);

  // Running accuracy: visible-label-weighted average over the last `window` steps.
  const window = 50;
  const hist: {loss: number; acc: Record<string, number>; n: Record<string, number>}[] = [];
  const regHist: number[] = [];
  const t0 = performance.now();
  let firstStep = -1;
  const {stepsRun} = await trainLoop(step, adam, {
    steps: opts.steps,
    batch: (s) => {
      if (v2) return trainingBatchV2(s, {...opts, stream: TRAIN_STREAM, size: cfg.inputSize});
      const b = trainingBatch(s, opts);
      return [b.images, b.targets];
    },
    ...(opts.checkpoint
      ? {
          resume: existsSync(opts.checkpoint) ? loadCheckpoint(opts.checkpoint) : null,
          checkpoint: {every: opts.checkpointEvery, meta: {seed: String(opts.seed), batch: String(opts.batch), steps: String(opts.steps), world: v2 ? 'v2' : 'v1'}, write: writeTo(opts.checkpoint)},
        }
      : {}),
    ...(opts.signal ? {signal: opts.signal} : {}),
    onStep: ({step: s, loss, metrics, lr}) => {
      if (firstStep < 0) firstStep = s;
      if (v2) regHist.push(metrics.regression!);
      if (regHist.length > window) regHist.shift();
      const acc: Record<string, number> = {};
      const n: Record<string, number> = {};
      for (const a of attributeNames) {
        acc[a] = metrics[`acc.${a}`]!;
        n[a] = metrics[`n.${a}`]!;
      }
      hist.push({loss, acc, n});
      if (hist.length > window) hist.shift();
      if ((s + 1) % 25 === 0 || s + 1 === opts.steps) {
        const meanLoss = hist.reduce((p, h) => p + h.loss, 0) / hist.length;
        const accs = attributeNames.map((a) => {
          const tot = hist.reduce((p, h) => p + h.n[a]!, 0);
          const ok = hist.reduce((p, h) => p + h.acc[a]! * h.n[a]!, 0);
          return `${a} ${((100 * ok) / Math.max(1, tot)).toFixed(1)}`;
        });
        const elapsed = (performance.now() - t0) / 1000;
        const perStep = elapsed / (s + 1 - firstStep);
        const reg = v2 ? `  regression ${(regHist.reduce((p, v) => p + v, 0) / regHist.length).toFixed(4)}` : '';
        log(`step ${s + 1}/${opts.steps}  loss ${meanLoss.toFixed(4)}${reg}  lr ${lr.toExponential(2)}  ${perStep.toFixed(2)} s/step  acc% ${accs.join(' ')}`);
      }
    },
  });
  await step.program.release();
  return {state: params.toStateDict(), seconds: (performance.now() - t0) / 1000, stepsRun};
}

/** A float32 state dict as fp16 (weights of this size lose nothing measurable). */
export function halfStateDict(state: StateDict): Map<string, HostTensor> {
  const half = new Map<string, HostTensor>();
  for (const [k, t] of state) half.set(k, {dtype: 'float16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, (v) => numberToHalfBits(v))});
  return half;
}

/** The classifier asset: fp16 weights with the classifier's metadata. */
export function classifierAssetBytes(state: StateDict, cfg: ClassifierConfig, meta: Record<string, string>): Uint8Array {
  return serializeSafetensors(halfStateDict(state), {
    format: 'styleclip-demo-classifier',
    strides: cfg.convs.map((c) => c.stride).join(','),
    input_size: String(cfg.inputSize),
    slope: String(cfg.slope),
    attributes: schemaFingerprint(),
    ...(cfg.regression ? {world: 'v2', regression_targets: JSON.stringify(regressionTargetNames())} : {}),
    ...meta,
  });
}

export function writeClassifierAsset(file: string, state: StateDict, cfg: ClassifierConfig, meta: Record<string, string>): void {
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
  writeFileAtomic(file, classifierAssetBytes(state, cfg, meta), 'classifier asset');
}

export interface AttributeAccuracy {
  /** Correct predictions / visible labels, per attribute. */
  accuracy: Record<AttributeName, number>;
  /** Visible labels per attribute. */
  counts: Record<AttributeName, number>;
}

/**
 * Accuracy of a classifier on `n` renders from `stream` (visible labels only), rendered in chunks of 100 faces
 * with batch seeds hashSeed(stream, seed, chunk).
 */
export async function evaluateClassifier(c: DemoClassifier, {n, stream, seed = 0}: {n: number; stream: number; seed?: number}): Promise<AttributeAccuracy> {
  const ok = Object.fromEntries(attributeNames.map((a) => [a, 0])) as Record<AttributeName, number>;
  const counts = {...ok};
  const size = c.config.inputSize;
  for (let k = 0; k * 100 < n; k++) {
    const m = Math.min(100, n - k * 100);
    const r = renderBatch(m, hashSeed(stream, seed, k), size);
    const probs = await c.classify({dtype: 'float32', shape: [m, 3, size, size], data: r.images});
    probs.forEach((p, i) => {
      const top = topValues(p);
      const truth = r.attributes[i]!;
      for (const a of attributeNames) {
        if (!isAttributeVisible(truth, a)) continue;
        counts[a]++;
        if (top[a] === truth[a]) ok[a]++;
      }
    });
  }
  const accuracy = Object.fromEntries(attributeNames.map((a) => [a, ok[a] / Math.max(1, counts[a])])) as Record<AttributeName, number>;
  return {accuracy, counts};
}
