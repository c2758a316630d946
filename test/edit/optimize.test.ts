/** Latent optimisation on the tiny fixture models: schedule, loss decrease, batch and S mode, errors (optimizers: test/train/optim.test.ts). */
import {beforeAll, describe, expect, it} from 'vitest';
import {type OptimizeResult, optimizeLatent, rampdownLr} from '../../src/edit/optimize.js';
import {clearSessionCache, sessionsCreated} from '../../src/engine/session.js';
import {generate} from '../../src/models/generate.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import type {CLIP} from '../../src/models/clip/model.js';
import {irseFromBytes} from '../../src/models/identity/irse.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {greyHairTextFeatures, tinyClip, tinyG} from '../helpers/tiny-models.js';

let g: StyleGAN2;
let clip: CLIP;
let text: Float32Array;

beforeAll(async () => {
  g = tinyG();
  clip = tinyClip();
  text = await greyHairTextFeatures();
});

describe('learning-rate schedule', () => {
  it('ramps up linearly over 5 %, holds, and ramps down with a cosine over the last 25 %', () => {
    expect(rampdownLr(0, 0.1)).toBe(0);
    expect(rampdownLr(0.025, 0.1)).toBeCloseTo(0.05, 12);
    expect(rampdownLr(0.5, 0.1)).toBeCloseTo(0.1, 12);
    expect(rampdownLr(0.75, 0.1)).toBeCloseTo(0.1, 12);
    expect(rampdownLr(0.875, 0.1)).toBeCloseTo(0.05, 12); // half way down the cosine
    expect(rampdownLr(1, 0.1)).toBeCloseTo(0, 12);
  });
});

describe('optimizeLatent on the tiny models', () => {
  it('lowers the CLIP loss (edit mode, W+), reports every step, keeps the batch', async () => {
    const steps = 40;
    const seen: number[] = [];
    const images: number[] = [];
    const r = await optimizeLatent(g, clip, {text, seed: 3, steps, lr: 0.05, saveEvery: 10, onStep: (i) => {
      seen.push(i.step);
      if (i.image) images.push(i.step);
    }});
    expect(seen).toEqual([...Array(steps).keys()]);
    expect(images).toEqual([0, 10, 20, 30]);
    const c = r.history.map((h) => h.clip);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // On average the CLIP loss falls: each quarter of the run is below the previous one.
    const q = [0, 1, 2, 3].map((k) => mean(c.slice(k * 10, (k + 1) * 10)));
    for (let k = 1; k < 4; k++) expect(q[k]!).toBeLessThan(q[k - 1]!);
    expect(c[steps - 1]!).toBeLessThan(c[0]! - 0.02);
    // The L2 term starts at 0 and grows as the latent moves.
    expect(r.history[0]!.l2).toBe(0);
    expect(r.history[steps - 1]!.l2).toBeGreaterThan(0);
    expect(r.wPlus!.shape).toEqual([1, 8, 64]);
    expect(r.image.shape).toEqual([1, 3, 32, 32]);
  });

  it('optimises a batch of latents together (losses summed) and in StyleSpace', async () => {
    const w0 = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors.get('w_plus_z_trunc07')!;
    const rw = await optimizeLatent(g, clip, {text, latent: w0, steps: 15, lr: 0.05});
    expect(rw.wPlus!.shape).toEqual([2, 8, 64]);
    expect(rw.history.at(-1)!.clip).toBeLessThan(rw.history[0]!.clip);
    // The initial image is the start latent's image; the result differs from it.
    const d = toFloat32(rw.image).reduce((m, v, i) => Math.max(m, Math.abs(v - toFloat32(rw.initialImage)[i]!)), 0);
    expect(d).toBeGreaterThan(1e-3);

    const rs = await optimizeLatent(g, clip, {text, latent: w0, space: 's', steps: 15, lr: 0.05});
    expect(rs.styles).toHaveLength(g.layers.length);
    expect(rs.history.at(-1)!.clip).toBeLessThan(rs.history[0]!.clip);
  });

  it('starts from given S (e.g. after a global edit): the same run as from the W+ that produced that S', async () => {
    const w0 = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors.get('w_plus_z_trunc07')!;
    const fromW = await optimizeLatent(g, clip, {text, latent: w0, space: 's', steps: 6, lr: 0.05});
    const {styles} = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
    const fromS = await optimizeLatent(g, clip, {text, styles: styles!, steps: 6, lr: 0.05});
    expect(fromS.initialWPlus).toBeNull();
    expect(fromS.history.map((h) => h.loss)).toEqual(fromW.history.map((h) => h.loss));
    fromS.styles!.forEach((s, k) => expect(Array.from(toFloat32(s))).toEqual(Array.from(toFloat32(fromW.styles![k]!))));
  });

  it('free_generation starts at the mean latent and uses the CLIP loss only', async () => {
    const r = await optimizeLatent(g, clip, {text, mode: 'free_generation', steps: 10, lr: 0.05});
    const avg = g.latentAvg!;
    const w0 = toFloat32(r.initialWPlus!);
    for (let i = 0; i < 64; i++) expect(w0[i]).toBeCloseTo(avg[i]!, 6);
    expect(r.history.every((h) => h.l2 === 0 && h.loss === h.clip)).toBe(true);
  });

  it('rejects bad input with named errors', async () => {
    const nan = new Float32Array(8 * 64);
    nan[5] = NaN;
    await expect(optimizeLatent(g, clip, {text, latent: {dtype: 'float32', shape: [1, 8, 64], data: nan}, steps: 1})).rejects.toThrow(/non-finite/);
    await expect(optimizeLatent(g, clip, {text, latent: {dtype: 'float32', shape: [1, 7, 64], data: new Float32Array(7 * 64)}, steps: 1})).rejects.toThrow(/W\+ \[N, 8, 64\]/);
    await expect(optimizeLatent(g, clip, {text: new Float32Array(5), steps: 1})).rejects.toThrow(/text features have 5 values/);
    const ac = new AbortController();
    ac.abort();
    await expect(optimizeLatent(g, clip, {text, steps: 5, signal: ac.signal})).rejects.toThrow(/cancelled/);
  });
});

