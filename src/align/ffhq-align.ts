/**
 * FFHQ face alignment (Karras et al. 2019, the FFHQ dataset's `recreate_aligned_images`, as e4e's
 * utils/alignment.py `align_face` runs it at 256 px): from 68 iBUG landmarks, an oriented square ("quad") around
 * eyes and mouth, then
 *   shrink  — when the quad is over twice the output size, resize the photo by 1/⌊qsize/out·0.5⌋ (Lanczos-3,
 *             Pillow's ANTIALIAS),
 *   crop    — to the quad's bounding box plus a border of max(round(0.1·qsize), 3),
 *   pad     — when the quad leaves the photo: reflect-pad by at least round(0.3·qsize), blend towards a Gaussian
 *             blur (σ = 0.02·qsize) and then towards the per-channel median near the new edges,
 *   warp    — map the quad bilinearly onto the output square (Pillow's QUAD transform, pixel centres at +0.5).
 * The image arithmetic reproduces Pillow 9 / NumPy / SciPy behaviour where it changes pixels: round-half-even of
 * np.rint, uint8 truncation in the bilinear warp, SciPy's half-sample 'reflect' and NumPy's whole-sample 'reflect'.
 *
 * Images are RGB, interleaved [H, W, 3] bytes. Coordinates are pixels with (0, 0) the top-left corner of the
 * top-left pixel, as Pillow's transform uses them.
 */
import {StyleclipError, check} from '../errors.js';

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export type Point = [number, number];

/** The oriented square: corners top-left, bottom-left, bottom-right, top-right (the output's corners in that order). */
export type Quad = [Point, Point, Point, Point];

/** NumPy's rint: round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const mean = (pts: readonly Point[]): Point => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];

/**
 * The quad and its side from 68 landmarks (iBUG order: eyes 36–41 and 42–47, outer mouth 48–59):
 *   x̂ = eye_to_eye − rot90(eye_to_mouth), scaled to max(2·|eye_to_eye|, 1.8·|eye_to_mouth|); ŷ = rot90(x̂);
 *   centre c = eye_avg + 0.1·eye_to_mouth; quad = [c − x̂ − ŷ, c − x̂ + ŷ, c + x̂ + ŷ, c + x̂ − ŷ], qsize = 2|x̂|.
 */
export function faceQuad(landmarks: readonly Point[]): {quad: Quad; qsize: number} {
  check(landmarks.length === 68, `face alignment needs 68 landmarks (iBUG order), got ${landmarks.length}`);
  for (const p of landmarks) check(Array.isArray(p) && p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]), 'every landmark must be a pair of finite numbers [x, y]');
  const eyeL = mean(landmarks.slice(36, 42));
  const eyeR = mean(landmarks.slice(42, 48));
  const eyeAvg: Point = [(eyeL[0] + eyeR[0]) * 0.5, (eyeL[1] + eyeR[1]) * 0.5];
  const eyeToEye: Point = [eyeR[0] - eyeL[0], eyeR[1] - eyeL[1]];
  const mL = landmarks[48]!;
  const mR = landmarks[54]!;
  const mouthAvg: Point = [(mL[0] + mR[0]) * 0.5, (mL[1] + mR[1]) * 0.5];
  const eyeToMouth: Point = [mouthAvg[0] - eyeAvg[0], mouthAvg[1] - eyeAvg[1]];
  // x = eye_to_eye − flipud(eye_to_mouth)·[−1, 1]
  let x: Point = [eyeToEye[0] + eyeToMouth[1], eyeToEye[1] - eyeToMouth[0]];
  const n = Math.hypot(...x);
  check(n > 0, 'the landmarks are degenerate (eyes and mouth coincide)');
  const scale = Math.max(Math.hypot(...eyeToEye) * 2.0, Math.hypot(...eyeToMouth) * 1.8);
  x = [(x[0] / n) * scale, (x[1] / n) * scale];
  const y: Point = [-x[1], x[0]];
  const c: Point = [eyeAvg[0] + eyeToMouth[0] * 0.1, eyeAvg[1] + eyeToMouth[1] * 0.1];
  const quad: Quad = [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
  return {quad, qsize: Math.hypot(...x) * 2};
}

