/**
 * Training on the engine: parameters live on the host and enter the compiled graph as inputs, so one program
 * (loss, metrics and ∂loss/∂params, from autodiff) serves every step; Adam updates the host arrays; checkpoints
 * are atomic safetensors holding parameters, optimizer moments, the step and the caller's metadata, so a killed
 * run resumes exactly where its last checkpoint left it.
 */
import {existsSync} from 'node:fs';
import {grad} from '../engine/autodiff.js';
import * as F from '../engine/ops.js';
import {type Program, compile} from '../engine/session.js';
import {type Tensor, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {type HostTensor, type StateDict, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';

/** Named trainable parameters: host values plus one graph input per parameter. */
export class Params {
  readonly names: string[] = [];
  readonly shapes: number[][] = [];
  readonly values: Float32Array[] = [];
  readonly inputs = new Map<string, Tensor>();

  constructor(entries: Iterable<[string, {shape: number[]; data: Float32Array}]>) {
    for (const [name, {shape, data}] of entries) {
      check(!this.inputs.has(name), `duplicate parameter ${name}`);
      this.names.push(name);
      this.shapes.push([...shape]);
      this.values.push(Float32Array.from(data));
      this.inputs.set(name, input(`p:${name}`, shape));
    }
  }

  /** From a state dict (float32 conversion; order kept). */
  static fromStateDict(sd: StateDict): Params {
    return new Params([...sd].map(([k, t]) => [k, {shape: t.shape, data: toFloat32(t)}]));
  }

  get(name: string): Tensor {
    const t = this.inputs.get(name);
    if (!t) throw new Error(`internal: no parameter ${name}`);
    return t;
  }

  get count(): number {
    return this.values.reduce((n, v) => n + v.length, 0);
  }

  toStateDict(): StateDict {
    return new Map(this.names.map((n, i) => [n, {dtype: 'float32', shape: this.shapes[i]!, data: this.values[i]!} as HostTensor]));
  }
}

export interface AdamOptions {
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay (AdamW), applied as p −= lr·wd·p. */
  weightDecay?: number;
}

/**
 * Adam (PyTorch semantics, bias-corrected; AdamW-style decoupled weight decay when asked) over a list of host
 * arrays, with saveable state. Implements the HostStatefulOptimizer interface the mapper trainer checkpoints.
 */
export class Adam {
  readonly kind = 'adam' as const;
  /** Steps taken so far (drives the bias correction). */
  step = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  constructor(sizes: number[], {betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0}: AdamOptions = {}) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
    [this.b1, this.b2] = betas;
    this.eps = eps;
    this.wd = weightDecay;
  }

  get steps(): number {
    return this.step;
  }

  /** One update; `mask[k] === false` skips parameter k (frozen). */
  update(params: Float32Array[], grads: Float32Array[], lr: number, mask?: boolean[]): void {
    check(params.length === this.m.length && grads.length === params.length, `Adam: expected ${this.m.length} parameters`);
    this.step++;
    const c1 = 1 - this.b1 ** this.step;
    const c2 = 1 - this.b2 ** this.step;
    params.forEach((p, k) => {
      if (mask && !mask[k]) return;
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = this.b1 * m[i]! + (1 - this.b1) * gi;
        v[i] = this.b2 * v[i]! + (1 - this.b2) * gi * gi;
        p[i]! -= lr * ((m[i]! / c1) / (Math.sqrt(v[i]! / c2) + this.eps) + this.wd * p[i]!);
      }
    });
  }

  /** The moments as named arrays (`${k}.exp_avg`, `${k}.exp_avg_sq`, torch's names) plus the step count. */
  state(): {step: number; buffers: Map<string, Float32Array>} {
    const buffers = new Map<string, Float32Array>();
    this.m.forEach((_, k) => {
      buffers.set(`${k}.exp_avg`, this.m[k]!);
      buffers.set(`${k}.exp_avg_sq`, this.v[k]!);
    });
    return {step: this.step, buffers};
  }

  load({step, buffers}: {step: number; buffers: ReadonlyMap<string, Float32Array>}): void {
    check(Number.isInteger(step) && step >= 0, `Adam state: invalid step ${step}`);
    this.m.forEach((m, k) => {
      for (const [name, dst] of [[`${k}.exp_avg`, m], [`${k}.exp_avg_sq`, this.v[k]!]] as const) {
        const b = buffers.get(name);
        if (!b || b.length !== dst.length) throw new StyleclipError(`Adam state buffer '${name}' is missing or has the wrong size`);
        dst.set(b);
      }
    });
    this.step = step;
  }
}

/** A compiled training step: inputs [params…, data…] → [loss, metrics…, grads…]. */
export interface StepProgram {
  program: Program;
  metricNames: string[];
  paramCount: number;
}

/**
 * Build and compile the step program. `build(params)` returns the scalar loss and named scalar metrics, and
 * declares its data inputs (created with `input(...)`) in `dataInputs`, in feed order.
 */
export async function compileStep(
  params: Params,
  build: () => {loss: Tensor; metrics?: Record<string, Tensor>; dataInputs: Tensor[]},
  {trainable}: {trainable?: (name: string) => boolean} = {},
): Promise<StepProgram & {trainableMask: boolean[]}> {
  const {loss, metrics = {}, dataInputs} = build();
  const mask = params.names.map((n) => (trainable ? trainable(n) : true));
  const wrt = params.names.map((n) => params.get(n));
  const grads = grad(loss, wrt);
  const metricNames = Object.keys(metrics);
  const program = await compile([...wrt, ...dataInputs], [loss, ...metricNames.map((k) => F.reshape(metrics[k]!, [1])), ...grads]);
  return {program, metricNames, paramCount: wrt.length, trainableMask: mask};
}

