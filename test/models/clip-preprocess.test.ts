/** CLIP preprocessing: StyleCLIP's resize (fixture forward + backward; any size), normalisation modes, real images, prompts. */
import sharp from 'sharp';
import {describe, expect, it} from 'vitest';
import {grad} from '../../src/engine/autodiff.js';
import * as F from '../../src/engine/ops.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {CLIP_MEAN, CLIP_STD, areaResizeMatrix, clipInputFromGenerated, preprocessImageFile, styleclipResize} from '../../src/models/clip/preprocess.js';
import {IMAGENET_TEMPLATES, STYLECLIP_TEMPLATES, averageEmbedding, fillTemplates, textDirection} from '../../src/models/clip/prompts.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';

describe('StyleCLIP resize', () => {
  it('matches the fixture forward and backward (128 → 28, the 1024 → 224 ratio)', async () => {
    const f = parseSafetensors(fixtureBytes('resize_styleclip.safetensors')).tensors;
    const xv = toFloat32(f.get('x')!);
    const x = input('x', [1, 3, 128, 128]);
    const r = input('r', [1, 3, 28, 28]);
    const y = styleclipResize(x, 28);
    const [gx] = grad(F.sum(F.mul(y, r)), [x]);
    const p = await compile([x, r], [y, gx!]);
    const [yo, go] = await p.run([xv, toFloat32(f.get('r')!)]);
    // Float64 truth of AvgPool2d(32)(Upsample(×7)(x)), computed independently by brute force.
    const truth = new Float64Array(3 * 28 * 28);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 28; i++) {
        for (let j = 0; j < 28; j++) {
          let s = 0;
          for (let a = i * 32; a < (i + 1) * 32; a++) for (let b = j * 32; b < (j + 1) * 32; b++) s += xv[c * 16384 + Math.floor(a / 7) * 128 + Math.floor(b / 7)]!;
          truth[c * 784 + i * 28 + j] = s / 1024;
        }
      }
    }
    expectAllClose(yo!.data as Float32Array, truth, {atol: 1e-6, what: 'resize forward vs float64 truth'});
    // The fixture's float32 y itself is 3.4e-6 from that truth (PyTorch sums 1024 float32 values per pixel), so
    // against the fixture the README's 1e-6 is widened by exactly the fixture's own measured error.
    const yRef = toFloat32(f.get('y')!);
    const fixtureErr = Math.max(...Array.from(truth, (t, i) => Math.abs(t - yRef[i]!)));
    expect(fixtureErr).toBeLessThan(1e-5);
    expectAllClose(yo!.data as Float32Array, yRef, {atol: 1e-6 + fixtureErr, what: 'resize forward vs fixture'});
    expectAllClose(go!.data as Float32Array, toFloat32(f.get('grad_x')!), {atol: 1e-6, what: 'resize backward'});
  });

  it.each([
    [32, 28],
    [100, 28],
    [130, 56],
    [20, 28],
  ])('equals brute-force nearest supersampling + box average for %i → %i', async (n, R) => {
    // Independent: upsample by R (nearest), then average n×n blocks → exact area resampling for any n, R.
    const plane = Float32Array.from({length: n * n}, (_, i) => Math.sin(i * 0.37) + (i % 7) * 0.1);
    const ref = new Float64Array(R * R);
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        let s = 0;
        for (let a = i * n; a < (i + 1) * n; a++) for (let b = j * n; b < (j + 1) * n; b++) s += plane[Math.floor(a / R) * n + Math.floor(b / R)]!;
        ref[i * R + j] = s / (n * n);
      }
    }
    const x = input('x', [1, 1, n, n]);
    const p = await compile([x], [styleclipResize(x, R)]);
    const [y] = await p.run([plane]);
    expectAllClose(y!.data as Float32Array, ref, {atol: 2e-6, what: `${n}->${R}`});
    // Rows of the resampling matrix are averages: they sum to 1.
    const m = areaResizeMatrix(n, R);
    for (let i = 0; i < R; i++) expect(m.subarray(i * n, (i + 1) * n).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it("normalized mode is CLIP's mean/std of (x+1)/2; legacy mode passes [-1, 1] through", async () => {
    const x = input('x', [1, 3, 28, 28]);
    const p = await compile([x], [clipInputFromGenerated(x, 28, 'normalized'), clipInputFromGenerated(x, 28, 'legacy')]);
    const xv = Float32Array.from({length: 3 * 28 * 28}, (_, i) => Math.cos(i));
    const [a, b] = await p.run([xv]);
    const ref = Float32Array.from(xv, (v, i) => {
      const c = Math.floor(i / 784);
      return ((v + 1) / 2 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
    });
    expectAllClose(a!.data as Float32Array, ref, {atol: 1e-5, what: 'normalized'});
    expectAllClose(b!.data as Float32Array, xv, {what: 'legacy'});
  });

  it('gradcheck variant A: the fixture clip_input is the normalised resize of the image', async () => {
    const g = parseSafetensors(fixtureBytes('gradcheck_tiny.safetensors')).tensors;
    const x = input('x', [2, 3, 32, 32]);
    const p = await compile([x], [clipInputFromGenerated(x, 28, 'normalized'), clipInputFromGenerated(x, 28, 'legacy')]);
    const [a] = await p.run([toFloat32(g.get('A.img')!)]);
    // The fixture's own float32-vs-float64 error for A.clip_input is 1.34e-5 (gradcheck_tiny.json); allow twice that.
    expectAllClose(a!.data as Float32Array, toFloat32(g.get('A.clip_input')!), {atol: 2.7e-5, what: 'A.clip_input'});
  });
});

