/**
 * Fooling pools and the ranking term of ToonCLIP's adversarial fine-tune: the genuine edits change exactly the
 * target attribute of the generator's latent decoding; pools round-trip through files; ranking batches are a pure
 * function of the step; the ranking loss equals −log σ(τ(cos genuine − cos fool)) computed independently.
 */
import {mkdtempSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {beforeAll, describe, expect, it} from 'vitest';
import {attributeNames} from '../../src/demo/attributes.js';
import {promptFor} from '../../src/demo/captions.js';
import {FOOLING_TARGETS, type FoolingPool, readFoolingPools, roundLatents, writeFoolingPool} from '../demo/fooling.js';
import {ATTRIBUTE_DIMS, decodeLatent} from '../demo/toon-gan.js';
import {DEFAULT_TRAIN_OPTIONS, compileToonClipStep, fullStateDict, initToonClipStateDict, rankingBatch, trainingBatch, trainingParams} from '../demo/train-clip.js';
import {configureEngine} from '../../src/engine/session.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {encodeImages, encodeTexts} from '../../src/models/clip/encode.js';
import {CLIP} from '../../src/models/clip/model.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {TINY_TOONCLIP, trainingTokens} from './helpers/toon-clip-training.js';

let tok: ClipTokenizer;
let vocab: Int32Array;
let compact: Map<number, number>;
beforeAll(() => {
  configureEngine({threads: 1});
  ({tok, vocab, compact} = trainingTokens());
});

/** A pool of n units of S×S images whose pixels encode the unit: fool = offset + i, genuine = −(offset + i). */
function indexPool(n: number, S: number, offset = 0): FoolingPool {
  const plane = 3 * S * S;
  const fool = new Float32Array(n * plane);
  const genuine = new Float32Array(n * plane);
  for (let i = 0; i < n; i++) {
    fool.fill(offset + i, i * plane, (i + 1) * plane);
    genuine.fill(-(offset + i), i * plane, (i + 1) * plane);
  }
  const prompts = Array.from({length: n}, (_, i) => {
    const t = FOOLING_TARGETS[(offset + i) % FOOLING_TARGETS.length]!;
    return promptFor(t.attribute, t.value as never);
  });
  return {fool, genuine, prompts, size: n};
}

describe('fooling pools', () => {
  it('pairs each face with a latent whose decoding shows the target and changes nothing else', () => {
    const D = 64;
    for (let r = 0; r < 6; r++) {
      const {target, z, edited} = roundLatents(r, 8, D);
      expect(roundLatents(r, 8, D).z).toEqual(z);
      for (let k = 0; k < 8; k++) {
        const [a, b] = [decodeLatent(z.subarray(k * D, (k + 1) * D)).attributes, decodeLatent(edited.subarray(k * D, (k + 1) * D)).attributes];
        expect(a[target.attribute]).not.toBe(target.value);
        expect(b[target.attribute]).toBe(target.value);
        for (const n of attributeNames) if (n !== target.attribute) expect(b[n]).toBe(a[n]);
        const changed = Array.from({length: D}, (_, d) => d).filter((d) => z[k * D + d] !== edited[k * D + d]);
        expect(changed).toEqual([ATTRIBUTE_DIMS[target.attribute]]);
      }
    }
    expect(FOOLING_TARGETS.some((t) => t.attribute === 'lipstick' || t.attribute === 'eyeColor')).toBe(false);
  });

  it('round-trips through files, concatenates several and rejects other files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fooling-'));
    const [a, b] = [indexPool(3, 4), indexPool(2, 4, 3)];
    writeFoolingPool(path.join(dir, 'a.safetensors'), a, 4);
    writeFoolingPool(path.join(dir, 'b.safetensors'), b, 4);
    const both = readFoolingPools([path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors')]);
    expect(both.size).toBe(5);
    expect(both.prompts).toEqual([...a.prompts, ...b.prompts]);
    expect(both.fool).toEqual(indexPool(5, 4).fool);
    expect(both.genuine).toEqual(indexPool(5, 4).genuine);
    const other = path.join(dir, 'other.safetensors');
    writeFileSync(other, serializeSafetensors(new Map([['fool', {dtype: 'float32', shape: [1], data: new Float32Array(1)}]]), {format: 'toonclip'}));
    expect(() => readFoolingPools([other])).toThrow(/is not a fooling pool/);
    const bad = path.join(dir, 'bad.safetensors');
    writeFileSync(bad, serializeSafetensors(new Map([['fool', {dtype: 'float32', shape: [2, 3, 4, 4], data: new Float32Array(96)}], ['genuine', {dtype: 'float32', shape: [2, 3, 4, 4], data: new Float32Array(96)}]]), {format: 'toonclip-fooling-pool', prompts: '["one"]'}));
    expect(() => readFoolingPools([bad])).toThrow(/prompts do not match/);
  });

  it('draws ranking units as a pure function of the step, each image with its own prompt', () => {
    const pool = indexPool(40, 64);
    const L = DEFAULT_TRAIN_OPTIONS.textLength;
    const [fool, genuine, tokens, eot] = rankingBatch(7, pool, 6, tok, compact, L);
    expect(rankingBatch(7, pool, 6, tok, compact, L)[0]).toEqual(fool);
    expect(rankingBatch(8, pool, 6, tok, compact, L)[0]).not.toEqual(fool);
    const plane = 3 * 64 * 64;
    const ids = tokens as unknown as Int32Array;
    for (let m = 0; m < 6; m++) {
      const i = fool![m * plane]!;
      expect(genuine![m * plane]).toBe(-i);
      const want = Array.from(tok.tokenize([pool.prompts[i]!], {contextLength: L}), (id) => compact.get(id)!);
      expect(Array.from(ids.subarray(m * L, (m + 1) * L))).toEqual(want);
      expect(eot![m * L + tok.encode(pool.prompts[i]!).length + 1]).toBe(1);
    }
  });
});

