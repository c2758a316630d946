/**
 * The projector (StyleGAN2 Appendix D) on the tiny StyleGAN2 fixture: the noise regularisation against a direct
 * computation of its definition, projection recovering an image the generator made (W+ and W, from the mean
 * latent and from a start), noise maps renormalised when optimised, cancellation, and invert's encoder/generator
 * fit check.
 */
import {describe, expect, it} from 'vitest';
import {clearSessionCache, compile, configureEngine, sessionsCreated} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {invert} from '../../src/edit/invert.js';
import {noiseRegularization, project} from '../../src/edit/project.js';
import {generate} from '../../src/models/generate.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import {encoderFromBytes} from '../../src/models/encoder/load.js';
import {mulberry32Normal} from '../../src/random.js';
import {irseFromBytes} from '../../src/models/identity/irse.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes} from '../helpers/fixtures.js';

configureEngine({threads: 1});
const g = generatorFromBytes(fixtureBytes('stylegan2_tiny_ckpt.pt'));

/** Σ_j [(mean n·n(x−1))² + (mean n·n(y−1))²] over the 2×2-average×2 pyramid down to 8², in plain JS. */
function noiseRegRef(n: Float64Array, r: number): number {
  let v = n;
  let size = r;
  let total = 0;
  for (;;) {
    let sx = 0;
    let sy = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        sx += v[y * size + x]! * v[y * size + ((x - 1 + size) % size)]!;
        sy += v[y * size + x]! * v[((y - 1 + size) % size) * size + x]!;
      }
    }
    total += (sx / size ** 2) ** 2 + (sy / size ** 2) ** 2;
    if (size <= 8) return total;
    const h = size / 2;
    const next = new Float64Array(h * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) next[y * h + x] = ((v[2 * y * size + 2 * x]! + v[2 * y * size + 2 * x + 1]! + v[(2 * y + 1) * size + 2 * x]! + v[(2 * y + 1) * size + 2 * x + 1]!) / 4) * 2;
    v = next;
    size = h;
  }
}

describe('project', () => {
  it('noise regularisation equals its definition', async () => {
    const rng = mulberry32Normal(7);
    const r = 32;
    const data = Float32Array.from({length: r * r}, (_, i) => rng() + 0.3 * Math.sin(i / 5));
    const x = input('n', [1, 1, r, r]);
    const [out] = await (await compile([x], [noiseRegularization(x)])).run([data]);
    const want = noiseRegRef(Float64Array.from(data), r);
    expect(Math.abs((out!.data as Float32Array)[0]! - want) / want).toBeLessThan(1e-4);
  });

  it('recovers an image of the generator from the mean latent (W+), the pixel loss falling tenfold', {timeout: 120_000}, async () => {
    const target = (await generate(g, {seed: 3, truncation: 0.7})).image;
    const steps: number[] = [];
    const r = await project(g, target, {steps: 60, lr: 0.05, wNoiseScale: 0, onStep: (s) => void steps.push(s.pixel)});
    expect(steps).toHaveLength(60);
    expect(steps.at(-1)!).toBeLessThan(steps[0]! / 10);
    expect(r.wPlus.shape).toEqual([1, g.nLatent, 64]);
  });

  it('W space keeps every row equal; optimised noise maps stay normalised', {timeout: 120_000}, async () => {
    const target = (await generate(g, {seed: 5, truncation: 0.7})).image;
    const r = await project(g, target, {steps: 8, space: 'w', optimizeNoise: true});
    const w = r.wPlus.data as Float32Array;
    for (let l = 1; l < g.nLatent; l++) for (let d = 0; d < 64; d++) expect(w[l * 64 + d]).toBe(w[d]);
    for (const n of r.noise) {
      const m = n.reduce((s, v) => s + v, 0) / n.length;
      const v = n.reduce((s, x) => s + (x - m) ** 2, 0) / n.length;
      expect(Math.abs(m)).toBeLessThan(1e-5);
      expect(Math.abs(v - 1)).toBeLessThan(1e-4);
    }
    expect(r.history.every((h) => h.noise > 0)).toBe(true);
  });

  it('stops when aborted', async () => {
    const target = (await generate(g, {seed: 1})).image;
    const ac = new AbortController();
    await expect(project(g, target, {steps: 50, wNoiseScale: 0, onStep: (s) => void (s.step === 2 && ac.abort()), signal: ac.signal})).rejects.toThrow(/projection cancelled at step 3/);
  });
});

describe('one compiled session for every projection', () => {
  it('another target reuses the step session of the first projection, with a fresh compile\'s results', async () => {
    const perceptual = irseFromBytes(fixtureBytes('irse_tiny_state_dict.pt'));
    const job = async (seed: number) => project(g, (await generate(g, {seed, truncation: 0.7})).image, {steps: 3, lr: 0.05, perceptual, seed});
    await job(3);
    const created = sessionsCreated();
    const second = await job(4);
    expect(sessionsCreated()).toBe(created);
    await clearSessionCache();
    const fresh = await job(4);
    expect(sessionsCreated()).toBeGreaterThan(created);
    const outcome = (r: typeof second) => [...(r.wPlus.data as Float32Array), ...r.history.flatMap((h) => [h.loss, h.pixel, h.perceptual])];
    expectAllClose(outcome(second), outcome(fresh), {atol: 1e-6, what: 'second projection vs. fresh compile'});
  });
});

describe('invert', () => {
  const {encoder, decoder} = encoderFromBytes(fixtureBytes('e4e_tiny_ckpt.pt'));
  const face = {width: 64, height: 64, data: Uint8Array.from({length: 64 * 64 * 3}, (_, i) => (i * 37) % 256)};

  it('refining lowers the pixel loss and keeps the encoder start', {timeout: 120_000}, async () => {
    const r = await invert(encoder, decoder!, face, {refine: 6});
    expect(r.history).toHaveLength(6);
    expect(r.history.at(-1)!.pixel).toBeLessThan(r.history[0]!.pixel);
    expect(r.encoderWPlus.shape).toEqual([1, 8, 64]);
    expect(r.image.shape).toEqual([1, 3, 32, 32]);
  });

  it('refuses a generator whose W+ does not fit the encoder', async () => {
    const big = generatorFromBytes(fixtureBytes('stylegan2_tiny_ckpt.pt'));
    Object.defineProperty(big, 'nLatent', {value: 10});
    await expect(invert(encoder, big, face)).rejects.toThrow(/the encoder predicts 8 styles of width 64, but the generator takes W\+ with 10 rows of width 64/);
  });
});