describe('one compiled session for every job', () => {
  /** Everything a run computes: the final latent and image, and the losses of every step. */
  const outcome = (r: OptimizeResult) => [...(r.wPlus ? toFloat32(r.wPlus) : r.styles!.flatMap((s) => Array.from(toFloat32(s)))), ...toFloat32(r.image), ...r.history.flatMap((h) => [h.loss, h.clip, h.l2, h.id])];

  for (const space of ['w+', 's'] as const) {
    it(`another prompt, face and λ reuse the step session of the first job, with a fresh compile's results (${space})`, async () => {
      const identity = irseFromBytes(fixtureBytes('irse_tiny_state_dict.pt'));
      const job = (t: Float32Array, seed: number, lambdaL2: number) => optimizeLatent(g, clip, {text: t, seed, space, steps: 4, lr: 0.05, lambdaL2, identity, lambdaId: 0.5});
      const first = await job(text, 1, 0.008);
      const created = sessionsCreated();
      const other = text.slice().reverse(); // another prompt's features
      const second = await job(other, 2, 0.05);
      expect(sessionsCreated()).toBe(created); // no session compiled for the second job
      expect(second.history[0]!.clip).not.toBe(first.history[0]!.clip);
      // The same job compiled from scratch gives the same run.
      await clearSessionCache();
      const fresh = await job(other, 2, 0.05);
      expect(sessionsCreated()).toBeGreaterThan(created);
      expectAllClose(outcome(second), outcome(fresh), {atol: 1e-6, what: 'second job vs. fresh compile'});
      expect(second.history.at(-1)!.id).toBeGreaterThan(0);
      expect(second.history.at(-1)!.l2).toBeGreaterThan(0);
    });
  }
});
