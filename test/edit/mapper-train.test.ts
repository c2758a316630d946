/** Ranger (hand-computed steps, lookahead, GC) and mapper training on the tiny models (loss, resume, groups, errors). */
import {beforeAll, describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {type Tensor, input} from '../../src/engine/tensor.js';
import {batchIndices, parseMapperCheckpoint, trainMapper} from '../../src/edit/mapper-train.js';
import {Ranger, radamStepSize} from '../../src/edit/ranger.js';
import {Adam} from '../../src/train/trainer.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {type CLIP, normalize} from '../../src/models/clip/model.js';
import {MapperMismatchError, mapperFromBytes, runMapper} from '../../src/models/mapper.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {greyHairTextFeatures, tinyClip, tinyG} from '../helpers/tiny-models.js';

describe('Ranger', () => {
  it('uses the official defaults and the RAdam rectification threshold', () => {
    const r = new Ranger([[2]]);
    expect([r.alpha, r.k, r.nSmaThreshold, r.betas, r.eps, r.weightDecay, r.useGc]).toEqual([0.5, 6, 5, [0.95, 0.999], 1e-5, 0, true]);
    // ρ_1 = ρ∞ − 2·β2/(1 − β2) = 1999 − 1998 = 1; ρ_t crosses 5 at t = 6.
    expect(radamStepSize(1, [0.95, 0.999]).nSma).toBeCloseTo(1, 9);
    expect([1, 2, 3, 4, 5, 6].map((t) => radamStepSize(t, [0.95, 0.999]).rectified)).toEqual([false, false, false, false, false, true]);
  });

  it('matches hand-computed first steps (un-rectified momentum SGD, then the rectified update)', () => {
    const p = [new Float32Array([1, -2])];
    const opt = new Ranger([[2]]); // 1-D: no GC
    opt.update(p, [new Float32Array([0.5, -4])], 0.1);
    // m = 0.05·g, step size 1/(1 − 0.95) = 20 → p −= 0.1·20·0.05·g = 0.1·g.
    expect(p[0]![0]).toBeCloseTo(0.95, 6);
    expect(p[0]![1]).toBeCloseTo(-1.6, 6);
    opt.update(p, [new Float32Array([1, 0])], 0.1);
    // m0 = 0.95·0.025 + 0.05·1 = 0.07375; step size 1/(1 − 0.95²).
    expect(p[0]![0]).toBeCloseTo(0.95 - (0.1 * 0.07375) / (1 - 0.95 ** 2), 6);
    // Steps 3–5 un-rectified, step 6 rectified: check step 6 against the formula with the tracked m, v.
    let m = 0.07375, v = 0.999 * 0.001 * 0.25 + 0.001, x = p[0]![0]!;
    for (let t = 3; t <= 5; t++) {
      opt.update(p, [new Float32Array([1, 0])], 0.1);
      m = 0.95 * m + 0.05;
      v = 0.999 * v + 0.001;
      x -= (0.1 * m) / (1 - 0.95 ** t);
      expect(p[0]![0]).toBeCloseTo(x, 5);
    }
    const k6 = new Ranger([[2]], {k: 1000}); // same math without the lookahead sync at t = 6
    const q = [new Float32Array([1, -2])];
    for (const g of [[0.5, -4], [1, 0], [1, 0], [1, 0], [1, 0], [1, 0]]) k6.update(q, [new Float32Array(g)], 0.1);
    m = 0.95 * m + 0.05;
    v = 0.999 * v + 0.001;
    const rt = Math.sqrt(((1 - 0.999 ** 6) * (radamStepSize(6, [0.95, 0.999]).nSma - 4) * (radamStepSize(6, [0.95, 0.999]).nSma - 2) * 1999) / (1995 * 1997 * radamStepSize(6, [0.95, 0.999]).nSma));
    expect(q[0]![0]).toBeCloseTo(x - (0.1 * rt * m) / (1 - 0.95 ** 6) / (Math.sqrt(v) + 1e-5), 5);
  });

  it('syncs the lookahead weights every k = 6 steps: slow ← slow + ½(fast − slow), fast ← slow', () => {
    // With a constant gradient the update deltas do not depend on p, so the synced run is predictable from a
    // run without lookahead.
    const g = () => [new Float32Array([0.3, -1, 2])];
    const a = [new Float32Array([1, 2, 3])];
    const b = [new Float32Array([1, 2, 3])];
    const ra = new Ranger([[3]]);
    const rb = new Ranger([[3]], {k: 1_000_000});
    const trace: number[][] = [];
    for (let t = 1; t <= 12; t++) {
      ra.update(a, g(), 0.2);
      rb.update(b, g(), 0.2);
      trace.push(Array.from(b[0]!));
      if (t === 5) expect(Array.from(a[0]!)).toEqual(Array.from(b[0]!)); // no sync before step 6
    }
    const p0 = [1, 2, 3];
    const d1 = trace[5]!.map((v, i) => v - p0[i]!);
    const d2 = trace[11]!.map((v, i) => v - trace[5]![i]!);
    const s6 = p0.map((v, i) => v + 0.5 * d1[i]!);
    const want12 = s6.map((v, i) => v + 0.5 * d2[i]!);
    a[0]!.forEach((v, i) => expect(v).toBeCloseTo(want12[i]!, 5));
  });

  it('centralises the gradients of matrices over the input axis, not those of vectors', () => {
    const W = [new Float32Array([0, 0, 0, 0, 0, 0]), new Float32Array([0, 0])];
    const gW = new Float32Array([1, 2, 6, -3, 0, 3]);
    const gb = new Float32Array([1, 5]);
    new Ranger([[2, 3], [2]]).update(W, [gW, gb], 1);
    // Row means 3 and 0 removed (in place, as ranger.py does); step 1 moves p by −lr·g_c.
    expect(Array.from(gW)).toEqual([-2, -1, 3, -3, 0, 3]);
    expect(Array.from(W[0]!).map((v) => Number(v.toFixed(5)))).toEqual([2, 1, -3, 3, 0, -3]);
    expect(Array.from(W[1]!).map((v) => Number(v.toFixed(5)))).toEqual([-1, -5]);
    // Adam has no GC.
    const q = [new Float32Array(6)];
    const g2 = new Float32Array([1, 2, 6, -3, 0, 3]);
    new Adam([6]).update(q, [g2], 1);
    expect(Array.from(g2)).toEqual([1, 2, 6, -3, 0, 3]);
  });

  it('state() / load() continue exactly', () => {
    const grads = (t: number) => [new Float32Array([Math.sin(t), Math.cos(3 * t), 0.5, t % 3, -1, 2])];
    const a = [new Float32Array([1, 2, 3, 4, 5, 6])];
    const ra = new Ranger([[2, 3]]);
    for (let t = 0; t < 14; t++) ra.update(a, grads(t), 0.3);
    const b = [new Float32Array([1, 2, 3, 4, 5, 6])];
    const rb = new Ranger([[2, 3]]);
    for (let t = 0; t < 7; t++) rb.update(b, grads(t), 0.3);
    const rc = new Ranger([[2, 3]]);
    const s = rb.state();
    rc.load({step: s.step, buffers: new Map([...s.buffers].map(([k, v]) => [k, Float32Array.from(v)]))});
    for (let t = 7; t < 14; t++) rc.update(b, grads(t), 0.3);
    expect(Array.from(b[0]!)).toEqual(Array.from(a[0]!));
  });
});

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
    const c = parseMapperCheckpoint(ckpts[0]!);
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
