/**
 * Training and evaluating ToonCLIP on the engine.
 *
 * Training: symmetric InfoNCE (CLIP's loss) on fresh render/caption pairs every step. The data of step s is a
 * pure function of (seed, s), so a resumed run sees exactly the batches an uninterrupted one would. Images are
 * renders in [-1, 1] fed through `clipInputFromGenerated(x, R, 'normalized')`, the same preprocessing StyleCLIP's
 * CLIP losses apply to generator output. Captions come from the demo caption grammar, sometimes replaced by a
 * canonical `promptFor` prompt and sometimes wrapped in one of CLIP's ImageNet templates (global directions
 * average text embeddings over those templates), tokenized with the real BPE tokenizer.
 *
 * Two exact shortcuts keep the step cheap on a CPU:
 * - The text tower trains only the embedding rows of tokens the caption grammar and templates can produce (a
 *   few hundred of 49408): token ids are remapped to a compact table, whose gradient is then small. Other rows
 *   keep their initial values (they would get zero gradient anyway). Export scatters the rows back.
 * - Texts are padded to `textLength` (32) tokens rather than 77: the model is causal and pools at EOT, so the
 *   padding after EOT never changes the output; positions ≥ textLength are simply never trained.
 */
import {logSoftmax} from '../../src/nn/functional.js';
import * as F from '../../src/engine/ops.js';
import {type Tensor, input} from '../../src/engine/tensor.js';
import {compile} from '../../src/engine/session.js';
import {StyleclipError, check} from '../../src/errors.js';
import {type HostTensor, type StateDict, numberToHalfBits, toFloat32} from '../../src/io/host-tensor.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {encodeTexts, promptDirection} from '../../src/models/clip/encode.js';
import {CLIP, type ClipConfig, eotSelector, expectedClipStateDict, normalize} from '../../src/models/clip/model.js';
import {clipInputFromGenerated} from '../../src/models/clip/preprocess.js';
import {IMAGENET_TEMPLATES, STYLECLIP_TEMPLATES, normalizeVec} from '../../src/models/clip/prompts.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {Params, compileStep} from '../../src/train/loop.js';
import {AdamW} from '../../src/train/optim.js';
import {
  type AttributeName, type FaceAttributes, attributeNames, attributeValues, editTargets, isAttributeVisible, sampleAttributes,
} from '../../src/demo/attributes.js';
import {type CaptionConstraints, caption, captionConstraints, neutralPrompt, promptFor, satisfies} from '../../src/demo/captions.js';
import {renderBatch, renderFaceTensor} from '../../src/demo/render.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {toonClipConfigJson} from './toon-clip.js';
import {type ClipV2DataOptions, clipV2Sample, counterfactualPairs, matchMatrix, vocabularyTextsV2} from '../world2/clip-data.js';
import type {Factors} from '../world2/factors.js';

export interface ToonClipTrainOptions {
  /** Seeds the initialisation and the data stream. */
  seed: number;
  steps: number;
  batch: number;
  /** Peak learning rate (after linear warmup, then cosine decay to lr·minLrFraction). */
  lr: number;
  warmup: number;
  minLrFraction: number;
  /** Decoupled weight decay on weight matrices (not on gains, biases, embeddings or the logit scale). */
  weightDecay: number;
  /** Probability that a caption is wrapped in a random ImageNet template ("a photo of a {}."). */
  templateProb: number;
  /** Probability that a caption is the canonical promptFor prompt of one visible attribute. */
  promptProb: number;
  /** Padded text length used in training (≤ contextLength). */
  textLength: number;
  /**
   * 'multi': every caption in the batch that is true of an image counts as a positive for it (targets spread
   * evenly over them, both directions); 'diagonal': CLIP's one-positive InfoNCE.
   */
  positives: 'multi' | 'diagonal';
  /**
   * Counterfactual hard negatives: when > 0, the batch is B/2 renders each followed by a copy (same jitter) with
   * one random attribute changed, so that colour alone cannot tell a pair apart.
   */
  counterfactual: number;
  /**
   * Optional relative weights of the attribute changed in a counterfactual pair (attributes not listed weigh 1);
   * absent (the default): uniform choice, exactly as before.
   */
  counterfactualWeights?: Partial<Record<AttributeName, number>>;
  /** In counterfactual batches, probability that a pair member's caption is the prompt of the changed attribute. */
  focusProb: number;
  /**
   * 'v2': the continuous world (lab/world2/clip-data.ts): renderer-v2 faces with captions v2, `counterfactual` is then
   * the share of the batch in pairs. Absent: the v1 world (v1 options, and so v1 checkpoints, are unchanged).
   */
  world?: 'v2';
  /** v2: per-attribute probability of an in-between face (0.3–0.5 planned). */
  intermediate?: number;
  /** v2: probability that a pair's moved attribute lands between two values (its caption then does not name it). */
  counterfactualBlend?: number;
  /**
   * v2: weight of the direction loss (0: none). For each counterfactual pair whose two captions are the moved
   * attribute's prompts for two different values, 1 − cos(f_img(b) − f_img(a), f_txt(b) − f_txt(a)): the image change
   * of an edit should point where its text change points, which is what StyleCLIP's global directions and CLIP
   * losses assume.
   */
  directionWeight?: number;
}

