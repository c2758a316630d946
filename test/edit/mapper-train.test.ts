/** Mapper training on the tiny models (loss, resume, groups, errors); the optimizers are tested in test/train/optim.test.ts. */
import {beforeAll, describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import type {Tensor} from '../../src/engine/tensor.js';
import {type MapperTrainResult, batchIndices, trainMapper} from '../../src/edit/mapper-train.js';
import {clearSessionCache, sessionsCreated} from '../../src/engine/session.js';
import {parseCheckpoint} from '../../src/train/checkpoint.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {type CLIP, normalize} from '../../src/models/clip/model.js';
import {irseFromBytes} from '../../src/models/identity/irse.js';
import {MapperMismatchError, mapperFromBytes, runMapper} from '../../src/models/mapper.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {greyHairTextFeatures, tinyClip, tinyG} from '../helpers/tiny-models.js';

describe('batches', () => {
  it('covers each epoch without repeats (drop_last) and depends only on (seed, step)', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 3; s++) for (const i of batchIndices(s, 7, 2, 5)) seen.add(i);
    expect(seen.size).toBe(6);
    expect(batchIndices(10, 7, 2, 5)).toEqual(batchIndices(10, 7, 2, 5));
    expect(batchIndices(3, 7, 2, 5)).not.toEqual(batchIndices(3, 7, 2, 6));
  });
});

let g: StyleGAN2;
let clip: CLIP;
let text: Float32Array;

