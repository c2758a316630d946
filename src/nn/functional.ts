/**
 * Composite layers built from engine primitives (their gradients come from the primitives' VJP rules):
 * layer norm, average / adaptive-average pooling, nearest upsampling and the GELU family.
 * Legend: N batch, C channels, H/W spatial, D feature width.
 */
import {createHash} from 'node:crypto';
import * as F from '../engine/ops.js';
import {type Tensor, assertShape, constant} from '../engine/tensor.js';
import {check} from '../errors.js';

const shared = new Map<string, Tensor>();

/**
 * The constant with these values and shape, one tensor per distinct (shape, values): the session cache keys large
 * constants by identity, so a graph built again with the layers below shares its compiled session.
 */
function sharedConstant(data: Float32Array, shape: number[]): Tensor {
  const key = `${shape.join('x')}:${createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex')}`;
  let t = shared.get(key);
  if (!t) shared.set(key, (t = constant(Float32Array.from(data), shape)));
  return t;
}

/** LayerNorm over the last axis: (x − μ)/√(σ² + eps) · γ + β (biased variance, as PyTorch). x: [..., D] */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const ax = x.rank - 1;
  const mu = F.mean(x, [ax], true);
  const xc = F.sub(x, mu);
  const v = F.mean(F.square(xc), [ax], true);
  let y = F.mul(xc, F.rsqrt(F.add(v, eps)));
  if (weight) y = F.mul(y, weight);
  if (bias) y = F.add(y, bias);
  return y;
}

/** QuickGELU as CLIP uses it: x · σ(1.702 x). */
export function quickGelu(x: Tensor): Tensor {
  return F.mul(x, F.sigmoid(F.mul(x, 1.702)));
}

/** Exact GELU: x · Φ(x) = x/2 · (1 + erf(x/√2)). */
export function gelu(x: Tensor): Tensor {
  return F.mul(F.mul(x, 0.5), F.add(F.erf(F.mul(x, Math.SQRT1_2)), 1));
}

/** Nearest-neighbour upsampling by an integer factor (PyTorch Upsample(mode='nearest')). [N,C,H,W] -> [N,C,fH,fW] */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  const [N, C, H, W] = assertShape(x, [null, null, null, null], 'upsample input') as [number, number, number, number];
  check(Number.isInteger(factor) && factor >= 1, `upsample factor must be a positive integer, got ${factor}`);
  const y = F.expand(F.reshape(x, [N, C, H, 1, W, 1]), [N, C, H, factor, W, factor]); // [N,C,H,f,W,f]
  return F.reshape(y, [N, C, H * factor, W * factor]);
}

/**
 * Average pooling with kernel k and stride s (default k), zero padding counted in the average
 * (PyTorch AvgPool2d with count_include_pad=True). A depthwise conv with a constant 1/k² kernel.
 */
export function avgPool2d(x: Tensor, k: number, {stride = k, padding = 0} = {}): Tensor {
  const C = x.shape[1]!;
  const w = sharedConstant(new Float32Array(C * k * k).fill(1 / (k * k)), [C, 1, k, k]);
  return F.conv2d(x, w, {stride, padding, groups: C});
}

/**
 * The [out, in] averaging matrix of PyTorch's adaptive average pooling along one axis: output i averages inputs
 * floor(i·in/out) … ceil((i+1)·in/out) − 1 (windows may overlap).
 */
function adaptivePoolMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const a = Math.floor((i * inSize) / outSize);
    const b = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = a; j < b; j++) m[i * inSize + j] = 1 / (b - a);
  }
  return m;
}

/** A [rows, cols] matrix applied along H and W: y = A_h · x · A_wᵀ per channel. [N,C,H,W] -> [N,C,H',W'] */
export function separableResample(x: Tensor, ah: Float32Array, aw: Float32Array, outH: number, outW: number): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const Ah = sharedConstant(ah, [outH, H]);
  const AwT = sharedConstant(transpose2(aw, outW, W), [W, outW]);
  return F.matmul(F.matmul(Ah, x), AwT); // [N,C,outH,W] -> [N,C,outH,outW]
}

function transpose2(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j]!;
  return t;
}

/** PyTorch AdaptiveAvgPool2d((outH, outW)) for any sizes, as two small matmuls. */
export function adaptiveAvgPool2d(x: Tensor, outH: number, outW = outH): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  if (H === outH && W === outW) return x;
  return separableResample(x, adaptivePoolMatrix(H, outH), adaptivePoolMatrix(W, outW), outH, outW);
}

/** Numerically stable log-softmax: x − m − log Σ exp(x − m) along `axis`, with m = stopGradient(max x). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = axis < 0 ? x.rank + axis : axis;
  const z = F.sub(x, F.stopGradient(F.max(x, [a], true)));
  return F.sub(z, F.log(F.sum(F.exp(z), [a], true)));
}
