/**
 * Images to and from PNG with sharp. Generator output [N,3,H,W] in [-1, 1] maps to bytes as
 * round((x + 1) · 127.5) clamped to [0, 255], as torchvision's save_image(normalize=True, range=(-1, 1)) does.
 */
import sharp from 'sharp';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, toFloat32} from './host-tensor.js';

/** Interleaved RGB bytes [H, W, 3] of image n of an NCHW tensor in [-1, 1]. */
export function toRgbBytes(image: HostTensor, n = 0): Uint8Array {
  const [N, C, H, W] = image.shape as [number, number, number, number];
  check(image.shape.length === 4 && C === 3, `an image tensor must be [N, 3, H, W], got [${image.shape}]`);
  check(n < N, `image index ${n} out of range for batch ${N}`);
  const src = toFloat32(image);
  const out = new Uint8Array(H * W * 3);
  const plane = H * W;
  const base = n * 3 * plane;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = Math.round((src[base + c * plane + i]! + 1) * 127.5);
      out[i * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Number.isNaN(v) ? 0 : v;
    }
  }
  return out;
}

/** Columns of the grid used for a batch of N images: ⌈√N⌉. */
function gridColumns(n: number): number {
  return Math.ceil(Math.sqrt(n));
}

/**
 * PNG bytes of an image batch: one image as is, several as a grid of ⌈√N⌉ columns in batch order (row-major),
 * without padding.
 */
export async function encodePng(image: HostTensor): Promise<Uint8Array> {
  const [N, , H, W] = image.shape as [number, number, number, number];
  const cols = gridColumns(N);
  const rows = Math.ceil(N / cols);
  const canvas = new Uint8Array(rows * H * cols * W * 3);
  for (let n = 0; n < N; n++) {
    const rgb = toRgbBytes(image, n);
    const r0 = Math.floor(n / cols) * H;
    const c0 = (n % cols) * W;
    for (let y = 0; y < H; y++) canvas.set(rgb.subarray(y * W * 3, (y + 1) * W * 3), ((r0 + y) * cols * W + c0) * 3);
  }
  const png = await sharp(canvas, {raw: {width: cols * W, height: rows * H, channels: 3}}).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Decode an image file's bytes to RGB [H, W, 3] (for CLIP preprocessing and tests). */
export async function decodeImage(bytes: Uint8Array, what = 'image'): Promise<{data: Uint8Array; width: number; height: number}> {
  try {
    const {data, info} = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({resolveWithObject: true});
    return {data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height};
  } catch (e) {
    throw new StyleclipError(`cannot decode ${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}