describe('real-image preprocessing', () => {
  it('resizes the shorter side, centre-crops and normalises', async () => {
    // A 60×40 image: left half red, right half blue, so the crop is visible.
    const W = 60, H = 40;
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rgb.set(x < W / 2 ? [255, 0, 0] : [0, 0, 255], (y * W + x) * 3);
    const png = await sharp(rgb, {raw: {width: W, height: H, channels: 3}}).png().toBuffer();
    const t = await preprocessImageFile(new Uint8Array(png), 20);
    expect(t.shape).toEqual([1, 3, 20, 20]);
    const d = toFloat32(t);
    const px = (c: number, y: number, x: number) => d[c * 400 + y * 20 + x]!;
    expect(px(0, 10, 2)).toBeCloseTo((1 - CLIP_MEAN[0]) / CLIP_STD[0], 2); // red on the left
    expect(px(2, 10, 17)).toBeCloseTo((1 - CLIP_MEAN[2]) / CLIP_STD[2], 2); // blue on the right
  });

  it('an unreadable image is a named error', async () => {
    await expect(preprocessImageFile(new Uint8Array([1, 2, 3, 4]), 20, "image 'x.png'")).rejects.toThrow(/cannot decode image 'x\.png'/);
  });
});

describe('prompt engineering', () => {
  it("has CLIP's 80 templates and StyleCLIP's 79 (without 'a photo of many {}.'), as the tokenizer fixture", () => {
    const cases = fixtureJson<{cases: {group: string; text: string}[]}>('clip_tokenizer_cases.json').cases;
    const filled = cases.filter((c) => c.group === 'imagenet_template').map((c) => c.text);
    expect(fillTemplates('a face with grey hair', IMAGENET_TEMPLATES)).toEqual(filled);
    expect(STYLECLIP_TEMPLATES).toHaveLength(79);
    expect(STYLECLIP_TEMPLATES).not.toContain('a photo of many {}.');
  });

  it('averages normalised embeddings and normalises the difference', () => {
    const f = new Float32Array([3, 4, 0, 0, 0, 2]); // rows (3,4,0)/5 and (0,0,2)/2
    const avg = averageEmbedding(f, 2, 3);
    const s = Math.hypot(0.6, 0.8, 1);
    expectAllClose(avg, [0.6 / s, 0.8 / s, 1 / s], {atol: 1e-7, what: 'average'});
    expectAllClose(textDirection([1, 0, 0], [0, 1, 0]), [Math.SQRT1_2, -Math.SQRT1_2, 0], {atol: 1e-7, what: 'direction'});
  });
});