// --- Pillow's Lanczos resize (ANTIALIAS) --------------------------------------------------------------------------

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const lanczos3 = (x: number): number => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

/** Per output index: first input index and normalised weights (Pillow precompute_coeffs, support 3·scale). */
function resampleCoeffs(inSize: number, outSize: number): {start: number; w: Float64Array}[] {
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = 3 * fs;
  const out: {start: number; w: Float64Array}[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = new Float64Array(Math.max(xmax - xmin, 0));
    let sum = 0;
    for (let i = 0; i < w.length; i++) sum += w[i] = lanczos3((i + xmin - center + 0.5) / fs);
    if (sum !== 0) for (let i = 0; i < w.length; i++) w[i]! /= sum;
    out.push({start: xmin, w});
  }
  return out;
}

const clip8 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : v);

/** Resize an RGB image with Lanczos-3 as Pillow does: a horizontal pass into 8 bits, then a vertical pass. */
export function resizeLanczos(img: RgbImage, width: number, height: number): RgbImage {
  const {width: W, height: H, data} = img;
  let mid = data;
  if (width !== W) {
    const cx = resampleCoeffs(W, width);
    mid = new Uint8Array(H * width * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < width; x++) {
        const {start, w} = cx[x]!;
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let i = 0; i < w.length; i++) s += w[i]! * data[(y * W + start + i) * 3 + c]!;
          mid[(y * width + x) * 3 + c] = clip8(Math.floor(s + 0.5));
        }
      }
    }
  }
  if (height === H) return {data: mid, width, height};
  const cy = resampleCoeffs(H, height);
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const {start, w} = cy[y]!;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = 0; i < w.length; i++) s += w[i]! * mid[((start + i) * width + x) * 3 + c]!;
        out[(y * width + x) * 3 + c] = clip8(Math.floor(s + 0.5));
      }
    }
  }
  return {data: out, width, height};
}

// --- crop, reflect pad, blur -----------------------------------------------------------------------------------

function crop(img: RgbImage, x0: number, y0: number, x1: number, y1: number): RgbImage {
  const w = x1 - x0;
  const h = y1 - y0;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x1) * 3), y * w * 3);
  return {data: out, width: w, height: h};
}

/** NumPy pad mode 'reflect' (mirror without repeating the edge), any pad width: index into [0, n). */
function reflectWhole(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  const m = ((i % p) + p) % p;
  return m < n ? m : p - m;
}

/** SciPy ndimage mode 'reflect' (half-sample symmetric: d c b a | a b c d). */
function reflectHalf(i: number, n: number): number {
  const p = 2 * n;
  const m = ((i % p) + p) % p;
  return m < n ? m : p - 1 - m;
}

/** scipy.ndimage.gaussian_filter1d along one axis of a float32 [H, W, 3] image (truncate 4, mode 'reflect'). */
function gaussian1d(src: Float32Array, W: number, H: number, sigma: number, axis: 0 | 1): Float32Array {
  const r = Math.trunc(4 * sigma + 0.5);
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp((-0.5 / (sigma * sigma)) * i * i);
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  const out = new Float32Array(src.length);
  const n = axis === 0 ? H : W;
  const line = new Float64Array(n + 2 * r);
  const lines = axis === 0 ? W : H;
  for (let l = 0; l < lines; l++) {
    for (let c = 0; c < 3; c++) {
      const at = (j: number) => (axis === 0 ? (j * W + l) * 3 + c : (l * W + j) * 3 + c);
      for (let j = -r; j < n + r; j++) line[j + r] = src[at(reflectHalf(j, n))]!;
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t <= 2 * r; t++) s += k[t]! * line[j + t]!;
        out[at(j)] = s;
      }
    }
  }
  return out;
}

