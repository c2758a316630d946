/**
 * Training of the demo identity network (src/demo/identity.ts), the cartoon world's stand-in for ArcFace.
 *
 * A person is the face geometry, skin tone and eye colour (`IDENTITY_FACTORS`); everything else — hair colour and
 * style, glasses, beard, mouth, lipstick, background, shirt and frame colours, hairline and parting, small pose
 * changes — is what an edit or a photo session may change (`NUISANCE_ATTRIBUTES`, `NUISANCE_LAYOUT`). Each step
 * renders pairs: a face and the same person with the nuisance groups redrawn (each with probability 0.75); half of
 * the pairs are "relatives" of the pair before them — the same face with one identity group redrawn (skin tone, eye
 * colour or geometry) — so the negatives include people who differ only there. Loss: the symmetric InfoNCE of the
 * embeddings (temperature `temperature`) over the batch. Augmentation: a [1 2 1]/4 blur applied 0–2 times (the
 * generator's images are softer than renders) and per-image pixel noise. Data are a pure function of (seed, step),
 * so a resumed run sees what an uninterrupted one would.
 */
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import * as F from '../../src/engine/ops.js';
import {constant, input} from '../../src/engine/tensor.js';
import {writeFileAtomic} from '../../src/io/files.js';
import type {StateDict} from '../../src/io/host-tensor.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {loadCheckpoint, writeTo} from '../../src/train/checkpoint.js';
import {Params, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam} from '../../src/train/optim.js';
import {type AttributeName} from '../../src/demo/attributes.js';
import {defaultClassifierConfig, initTrunkState} from '../../src/demo/classifier.js';
import {halfStateDict, learningRate} from '../demo/train-classifier.js';
import {DEMO_IDENTITY_FORMAT, type IdentityConfig, identityEmbedding, identityParamShapes} from '../../src/demo/identity.js';
import {logSoftmax} from '../../src/nn/functional.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {type FactorName, type Factors, factorsOf, sampleFactors} from './factors.js';
import {renderFaces} from './classifier.js';

export const TRAIN_STREAM = 0x1d0e0001;
export const EVAL_STREAM = 0x1d0e0002;

/** The face geometry (layout factors that shape the face, not the pose or the hair). */
export const GEOMETRY_FACTORS: readonly FactorName[] = ['faceRx', 'faceRy', 'eyeY', 'eyeDx', 'browLift', 'browTilt', 'noseY', 'mouthY', 'mouthW'];
/** What makes a person: geometry, skin tone and eye colour. */
export const IDENTITY_GROUPS: Readonly<Record<'geometry' | 'skin' | 'eyes', readonly FactorName[]>> = {
  geometry: GEOMETRY_FACTORS,
  skin: factorsOf('skinTone'),
  eyes: factorsOf('eyeColor'),
};
export const IDENTITY_FACTORS: readonly FactorName[] = Object.values(IDENTITY_GROUPS).flat();
/** Attributes an edit may change without changing who it is. */
export const NUISANCE_ATTRIBUTES: readonly AttributeName[] = ['hairColor', 'hairStyle', 'glasses', 'beard', 'mouth', 'lipstick', 'background'];
/** Layout factors that are not the person: pose, hairline, parting, curl phase, shirt and frame colours. */
export const NUISANCE_LAYOUT: readonly FactorName[] = factorsOf('layout').filter((n) => !GEOMETRY_FACTORS.includes(n));

/** The identity network's architecture: the classifier's trunk, a 64-d embedding. */
export const identityConfig: IdentityConfig = {inputSize: 64, convs: defaultClassifierConfig.convs, slope: 0.2, embedDim: 64};

const copy = (dst: Factors, src: Factors, names: readonly FactorName[]): void => {
  for (const n of names) dst[n] = src[n];
};

/** The same person with each nuisance group redrawn from a fresh face with probability `p`. */
export function redrawNuisance(f: Factors, rng: Rng, p = 0.75): Factors {
  const other = sampleFactors(rng, 0.4).factors;
  const out = {...f};
  for (const a of NUISANCE_ATTRIBUTES) if (rng.next() < p) copy(out, other, factorsOf(a));
  if (rng.next() < p) copy(out, other, NUISANCE_LAYOUT);
  return out;
}

/** A relative: the same face with one identity group redrawn from a fresh face. */
export function redrawIdentityGroup(f: Factors, rng: Rng, group: keyof typeof IDENTITY_GROUPS): Factors {
  const other = sampleFactors(rng, 0.4).factors;
  const out = {...f};
  copy(out, other, IDENTITY_GROUPS[group]);
  return out;
}

