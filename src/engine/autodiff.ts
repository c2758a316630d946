/**
 * Reverse-mode automatic differentiation over the symbolic graph. Each op's VJP rule (ops.ts) is written with the
 * same ops, so the gradient is an ordinary graph: it can be compiled with the forward, or differentiated again.
 */
import {StyleclipError} from '../errors.js';
import {OPS, add, full, sameShape} from './ops.js';
import {type Tensor, isFloat} from './tensor.js';

/** All nodes reachable from `outputs`, inputs before users. */
export function topoSort(outputs: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS: generator graphs are deep enough to overflow a recursive walk.
  const stack: [Tensor, number][] = outputs.map((t) => [t, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    if (seen.has(t.id) && i === 0) {
      stack.pop();
      continue;
    }
    if (i < t.inputs.length) {
      top[1] = i + 1;
      const child = t.inputs[i]!;
      if (!seen.has(child.id)) stack.push([child, 0]);
    } else {
      stack.pop();
      if (!seen.has(t.id)) {
        seen.add(t.id);
        order.push(t);
      }
    }
  }
  return order;
}

/**
 * Vector-Jacobian product: Σ_k ⟨cotangents[k], ∂outputs[k]/∂x⟩ for every x in `wrt`.
 * A `wrt` tensor the outputs do not depend on gets zeros.
 */
export function vjp(outputs: readonly Tensor[], cotangents: readonly Tensor[], wrt: readonly Tensor[]): Tensor[] {
  if (outputs.length !== cotangents.length) throw new Error('internal: vjp needs one cotangent per output');
  outputs.forEach((y, k) => {
    if (!sameShape(y.shape, cotangents[k]!.shape)) {
      throw new StyleclipError(`vjp: cotangent shape [${cotangents[k]!.shape}] differs from output [${y.shape}]`);
    }
  });
  const order = topoSort(outputs);
  // Only nodes on a path from some wrt tensor to some output need gradients.
  const wanted = new Set(wrt.map((t) => t.id));
  const onPath = new Set<number>();
  for (const t of order) {
    if (wanted.has(t.id) || t.inputs.some((x) => onPath.has(x.id))) onPath.add(t.id);
  }
  const grads = new Map<number, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t.id);
    grads.set(t.id, prev ? add(prev, g) : g);
  };
  outputs.forEach((y, k) => {
    if (onPath.has(y.id)) accumulate(y, cotangents[k]!);
  });
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const g = grads.get(t.id);
    if (!g || t.inputs.length === 0) continue;
    if (!t.inputs.some((x) => onPath.has(x.id))) continue;
    const rule = OPS[t.op]?.vjp;
    if (!rule) throw new StyleclipError(`no gradient rule for op ${t.op}`);
    const gin = rule(g, t);
    t.inputs.forEach((x, j) => {
      const gx = gin[j];
      if (gx && onPath.has(x.id) && isFloat(x.dtype)) accumulate(x, gx);
    });
  }
  return wrt.map((x) => grads.get(x.id) ?? full(x.shape, 0, x.dtype));
}

/** Gradient of a scalar (any shape with one element, or summed implicitly with a cotangent of ones). */
export function grad(y: Tensor, wrt: readonly Tensor[]): Tensor[] {
  return vjp([y], [full(y.shape, 1, y.dtype)], wrt);
}
