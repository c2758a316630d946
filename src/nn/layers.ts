/**
 * Small layers shared by the models: equalised-learning-rate linear layers, pixel norm and the biased leaky ReLU
 * (Karras et al. 2018/2020; rosinality stylegan2-pytorch model.py and op/fused_act.py @ bef283a).
 * Layers are plain functions over engine tensors; weights are constants held by the model.
 */
import * as F from '../engine/ops.js';
import {type Tensor, assertShape} from '../engine/tensor.js';

/** √2: the gain rosinality's fused_leaky_relu applies after the leaky ReLU so activations keep unit variance. */
const LRELU_GAIN = Math.SQRT2;

/** leaky_relu(x + bias, 0.2) · √2, with the bias broadcast along `axis` (1 for NCHW, last for [N, D]). */
export function fusedLeakyRelu(x: Tensor, bias: Tensor, axis = 1): Tensor {
  const C = bias.size;
  const shape = x.shape.map((_, i) => (i === (axis < 0 ? x.rank + axis : axis) ? C : 1));
  return F.mul(F.leakyRelu(F.add(x, F.reshape(bias, shape)), 0.2), LRELU_GAIN);
}

/** PixelNorm: x / sqrt(mean(x², axis) + 1e-8). */
export function pixelNorm(x: Tensor, axis = 1): Tensor {
  return F.mul(x, F.rsqrt(F.add(F.mean(F.square(x), [axis], true), 1e-8)));
}

/**
 * EqualLinear (equalised learning rate): y = x · (W · lrMul/√I)ᵀ + b · lrMul, optionally followed by the fused
 * leaky ReLU. `weight` is the raw parameter [O, I] as stored in checkpoints; the scale is applied in the graph
 * (constant-folded by ORT when the weight is a constant). x: [..., I] -> [..., O]
 */
export function equalLinear(x: Tensor, weight: Tensor, bias: Tensor | null, {lrMul = 1, activate = false} = {}): Tensor {
  const [, I] = assertShape(weight, [null, x.shape[x.rank - 1]!], 'EqualLinear weight');
  const wT = F.mul(F.transpose(weight, [1, 0]), lrMul / Math.sqrt(I!)); // [I, O]
  const y = F.matmul(x, wT); // [..., O]
  if (!bias) return y;
  const b = lrMul === 1 ? bias : F.mul(bias, lrMul);
  return activate ? fusedLeakyRelu(y, b, -1) : F.add(y, b);
}
