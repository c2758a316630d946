/**
 * Training on the engine. Parameters live on the host and enter the compiled graph as inputs, so one program
 * (loss, metrics, extra outputs and ∂loss/∂params, from autodiff) serves every step; an optimizer (optim.ts)
 * updates the host arrays. One loop serves latent optimisation, mapper training and the lab trainers:
 *   for each step: stop if aborted → batch → run → metrics → update → report → checkpoint when due.
 * Checkpoints (checkpoint.ts) are written every N steps and/or seconds, at the last step and when aborted, so a
 * killed or cancelled run resumes exactly where its last checkpoint left it.
 */
import {grad} from '../engine/autodiff.js';
import * as F from '../engine/ops.js';
import {type CompileOptions, type Program, compile} from '../engine/session.js';
import {type Tensor, type TypedData, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import type {HostTensor, StateDict} from '../io/host-tensor.js';
import {toFloat32} from '../io/host-tensor.js';
import {type Checkpoint, restore, serializeCheckpoint} from './checkpoint.js';
import type {Optimizer, Param} from './optim.js';

/** A trainable parameter with its graph input. */
export interface GraphParam extends Param {
  readonly input: Tensor;
}

/** Named trainable parameters: host values plus one graph input per parameter, in a fixed order. */
export class Params {
  readonly all: GraphParam[] = [];

  constructor(entries: Iterable<[string, {shape: readonly number[]; data: Float32Array}]>) {
    for (const [name, {shape, data}] of entries) {
      check(!this.all.some((p) => p.name === name), `duplicate parameter ${name}`);
      this.all.push({name, shape: [...shape], data: Float32Array.from(data), input: input(`p:${name}`, [...shape])});
    }
  }

  /** From a state dict (float32 conversion; order kept). */
  static fromStateDict(sd: StateDict): Params {
    return new Params([...sd].map(([k, t]) => [k, {shape: t.shape, data: toFloat32(t)}]));
  }

  get names(): string[] {
    return this.all.map((p) => p.name);
  }

  get values(): Float32Array[] {
    return this.all.map((p) => p.data);
  }

  has(name: string): boolean {
    return this.all.some((p) => p.name === name);
  }

  /** The graph input of a parameter. */
  get(name: string): Tensor {
    const p = this.all.find((q) => q.name === name);
    if (!p) throw new Error(`internal: no parameter ${name}`);
    return p.input;
  }

  /** The parameters whose names satisfy `pred` (for parameter groups). */
  select(pred: (name: string) => boolean): GraphParam[] {
    return this.all.filter((p) => pred(p.name));
  }

  get count(): number {
    return this.all.reduce((n, p) => n + p.data.length, 0);
  }

  toStateDict(): StateDict {
    return new Map(this.all.map((p) => [p.name, {dtype: 'float32', shape: [...p.shape], data: p.data} as HostTensor]));
  }
}

/** What a step graph computes: the scalar loss, named scalar metrics, named other outputs, its data inputs. */
export interface StepGraph {
  loss: Tensor;
  metrics?: Record<string, Tensor>;
  outputs?: Record<string, Tensor>;
  /** Inputs fed from the batch, in feed order. */
  dataInputs: Tensor[];
  /**
   * Inputs holding the run's own values (a prompt's features, the start latent), fed unchanged at every step.
   * They are inputs rather than constants so that another run builds the same graph and reuses its session.
   */
  runInputs?: [Tensor, TypedData][];
}

/** Collects a step graph's run inputs: `feed(name, value, shape)` is a graph input the loop feeds `value` at every step. */
export class RunInputs {
  readonly list: [Tensor, TypedData][] = [];

  feed(name: string, value: Float32Array, shape: number[]): Tensor {
    const t = input(name, shape);
    this.list.push([t, value]);
    return t;
  }
}

/** A compiled training step: inputs [params…, run values…, data…] → [loss, metrics…, outputs…, ∂loss/∂params…]. */
export interface TrainStep {
  program: Program;
  params: Params;
  /** The values of the step graph's runInputs. */
  runFeeds: TypedData[];
  metricNames: string[];
  outputNames: string[];
}

/** Build (from the Params' graph inputs) and compile a step; `options` go to compile() (e.g. keepWarm). */
export async function compileStep(params: Params, build: () => StepGraph, options: CompileOptions = {}): Promise<TrainStep> {
  const {loss, metrics = {}, outputs = {}, dataInputs, runInputs = []} = build();
  const wrt = params.all.map((p) => p.input);
  const grads = grad(loss, wrt);
  const metricNames = Object.keys(metrics);
  const outputNames = Object.keys(outputs);
  const program = await compile([...wrt, ...runInputs.map(([t]) => t), ...dataInputs], [loss, ...metricNames.map((k) => F.reshape(metrics[k]!, [1])), ...outputNames.map((k) => outputs[k]!), ...grads], options);
  return {program, params, runFeeds: runInputs.map(([, v]) => v), metricNames, outputNames};
}

export interface StepReport {
  step: number;
  steps: number;
  loss: number;
  metrics: Record<string, number>;
  /** The step's other outputs (valid until the next step). */
  outputs: Record<string, HostTensor>;
  /** Learning rate of the first parameter group at this step. */
  lr: number;
  seconds: number;
}

export interface CheckpointPolicy {
  /** Every this many steps (0 = not by count). */
  every?: number;
  /** Or when this many seconds have passed since the last one. */
  seconds?: number;
  /** Settings recorded in the file (a resumed run should check them). */
  meta?: Record<string, string>;
  /** Receives the checkpoint bytes (see checkpoint.ts); write them atomically, e.g. with writeTo(file). */
  write: (bytes: Uint8Array, step: number) => void | Promise<void>;
}

export interface TrainLoopOptions {
  /** Total steps; a resumed run continues up to this. */
  steps: number;
  /** Data feeds of a step, a pure function of the step (so a resumed run sees the same data); none by default. */
  batch?: (step: number) => TypedData[] | Promise<TypedData[]>;
  /** Compute the next batch while the step runs (only for batches that do not read the parameters). */
  prefetch?: boolean;
  /** Start from this checkpoint: parameters, optimizer state and step. */
  resume?: Checkpoint | null;
  checkpoint?: CheckpointPolicy;
  /** Called after each update. */
  onStep?: (report: StepReport) => void | Promise<void>;
  signal?: AbortSignal;
  /** Names the run in errors ("<what> cancelled at step N"); default 'training'. */
  what?: string;
  /** Advice appended to the divergence error. */
  divergenceHint?: string;
}

/** Run (or resume) a training loop; returns the step reached and the steps run in this call. */
export async function trainLoop(step: TrainStep, optimizer: Optimizer, opts: TrainLoopOptions): Promise<{step: number; stepsRun: number}> {
  const {steps, what = 'training', checkpoint: ck} = opts;
  const params = step.params.all;
  let start = 0;
  if (opts.resume) {
    restore(opts.resume, params, optimizer);
    start = opts.resume.step;
    check(start <= steps, `the checkpoint is at step ${start}, beyond steps = ${steps}`);
  }
  const nm = step.metricNames.length;
  const no = step.outputNames.length;
  let saved = start;
  let savedAt = performance.now();
  const save = async (s: number) => {
    await ck!.write(serializeCheckpoint(params, optimizer, s, ck!.meta), s);
    saved = s;
    savedAt = performance.now();
  };
  const batchOf = async (s: number) => (opts.batch ? opts.batch(s) : []);
  let prefetched: Promise<TypedData[]> | null = null;
  for (let s = start; s < steps; s++) {
    if (opts.signal?.aborted) {
      if (ck && s > saved) await save(s);
      throw new StyleclipError(`${what} cancelled at step ${s}`);
    }
    const t0 = performance.now();
    const data = await (prefetched ?? batchOf(s));
    const pending = step.program.run([...params.map((p) => p.data), ...step.runFeeds, ...data]);
    prefetched = opts.prefetch && s + 1 < steps ? batchOf(s + 1) : null;
    const out = await pending;
    const loss = (out[0]!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new StyleclipError(`${what} diverged at step ${s} (loss ${loss})${opts.divergenceHint ? `; ${opts.divergenceHint}` : ''}`);
    const metrics: Record<string, number> = {};
    step.metricNames.forEach((k, i) => (metrics[k] = (out[1 + i]!.data as Float32Array)[0]!));
    const outputs: Record<string, HostTensor> = {};
    step.outputNames.forEach((k, i) => (outputs[k] = {dtype: 'float32', shape: out[1 + nm + i]!.shape, data: out[1 + nm + i]!.data as Float32Array}));
    const lr = optimizer.lr(0);
    optimizer.step(new Map(params.map((p, i) => [p.name, out[1 + nm + no + i]!.data as Float32Array])));
    await opts.onStep?.({step: s, steps, loss, metrics, outputs, lr, seconds: (performance.now() - t0) / 1000});
    if (ck && ((ck.every && (s + 1) % ck.every === 0) || (ck.seconds !== undefined && (performance.now() - savedAt) / 1000 > ck.seconds) || s + 1 === steps)) await save(s + 1);
  }
  return {step: steps, stepsRun: steps - start};
}