/** The v2 world's defaults (merged over DEFAULT_TRAIN_OPTIONS by `--world v2`). */
export const V2_TRAIN_OPTIONS: Readonly<Partial<ToonClipTrainOptions>> = Object.freeze({
  world: 'v2',
  intermediate: 0.4,
  counterfactual: 0.5,
  counterfactualBlend: 0.5,
});

export const DEFAULT_TRAIN_OPTIONS: Readonly<ToonClipTrainOptions> = Object.freeze({
  seed: 1,
  steps: 1100,
  batch: 64,
  lr: 1e-3,
  warmup: 100,
  minLrFraction: 0.05,
  weightDecay: 0.1,
  templateProb: 0.3,
  promptProb: 0.3,
  textLength: 32,
  positives: 'multi',
  counterfactual: 0,
  focusProb: 0.5,
});

/** CLIP's initial temperature 0.07 and its cap exp(·) ≤ 100. */
const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
const LOGIT_SCALE_MAX = Math.log(100);

/** Batch seeds: training uses [0, 2³¹), held-out evaluation [2³¹, 2³²), so the two never share a render. */
export const EVAL_SEED_BASE = 0x80000000;
function trainBatchSeed(seed: number, step: number): number {
  return hashSeed(0x70c1, seed, step) & 0x7fffffff;
}

// ---------------------------------------------------------------------------------------------------------------
// Data

/** Texts the grammar can produce and the editing code will ask about: a fixed sample, all prompts, templates. */
function vocabularyTexts(world: 'v1' | 'v2'): string[] {
  if (world === 'v2') return [...vocabularyTextsV2(), neutralPrompt, ...IMAGENET_TEMPLATES.map((t) => t.replace('{}', 'face'))];
  const texts: string[] = [];
  for (let i = 0; i < 20000; i++) {
    const rng = new Rng(hashSeed(0x70cab, i));
    texts.push(caption(sampleAttributes(rng), rng));
  }
  for (const a of attributeNames) for (const v of attributeValues(a)) texts.push(promptFor(a, v as never));
  texts.push(neutralPrompt, ...IMAGENET_TEMPLATES.map((t) => t.replace('{}', 'face')));
  return texts;
}

/** The sorted token ids whose embedding rows are trained (every token of the caption grammar and templates). */
export function trainingVocabulary(tok: ClipTokenizer, world: 'v1' | 'v2' = 'v1'): Int32Array {
  const ids = new Set<number>([0, tok.sot, tok.eot]); // 0: the padding id
  for (const t of vocabularyTexts(world)) for (const id of tok.encode(t)) ids.add(id);
  return Int32Array.from([...ids].sort((a, b) => a - b));
}

export interface TrainingBatch {
  /** [B, 3, 64, 64] renders in [-1, 1]. */
  images: Float32Array;
  /** [B, textLength] token ids remapped to the compact vocabulary (0-padded). */
  tokens: Int32Array;
  /** [B, textLength] one-hot EOT selector. */
  eot: Float32Array;
  texts: string[];
  /** v1: the faces' attributes (empty in v2). */
  attributes: FaceAttributes[];
  /** v2: the faces' factors and, per face of a counterfactual pair, the attribute moved (else null). */
  factors?: Factors[];
  moved?: (AttributeName | null)[];
  /** [B, B] targets of image i over texts j (rows sum to 1). */
  imageTargets: Float32Array;
  /** [B, B] targets of text j over images i (columns sum to 1). */
  textTargets: Float32Array;
  /** v2: per counterfactual pair, 1 when both captions are the moved attribute's prompts for two different values. */
  pairMask?: Float32Array;
}

