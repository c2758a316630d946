/**
 * ToonCLIP: the training data is a pure function of the step and stays inside the trained vocabulary; a tiny
 * model trains and exports to fp16 safetensors that the generic loader reads with no extra config (the first,
 * categorical world's ToonCLIP; the shipped one is tested in world2-models.test.ts).
 */
import {beforeAll, describe, expect, it} from 'vitest';
import {attributeNames, attributeValues, isAttributeVisible, sampleAttributes} from '../../src/demo/attributes.js';
import {caption, neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {
  DEFAULT_TRAIN_OPTIONS, compileToonClipStep, fullStateDict, initToonClipStateDict,
  captionConstraints, learningRate, satisfies, serializeToonClip, toonClipOptimizer, trainingBatch, trainingCaption, trainingParams,
} from '../demo/train-clip.js';
import {trainLoop} from '../../src/train/loop.js';
import {configureEngine} from '../../src/engine/session.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {clipFromBytes} from '../../src/models/clip/load.js';
import {IMAGENET_TEMPLATES, STYLECLIP_TEMPLATES} from '../../src/models/clip/prompts.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {TINY_TOONCLIP, trainingTokens} from './helpers/toon-clip-training.js';

let tok: ClipTokenizer;
let vocab: Int32Array;
let compact: Map<number, number>;
beforeAll(() => {
  configureEngine({threads: 1});
  ({tok, vocab, compact} = trainingTokens());
});

describe('ToonCLIP training data', () => {
  it('covers every token of fresh captions, prompts and templated prompts', () => {
    const texts: string[] = [neutralPrompt];
    for (let i = 0; i < 3000; i++) {
      const rng = new Rng(hashSeed(4242, i));
      texts.push(caption(sampleAttributes(rng), rng));
    }
    for (const a of attributeNames) for (const v of attributeValues(a)) texts.push(...STYLECLIP_TEMPLATES.map((t) => t.replace('{}', promptFor(a, v as never))));
    const known = new Set(vocab);
    for (const t of texts) for (const id of tok.encode(t)) expect(known.has(id), t).toBe(true);
    expect(vocab.length).toBeLessThan(400);
  });

  it('is a pure function of the step, fits the text length and wraps some captions in templates', () => {
    const opts = {...DEFAULT_TRAIN_OPTIONS, batch: 16};
    const a = trainingBatch(7, opts, tok, compact);
    const b = trainingBatch(7, opts, tok, compact);
    const c = trainingBatch(8, opts, tok, compact);
    expect(b.texts).toEqual(a.texts);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(b.images).toEqual(a.images);
    expect(c.texts).not.toEqual(a.texts);
    expect(a.images.length).toBe(16 * 3 * 64 * 64);
    const L = opts.textLength;
    for (let i = 0; i < 16; i++) {
      const row = a.eot.subarray(i * L, (i + 1) * L);
      expect(row.reduce((s, v) => s + v, 0)).toBe(1);
      expect(tok.encode(a.texts[i]!).length + 2).toBeLessThanOrEqual(L);
    }
    const all = [...Array(400).keys()].map((i) => {
      const rng = new Rng(hashSeed(99, i));
      return trainingCaption(sampleAttributes(rng), rng, tok, L, opts);
    });
    const templated = all.filter((t) => IMAGENET_TEMPLATES.some((tp) => t.startsWith(tp.split('{}')[0]!) && tp.split('{}')[0]!.length > 2 && t.endsWith(tp.split('{}')[1]!)));
    expect(templated.length).toBeGreaterThan(0.1 * all.length);
  });

  it('marks every caption true of its own render, and other renders only when the caption fits them', () => {
    const opts = {...DEFAULT_TRAIN_OPTIONS, batch: 24};
    for (let i = 0; i < 2000; i++) {
      const rng = new Rng(hashSeed(31, i));
      const attrs = sampleAttributes(rng);
      const text = i % 2 ? caption(attrs, rng) : promptFor(attributeNames[i % 9]!, attrs[attributeNames[i % 9]!] as never);
      if (i % 2 === 0 && !isAttributeVisible(attrs, attributeNames[i % 9]!)) continue;
      const c = captionConstraints(text);
      expect(c.size, text).toBeGreaterThan(0);
      expect(satisfies(attrs, c), text).toBe(true);
    }
    const grey = captionConstraints('a face with grey hair');
    expect(satisfies({...sampleAttributes(new Rng(1)), hairColor: 'grey', hairStyle: 'long'}, grey)).toBe(true);
    expect(satisfies({...sampleAttributes(new Rng(1)), hairColor: 'grey', hairStyle: 'bald'}, grey)).toBe(false);
    expect(satisfies({...sampleAttributes(new Rng(1)), hairColor: 'red', hairStyle: 'long'}, grey)).toBe(false);
    const b = trainingBatch(3, opts, tok, compact);
    const B = opts.batch;
    for (let i = 0; i < B; i++) {
      let r = 0;
      let c = 0;
      for (let j = 0; j < B; j++) [r, c] = [r + b.imageTargets[i * B + j]!, c + b.textTargets[j * B + i]!];
      expect(r).toBeCloseTo(1, 5);
      expect(c).toBeCloseTo(1, 5);
      expect(b.imageTargets[i * B + i]).toBeGreaterThan(0);
    }
  });

  it('builds counterfactual pairs that differ in exactly one attribute', () => {
    const b = trainingBatch(5, {...DEFAULT_TRAIN_OPTIONS, batch: 16, counterfactual: 0.5}, tok, compact);
    for (let k = 0; k < 8; k++) {
      const [x, y] = [b.attributes[2 * k]!, b.attributes[2 * k + 1]!];
      expect(attributeNames.filter((a) => x[a] !== y[a]).length).toBe(1);
      expect(b.images.subarray(2 * k * 12288, (2 * k + 1) * 12288)).not.toEqual(b.images.subarray((2 * k + 1) * 12288, (2 * k + 2) * 12288));
    }
  });

  it('uses warmup then cosine decay', () => {
    const o = {lr: 1e-3, warmup: 10, steps: 110, minLrFraction: 0.1};
    expect(learningRate(0, o)).toBeCloseTo(1e-4);
    expect(learningRate(9, o)).toBeCloseTo(1e-3);
    expect(learningRate(60, o)).toBeCloseTo(0.55e-3);
    expect(learningRate(110, o)).toBeCloseTo(1e-4);
  });
});

describe('ToonCLIP training step and export', () => {
  const tiny = TINY_TOONCLIP;

  it('trains a tiny model a few steps and exports fp16 weights the loader reads without a config', async () => {
    const opts = {...DEFAULT_TRAIN_OPTIONS, batch: 8, steps: 3, warmup: 1, lr: 1e-3};
    const init = initToonClipStateDict(tiny, 3);
    expect(Math.exp(init.get('logit_scale')!.data[0] as number)).toBeCloseTo(1 / 0.07, 4);
    const params = trainingParams(init, vocab);
    const step = await compileToonClipStep(tiny, params, opts.batch, opts.textLength);
    const before = Float32Array.from(params.values[params.names.indexOf('visual.proj')]!);
    const losses: number[] = [];
    await trainLoop(step, toonClipOptimizer(params, opts), {
      steps: opts.steps,
      batch: (s) => {
        const b = trainingBatch(s, opts, tok, compact, 16);
        return [b.images, b.tokens, b.eot, b.imageTargets, b.textTargets];
      },
      onStep: (r) => void losses.push(r.loss),
    });
    expect(losses).toHaveLength(opts.steps);
    expect(losses.every((l) => l > 0)).toBe(true);
    expect(params.values[params.names.indexOf('visual.proj')]).not.toEqual(before);

    const sd = fullStateDict(params, vocab, init);
    const bytes = serializeToonClip(sd, tiny);
    const file = parseSafetensors(bytes);
    expect(file.tensors.get('token_embedding.weight')!.dtype).toBe('float16');
    expect(file.tensors.get('token_embedding.weight')!.shape).toEqual([49408, 64]);
    const clip = clipFromBytes(bytes);
    expect(clip.config).toEqual(tiny);
    // Trained rows were scattered back; untrained rows keep their initial values.
    const emb = sd.get('token_embedding.weight')!.data as Float32Array;
    const rows = params.values[params.names.indexOf('token_embedding.rows')]!;
    const id = tok.encode('grey')[0]!;
    const r = vocab.indexOf(id);
    expect(Array.from(emb.subarray(id * 64, id * 64 + 4))).toEqual(Array.from(rows.subarray(r * 64, r * 64 + 4)));
  }, 60_000);
});