beforeAll(async () => {
  g = tinyG();
  clip = tinyClip();
  text = await greyHairTextFeatures();
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('trainMapper on the tiny models', () => {
  it('lowers the loss with the default Ranger and reports every step', async () => {
    const steps = 60;
    const seen: number[] = [];
    const r = await trainMapper(g, clip, {text, prompt: 'tiny', samples: 8, steps, onStep: (i) => void seen.push(i.step)});
    expect(seen).toEqual([...Array(steps).keys()]);
    const q = [0, 1, 2].map((k) => mean(r.history.slice(k * 20, (k + 1) * 20).map((h) => h.loss)));
    expect(q[1]!).toBeLessThan(q[0]!);
    expect(q[2]!).toBeLessThan(q[1]!);
    expect(r.history.every((h) => h.id === 0 && h.l2 > 0)).toBe(true);
    // loss = clip + 0.8·MSE
    for (const h of r.history) expect(h.loss).toBeCloseTo(h.clip + 0.8 * h.l2, 5);
    expect(r.mapper.config).toMatchObject({nLatent: 8, styleDim: 64, split: [2, 4], generatorSize: 32});
    expect(r.mapper.prompt).toBe('tiny');
  });

  it('lowers the CLIP loss quickly with Adam', async () => {
    const r = await trainMapper(g, clip, {text, samples: 2, steps: 20, optimizer: 'adam', lr: 0.5});
    expect(r.history.at(-1)!.clip).toBeLessThan(r.history[0]!.clip - 0.05);
  });

  for (const optimizer of ['ranger', 'adam'] as const) {
    it(`a resumed run equals the uninterrupted one (${optimizer})`, async () => {
      const base = {text, samples: 6, seed: 4, optimizer, lr: optimizer === 'adam' ? 0.05 : 0.5};
      const full = await trainMapper(g, clip, {...base, steps: 13});
      const ckpts: Array<[number, Uint8Array]> = [];
      const part = await trainMapper(g, clip, {...base, steps: 7, checkpointEvery: 7, onCheckpoint: (b, s) => void ckpts.push([s, b])});
      expect(ckpts.map(([s]) => s)).toEqual([7]);
      expect(part.step).toBe(7);
      const resumed = await trainMapper(g, clip, {...base, steps: 13, resume: ckpts[0]![1]});
      expect(resumed.history.map((h) => h.step)).toEqual([7, 8, 9, 10, 11, 12]);
      expect(resumed.history.map((h) => h.loss)).toEqual(full.history.slice(7).map((h) => h.loss));
      for (const [k, t] of full.mapper.weights) expect(Array.from(toFloat32(resumed.mapper.weights.get(k)!)), k).toEqual(Array.from(toFloat32(t)));
      // The checkpoint also loads as a plain mapper.
      const asMapper = mapperFromBytes(ckpts[0]![1]);
      for (const [k, t] of part.mapper.weights) expect(Array.from(toFloat32(asMapper.weights.get(k)!))).toEqual(Array.from(toFloat32(t)));
    });
  }

  it('resuming with other settings is a named error', async () => {
    const ckpts: Uint8Array[] = [];
    await trainMapper(g, clip, {text, samples: 2, steps: 2, checkpointEvery: 2, onCheckpoint: (b) => void ckpts.push(b)});
    const c = parseCheckpoint(ckpts[0]!);
    expect(c.step).toBe(2);
    await expect(trainMapper(g, clip, {text, samples: 2, steps: 4, optimizer: 'adam', resume: ckpts[0]!})).rejects.toThrow(MapperMismatchError);
    await expect(trainMapper(g, clip, {text, samples: 2, steps: 4, groups: {fine: false}, resume: ckpts[0]!})).rejects.toThrow(/fine group on ≠ off/);
    await expect(trainMapper(g, clip, {text, samples: 4, steps: 4, resume: ckpts[0]!})).rejects.toThrow(/dataset_size 2 ≠ 4/);
  });

  it('trains only the enabled groups: disabled rows of ŵ stay equal to w', async () => {
    const r = await trainMapper(g, clip, {text, samples: 2, steps: 3, groups: {coarse: false, fine: false}});
    expect([...r.mapper.weights.keys()].every((k) => k.startsWith('medium_mapping.'))).toBe(true);
    const w = {dtype: 'float32' as const, shape: [1, 8, 64], data: new Float32Array(512).map((_, i) => Math.cos(i))};
    const {delta} = await runMapper(r.mapper, w);
    const d = toFloat32(delta);
    for (let row = 0; row < 8; row++) {
      const nz = d.subarray(row * 64, (row + 1) * 64).some((v) => v !== 0);
      expect(nz, `row ${row}`).toBe(row >= 2 && row < 4);
    }
  });

  it('uses the ID term with an identity network (batch mean of 1 − cos) and takes latents from a tensor', async () => {
    // A stand-in identity network: normalised 4×4 average-pooled pixels.
    const identity = {features: (img: Tensor): Tensor => {
      const [N] = img.shape as [number];
      const x = F.reshape(img, [N, 3, 4, 8, 4, 8]);
      return normalize(F.reshape(F.mean(x, [3, 5]), [N, 48]));
    }};
    const latents = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors.get('w_plus_z_trunc07')!;
    const r = await trainMapper(g, clip, {text, latents, steps: 3, identity, lambdaId: 0.1});
    for (const h of r.history) {
      expect(h.id).toBeGreaterThan(0);
      expect(h.loss).toBeCloseTo(h.clip + 0.8 * h.l2 + 0.1 * h.id, 5);
    }
  });

  it('rejects bad input with named errors', async () => {
    await expect(trainMapper(g, clip, {text, latents: {dtype: 'float32', shape: [2, 18, 64], data: new Float32Array(2 * 18 * 64)}, steps: 1})).rejects.toThrow(/W\+ \[N, 8, 64\]/);
    await expect(trainMapper(g, clip, {text, samples: 1, batch: 2, steps: 1})).rejects.toThrow(/at least batch = 2/);
    await expect(trainMapper(g, clip, {text, samples: 2, steps: 1, lambdaId: 0.1})).rejects.toThrow(/identity network/);
    await expect(trainMapper(g, clip, {text: new Float32Array(3), steps: 1})).rejects.toThrow(/text features have 3 values/);
    const ac = new AbortController();
    ac.abort();
    await expect(trainMapper(g, clip, {text, samples: 2, steps: 5, signal: ac.signal})).rejects.toThrow(/cancelled/);
  });
});

describe('one compiled session for every mapper', () => {
  it('a mapper for another prompt (other λs, seed) reuses the step session of the first, with a fresh compile\'s results', async () => {
    const identity = irseFromBytes(fixtureBytes('irse_tiny_state_dict.pt'));
    const job = (t: Float32Array, seed: number, lambdaL2: number) => trainMapper(g, clip, {text: t, samples: 4, batch: 2, steps: 3, seed, lambdaL2, identity, lambdaId: 0.1});
    /** Everything a run computes: the trained weights and the losses of every step. */
    const outcome = (r: MapperTrainResult) => [...[...r.mapper.weights.values()].flatMap((w) => Array.from(toFloat32(w))), ...r.history.flatMap((h) => [h.loss, h.clip, h.l2, h.id])];
    const first = await job(text, 1, 0.8);
    const created = sessionsCreated();
    const other = text.slice().reverse(); // another prompt's features
    const second = await job(other, 2, 0.3);
    expect(sessionsCreated()).toBe(created); // no session compiled for the second mapper
    expect(second.history[0]!.clip).not.toBe(first.history[0]!.clip);
    for (const h of second.history) expect(h.loss).toBeCloseTo(h.clip + 0.3 * h.l2 + 0.1 * h.id, 5);
    // The same job compiled from scratch gives the same mapper.
    await clearSessionCache();
    const fresh = await job(other, 2, 0.3);
    expect(sessionsCreated()).toBeGreaterThan(created);
    expectAllClose(outcome(second), outcome(fresh), {atol: 1e-6, what: 'second mapper vs. fresh compile'});
  });
});