/** One caption for a face: grammar caption or canonical prompt, maybe in a template, fitting in `maxTokens`. */
export function trainingCaption(attrs: FaceAttributes, rng: Rng, tok: ClipTokenizer, maxTokens: number, opts: Pick<ToonClipTrainOptions, 'templateProb' | 'promptProb'>): string {
  return trainingCaptionParts(attrs, rng, tok, maxTokens, opts).text;
}

function trainingCaptionParts(attrs: FaceAttributes, rng: Rng, tok: ClipTokenizer, maxTokens: number, opts: Pick<ToonClipTrainOptions, 'templateProb' | 'promptProb'>): {text: string; plain: string} {
  for (;;) {
    let text: string;
    if (rng.bool(opts.promptProb)) {
      const a = rng.choice(attributeNames.filter((n) => isAttributeVisible(attrs, n)));
      text = promptFor(a, attrs[a] as never);
    } else {
      text = caption(attrs, rng);
    }
    if (rng.bool(opts.templateProb)) {
      const wrapped = rng.choice(IMAGENET_TEMPLATES).replace('{}', text);
      if (tok.encode(wrapped).length + 2 <= maxTokens) return {text: wrapped, plain: text};
    }
    if (tok.encode(text).length + 2 <= maxTokens) return {text, plain: text};
    // Too long (rare): draw another caption from the same stream.
  }
}

/** The batch of step `step`: a pure function of (options, step). */
export function trainingBatch(step: number, opts: ToonClipTrainOptions, tok: ClipTokenizer, compact: Map<number, number>, size = 64): TrainingBatch {
  const B = opts.batch;
  const L = opts.textLength;
  const batchSeed = trainBatchSeed(opts.seed, step);
  if (opts.world === 'v2') {
    const {faces, moved, images} = clipV2Sample(batchSeed, {...V2_TRAIN_OPTIONS, ...opts} as ClipV2DataOptions, tok, size);
    const texts = faces.map((f) => f.text);
    const {tokens, eot} = tokenizeBatch(texts, tok, compact, L);
    const pairMask = Float32Array.from({length: counterfactualPairs(opts)}, (_, k) => {
      const [a, b] = [faces[2 * k]!.mentions, faces[2 * k + 1]!.mentions];
      const focused = (m: typeof a) => m.length === 1 && m[0]!.attribute === moved[2 * k] && m[0]!.value !== undefined && m[0]!.degree === undefined;
      return focused(a) && focused(b) && a[0]!.value !== b[0]!.value ? 1 : 0;
    });
    return {images, tokens, eot, texts, attributes: [], factors: faces.map((f) => f.factors), moved, pairMask, ...contrastiveTargets(matchMatrix(faces, opts.positives === 'multi'), B)};
  }
  let images: Float32Array;
  let attributes: FaceAttributes[];
  /** For counterfactual batches: the attribute changed between image 2k and 2k+1. */
  const changed: (AttributeName | null)[] = new Array<AttributeName | null>(B).fill(null);
  if (opts.counterfactual > 0) {
    check(B % 2 === 0, 'counterfactual batches need an even batch size');
    const base = renderBatch(B / 2, batchSeed, size);
    const per = 3 * size * size;
    images = new Float32Array(B * per);
    attributes = [];
    base.attributes.forEach((attrs, k) => {
      const rng = new Rng(hashSeed(batchSeed, k, 0xcf));
      const candidates = attributeNames.filter((n) => n !== 'hairColor' || attrs.hairStyle !== 'bald').filter((n) => n !== 'eyeColor' || attrs.glasses !== 'sunglasses');
      const w = opts.counterfactualWeights;
      const a = w ? rng.weighted(candidates, candidates.map((n) => w[n] ?? 1)) : rng.choice(candidates);
      const values = attributeValues(a) as readonly string[];
      let v: string = attrs[a];
      while (v === attrs[a]) v = rng.choice(values);
      const variant = {...attrs, [a]: v} as FaceAttributes;
      images.set(base.images.subarray(k * per, (k + 1) * per), 2 * k * per);
      images.set(renderFaceTensor(variant, {size, seed: base.seeds[k]!}), (2 * k + 1) * per);
      attributes.push(attrs, variant);
      changed[2 * k] = a;
      changed[2 * k + 1] = a;
    });
  } else {
    ({images, attributes} = renderBatch(B, batchSeed, size));
  }
  const texts: string[] = [];
  const constraints: CaptionConstraints[] = [];
  const raw = new Int32Array(B * L);
  attributes.forEach((attrs, i) => {
    const rng = new Rng(hashSeed(batchSeed, i, 0xca9));
    const a = changed[i];
    let {text, plain} = trainingCaptionParts(attrs, rng, tok, L, opts);
    if (a && isAttributeVisible(attrs, a) && rng.bool(opts.focusProb)) {
      plain = promptFor(a, attrs[a] as never);
      const wrapped = rng.choice(IMAGENET_TEMPLATES).replace('{}', plain);
      text = rng.bool(opts.templateProb) && tok.encode(wrapped).length + 2 <= L ? wrapped : plain;
    }
    texts.push(text);
    constraints.push(captionConstraints(plain));
    raw.set(tok.tokenize([text], {contextLength: L}), i * L);
  });
  const {tokens, eot} = tokenizeBatch(texts, tok, compact, L, raw);
  // match[i][j]: caption j is true of image i (always on the diagonal).
  const match = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) match[i * B + j] = i === j || (opts.positives === 'multi' && satisfies(attributes[i]!, constraints[j]!)) ? 1 : 0;
  }
  return {images, tokens, eot, texts, attributes, ...contrastiveTargets(match, B)};
}

