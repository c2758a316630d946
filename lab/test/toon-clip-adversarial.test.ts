/**
 * ToonCLIP's pixel-space adversarial training: the PGD step's geometry (L2 ball, pixel range) against the formula,
 * and the image-gradient program against finite differences of the training step's own loss.
 */
import {beforeAll, describe, expect, it} from 'vitest';
import {DEFAULT_TRAIN_OPTIONS, adversarialImages, compileImageGradient, compileToonClipStep, initToonClipStateDict, trainingBatch, trainingParams} from '../demo/train-clip.js';
import {configureEngine} from '../../src/engine/session.js';
import {TINY_TOONCLIP, trainingTokens} from './helpers/toon-clip-training.js';

const {tok, vocab, compact} = trainingTokens();
beforeAll(() => configureEngine({threads: 1}));

const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));

describe('adversarialImages (PGD in an L2 ball)', () => {
  it('one step moves each image by eps along its own normalised gradient', async () => {
    const per = 12;
    const images = new Float32Array(2 * per); // all zero: no clamping
    const g = Float32Array.from({length: 2 * per}, (_, j) => (j < per ? j + 1 : -(j % 5) - 0.5));
    const x = await adversarialImages(images, 2, async () => g, {eps: 0.3, steps: 1});
    for (let i = 0; i < 2; i++) {
      const gi = g.subarray(i * per, (i + 1) * per);
      const n = norm(gi);
      // Step 2.5·eps, projected back to the sphere of radius eps: eps·g/‖g‖.
      for (let j = 0; j < per; j++) expect(x[i * per + j]).toBeCloseTo((0.3 * gi[j]!) / n, 6);
    }
  });

  it('several steps stay in the ball and in [-1, 1], and each step asks for the gradient at the current point', async () => {
    const per = 8;
    const images = Float32Array.from({length: 3 * per}, (_, j) => ((j * 7) % 11) / 5.5 - 1);
    images[0] = 0.99; // pushed up: clamped at 1
    const seen: Float32Array[] = [];
    // The gradient of ½‖x − c‖² for c far away: depends on x, points outward everywhere.
    const c = Float32Array.from(images, (v, j) => v - 10 - j);
    const x = await adversarialImages(images, 3, async (at) => {
      seen.push(Float32Array.from(at));
      return Float32Array.from(at, (v, j) => v - c[j]!);
    }, {eps: 0.5, steps: 3});
    expect(seen).toHaveLength(3);
    expect(Array.from(seen[0]!)).toEqual(Array.from(images));
    expect(Array.from(seen[1]!)).not.toEqual(Array.from(images));
    for (let i = 0; i < 3; i++) {
      const d = Array.from({length: per}, (_, j) => x[i * per + j]! - images[i * per + j]!);
      expect(norm(d)).toBeLessThanOrEqual(0.5 + 1e-6);
      expect(norm(d)).toBeGreaterThan(0.25);
    }
    for (const v of x) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    // The pixel pushed up from 0.99 went up (the projection scales the move, so it may end just under 1).
    expect(x[0]).toBeGreaterThan(0.99);
  });

  it('rejects a batch that does not divide into n images', async () => {
    await expect(adversarialImages(new Float32Array(7), 2, async (x) => x, {eps: 1, steps: 1})).rejects.toThrow(/divide/);
  });
});

describe('compileImageGradient', () => {
  it('is the gradient of the training step loss with respect to the images (central differences)', async () => {
    const tiny = TINY_TOONCLIP;
    const params = trainingParams(initToonClipStateDict(tiny, 3), vocab);
    const opts = {...DEFAULT_TRAIN_OPTIONS, batch: 4};
    const b = trainingBatch(0, opts, tok, compact, 16);
    const rest = [b.tokens as unknown as Float32Array, b.eot, b.imageTargets, b.textTargets];
    const gradProgram = await compileImageGradient(tiny, params, opts.batch, opts.textLength);
    const step = await compileToonClipStep(tiny, params, opts.batch, opts.textLength);
    const [gOut] = await gradProgram.run([...params.values, b.images, ...rest]);
    const g = gOut!.data as Float32Array;
    expect(g.length).toBe(b.images.length);
    const loss = async (x: Float32Array) => ((await step.program.run([...params.values, x, ...rest]))[0]!.data as Float32Array)[0]!;
    // Directional derivatives along the gradient itself and along a fixed pseudo-random direction.
    let seed = 5;
    const rand = Float32Array.from(g, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
    const gn = norm(g);
    expect(gn).toBeGreaterThan(0);
    for (const dir of [Float32Array.from(g, (v) => v / gn), Float32Array.from(rand, (v) => v / norm(rand))]) {
      const h = 0.05;
      const fd = ((await loss(Float32Array.from(b.images, (v, j) => v + h * dir[j]!))) - (await loss(Float32Array.from(b.images, (v, j) => v - h * dir[j]!)))) / (2 * h);
      const analytic = g.reduce((s, v, j) => s + v * dir[j]!, 0);
      expect(Math.abs(fd - analytic)).toBeLessThan(0.03 * Math.abs(analytic) + 2e-4);
    }
  });
});