describe('ranking term', () => {
  it("adds −log σ(τ(cos(genuine, prompt) − cos(fool, prompt))) to the contrastive loss", async () => {
    const tiny = TINY_TOONCLIP;
    const init = initToonClipStateDict(tiny, 5);
    const params = trainingParams(init, vocab);
    const opts = {...DEFAULT_TRAIN_OPTIONS, batch: 4};
    const M = 3;
    const step = await compileToonClipStep(tiny, params, opts.batch, opts.textLength, {units: M, weight: 0.5});
    const plain = await compileToonClipStep(tiny, params, opts.batch, opts.textLength);
    const b = trainingBatch(0, opts, tok, compact, 16);
    // A pool of random 16 px images.
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const pool: FoolingPool = {fool: Float32Array.from({length: 5 * 768}, rand), genuine: Float32Array.from({length: 5 * 768}, rand), prompts: ['a face with a mohawk', 'a smiling face', 'a face with grey hair', 'a bald face', 'a face with glasses'], size: 5};
    const r = rankingBatch(2, pool, M, tok, compact, opts.textLength);
    const feeds = [b.images, b.tokens as unknown as Float32Array, b.eot, b.imageTargets, b.textTargets];
    const out = await step.program.run([...params.values, ...feeds, ...r]);
    const base = await plain.program.run([...params.values, ...feeds]);
    const metric = (o: typeof out, name: string, s: typeof step) => (o[1 + s.metricNames.indexOf(name)]!.data as Float32Array)[0]!;
    const rank = metric(out, 'rank', step);

    // Independently: the same weights as a CLIP, features on the host, the formula in float64.
    const clip = CLIP.fromStateDict(fullStateDict(params, vocab, init), {config: tiny});
    const plane = 3 * 16 * 16;
    const unit = (m: number) => Array.from({length: pool.size}, (_, i) => i).find((i) => pool.fool[i * plane] === r[0]![m * plane])!;
    const texts = Array.from({length: M}, (_, m) => pool.prompts[unit(m)]!);
    const ft = await encodeTexts(clip, tok, texts);
    // encodeImages takes CLIP-normalised inputs; the training graph normalises [-1, 1] images itself.
    const mean = [0.48145466, 0.4578275, 0.40821073];
    const std = [0.26862954, 0.26130258, 0.27577711];
    const prep = (x: Float32Array) => Float32Array.from(x, (v, j) => ((v + 1) / 2 - mean[Math.floor(j / 256) % 3]!) / std[Math.floor(j / 256) % 3]!);
    const ff = await encodeImages(clip, {dtype: 'float32', shape: [M, 3, 16, 16], data: prep(r[0]!)});
    const fg = await encodeImages(clip, {dtype: 'float32', shape: [M, 3, 16, 16], data: prep(r[1]!)});
    const E = tiny.embedDim;
    const cos = (x: Float32Array, m: number) => {
      let [d, a, c] = [0, 0, 0];
      for (let e = 0; e < E; e++) [d, a, c] = [d + x[m * E + e]! * ft[m * E + e]!, a + x[m * E + e]! ** 2, c + ft[m * E + e]! ** 2];
      return d / Math.sqrt(a * c);
    };
    const tau = Math.exp(init.get('logit_scale')!.data[0] as number);
    let want = 0;
    for (let m = 0; m < M; m++) want += Math.log1p(Math.exp(tau * (cos(ff, m) - cos(fg, m)))) / M;
    expect(rank).toBeCloseTo(want, 4);
    const loss = (out[0]!.data as Float32Array)[0]!;
    expect(loss).toBeCloseTo((base[0]!.data as Float32Array)[0]! + 0.5 * want, 4);
  }, 60_000);
});
