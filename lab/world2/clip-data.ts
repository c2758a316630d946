/**
 * ToonCLIP v2's training data (`lab/scripts/train-clip.ts --world v2`): renderer-v2 faces with captions v2.
 *
 * - Faces come from `sampleFactors(rng, intermediate)`: with probability `intermediate` per attribute a point between
 *   two values, which the caption names only where it is clearly inside a region (captions.ts), so a blend is never
 *   called a value.
 * - Counterfactual pairs: a share of the batch are pairs (face, copy) with the same layout factors and every other
 *   attribute's factors, and one attribute's factors moved to another value or (half the time) to a point on the
 *   line towards it — an in-between point whose caption then does not name that attribute.
 * - A caption j counts as a positive for image i when every mention of j holds for face i by the margin (the value is
 *   `namedValue`, a degree is among `degreesFor`); a face in a gap is no positive for any caption naming the attribute.
 *
 * The batch of a step is a pure function of (options, step), as in v1.
 */
import {type AttributeName, attributeNames, attributeValues} from '../../src/demo/attributes.js';
import {promptFor} from '../../src/demo/captions.js';
import {check} from '../../src/errors.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {IMAGENET_TEMPLATES} from '../../src/models/clip/prompts.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {type Mention, captionFactors} from './captions.js';
import {type Factors, degreesFor, drawValue, factorsOf, isVisible, lerpFactors, namedValue, sampleFactors} from './factors.js';
import {renderFactorsTensor} from './render.js';

/** The v2 options of a ToonCLIP run (the rest are ToonClipTrainOptions, shared with v1). */
export interface ClipV2DataOptions {
  seed: number;
  batch: number;
  textLength: number;
  /** Per-attribute probability that a face is drawn between two values (sampleFactors). */
  intermediate: number;
  /** Share of the batch in counterfactual pairs (0: none, 1: the whole batch). */
  counterfactual: number;
  /** In a pair, probability that the moved value lands between the two values rather than on the new one. */
  counterfactualBlend: number;
  /** Probability that a caption is the canonical prompt of one named, visible attribute. */
  promptProb: number;
  /** Probability that a caption is wrapped in an ImageNet template. */
  templateProb: number;
  /** In a pair, probability that a member's caption is the prompt of the moved attribute (when it is named). */
  focusProb: number;
  /** Relative weights of the attribute moved in a pair (unlisted attributes weigh 1); default uniform. */
  counterfactualWeights?: Partial<Record<AttributeName, number>>;
}

export interface CaptionedFace {
  factors: Factors;
  text: string;
  /** What the caption (before any template) claims; checked against the faces for positives. */
  mentions: Mention[];
}

export interface ClipV2Sample {
  faces: CaptionedFace[];
  /** For each face of a pair, the attribute moved between it and its partner (the pair is 2k, 2k+1); else null. */
  moved: (AttributeName | null)[];
  /** [B, 3, size, size] renders in [-1, 1]. */
  images: Float32Array;
}

/** Whether a mention holds for a face by the margin. */
export function mentionHolds(f: Factors, m: Mention): boolean {
  if (!isVisible(f, m.attribute)) return false;
  const v = namedValue(f, m.attribute);
  if (m.value !== undefined && v !== m.value) return false;
  if (m.degree !== undefined && !degreesFor(f, m.attribute, v).some((d) => d.word === m.degree)) return false;
  return true;
}

/** The canonical prompt of a named, visible attribute, as a caption with its mention. */
function promptCaption(f: Factors, a: AttributeName): {text: string; mentions: Mention[]} | null {
  const v = namedValue(f, a);
  if (v === undefined || !isVisible(f, a)) return null;
  const text = promptFor(a, v as never);
  return {text, mentions: [{attribute: a, value: v, text}]};
}