/** Token ids [B, L] remapped to the compact vocabulary and the EOT selector. */
function tokenizeBatch(texts: readonly string[], tok: ClipTokenizer, compact: Map<number, number>, L: number, raw?: Int32Array): {tokens: Int32Array; eot: Float32Array} {
  const B = texts.length;
  if (!raw) {
    raw = new Int32Array(B * L);
    texts.forEach((t, i) => raw!.set(tok.tokenize([t], {contextLength: L}), i * L));
  }
  const eot = eotSelector(raw, B, L);
  const tokens = new Int32Array(B * L);
  raw.forEach((id, k) => {
    const c = compact.get(id);
    if (c === undefined) throw new StyleclipError(`internal: token ${id} of '${texts[Math.floor(k / L)]}' is not in the training vocabulary`);
    tokens[k] = c;
  });
  return {tokens, eot};
}

/** Image → text and text → image targets spread evenly over the positives of a match matrix. */
function contrastiveTargets(match: Float32Array, B: number): {imageTargets: Float32Array; textTargets: Float32Array} {
  const imageTargets = new Float32Array(B * B);
  const textTargets = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    let r = 0;
    let c = 0;
    for (let j = 0; j < B; j++) [r, c] = [r + match[i * B + j]!, c + match[j * B + i]!];
    for (let j = 0; j < B; j++) {
      imageTargets[i * B + j] = match[i * B + j]! / r;
      textTargets[j * B + i] = match[j * B + i]! / c;
    }
  }
  return {imageTargets, textTargets};
}

/** What a caption says: attribute -> the values it allows ('not none' for "man", which implies facial hair). */
export {captionConstraints, satisfies, type CaptionConstraints};

