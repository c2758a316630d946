/**
 * StyleGAN2 convolutions (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Eq. 1–3),
 * matching rosinality stylegan2-pytorch model.py @ bef283a: ModulatedConv2d, Blur, Upsample and upfirdn2d_native.
 *
 * Legend: N batch, I/O input/output channels, C channels, H/W spatial, k kernel size.
 */
import * as F from '../engine/ops.js';
import {type Tensor, assertShape, constant} from '../engine/tensor.js';

/** The separable FIR kernel k⊗k / Σ(k⊗k), scaled by `gain` (rosinality make_kernel). Returns [K, K] row-major. */
export function makeKernel(k: readonly number[], gain = 1): Float32Array {
  const K = k.length;
  const out = new Float32Array(K * K);
  let total = 0;
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) total += k[i]! * k[j]!;
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) out[i * K + j] = (k[i]! * k[j]! * gain) / total;
  return out;
}

const depthwiseCache = new Map<string, Tensor>();

/**
 * A depthwise copy of a [K, K] kernel: [C, 1, K, K], optionally flipped in both axes. Memoised, so graphs built
 * again share the constant (and hence their compiled session).
 */
function depthwiseKernel(kernel: Float32Array, K: number, C: number, flip: boolean): Tensor {
  const key = `${Array.from(kernel).join(',')}|${K}|${C}|${flip}`;
  let t = depthwiseCache.get(key);
  if (!t) depthwiseCache.set(key, (t = buildDepthwise(kernel, K, C, flip)));
  return t;
}

function buildDepthwise(kernel: Float32Array, K: number, C: number, flip: boolean): Tensor {
  const w = new Float32Array(C * K * K);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) w[c * K * K + i * K + j] = flip ? kernel[(K - 1 - i) * K + (K - 1 - j)]! : kernel[i * K + j]!;
    }
  }
  return constant(w, [C, 1, K, K]);
}

export interface UpFirDnOptions {
  up?: number;
  down?: number;
  /** Padding (before, after) applied to both spatial axes after upsampling. */
  pad?: readonly [number, number];
}

/**
 * Reference upfirdn2d: zero-insert by `up`, pad, convolve with the kernel (true convolution: the kernel is flipped
 * for the correlation, as upfirdn2d_native does), keep every `down`-th sample. x: [N,C,H,W], kernel [K,K].
 */
export function upfirdn2dRef(x: Tensor, kernel: Float32Array, K: number, {up = 1, down = 1, pad = [0, 0]}: UpFirDnOptions = {}): Tensor {
  const [N, C, H, W] = assertShape(x, [null, null, null, null], 'upfirdn2d input') as [number, number, number, number];
  let y = x;
  if (up > 1) {
    y = F.reshape(x, [N, C, H, 1, W, 1]);
    y = F.pad(y, [0, 0, 0, 0, 0, 0, 0, 0, 0, up - 1, 0, up - 1]); // [N,C,H,up,W,up]
    y = F.reshape(y, [N, C, H * up, W * up]);
  }
  y = F.conv2d(y, depthwiseKernel(kernel, K, C, true), {groups: C, padding: [pad[0], pad[0], pad[1], pad[1]]});
  if (down > 1) y = F.slice(y, {2: [0, null, down], 3: [0, null, down]});
  return y;
}

/**
 * Fast upfirdn2d for up = 2, down = 1: a depthwise transposed conv with stride 2 computes the zero-inserted
 * convolution without touching the inserted zeros (4× fewer multiplies). Same result as upfirdn2dRef.
 */
export function upfirdn2d(x: Tensor, kernel: Float32Array, K: number, opts: UpFirDnOptions = {}): Tensor {
  const {up = 1, down = 1, pad = [0, 0]} = opts;
  if (up === 1 || down !== 1) return upfirdn2dRef(x, kernel, K, opts);
  const C = x.shape[1]!;
  // out[o] = Σ_i x[i]·k[o + (K−1−p0) − up·i]: a conv^T with the unflipped kernel, pads K−1−p0 and K−up−p1.
  const pb = K - 1 - pad[0];
  const pe = K - up - pad[1];
  if (pb < 0 || pe < 0) return upfirdn2dRef(x, kernel, K, opts);
  return F.convTranspose2d(x, depthwiseKernel(kernel, K, C, false), {stride: up, groups: C, padding: [pb, pb, pe, pe]});
}

export interface ModConvParams {
  /** Raw ModulatedConv2d.weight [1, O, I, k, k] or [O, I, k, k]. */
  weight: Tensor;
  /** Upsampling FIR kernel taps ([1,3,3,1]) when this conv upsamples. */
  blurKernel?: readonly number[];
}

