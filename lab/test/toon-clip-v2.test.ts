/**
 * ToonCLIP v2's data (lab/world2/clip-data.ts via `trainingBatch` with world 'v2'): batches are a pure function of the
 * step, captions name only what holds of their face by the margin, counterfactual pairs differ only in the moved
 * attribute's factors, and a few steps on a tiny model lower the loss.
 */
import {beforeAll, describe, expect, it} from 'vitest';
import {attributeNames} from '../../src/demo/attributes.js';
import {configureEngine} from '../../src/engine/session.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {trainLoop} from '../../src/train/loop.js';
import {toonClipConfig} from '../demo/toon-clip.js';
import {
  DEFAULT_TRAIN_OPTIONS, type ToonClipTrainOptions, V2_TRAIN_OPTIONS, compileToonClipStep, initToonClipStateDict, toonClipOptimizer, trainingBatch,
  trainingParams, trainingVocabulary,
} from '../demo/train-clip.js';
import {degreesFor, factorNames, factorsOf, isVisible, namedValue} from '../world2/factors.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {TINY_TOONCLIP} from './helpers/toon-clip-training.js';
import {type ClipV2DataOptions, clipV2Sample, counterfactualPairs, matchMatrix} from '../world2/clip-data.js';
import {promptFor} from '../../src/demo/captions.js';

let tok: ClipTokenizer;
let vocab: Int32Array;
let compact: Map<number, number>;
const opts: ToonClipTrainOptions = {...DEFAULT_TRAIN_OPTIONS, ...V2_TRAIN_OPTIONS, batch: 32};
const dataOpts: ClipV2DataOptions = {...opts, intermediate: 0.4, counterfactualBlend: 0.5};

beforeAll(() => {
  configureEngine({threads: 1});
  tok = loadDefaultTokenizer();
  vocab = trainingVocabulary(tok, 'v2');
  compact = new Map([...vocab].map((id, r) => [id, r]));
});

describe('ToonCLIP v2 training data', () => {
  it('is a pure function of the step', () => {
    const a = trainingBatch(5, opts, tok, compact, 32);
    const b = trainingBatch(5, opts, tok, compact, 32);
    const c = trainingBatch(6, opts, tok, compact, 32);
    expect(b.texts).toEqual(a.texts);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(b.images).toEqual(a.images);
    expect(b.factors).toEqual(a.factors);
    expect(c.texts).not.toEqual(a.texts);
    expect(a.images.length).toBe(32 * 3 * 32 * 32);
  });

  it('captions name a value or degree only where it holds of the face by the margin, in-between faces included', () => {
    const o = {...dataOpts, batch: 24, intermediate: 0.5, focusProb: 0.8};
    let inBetween = 0;
    let unnamedMoved = 0;
    let mentions = 0;
    for (let s = 0; s < 10; s++) {
      const {faces, moved} = clipV2Sample(1000 + s, o, tok, 16);
      faces.forEach(({factors: f, text, mentions: ms}, i) => {
        const unnamed = attributeNames.filter((a) => namedValue(f, a) === undefined);
        inBetween += unnamed.length;
        if (moved[i] && unnamed.includes(moved[i]!)) unnamedMoved++;
        expect(ms.length, text).toBeGreaterThan(0);
        for (const m of ms) {
          mentions++;
          expect(text, `${m.attribute} '${m.text}'`).toContain(m.text);
          expect(isVisible(f, m.attribute), text).toBe(true);
          const v = namedValue(f, m.attribute);
          if (m.value !== undefined) expect(v, text).toBe(m.value);
          if (m.degree !== undefined) expect(degreesFor(f, m.attribute, v).map((d) => d.word), text).toContain(m.degree);
        }
      });
    }
    expect(mentions).toBeGreaterThan(200);
    expect(inBetween).toBeGreaterThan(50);
    expect(unnamedMoved).toBeGreaterThan(0);
  });

  it('marks a caption positive for another face only when all its mentions hold there', () => {
    const {faces} = clipV2Sample(77, {...dataOpts, batch: 24}, tok, 16);
    const match = matchMatrix(faces, true);
    let offDiagonal = 0;
    for (let i = 0; i < 24; i++) {
      expect(match[i * 24 + i]).toBe(1);
      for (let j = 0; j < 24; j++) {
        if (i === j) continue;
        const holds = faces[j]!.mentions.every((m) => isVisible(faces[i]!.factors, m.attribute) && (m.value === undefined || namedValue(faces[i]!.factors, m.attribute) === m.value) && (m.degree === undefined || degreesFor(faces[i]!.factors, m.attribute, namedValue(faces[i]!.factors, m.attribute)).some((d) => d.word === m.degree)));
        expect(match[i * 24 + j]).toBe(holds ? 1 : 0);
        offDiagonal += match[i * 24 + j]!;
      }
    }
    expect(offDiagonal).toBeGreaterThan(0);
    expect(Array.from(matchMatrix(faces, false)).reduce((x, y) => x + y, 0)).toBe(24);
  });

  it('refuses shares outside [0, 1] with a named error', () => {
    expect(() => clipV2Sample(1, {...dataOpts, intermediate: 1.5}, tok, 16)).toThrow(/intermediate must be in \[0, 1\]/);
  });

  it('builds counterfactual pairs that differ only in the moved attribute\'s factors', () => {
    const b = trainingBatch(3, opts, tok, compact, 16);
    const pairs = Math.round((opts.counterfactual * opts.batch) / 2);
    expect(pairs).toBeGreaterThan(0);
    for (let k = 0; k < pairs; k++) {
      const [f, g] = [b.factors![2 * k]!, b.factors![2 * k + 1]!];
      const a = b.moved![2 * k]!;
      expect(b.moved![2 * k + 1]).toBe(a);
      const own = new Set(factorsOf(a));
      const changed = factorNames.filter((n) => f[n] !== g[n]);
      expect(changed.length).toBeGreaterThan(0);
      for (const n of changed) expect(own.has(n), `${a}: ${n} changed`).toBe(true);
    }
    for (let i = 2 * pairs; i < opts.batch; i++) expect(b.moved![i]).toBeNull();
  });

  it('moves attributes in proportion to --counterfactual-weights', () => {
    const count = (o: ClipV2DataOptions) => {
      const n = new Map<string, number>();
      for (let s = 0; s < 40; s++) for (const a of clipV2Sample(500 + s, {...o, batch: 16, counterfactual: 1}, tok, 16).moved.filter((_, i) => i % 2 === 0)) n.set(a!, (n.get(a!) ?? 0) + 1);
      return n;
    };
    // 320 pairs; weights beard 10, mouth 10, the other 7 attributes 1: beard and mouth expected 320·10/27 ≈ 119 each.
    const weighted = count({...dataOpts, counterfactualWeights: {beard: 10, mouth: 10}});
    const uniform = count(dataOpts);
    expect(weighted.get('beard')!).toBeGreaterThan(90);
    expect(weighted.get('mouth')!).toBeGreaterThan(90);
    expect(uniform.get('beard')!).toBeLessThan(60); // 320 / 9 ≈ 36
    expect(weighted.get('glasses') ?? 0).toBeLessThan(25); // ≈ 12
  });

  it('marks the pairs whose captions name two values of the moved attribute (the direction loss\'s pairs)', () => {
    const o = {...opts, counterfactual: 1, counterfactualBlend: 0, focusProb: 1, promptProb: 0, templateProb: 0};
    let ones = 0;
    for (let s = 0; s < 4; s++) {
      const b = trainingBatch(200 + s, o, tok, compact, 16);
      expect(b.pairMask).toHaveLength(o.batch / 2);
      b.pairMask!.forEach((m, k) => {
        const a = b.moved![2 * k]!;
        const [f, g] = [b.factors![2 * k]!, b.factors![2 * k + 1]!];
        const [u, v] = [namedValue(f, a), namedValue(g, a)];
        const expected = isVisible(f, a) && isVisible(g, a) && u !== undefined && v !== undefined && u !== v;
        expect(m, `pair ${k} (${a}: ${u} → ${v})`).toBe(expected ? 1 : 0);
        if (m) expect([b.texts[2 * k], b.texts[2 * k + 1]]).toEqual([promptFor(a, u as never), promptFor(a, v as never)]);
        ones += m;
      });
    }
    expect(ones).toBeGreaterThan(20); // of 64 pairs
  });

  it('keeps every caption token in the v2 vocabulary and the text length', () => {
    for (let s = 0; s < 6; s++) {
      const b = trainingBatch(100 + s, opts, tok, compact, 16); // throws on a token outside the vocabulary
      for (const t of b.texts) expect(tok.encode(t).length + 2).toBeLessThanOrEqual(opts.textLength);
    }
  });
});