export function initToonClipStateDict(cfg: ClipConfig, seed: number): StateDict {
  const rng = new Rng(hashSeed(0x1a17, seed));
  const sd: StateDict = new Map();
  const normal = (n: number, std: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.normal(0, std);
    return a;
  };
  const block = (key: string, width: number, layers: number): number | null => {
    const attnStd = width ** -0.5;
    const projStd = width ** -0.5 * (2 * layers) ** -0.5;
    const fcStd = (2 * width) ** -0.5;
    if (key.endsWith('in_proj_weight')) return attnStd;
    if (key.endsWith('out_proj.weight') || key.endsWith('c_proj.weight')) return projStd;
    if (key.endsWith('c_fc.weight')) return fcStd;
    return null;
  };
  for (const [key, shape] of expectedClipStateDict(cfg)) {
    const n = shape.reduce((p, d) => p * d, 1);
    let data: Float32Array;
    const vision = key.startsWith('visual.');
    const blockStd = block(key, vision ? cfg.visionWidth : cfg.transformerWidth, vision ? cfg.visionLayers : cfg.transformerLayers);
    if (key === 'logit_scale') data = Float32Array.of(LOGIT_SCALE_INIT);
    else if (/(^|\.)ln_\w+\.weight$/.test(key)) data = new Float32Array(n).fill(1);
    else if (key.endsWith('bias')) data = new Float32Array(n);
    else if (blockStd !== null) data = normal(n, blockStd);
    else if (key === 'token_embedding.weight') data = normal(n, 0.02);
    else if (key === 'positional_embedding') data = normal(n, 0.01);
    else if (key === 'text_projection') data = normal(n, cfg.transformerWidth ** -0.5);
    else if (key === 'visual.conv1.weight') {
      const bound = (3 * cfg.visionPatchSize ** 2) ** -0.5; // PyTorch's default kaiming-uniform bound for conv1
      data = Float32Array.from({length: n}, () => rng.uniform(-bound, bound));
    } else if (vision) data = normal(n, cfg.visionWidth ** -0.5); // class/positional embedding, proj
    else throw new Error(`internal: no init rule for ${key}`);
    sd.set(key, {dtype: 'float32', shape, data});
  }
  return sd;
}

const COMPACT_KEY = 'token_embedding.rows';

/** Trainable parameters: the state dict with the token embedding replaced by its compact rows. */
export function trainingParams(sd: StateDict, vocab: Int32Array): Params {
  const entries: [string, {shape: number[]; data: Float32Array}][] = [];
  for (const [k, t] of sd) {
    if (k === 'token_embedding.weight') {
      const D = t.shape[1]!;
      const full = toFloat32(t);
      const rows = new Float32Array(vocab.length * D);
      vocab.forEach((id, r) => rows.set(full.subarray(id * D, (id + 1) * D), r * D));
      entries.push([COMPACT_KEY, {shape: [vocab.length, D], data: rows}]);
    } else {
      entries.push([k, {shape: t.shape, data: toFloat32(t)}]);
    }
  }
  return new Params(entries);
}

/** The full state dict (float32) from trained params: compact rows scattered into the initial token table. */
export function fullStateDict(params: Params, vocab: Int32Array, init: StateDict): StateDict {
  const sd: StateDict = new Map();
  for (const p of params.all) {
    if (p.name === COMPACT_KEY) {
      const base = init.get('token_embedding.weight')!;
      const D = base.shape[1]!;
      const full = Float32Array.from(toFloat32(base));
      vocab.forEach((id, r) => full.set(p.data.subarray(r * D, (r + 1) * D), id * D));
      sd.set('token_embedding.weight', {dtype: 'float32', shape: base.shape, data: full});
    } else {
      sd.set(p.name, {dtype: 'float32', shape: [...p.shape], data: p.data});
    }
  }
  return sd;
}

/** Whether weight decay applies: weight matrices only (CLIP excludes gains, biases, embeddings, logit scale). */
export function isDecayed(name: string): boolean {
  return /(in_proj_weight|out_proj\.weight|c_fc\.weight|c_proj\.weight|conv1\.weight|text_projection|visual\.proj)$/.test(name);
}

/** ToonCLIP's optimizer: AdamW (β 0.9/0.98, ε 1e-6, CLIP's) decaying the weight matrices only, warmup + cosine lr. */
export function toonClipOptimizer(params: Params, o: Pick<ToonClipTrainOptions, 'lr' | 'warmup' | 'steps' | 'minLrFraction' | 'weightDecay'>): AdamW {
  return new AdamW(params.all, {lr: (s) => learningRate(s, o), betas: [0.9, 0.98], eps: 1e-6, weightDecay: o.weightDecay, decay: (p) => isDecayed(p.name)});
}