export interface Checkpoint {
  params: StateDict;
  adam: {step: number; m: Float32Array[]; v: Float32Array[]} | null;
  step: number;
  meta: Record<string, string>;
}

/** Write params (as their own names), Adam moments (adam.m.<name>, adam.v.<name>) and metadata atomically. */
export function saveCheckpoint(file: string, params: Params, adam: Adam | null, step: number, meta: Record<string, string> = {}): void {
  const t = new Map<string, HostTensor>();
  params.names.forEach((n, i) => t.set(n, {dtype: 'float32', shape: params.shapes[i]!, data: params.values[i]!}));
  if (adam) {
    params.names.forEach((n, i) => {
      t.set(`adam.m.${n}`, {dtype: 'float32', shape: params.shapes[i]!, data: adam.m[i]!});
      t.set(`adam.v.${n}`, {dtype: 'float32', shape: params.shapes[i]!, data: adam.v[i]!});
    });
  }
  writeFileAtomic(file, serializeSafetensors(t, {...meta, step: String(step), adam_step: String(adam?.step ?? 0)}), 'checkpoint');
}

export function loadCheckpoint(file: string): Checkpoint {
  const {tensors, metadata} = parseSafetensors(readBytes(file, 'checkpoint'), {what: `checkpoint '${file}'`});
  const params: StateDict = new Map();
  for (const [k, v] of tensors) if (!k.startsWith('adam.')) params.set(k, v);
  const names = [...params.keys()];
  const hasAdam = names.every((n) => tensors.has(`adam.m.${n}`) && tensors.has(`adam.v.${n}`));
  const step = Number(metadata.step ?? 0);
  check(Number.isInteger(step) && step >= 0, `checkpoint '${file}' has an invalid step`);
  return {
    params,
    adam: hasAdam ? {step: Number(metadata.adam_step ?? 0), m: names.map((n) => toFloat32(tensors.get(`adam.m.${n}`)!)), v: names.map((n) => toFloat32(tensors.get(`adam.v.${n}`)!))} : null,
    step,
    meta: metadata,
  };
}

/** Restore params and Adam state in place from a checkpoint (names and shapes must match exactly). */
export function restore(ck: Checkpoint, params: Params, adam: Adam | null): void {
  const names = [...ck.params.keys()];
  if (names.length !== params.names.length || names.some((n, i) => n !== params.names[i])) {
    throw new StyleclipError('checkpoint parameters do not match the model being trained');
  }
  params.names.forEach((n, i) => {
    const t = ck.params.get(n)!;
    check(t.shape.join() === params.shapes[i]!.join(), `checkpoint parameter ${n} has shape [${t.shape}], expected [${params.shapes[i]}]`);
    params.values[i]!.set(toFloat32(t));
  });
  if (adam && ck.adam) {
    adam.step = ck.adam.step;
    ck.adam.m.forEach((m, i) => adam.m[i]!.set(m));
    ck.adam.v.forEach((v, i) => adam.v[i]!.set(v));
  }
}

export interface TrainLoopOptions {
  steps: number;
  /** Learning rate at a step (schedules). */
  lr: (step: number) => number;
  /** Data feeds for a step; must be a pure function of the step (so a resumed run sees the same data). */
  batch: (step: number) => Float32Array[] | Promise<Float32Array[]>;
  checkpoint?: {file: string; every: number; meta?: Record<string, string>};
  onStep?: (info: {step: number; loss: number; metrics: Record<string, number>; lr: number; seconds: number}) => void;
  signal?: AbortSignal;
}

/**
 * Run (or resume) a training loop. If `checkpoint.file` exists its params/optimizer/step are restored first.
 * Returns the number of steps done in this call.
 */
export async function trainLoop(step: StepProgram & {trainableMask: boolean[]}, params: Params, adam: Adam, opts: TrainLoopOptions): Promise<number> {
  let start = 0;
  if (opts.checkpoint && existsSync(opts.checkpoint.file)) {
    const ck = loadCheckpoint(opts.checkpoint.file);
    restore(ck, params, adam);
    start = ck.step;
  }
  let done = 0;
  for (let s = start; s < opts.steps; s++) {
    if (opts.signal?.aborted) throw new StyleclipError('training cancelled');
    const t0 = performance.now();
    const data = await opts.batch(s);
    const out = await step.program.run([...params.values, ...data]);
    const loss = (out[0]!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new StyleclipError(`training diverged at step ${s} (loss ${loss})`);
    const metrics: Record<string, number> = {};
    step.metricNames.forEach((k, i) => (metrics[k] = (out[1 + i]!.data as Float32Array)[0]!));
    const grads = out.slice(1 + step.metricNames.length).map((o) => o.data as Float32Array);
    const lr = opts.lr(s);
    adam.update(params.values, grads, lr, step.trainableMask);
    done++;
    opts.onStep?.({step: s, loss, metrics, lr, seconds: (performance.now() - t0) / 1000});
    const ck = opts.checkpoint;
    if (ck && ((s + 1) % ck.every === 0 || s + 1 === opts.steps)) saveCheckpoint(ck.file, params, adam, s + 1, ck.meta);
  }
  return done;
}