function convWeight(p: ModConvParams): Tensor {
  const w = p.weight.rank === 5 ? F.reshape(p.weight, p.weight.shape.slice(1)) : p.weight;
  const [, I, k] = assertShape(w, [null, null, null, null], 'modulated conv weight');
  return F.mul(w, 1 / Math.sqrt(I! * k! * k!)); // equalised lr: W / √(I·k·k)
}

/**
 * Modulated convolution, activation form: y = conv(x ⊙ s, W) ⊙ d with d_o = 1/√(Σ_i s_i² Σ_k W_oik² + 1e-8).
 * Equal to rosinality's per-sample weights (W_oik·s_i·d_o) but the conv weight is shared by the batch, so the
 * backward pass needs only input gradients. Upsampling: conv^T with stride 2, then the [1,3,3,1] blur (×4).
 * x:[N,I,H,W] s:[N,I] -> [N,O,H',W']
 */
export function modulatedConv2d(x: Tensor, s: Tensor, p: ModConvParams, {demodulate = true, upsample = false} = {}): Tensor {
  const w = convWeight(p); // [O, I, k, k]
  const [O, I, k] = w.shape as [number, number, number, number];
  const [N] = assertShape(x, [null, I, null, null], 'modulated conv input') as [number];
  assertShape(s, [N, I], 'style vector');
  const xs = F.mul(x, F.reshape(s, [N, I, 1, 1])); // x ⊙ s                       [N,I,H,W]
  let y: Tensor;
  if (upsample) {
    const taps = p.blurKernel ?? [1, 3, 3, 1];
    const K = taps.length;
    y = F.convTranspose2d(xs, F.transpose(w, [1, 0, 2, 3]), {stride: 2}); // [N,O,2H+1,2W+1]
    // Blur pads so that (K − 2) − (k − 1) taps are split around the image (rosinality ModulatedConv2d.__init__).
    const pp = K - 2 - (k - 1);
    y = upfirdn2d(y, makeKernel(taps, 4), K, {pad: [Math.floor((pp + 1) / 2) + 1, Math.floor(pp / 2) + 1]}); // [N,O,2H,2W]
  } else {
    y = F.conv2d(xs, w, {padding: Math.floor(k / 2)}); // [N,O,H,W]
  }
  if (!demodulate) return y;
  const wsq = F.sum(F.square(w), [2, 3]); // Σ_k W_oik²                                    [O,I]
  const d = F.rsqrt(F.add(F.matmul(F.square(s), F.transpose(wsq, [1, 0])), 1e-8)); // [N,O]
  return F.mul(y, F.reshape(d, [N, O, 1, 1]));
}

/**
 * Reference modulated convolution in rosinality's weight form (per-sample weights, grouped conv over the batch).
 * Slower, and its backward needs weight gradients; kept to test modulatedConv2d against.
 */
export function modulatedConv2dRef(x: Tensor, s: Tensor, p: ModConvParams, {demodulate = true, upsample = false} = {}): Tensor {
  const w = convWeight(p);
  const [O, I, k] = w.shape as [number, number, number, number];
  const [N, , H, W] = x.shape as [number, number, number, number];
  let wn = F.mul(F.reshape(w, [1, O, I, k, k]), F.reshape(s, [N, 1, I, 1, 1])); // [N,O,I,k,k]
  if (demodulate) {
    const d = F.rsqrt(F.add(F.sum(F.square(wn), [2, 3, 4], true), 1e-8)); // [N,O,1,1,1]
    wn = F.mul(wn, d);
  }
  const xg = F.reshape(x, [1, N * I, H, W]);
  if (upsample) {
    const taps = p.blurKernel ?? [1, 3, 3, 1];
    const K = taps.length;
    const wt = F.reshape(F.transpose(wn, [0, 2, 1, 3, 4]), [N * I, O, k, k]);
    const y = F.convTranspose2d(xg, wt, {stride: 2, groups: N}); // [1,N*O,2H+1,2W+1]
    const pp = K - 2 - (k - 1);
    const b = upfirdn2dRef(F.reshape(y, [N, O, y.shape[2]!, y.shape[3]!]), makeKernel(taps, 4), K, {
      pad: [Math.floor((pp + 1) / 2) + 1, Math.floor(pp / 2) + 1],
    });
    return b;
  }
  const y = F.conv2d(xg, F.reshape(wn, [N * O, I, k, k]), {padding: Math.floor(k / 2), groups: N});
  return F.reshape(y, [N, O, H, W]);
}