/** Warmup + cosine learning rate. */
export function learningRate(step: number, o: Pick<ToonClipTrainOptions, 'lr' | 'warmup' | 'steps' | 'minLrFraction'>): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  const t = Math.min(1, (step - o.warmup) / Math.max(1, o.steps - o.warmup));
  return o.lr * (o.minLrFraction + (1 - o.minLrFraction) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/**
 * The CLIP loss graph for one batch: InfoNCE in both directions against target distributions ([B,B], image i ×
 * text j; the identity gives CLIP's loss), in-batch accuracies (the top text/image is a positive) and the
 * temperature.
 */
export function contrastiveLoss(
  clip: CLIP, logitScaleParam: Tensor, images: Tensor, tokens: Tensor, eot: Tensor, imageTargets: Tensor, textTargets: Tensor,
  direction?: {pairs: number; mask: Tensor; weight: number},
): {loss: Tensor; metrics: Record<string, Tensor>} {
  const R = clip.config.imageResolution;
  const fi = normalize(clip.encodeImage(clipInputFromGenerated(images, R, 'normalized'))); // [B,E]
  const ft = normalize(clip.encodeText(tokens, eot)); // [B,E]
  const scale = F.exp(F.minimum(logitScaleParam, LOGIT_SCALE_MAX));
  const logits = F.mul(F.matmul(fi, F.transpose(ft, [1, 0])), scale); // [B,B] image i × text j
  const lossI = F.neg(F.mean(F.sum(F.mul(logSoftmax(logits, 1), imageTargets), [1])));
  const lossT = F.neg(F.mean(F.sum(F.mul(logSoftmax(logits, 0), textTargets), [0])));
  let loss = F.mul(F.add(lossI, lossT), 0.5);
  const hit = (axis: number, targets: Tensor) => {
    const top = F.cast(F.greaterOrEqual(logits, F.max(logits, [axis], true)), 'float32');
    return F.mean(F.minimum(F.sum(F.mul(top, F.cast(F.greater(targets, 0), 'float32')), [axis]), 1));
  };
  const metrics: Record<string, Tensor> = {acc_i2t: hit(1, imageTargets), acc_t2i: hit(0, textTargets), scale: F.reshape(scale, [])};
  if (direction && direction.pairs > 0) {
    const {pairs: P, mask, weight} = direction;
    const E = clip.config.embedDim;
    /** Unit change within each pair, [P, E] (ε keeps a zero change finite; such pairs are masked out). */
    const change = (f: Tensor) => {
      const p = F.reshape(F.slice(f, {0: [0, 2 * P]}), [P, 2, E]);
      const d = F.reshape(F.sub(F.slice(p, {1: [1, 2]}), F.slice(p, {1: [0, 1]})), [P, E]);
      return F.mul(d, F.rsqrt(F.add(F.sum(F.square(d), [1], true), 1e-8)));
    };
    const cos = F.sum(F.mul(change(fi), change(ft)), [1]); // [P]
    const n = F.add(F.sum(mask), 1e-6);
    loss = F.add(loss, F.mul(F.div(F.sum(F.mul(F.sub(1, cos), mask)), n), weight));
    metrics.dir_cos = F.div(F.sum(F.mul(cos, mask)), n);
  }
  return {loss, metrics};
}

/** Compile the training step for a config and batch geometry. */
export async function compileToonClipStep(cfg: ClipConfig, params: Params, B: number, textLength: number, direction?: {pairs: number; weight: number}) {
  check(textLength <= cfg.contextLength, `text length ${textLength} exceeds the context ${cfg.contextLength}`);
  return compileStep(params, () => {
    const images = input('images', [B, 3, cfg.imageResolution, cfg.imageResolution]);
    const tokens = input('tokens', [B, textLength], 'int32');
    const eot = input('eot', [B, textLength]);
    const imageTargets = input('image_targets', [B, B]);
    const textTargets = input('text_targets', [B, B]);
    const map = new Map<string, Tensor>();
    for (const n of params.names) {
      if (n === COMPACT_KEY) map.set('token_embedding.weight', params.get(n));
      else if (n === 'positional_embedding') map.set(n, F.slice(params.get(n), {0: [0, textLength]}));
      else map.set(n, params.get(n));
    }
    const clip = CLIP.withParams({...cfg, contextLength: textLength}, map);
    const dir = direction && direction.weight > 0 && direction.pairs > 0 ? {...direction, mask: input('pair_mask', [direction.pairs])} : undefined;
    const {loss, metrics} = contrastiveLoss(clip, params.get('logit_scale'), images, tokens, eot, imageTargets, textTargets, dir);
    return {loss, metrics, dataInputs: [images, tokens, eot, imageTargets, textTargets, ...(dir ? [dir.mask] : [])]};
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Export

/** Serialize a ToonCLIP state dict as fp16 safetensors with the config (openai names) in __metadata__.config. */
export function serializeToonClip(sd: StateDict, cfg: ClipConfig, meta: Record<string, string> = {}): Uint8Array {
  const out = new Map<string, HostTensor>();
  for (const [key, shape] of expectedClipStateDict(cfg)) {
    const t = sd.get(key);
    check(t !== undefined, `ToonCLIP state dict lacks '${key}'`);
    const src = toFloat32(t);
    const half = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) half[i] = numberToHalfBits(src[i]!);
    out.set(key, {dtype: 'float16', shape, data: half});
  }
  return serializeSafetensors(out, {...meta, config: JSON.stringify(toonClipConfigJson(cfg))});
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/** Normalised image embeddings [n, E] of [-1, 1] renders [n, 3, R, R], with StyleCLIP's 'normalized' preprocessing. */
export async function embedRenders(clip: CLIP, images: Float32Array, n: number, chunk = 100): Promise<Float32Array> {
  const R = clip.config.imageResolution;
  const E = clip.config.embedDim;
  const per = 3 * R * R;
  check(images.length === n * per, `expected ${n} renders of 3×${R}×${R}`);
  const out = new Float32Array(n * E);
  for (let at = 0; at < n; at += chunk) {
    const m = Math.min(chunk, n - at);
    const x = input('renders', [m, 3, R, R]);
    const prog = await compile([x], [normalize(clip.encodeImage(clipInputFromGenerated(x, R, 'normalized')))]);
    const [f] = await prog.run([images.subarray(at * per, (at + m) * per)]);
    out.set(f!.data as Float32Array, at * E);
  }
  return out;
}

/** Normalised text embeddings [T, E]. */
export async function embedTexts(clip: CLIP, tok: ClipTokenizer, texts: readonly string[]): Promise<Float32Array> {
  const E = clip.config.embedDim;
  const f = await encodeTexts(clip, tok, texts, {chunk: 64});
  for (let t = 0; t < texts.length; t++) f.set(normalizeVec(f.subarray(t * E, (t + 1) * E)), t * E);
  return f;
}

export interface AttributeAccuracy {
  accuracy: number;
  /** Renders on which the attribute is visible (hair colour is not on bald heads, eye colour behind sunglasses). */
  count: number;
  /** Accuracy of always answering the most frequent value (a baseline). */
  majority: number;
}

/**
 * Zero-shot accuracy per attribute: for each held-out render, pick among the attribute's values the promptFor
 * prompt with the highest cosine similarity. Renders come from `renderBatch(n, EVAL_SEED_BASE + batch)`,
 * disjoint from the training batches.
 */
export async function zeroShotAccuracy(clip: CLIP, tok: ClipTokenizer, {n = 1000, batch = 0} = {}): Promise<Record<AttributeName, AttributeAccuracy>> {
  const {images, attributes} = renderBatch(n, EVAL_SEED_BASE + batch, clip.config.imageResolution);
  const img = await embedRenders(clip, images, n);
  return attributeAccuracies(clip, tok, img, n, (i, a) => (isAttributeVisible(attributes[i]!, a) ? attributes[i]![a] : null));
}

/**
 * Zero-shot accuracy per attribute of `n` embedded images `img` [n, E] (normalised): image i counts for attribute `a`
 * when `truth(i, a)` names a value, and is right when that value's promptFor prompt has the highest cosine.
 */
export async function attributeAccuracies(
  clip: CLIP,
  tok: ClipTokenizer,
  img: Float32Array,
  n: number,
  truth: (i: number, a: AttributeName) => string | null,
): Promise<Record<AttributeName, AttributeAccuracy>> {
  const E = clip.config.embedDim;
  const out = {} as Record<AttributeName, AttributeAccuracy>;
  for (const a of attributeNames) {
    const values = attributeValues(a) as readonly string[];
    const txt = await embedTexts(clip, tok, values.map((v) => promptFor(a, v as never)));
    let right = 0;
    let count = 0;
    const freq = new Array<number>(values.length).fill(0);
    for (let i = 0; i < n; i++) {
      const t = values.indexOf(truth(i, a) ?? '');
      if (t < 0) continue;
      let best = -1;
      let bestS = -Infinity;
      for (let v = 0; v < values.length; v++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += img[i * E + e]! * txt[v * E + e]!;
        if (s > bestS) [best, bestS] = [v, s];
      }
      freq[t]!++;
      count++;
      if (best === t) right++;
    }
    out[a] = {accuracy: count > 0 ? right / count : 0, count, majority: count > 0 ? Math.max(...freq) / count : 0};
  }
  return out;
}

export interface DirectionAgreement {
  edit: string;
  /** cos(Δt, normalise(mean_i (f(with_i) − f(without_i)))) with normalised image embeddings f. */
  cosine: number;
  /** Fraction of pairs whose image difference has a positive component along Δt. */
  positiveFraction: number;
  /** The largest cosine of this Δt with another edit's mean image difference (specificity check). */
  bestOtherCosine: number;
  bestOther: string;
}

/** The face without an edit's attribute: the natural "absent" value where there is one, else another value. */
function withoutAttribute(base: FaceAttributes, a: AttributeName, value: string, rng: Rng): FaceAttributes {
  const f: FaceAttributes = {...base};
  const values = attributeValues(a) as readonly string[];
  const absent = a === 'mouth' ? 'neutral' : values.includes('none') ? 'none' : null;
  let v: string = absent ?? base[a];
  while (v === value) v = rng.choice(values);
  (f as Record<string, string>)[a] = v;
  if (a === 'hairColor' && f.hairStyle === 'bald') f.hairStyle = 'short'; // colour must be visible
  return f;
}

/**
 * For each demo edit, whether the template-averaged text direction Δt = normalise(t(prompt) − t("a face"))
 * points along the image-embedding change the edit makes: pairs of held-out renders identical (same attributes
 * and jitter) except for the edited attribute.
 */
export async function editDirectionAgreement(clip: CLIP, tok: ClipTokenizer, {pairs = 200, templates = STYLECLIP_TEMPLATES}: {pairs?: number; templates?: readonly string[]} = {}): Promise<DirectionAgreement[]> {
  const R = clip.config.imageResolution;
  const E = clip.config.embedDim;
  const per = 3 * R * R;
  const dirs: Float32Array[] = [];
  const diffs: Float32Array[] = [];
  const positive: number[] = [];
  for (const [k, t] of editTargets.entries()) {
    dirs.push(await promptDirection(clip, tok, neutralPrompt, promptFor(t.attribute, t.value as never), templates));
    const imgs = new Float32Array(2 * pairs * per);
    for (let i = 0; i < pairs; i++) {
      const faceSeed = hashSeed(EVAL_SEED_BASE + 7777, k, i);
      const rng = new Rng(hashSeed(faceSeed, 1));
      const without = withoutAttribute(sampleAttributes(rng), t.attribute, t.value, rng);
      const withA = {...without, [t.attribute]: t.value} as FaceAttributes;
      imgs.set(renderFaceTensor(without, {size: R, seed: faceSeed}), 2 * i * per);
      imgs.set(renderFaceTensor(withA, {size: R, seed: faceSeed}), (2 * i + 1) * per);
    }
    const f = await embedRenders(clip, imgs, 2 * pairs);
    const mean = new Float64Array(E);
    let pos = 0;
    for (let i = 0; i < pairs; i++) {
      let proj = 0;
      for (let e = 0; e < E; e++) {
        const d = f[(2 * i + 1) * E + e]! - f[2 * i * E + e]!;
        mean[e]! += d;
        proj += d * dirs[k]![e]!;
      }
      if (proj > 0) pos++;
    }
    diffs.push(normalizeVec(mean));
    positive.push(pos / pairs);
  }
  const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, e) => s + v * b[e]!, 0);
  return editTargets.map((t, k) => {
    let bestOther = '';
    let bestOtherCosine = -Infinity;
    editTargets.forEach((o, j) => {
      if (j === k) return;
      const c = cos(dirs[k]!, diffs[j]!);
      if (c > bestOtherCosine) [bestOther, bestOtherCosine] = [o.name, c];
    });
    return {edit: t.name, cosine: cos(dirs[k]!, diffs[k]!), positiveFraction: positive[k]!, bestOtherCosine, bestOther};
  });
}