/** Soften images [n, 3, s, s] in place: a separable [1 2 1]/4 blur, `times` times, with clamped edges. */
export function blur121(img: Float32Array, offset: number, size: number, times: number): void {
  const tmp = new Float32Array(size * size);
  for (let t = 0; t < times; t++) {
    for (let c = 0; c < 3; c++) {
      const o = offset + c * size * size;
      for (let pass = 0; pass < 2; pass++) {
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const at = (xx: number, yy: number): number => img[o + Math.min(size - 1, Math.max(0, yy)) * size + Math.min(size - 1, Math.max(0, xx))]!;
            tmp[y * size + x] = pass === 0 ? (at(x - 1, y) + 2 * at(x, y) + at(x + 1, y)) / 4 : (at(x, y - 1) + 2 * at(x, y) + at(x, y + 1)) / 4;
          }
        }
        img.set(tmp, o);
      }
    }
  }
}

/** The faces of a step: P pairs [anchors…, positives…]; odd pairs are relatives of the pair before with probability `relatives`. */
export function identityPairs(rng: Rng, pairs: number, relatives = 0.5): {anchors: Factors[]; positives: Factors[]} {
  const groups = Object.keys(IDENTITY_GROUPS) as (keyof typeof IDENTITY_GROUPS)[];
  const anchors: Factors[] = [];
  for (let i = 0; i < pairs; i++) {
    const prev = anchors[i - 1];
    anchors.push(i % 2 === 1 && prev && rng.next() < relatives ? redrawIdentityGroup(prev, rng, groups[rng.int(0, groups.length - 1)]!) : sampleFactors(rng, 0.4).factors);
  }
  return {anchors, positives: anchors.map((a) => redrawNuisance(a, rng))};
}

/** Rendered, augmented images [2P, 3, s, s] of a step (pure in (seed, step)). */
export function identityBatch(step: number, {pairs, seed, noise, size = 64}: {pairs: number; seed: number; noise: number; size?: number}): Float32Array {
  const rng = new Rng(hashSeed(TRAIN_STREAM, seed, step));
  const {anchors, positives} = identityPairs(rng, pairs);
  const images = renderFaces([...anchors, ...positives], size);
  const per = 3 * size * size;
  for (let i = 0; i < 2 * pairs; i++) {
    blur121(images, i * per, size, rng.int(0, 2));
    const sigma = rng.uniform(0, noise);
    for (let j = i * per; j < (i + 1) * per; j++) images[j]! += sigma * rng.normal();
  }
  return images;
}

export interface TrainIdentityOptions {
  steps: number;
  /** Pairs per step (2× as many images). */
  pairs: number;
  lr: number;
  warmup: number;
  seed: number;
  noise: number;
  temperature: number;
  checkpoint?: string;
  checkpointEvery: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export const defaultIdentityOptions: TrainIdentityOptions = {steps: 1500, pairs: 24, lr: 1e-3, warmup: 100, seed: 0, noise: 0.06, temperature: 0.1, checkpointEvery: 100};

/** Symmetric InfoNCE over P pairs, and the share of anchors whose nearest positive is their own as a metric. */
function lossGraph(params: Params, P: number, temperature: number) {
  const s = identityConfig.inputSize;
  const x = input('images', [2 * P, 3, s, s]);
  const e = identityEmbedding(x, identityConfig, (k) => params.get(k));
  const a = F.slice(e, {0: [0, P]});
  const b = F.slice(e, {0: [P, 2 * P]});
  const logits = F.mul(F.matmul(a, F.transpose(b, [1, 0])), 1 / temperature);
  const eye = constant(Float32Array.from({length: P * P}, (_, i) => (i % (P + 1) === 0 ? 1 : 0)), [P, P]);
  const nll = (l: ReturnType<typeof F.add>) => F.div(F.neg(F.sum(F.mul(eye, logSoftmax(l)))), P);
  const loss = F.mul(F.add(nll(logits), nll(F.transpose(logits, [1, 0]))), 0.5);
  const top1 = F.div(F.sum(F.mul(eye, F.cast(F.equal(logits, F.max(logits, [1], true)), 'float32'))), P);
  return {loss, metrics: {top1}, dataInputs: [x]};
}

/** Train (or resume); returns the float32 state dict. */
export async function trainIdentity(opts: TrainIdentityOptions): Promise<{state: StateDict; seconds: number; stepsRun: number}> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const params = Params.fromStateDict(initTrunkState(identityParamShapes(identityConfig), identityConfig.slope, hashSeed(TRAIN_STREAM, opts.seed, -1), (fanIn) => 1 / Math.sqrt(fanIn)));
  const adam = new Adam(params.all, {lr: (s) => learningRate(s, opts)});
  const step = await compileStep(params, () => lossGraph(params, opts.pairs, opts.temperature));
  log(`demo identity network: ${params.count} parameters, ${opts.pairs} pairs per step, ${opts.steps} steps, lr ${opts.lr}, temperature ${opts.temperature}`);
  if (opts.checkpoint) mkdirSync(path.dirname(path.resolve(opts.checkpoint)), {recursive: true});
  const t0 = performance.now();
  let [emaLoss, emaTop1] = [NaN, NaN];
  const {stepsRun} = await trainLoop(step, adam, {
    steps: opts.steps,
    batch: (s) => [identityBatch(s, opts)],
    prefetch: true,
    ...(opts.checkpoint
      ? {
          resume: existsSync(opts.checkpoint) ? loadCheckpoint(opts.checkpoint) : null,
          checkpoint: {every: opts.checkpointEvery, meta: {seed: String(opts.seed), pairs: String(opts.pairs), steps: String(opts.steps)}, write: writeTo(opts.checkpoint)},
        }
      : {}),
    ...(opts.signal ? {signal: opts.signal} : {}),
    what: 'identity training',
    onStep: ({step: s, loss, metrics, lr}) => {
      emaLoss = Number.isNaN(emaLoss) ? loss : 0.95 * emaLoss + 0.05 * loss;
      emaTop1 = Number.isNaN(emaTop1) ? metrics.top1! : 0.95 * emaTop1 + 0.05 * metrics.top1!;
      if ((s + 1) % 25 === 0 || s + 1 === opts.steps) {
        const elapsed = (performance.now() - t0) / 1000;
        log(`step ${s + 1}/${opts.steps}  loss ema ${emaLoss.toFixed(4)}  top-1 ema ${(100 * emaTop1).toFixed(1)} %  lr ${lr.toExponential(2)}  ${elapsed.toFixed(0)} s`);
      }
    },
  });
  await step.program.release();
  return {state: params.toStateDict(), seconds: (performance.now() - t0) / 1000, stepsRun};
}