/** One caption of a face: a v2 caption or a canonical prompt, maybe in a template, within `maxTokens`. */
function captionFace(f: Factors, rng: Rng, tok: ClipTokenizer, o: ClipV2DataOptions, focus: AttributeName | null): {text: string; mentions: Mention[]} {
  for (;;) {
    let c: {text: string; mentions: Mention[]} | null = null;
    if (focus && rng.bool(o.focusProb)) c = promptCaption(f, focus);
    if (!c && rng.bool(o.promptProb)) {
      const named = attributeNames.filter((a) => isVisible(f, a) && namedValue(f, a) !== undefined);
      if (named.length > 0) c = promptCaption(f, rng.choice(named));
    }
    c ??= captionFactors(f, rng);
    if (rng.bool(o.templateProb)) {
      const wrapped = rng.choice(IMAGENET_TEMPLATES).replace('{}', c.text);
      if (tok.encode(wrapped).length + 2 <= o.textLength) return {text: wrapped, mentions: c.mentions};
    }
    if (tok.encode(c.text).length + 2 <= o.textLength) return c;
    // Too long (rare): draw another caption from the same stream.
  }
}

/** The copy of `f` with attribute `a`'s factors moved to another value, or part of the way there. */
export function counterfactualOf(f: Factors, a: AttributeName, rng: Rng, blend: number): Factors {
  const current = namedValue(f, a);
  const others = (attributeValues(a) as readonly string[]).filter((v) => v !== current);
  const g = {...f};
  drawValue(rng, g, a, rng.choice(others));
  const t = rng.bool(blend) ? rng.uniform(0.25, 0.75) : 1;
  return lerpFactors(f, g, t, factorsOf(a));
}

/** How many leading pairs (2k, 2k+1) a batch has. */
export function counterfactualPairs(o: {batch: number; counterfactual: number}): number {
  return Math.min(Math.floor(o.batch / 2), Math.round((o.counterfactual * o.batch) / 2));
}

/** The faces, captions and renders of a batch seed (pure in (options, batchSeed)). */
export function clipV2Sample(batchSeed: number, o: ClipV2DataOptions, tok: ClipTokenizer, size = 64): ClipV2Sample {
  for (const k of ['intermediate', 'counterfactual', 'counterfactualBlend', 'promptProb', 'templateProb', 'focusProb'] as const) {
    check(o[k] >= 0 && o[k] <= 1, `ToonCLIP v2: ${k} must be in [0, 1], got ${o[k]}`);
  }
  const B = o.batch;
  const pairs = counterfactualPairs(o);
  const rng = new Rng(hashSeed(batchSeed, 0xf2));
  const factors: Factors[] = [];
  const moved: (AttributeName | null)[] = [];
  for (let k = 0; k < pairs; k++) {
    const f = sampleFactors(rng, o.intermediate).factors;
    const w = o.counterfactualWeights;
    const a = w ? rng.weighted(attributeNames, attributeNames.map((n) => w[n] ?? 1)) : rng.choice(attributeNames);
    factors.push(f, counterfactualOf(f, a, rng, o.counterfactualBlend));
    moved.push(a, a);
  }
  while (factors.length < B) {
    factors.push(sampleFactors(rng, o.intermediate).factors);
    moved.push(null);
  }
  const faces = factors.map((f, i) => ({factors: f, ...captionFace(f, new Rng(hashSeed(batchSeed, i, 0xca9)), tok, o, moved[i]!)}));
  const per = 3 * size * size;
  const images = new Float32Array(B * per);
  factors.forEach((f, i) => renderFactorsTensor(f, size, images, i * per));
  return {faces, moved, images};
}

/** match[i·B + j] = 1 when caption j is true of face i (always on the diagonal). */
export function matchMatrix(faces: readonly CaptionedFace[], multi: boolean): Float32Array {
  const B = faces.length;
  const match = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) match[i * B + j] = i === j || (multi && faces[j]!.mentions.every((m) => mentionHolds(faces[i]!.factors, m))) ? 1 : 0;
  }
  return match;
}

/** Texts the v2 captions can produce (a fixed sample and every prompt), for the trained token vocabulary. */
export function vocabularyTextsV2(): string[] {
  const texts: string[] = [];
  const rng = new Rng(hashSeed(0x70cab, 2));
  for (let i = 0; i < 20000; i++) texts.push(captionFactors(sampleFactors(rng, 0.5).factors, rng).text);
  for (const a of attributeNames) for (const v of attributeValues(a)) texts.push(promptFor(a, v as never));
  return texts;
}
