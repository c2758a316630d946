/**
 * Compile graphs to ONNX Runtime sessions and run them. Sessions are cached by the graph's structure (ops,
 * attributes, shapes and the identity of constant tensors), so a model function that rebuilds the same graph
 * reuses its session, and ORT keeps its memory arena and pre-packed weights alive across runs.
 */
import {createHash} from 'node:crypto';
import * as ort from 'onnxruntime-node';
import {StyleclipError} from '../errors.js';
import {topoSort} from './autodiff.js';
import {toOnnx} from './onnx.js';
import {type DType, type Tensor, type TypedData, numel} from './tensor.js';

export interface EngineOptions {
  /** Intra-op threads for new sessions; 0 = ORT's default (one per core). */
  threads: number;
  /** ORT execution providers, e.g. ['cpu'] or ['cuda', 'cpu']. */
  executionProviders: string[];
}

const engineOptions: EngineOptions = {threads: 0, executionProviders: ['cpu']};

/** Set engine-wide options; affects sessions compiled afterwards (the cache is cleared). */
export function configureEngine(opts: Partial<EngineOptions>): void {
  Object.assign(engineOptions, opts);
  void clearSessionCache();
}

export interface RunResult {
  data: TypedData;
  shape: number[];
  dtype: DType;
}

/** A compiled graph: feed arrays in `inputs` order (or by input name), get arrays in `outputs` order. */
export class Program {
  readonly inputs: readonly {name: string; shape: number[]; dtype: DType}[];
  readonly outputs: readonly {shape: number[]; dtype: DType}[];
  private readonly session: ort.InferenceSession;

  constructor(session: ort.InferenceSession, inputs: readonly Tensor[], outputs: readonly Tensor[]) {
    this.session = session;
    this.inputs = inputs.map((t) => ({name: t.name!, shape: t.shape, dtype: t.dtype}));
    this.outputs = outputs.map((t) => ({shape: t.shape, dtype: t.dtype}));
  }

  release(): Promise<void> {
    return this.session.release();
  }

  async run(feeds: readonly TypedData[] | Readonly<Record<string, TypedData>>): Promise<RunResult[]> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    this.inputs.forEach((spec, i) => {
      const data = Array.isArray(feeds) ? (feeds as TypedData[])[i] : (feeds as Record<string, TypedData>)[spec.name];
      if (!data) throw new StyleclipError(`missing input '${spec.name}'`);
      if (!(data instanceof ARRAY_TYPE[spec.dtype])) {
        throw new StyleclipError(`input '${spec.name}' is ${spec.dtype}; got a ${data.constructor.name}`);
      }
      if (data.length !== numel(spec.shape)) {
        throw new StyleclipError(`input '${spec.name}' has ${data.length} values, expected shape [${spec.shape.join(', ')}]`);
      }
      ortFeeds[spec.name] = new ort.Tensor(spec.dtype, data as never, spec.shape);
    });
    const res = await this.session.run(ortFeeds);
    return this.outputs.map((spec, k) => {
      const t = res[`out${k}`]!;
      return {data: t.data as TypedData, shape: spec.shape, dtype: spec.dtype};
    });
  }
}

const ARRAY_TYPE = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  bool: Uint8Array,
} as const satisfies Record<DType, unknown>;

/** String form of a number that keeps what JSON/String lose: -0 (and JSON's null for ±Infinity/NaN). */
function numKey(v: number | bigint): string {
  return Object.is(v, -0) ? '-0' : String(v);
}
function attrsKey(attrs: Tensor['attrs']): string {
  return JSON.stringify(attrs, (_k, v: unknown) => (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? `#${numKey(v)}` : v));
}

const cache = new Map<string, Promise<Program>>();
const constIds = new WeakMap<Tensor, number>();
let nextConstId = 1;

/** A key that identifies the graph: equal keys compute the same function with the same constants. */
export function graphKey(inputs: readonly Tensor[], outputs: readonly Tensor[]): string {
  const order = topoSort(outputs);
  const index = new Map<number, number>();
  const h = createHash('sha256');
  h.update(inputs.map((t) => `${t.name}:${t.dtype}:${t.shape}`).join('|'));
  order.forEach((t, i) => {
    index.set(t.id, i);
    let id = '';
    if (t.op === 'const') {
      // Small constants are keyed by value (they are rebuilt freely); large ones by identity.
      if (t.size <= 64) id = Array.from(t.data as ArrayLike<number | bigint>, numKey).join(',');
      else {
        let c = constIds.get(t);
        if (!c) constIds.set(t, (c = nextConstId++));
        id = `#${c}`;
      }
    } else if (t.op === 'input') id = t.name!;
    h.update(`${t.op}(${t.inputs.map((x) => index.get(x.id)).join(',')})${attrsKey(t.attrs)}${t.dtype}[${t.shape}]${id};`);
  });
  h.update(`->${outputs.map((t) => index.get(t.id)).join(',')}`);
  return h.digest('hex');
}

/** Compile (or fetch from the cache) the program computing `outputs` from `inputs`. */
export function compile(inputs: readonly Tensor[], outputs: readonly Tensor[], {cacheable = true} = {}): Promise<Program> {
  for (const t of inputs) if (t.op !== 'input') throw new Error(`internal: compile inputs must be input tensors, got ${t}`);
  const key = cacheable ? graphKey(inputs, outputs) : '';
  const hit = cacheable ? cache.get(key) : undefined;
  if (hit) return hit;
  const p = (async () => {
    const bytes = toOnnx({inputs, outputs});
    const opts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      enableCpuMemArena: true,
      enableMemPattern: true,
      executionProviders: engineOptions.executionProviders as ort.InferenceSession.ExecutionProviderConfig[],
    };
    if (engineOptions.threads > 0) opts.intraOpNumThreads = engineOptions.threads;
    const session = await ort.InferenceSession.create(bytes, opts).catch((e: unknown) => {
      throw providerError(e) ?? e;
    });
    return new Program(session, inputs, outputs);
  })();
  if (cacheable) {
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** A named error when a requested execution provider's library is not installed (e.g. CUDA without its binaries). */
function providerError(e: unknown): StyleclipError | null {
  const msg = e instanceof Error ? e.message : String(e);
  const gpu = engineOptions.executionProviders.filter((p) => p !== 'cpu');
  if (gpu.length === 0 || !/Failed to load (shared )?library|not (available|supported|enabled)/i.test(msg)) return null;
  return new StyleclipError(`execution provider ${gpu.join(', ')} is not available in this onnxruntime-node install (${msg.split('\n')[0]}); for CUDA run: node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12`);
}

export async function clearSessionCache(): Promise<void> {
  const progs = [...cache.values()];
  cache.clear();
  for (const p of progs) {
    try {
      await (await p).release();
    } catch {
      // a failed compile has nothing to release
    }
  }
}

