/**
 * Compile graphs to ONNX Runtime sessions and run them. Sessions are cached by the graph's structure (ops,
 * attributes, shapes and the identity of constant tensors), so a model function that rebuilds the same graph
 * reuses its session, and ORT keeps its memory arena and pre-packed weights alive across runs.
 *
 * Every compile() returns its own Program handle on the shared session and counts it. A handle that is never
 * released keeps its session for the life of the process (what model functions such as generate() want); a
 * per-run program is released when the run ends, and the session is freed once no handle holds it, so a
 * long-lived process does not grow by one session per run. A program compiled with `keepWarm` (a training step
 * whose per-job values are inputs, so the next job builds the same graph) instead stays in a small LRU pool of
 * warm sessions (EngineOptions.warmSessions) when its last handle goes: the next compile of that graph takes it
 * from there without creating a session, and the pool's oldest is freed when it is full.
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
  /** Sessions kept warm after their last `keepWarm` handle is released (LRU); 0 frees them at once. */
  warmSessions: number;
}

const engineOptions: EngineOptions = {threads: 0, executionProviders: ['cpu'], warmSessions: 2};

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

/** A compiled session and the number of Program handles holding it. */
interface SessionEntry {
  session: Promise<ort.InferenceSession>;
  refs: number;
  /** Its key in the cache ('' when not cached). */
  key: string;
  /** Set once the session is released (by the last handle, the warm pool or clearSessionCache). */
  freed?: boolean;
  /** Keep the session warm when the last handle goes (some handle was compiled with keepWarm). */
  keepWarm?: boolean;
}

/** A compiled graph: feed arrays in `inputs` order (or by input name), get arrays in `outputs` order. */
export class Program {
  readonly inputs: readonly {name: string; shape: number[]; dtype: DType}[];
  readonly outputs: readonly {shape: number[]; dtype: DType}[];
  private readonly session: ort.InferenceSession;
  private entry: SessionEntry | null;

  constructor(session: ort.InferenceSession, inputs: readonly Tensor[], outputs: readonly Tensor[], entry: SessionEntry | null = null) {
    this.session = session;
    this.entry = entry;
    this.inputs = inputs.map((t) => ({name: t.name!, shape: t.shape, dtype: t.dtype}));
    this.outputs = outputs.map((t) => ({shape: t.shape, dtype: t.dtype}));
  }

  /** Drop this handle; the session is freed when no other handle holds it. Later calls do nothing. */
  async release(): Promise<void> {
    const e = this.entry;
    this.entry = null;
    if (!e || --e.refs > 0 || e.freed) return;
    if (e.keepWarm && e.key && cache.get(e.key) === e && engineOptions.warmSessions > 0) {
      warm.push(e);
      while (warm.length > engineOptions.warmSessions) await freeEntry(warm.shift()!);
      return;
    }
    await freeEntry(e);
  }

  async run(feeds: readonly TypedData[] | Readonly<Record<string, TypedData>>): Promise<RunResult[]> {
    if (!this.entry || this.entry.freed) throw new Error('internal: a released program was run');
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

const cache = new Map<string, SessionEntry>();
/** Every session not yet freed (cached or not). */
const live = new Set<SessionEntry>();
/** Cached sessions no handle holds, kept for the next compile of their graph; oldest first. */
const warm: SessionEntry[] = [];
let created = 0;

/** Sessions alive now (cached and warm ones included): a process that releases its per-run programs keeps this flat. */
export function liveSessions(): number {
  return live.size;
}

/** ONNX Runtime sessions created so far in this process (a compile served from the cache or the warm pool creates none). */
export function sessionsCreated(): number {
  return created;
}

/** Free a session: out of the cache, the warm pool and the live set at once, then released in ORT. */
async function freeEntry(e: SessionEntry): Promise<void> {
  if (e.freed) return;
  e.freed = true;
  if (e.key && cache.get(e.key) === e) cache.delete(e.key);
  const i = warm.indexOf(e);
  if (i >= 0) warm.splice(i, 1);
  live.delete(e);
  try {
    await (await e.session).release();
  } catch {
    // a failed compile has nothing to release
  }
}
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

export interface CompileOptions {
  /** Share the session with structurally equal graphs (default true). */
  cacheable?: boolean;
  /** When the last handle is released, keep the session in the warm pool instead of freeing it (see the file header). */
  keepWarm?: boolean;
}

/**
 * Compile (or fetch from the cache) the program computing `outputs` from `inputs`. Each call returns a new handle
 * on the shared session; release() it when the program is no longer needed (see the file header).
 */
export async function compile(inputs: readonly Tensor[], outputs: readonly Tensor[], {cacheable = true, keepWarm = false}: CompileOptions = {}): Promise<Program> {
  for (const t of inputs) if (t.op !== 'input') throw new Error(`internal: compile inputs must be input tensors, got ${t}`);
  const key = cacheable ? graphKey(inputs, outputs) : '';
  let entry = key ? cache.get(key) : undefined;
  if (entry) {
    const i = warm.indexOf(entry);
    if (i >= 0) warm.splice(i, 1);
  } else {
    created++;
    entry = {session: createSession(inputs, outputs), refs: 0, key};
    const e = entry;
    live.add(e);
    if (key) cache.set(key, e);
    e.session.catch(() => {
      live.delete(e);
      if (key && cache.get(key) === e) cache.delete(key);
    });
  }
  entry.refs++;
  if (keepWarm) entry.keepWarm = true;
  try {
    return new Program(await entry.session, inputs, outputs, entry);
  } catch (err) {
    entry.refs--;
    throw err;
  }
}

async function createSession(inputs: readonly Tensor[], outputs: readonly Tensor[]): Promise<ort.InferenceSession> {
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
  return ort.InferenceSession.create(bytes, opts).catch((e: unknown) => {
    throw providerError(e) ?? e;
  });
}

/** A named error when a requested execution provider's library is not installed (e.g. CUDA without its binaries). */
function providerError(e: unknown): StyleclipError | null {
  const msg = e instanceof Error ? e.message : String(e);
  const gpu = engineOptions.executionProviders.filter((p) => p !== 'cpu');
  if (gpu.length === 0 || !/Failed to load (shared )?library|not (available|supported|enabled)/i.test(msg)) return null;
  return new StyleclipError(`execution provider ${gpu.join(', ')} is not available in this onnxruntime-node install (${msg.split('\n')[0]}); for CUDA run: node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12`);
}

/** Free every cached session (handles still holding one can no longer run). */
export async function clearSessionCache(): Promise<void> {
  // Every entry leaves the cache before the first await, so a compile right after this call creates a new session.
  await Promise.all([...cache.values()].map((e) => freeEntry(e)));
}