/** The asset: fp16 weights with the format, trunk and training metadata. */
export function writeIdentityAsset(file: string, state: StateDict, meta: Record<string, string>): void {
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
  const bytes = serializeSafetensors(halfStateDict(state), {
    format: DEMO_IDENTITY_FORMAT,
    strides: identityConfig.convs.map((c) => c.stride).join(','),
    input_size: String(identityConfig.inputSize),
    slope: String(identityConfig.slope),
    identity_factors: IDENTITY_FACTORS.join(','),
    ...meta,
  });
  writeFileAtomic(file, bytes, 'identity network');
}

/**
 * Held-out check (renders of `n` people from EVAL_STREAM): mean cosine between a face and the same person with the
 * nuisance redrawn, and with only the skin tone, the eye colour or the geometry redrawn, and between strangers;
 * verification accuracy at the threshold halfway between the same-person and stranger means.
 */
export async function evaluateIdentity(embed: (images: {shape: number[]; data: Float32Array}) => Promise<Float32Array>, n = 200): Promise<Record<string, number>> {
  const rng = new Rng(hashSeed(EVAL_STREAM, 0));
  const faces = Array.from({length: n}, () => sampleFactors(rng, 0.4).factors);
  const variants: Record<string, Factors[]> = {
    'same person': faces.map((f) => redrawNuisance(f, rng, 1)),
    'skin tone redrawn': faces.map((f) => redrawIdentityGroup(f, rng, 'skin')),
    'eye colour redrawn': faces.map((f) => redrawIdentityGroup(f, rng, 'eyes')),
    'geometry redrawn': faces.map((f) => redrawIdentityGroup(f, rng, 'geometry')),
    stranger: faces.map((_, i) => faces[(i + 1) % n]!),
  };
  const emb = async (fs: Factors[]): Promise<Float32Array> => embed({shape: [fs.length, 3, 64, 64], data: renderFaces(fs, 64)});
  const base = await emb(faces);
  const E = identityConfig.embedDim;
  const out: Record<string, number> = {};
  const cosines: Record<string, number[]> = {};
  for (const [name, fs] of Object.entries(variants)) {
    const e = await emb(fs);
    cosines[name] = Array.from({length: n}, (_, i) => {
      let c = 0;
      for (let d = 0; d < E; d++) c += base[i * E + d]! * e[i * E + d]!;
      return c;
    });
    out[`cos ${name}`] = cosines[name]!.reduce((p, c) => p + c, 0) / n;
  }
  const threshold = (out['cos same person']! + out['cos stranger']!) / 2;
  out.threshold = threshold;
  out['same person accepted'] = cosines['same person']!.filter((c) => c >= threshold).length / n;
  for (const k of ['skin tone redrawn', 'eye colour redrawn', 'geometry redrawn', 'stranger']) out[`${k} rejected`] = cosines[k]!.filter((c) => c < threshold).length / n;
  return out;
}