/** Median of a float32 sample (mean of the two middle values for an even count, as np.median). */
function median(values: Float32Array): number {
  const s = Float32Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : Math.fround((s[m - 1]! + s[m]!) / 2);
}

/**
 * Reflect-pad by [left, top, right, bottom] and soften the padding: blend towards a Gaussian blur with weight
 * clip(3·mask + 1, 0, 1) and then towards the per-channel median with weight clip(mask, 0, 1), where mask grows
 * rises towards 1 at the new edges (1 − the distance to the nearest new edge relative to its pad).
 */
function padSoften(img: RgbImage, pad: [number, number, number, number], qsize: number): RgbImage {
  const [pl, pt, pr, pb] = pad;
  const w = img.width + pl + pr;
  const h = img.height + pt + pb;
  const f = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = reflectWhole(y - pt, img.height);
    for (let x = 0; x < w; x++) {
      const sx = reflectWhole(x - pl, img.width);
      for (let c = 0; c < 3; c++) f[(y * w + x) * 3 + c] = img.data[(sy * img.width + sx) * 3 + c]!;
    }
  }
  const mask = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const my = 1 - Math.min(Math.fround(y / pt), Math.fround((h - 1 - y) / pb));
    for (let x = 0; x < w; x++) mask[y * w + x] = Math.max(1 - Math.min(Math.fround(x / pl), Math.fround((w - 1 - x) / pr)), my);
  }
  const blur = qsize * 0.02;
  const blurred = gaussian1d(gaussian1d(f, w, h, blur, 0), w, h, blur, 1);
  for (let i = 0; i < w * h; i++) {
    const a = Math.min(Math.max(mask[i]! * 3 + 1, 0), 1);
    for (let c = 0; c < 3; c++) f[i * 3 + c] = f[i * 3 + c]! + (blurred[i * 3 + c]! - f[i * 3 + c]!) * a;
  }
  const med = [0, 1, 2].map((c) => median(f.filter((_, i) => i % 3 === c)));
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const a = Math.min(Math.max(mask[i]!, 0), 1);
    for (let c = 0; c < 3; c++) out[i * 3 + c] = clip8(rint(Math.fround(f[i * 3 + c]! + (med[c]! - f[i * 3 + c]!) * a)));
  }
  return {data: out, width: w, height: h};
}

// --- quad warp -----------------------------------------------------------------------------------------------------

/**
 * Pillow's Image.transform(QUAD, BILINEAR): output pixel (x, y) samples the bilinear map of the quad at
 * (x + 0.5, y + 0.5)/size; sample points outside the image give black, neighbours past the edge are clamped,
 * and the value is truncated to 8 bits.
 */
function warpQuad(img: RgbImage, quad: Quad, size: number): RgbImage {
  const [nw, sw, se, ne] = quad;
  const A = 1 / size;
  const a = [nw[0], (ne[0] - nw[0]) * A, (sw[0] - nw[0]) * A, (se[0] - sw[0] - ne[0] + nw[0]) * A * A];
  const b = [nw[1], (ne[1] - nw[1]) * A, (sw[1] - nw[1]) * A, (se[1] - sw[1] - ne[1] + nw[1]) * A * A];
  const {width: W, height: H, data} = img;
  const out = new Uint8Array(size * size * 3);
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      const u = ox + 0.5;
      const v = oy + 0.5;
      let xin = a[0]! + a[1]! * u + a[2]! * v + a[3]! * u * v;
      let yin = b[0]! + b[1]! * u + b[2]! * v + b[3]! * u * v;
      if (xin < 0 || xin >= W || yin < 0 || yin >= H) continue;
      xin -= 0.5;
      yin -= 0.5;
      const x = Math.floor(xin);
      const y = Math.floor(yin);
      const dx = xin - x;
      const dy = yin - y;
      const x0 = Math.min(Math.max(x, 0), W - 1);
      const x1 = Math.min(Math.max(x + 1, 0), W - 1);
      const y0 = Math.min(Math.max(y, 0), H - 1);
      const y1ok = y + 1 >= 0 && y + 1 < H;
      for (let c = 0; c < 3; c++) {
        const p00 = data[(y0 * W + x0) * 3 + c]!;
        const p01 = data[(y0 * W + x1) * 3 + c]!;
        const v1 = p00 + (p01 - p00) * dx;
        let v2 = v1;
        if (y1ok) {
          const p10 = data[((y + 1) * W + x0) * 3 + c]!;
          const p11 = data[((y + 1) * W + x1) * 3 + c]!;
          v2 = p10 + (p11 - p10) * dx;
        }
        out[(oy * size + ox) * 3 + c] = Math.trunc(v1 + (v2 - v1) * dy);
      }
    }
  }
  return {data: out, width: size, height: size};
}

