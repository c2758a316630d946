/**
 * The training checkpoint: one safetensors file holding the parameters under their own names (so a checkpoint
 * also loads wherever the trained weights do), the optimizer buffers as `optim.<parameter>.<buffer>`, and in the
 * metadata the caller's settings plus `step` (steps done), `optimizer` (its kind) and `optim_step` (its updates).
 * Written atomically, so a run killed at any moment resumes from its last checkpoint.
 */
import {StyleclipError, check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {type StateDict, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import type {Optimizer, OptimizerState, Param} from './optim.js';

/** Prefix of the optimizer tensors (ignored by loaders that read the parameters only). */
export const OPTIM_PREFIX = 'optim.';

export interface Checkpoint {
  params: StateDict;
  /** The optimizer's kind and state (null when the file holds none). */
  optimizer: ({kind: string} & OptimizerState) | null;
  step: number;
  meta: Record<string, string>;
}

export function serializeCheckpoint(params: readonly Param[], optimizer: Optimizer | null, step: number, meta: Record<string, string> = {}): Uint8Array {
  const tensors: StateDict = new Map(params.map((p) => [p.name, {dtype: 'float32', shape: [...p.shape], data: p.data}]));
  const state = optimizer?.state();
  for (const [k, data] of state?.buffers ?? []) tensors.set(`${OPTIM_PREFIX}${k}`, {dtype: 'float32', shape: [data.length], data});
  const tags = optimizer ? {optimizer: optimizer.kind, optim_step: String(state!.step)} : {};
  return serializeSafetensors(tensors, {...meta, step: String(step), ...tags});
}

export function parseCheckpoint(bytes: Uint8Array, what = 'checkpoint'): Checkpoint {
  const {tensors, metadata: meta} = parseSafetensors(bytes, {what});
  const step = Number(meta.step);
  check(Number.isInteger(step) && step >= 0, `${what}: invalid step '${meta.step}'`);
  const params: StateDict = new Map();
  const buffers = new Map<string, Float32Array>();
  for (const [k, t] of tensors) {
    if (k.startsWith('adam.m.')) throw new StyleclipError(`${what} is in an older trainer's layout (adam.m.*), which is no longer read; start the run again`);
    if (k.startsWith(OPTIM_PREFIX)) buffers.set(k.slice(OPTIM_PREFIX.length), toFloat32(t));
    else params.set(k, t);
  }
  let optimizer: Checkpoint['optimizer'] = null;
  if (meta.optimizer !== undefined) {
    const optimStep = Number(meta.optim_step);
    check(Number.isInteger(optimStep) && optimStep >= 0, `${what}: invalid optimizer step '${meta.optim_step}'`);
    optimizer = {kind: meta.optimizer, step: optimStep, buffers};
  }
  return {params, optimizer, step, meta};
}

/** A checkpoint writer (for the loop's CheckpointPolicy) that replaces `file` atomically. */
export function writeTo(file: string): (bytes: Uint8Array) => void {
  return (bytes) => writeFileAtomic(file, bytes, 'checkpoint');
}

export function loadCheckpoint(file: string): Checkpoint {
  return parseCheckpoint(readBytes(file, 'checkpoint'), `checkpoint '${file}'`);
}

/**
 * Set the parameters (names and shapes must match exactly) and, when given, the optimizer (of the same kind) from
 * a checkpoint.
 */
export function restore(ck: Checkpoint, params: readonly Param[], optimizer: Optimizer | null): void {
  if (ck.params.size !== params.length || params.some((p) => !ck.params.has(p.name))) {
    throw new StyleclipError('checkpoint parameters do not match the model being trained');
  }
  for (const p of params) {
    const t = ck.params.get(p.name)!;
    check(t.shape.join() === p.shape.join(), `checkpoint parameter ${p.name} has shape [${t.shape}], expected [${p.shape}]`);
    p.data.set(toFloat32(t));
  }
  if (!optimizer) return;
  if (ck.optimizer?.kind !== optimizer.kind) throw new StyleclipError(`checkpoint holds ${ck.optimizer ? `${ck.optimizer.kind} state` : 'no optimizer state'}, the run uses ${optimizer.kind}`);
  optimizer.load(ck.optimizer);
}