describe('ToonCLIP v2 training', () => {
  it('configures a wider embedding and width', () => {
    const c = toonClipConfig({embed: 128, width: 128});
    expect([c.embedDim, c.transformerWidth, c.transformerHeads, c.visionWidth, c.visionHeads]).toEqual([128, 128, 2, 128, 2]);
    expect(() => toonClipConfig({width: 100})).toThrow(/multiple of 64/);
  });

  it('lowers the loss of a tiny model in a few steps on one batch', async () => {
    const tiny = {...TINY_TOONCLIP, embedDim: 32};
    const o = {...opts, batch: 8, steps: 12, warmup: 1, lr: 3e-3, weightDecay: 0};
    const params = trainingParams(initToonClipStateDict(tiny, 5), vocab);
    const step = await compileToonClipStep(tiny, params, o.batch, o.textLength);
    const b = trainingBatch(0, o, tok, compact, tiny.imageResolution);
    const losses: number[] = [];
    await trainLoop(step, toonClipOptimizer(params, o), {
      steps: o.steps,
      batch: () => [b.images, b.tokens as unknown as Float32Array, b.eot, b.imageTargets, b.textTargets],
      onStep: (r) => void losses.push(r.loss),
    });
    expect(losses).toHaveLength(12);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[11]!).toBeLessThan(0.8 * losses[0]!);
  });

  it('trains with the direction loss: the pairs\' image and text changes come to agree', async () => {
    const tiny = {...TINY_TOONCLIP, embedDim: 32};
    const o = {...opts, batch: 8, steps: 12, warmup: 1, lr: 3e-3, weightDecay: 0, counterfactual: 1, counterfactualBlend: 0, focusProb: 1, promptProb: 0};
    const params = trainingParams(initToonClipStateDict(tiny, 5), vocab);
    const step = await compileToonClipStep(tiny, params, o.batch, o.textLength, {pairs: counterfactualPairs(o), weight: 1});
    const b = trainingBatch(0, o, tok, compact, tiny.imageResolution);
    expect(b.pairMask!.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    const cos: number[] = [];
    await trainLoop(step, toonClipOptimizer(params, o), {
      steps: o.steps,
      batch: () => [b.images, b.tokens as unknown as Float32Array, b.eot, b.imageTargets, b.textTargets, b.pairMask!],
      onStep: (r) => void cos.push(r.metrics.dir_cos!),
    });
    expect(cos.every((c) => Number.isFinite(c) && Math.abs(c) <= 1 + 1e-5)).toBe(true);
    expect(cos[11]!).toBeGreaterThan(cos[0]! + 0.1);
  });
});