export interface AlignResult {
  /** The aligned face, size × size. */
  image: RgbImage;
  /** The quad in the input photo's pixel coordinates (before shrinking, cropping or padding). */
  quad: Quad;
  /** Side of the quad in input pixels. */
  qsize: number;
}

/** Align a face given its 68 landmarks (pixel coordinates of `photo`): the official FFHQ / e4e procedure. */
export function alignWithLandmarks(photo: RgbImage, landmarks: readonly Point[], size = 256): AlignResult {
  check(Number.isInteger(size) && size >= 8 && size <= 4096, `the aligned size must be an integer in 8…4096, got ${size}`);
  check(photo.data.length === photo.width * photo.height * 3 && photo.width > 0 && photo.height > 0, 'alignment needs an RGB image');
  const {quad: quad0, qsize: qsize0} = faceQuad(landmarks);
  let img = photo;
  let quad = quad0.map((p) => [...p]) as Quad;
  let qsize = qsize0;
  const shiftQuad = (dx: number, dy: number, s = 1) => (quad = quad.map(([x, y]) => [(x - dx) / s, (y - dy) / s]) as Quad);

  const shrink = Math.floor((qsize / size) * 0.5);
  if (shrink > 1) {
    img = resizeLanczos(img, rint(img.width / shrink), rint(img.height / shrink));
    shiftQuad(0, 0, shrink);
    qsize /= shrink;
  }

  const border = Math.max(rint(qsize * 0.1), 3);
  const xs = () => quad.map((p) => p[0]);
  const ys = () => quad.map((p) => p[1]);
  let box = [Math.floor(Math.min(...xs())), Math.floor(Math.min(...ys())), Math.ceil(Math.max(...xs())), Math.ceil(Math.max(...ys()))];
  box = [Math.max(box[0]! - border, 0), Math.max(box[1]! - border, 0), Math.min(box[2]! + border, img.width), Math.min(box[3]! + border, img.height)];
  if (box[2]! - box[0]! <= 0 || box[3]! - box[1]! <= 0) throw new StyleclipError('the face lies outside the image');
  if (box[2]! - box[0]! < img.width || box[3]! - box[1]! < img.height) {
    img = crop(img, box[0]!, box[1]!, box[2]!, box[3]!);
    shiftQuad(box[0]!, box[1]!);
  }

  const q = [Math.floor(Math.min(...xs())), Math.floor(Math.min(...ys())), Math.ceil(Math.max(...xs())), Math.ceil(Math.max(...ys()))];
  let pad: [number, number, number, number] = [Math.max(-q[0]! + border, 0), Math.max(-q[1]! + border, 0), Math.max(q[2]! - img.width + border, 0), Math.max(q[3]! - img.height + border, 0)];
  if (Math.max(...pad) > border - 4) {
    const least = rint(qsize * 0.3);
    pad = pad.map((p) => Math.max(p, least)) as typeof pad;
    img = padSoften(img, pad, qsize);
    shiftQuad(-pad[0], -pad[1]);
  }

  const image = warpQuad(img, quad.map(([x, y]) => [x + 0.5, y + 0.5]) as Quad, size);
  return {image, quad: quad0, qsize: qsize0};
}
