/**
 * Image preprocessing for CLIP.
 * - Real images (openai clip.load `preprocess`): shorter side to the model resolution R (bicubic), centre crop,
 *   [0, 1], then CLIP's mean/std.
 * - Generated images (StyleCLIP criteria/clip_loss.py): a differentiable area resampling equal to
 *   AvgPool2d(7·size/R)(Upsample(×7, nearest)(x)) whenever 7·size/R is an integer (1024 → 224, 32 → 28), and the
 *   same area rule (exact overlaps) for any other size; then either CLIP's normalisation of (x + 1)/2
 *   ('normalized', our default) or nothing ('legacy': the official code feeds the raw [-1, 1] image to CLIP,
 *   StyleCLIP issue #38).
 */
import sharp from 'sharp';
import * as F from '../../engine/ops.js';
import {type Tensor, constant} from '../../engine/tensor.js';
import {StyleclipError, check} from '../../errors.js';
import type {HostTensor} from '../../io/host-tensor.js';
import {separableResample} from '../../nn/functional.js';

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export type ClipInputMode = 'normalized' | 'legacy';

/**
 * [out, in] area-resampling weights: output i averages the input interval [i·s, (i+1)·s), s = in/out, each input
 * pixel weighted by its overlap. With s = k/7 this is exactly nearest ×7 followed by AvgPool2d(k).
 */
export function areaResizeMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  // Work in units of 1/outSize input pixels so overlaps are exact integers.
  for (let i = 0; i < outSize; i++) {
    const a = i * inSize;
    const b = (i + 1) * inSize;
    for (let p = Math.floor(a / outSize); p < Math.min(inSize, Math.ceil(b / outSize)); p++) {
      const overlap = Math.min(b, (p + 1) * outSize) - Math.max(a, p * outSize);
      if (overlap > 0) m[i * inSize + p] = overlap / inSize;
    }
  }
  return m;
}

/** StyleCLIP's resize of generator output [N,C,H,W] to [N,C,R,R] (differentiable; see file header). */
export function styleclipResize(img: Tensor, R: number): Tensor {
  const [, , H, W] = img.shape as [number, number, number, number];
  if (H === R && W === R) return img;
  return separableResample(img, areaResizeMatrix(H, R), areaResizeMatrix(W, R), R, R);
}

/** Generator output in [-1, 1] → CLIP input at resolution R, in the chosen mode. */
export function clipInputFromGenerated(img: Tensor, R: number, mode: ClipInputMode = 'normalized'): Tensor {
  const x = styleclipResize(img, R);
  if (mode === 'legacy') return x;
  return F.add(F.mul(x, NORMALIZE.a), NORMALIZE.b);
}

/** ((x + 1)/2 − mean)/std = x·a + b per channel with a = 1/(2 std), b = (0.5 − mean)/std; built once. */
const NORMALIZE = {
  a: constant(Float32Array.from(CLIP_STD, (s) => 1 / (2 * s)), [1, 3, 1, 1]),
  b: constant(Float32Array.from(CLIP_MEAN, (m, c) => (0.5 - m) / CLIP_STD[c]!), [1, 3, 1, 1]),
};

/**
 * Decode an image file and preprocess it as openai clip.load does: resize the shorter side to R with a bicubic
 * filter, centre-crop R×R, scale to [0, 1] and normalise with CLIP's mean/std. Returns [1, 3, R, R].
 */
export async function preprocessImageFile(bytes: Uint8Array, R: number, what = 'image'): Promise<HostTensor> {
  let raw: Buffer;
  try {
    const img = sharp(bytes, {failOn: 'error'}).removeAlpha().toColourspace('srgb');
    const meta = await img.metadata();
    check(meta.width && meta.height, `cannot read the size of ${what}`);
    const scale = R / Math.min(meta.width, meta.height);
    const w = Math.max(R, Math.round(meta.width * scale));
    const h = Math.max(R, Math.round(meta.height * scale));
    const left = Math.floor((w - R) / 2);
    const top = Math.floor((h - R) / 2);
    raw = await img.resize(w, h, {kernel: 'cubic', fit: 'fill'}).extract({left, top, width: R, height: R}).raw().toBuffer();
  } catch (e) {
    if (e instanceof StyleclipError) throw e;
    throw new StyleclipError(`cannot decode ${what}: ${(e as Error).message.split('\n')[0]}`);
  }
  const out = new Float32Array(3 * R * R);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < R * R; i++) out[c * R * R + i] = (raw[i * 3 + c]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
  }
  return {dtype: 'float32', shape: [1, 3, R, R], data: out};
}
