/**
 * PyTorch checkpoint reader (reference: pytorch torch/serialization.py `_load` / `_legacy_load`,
 * torch/_utils.py `_rebuild_tensor_v2`, TorchScript's `torch.jit.save` archive layout).
 *
 * Three layouts are read:
 *  (a) torch.save zip files (torch >= 1.6): `<root>/data.pkl` pickles the object; tensors are
 *      `_rebuild_tensor_v2(storage, offset, size, stride, …)` with persistent ids
 *      `('storage', torch.FloatStorage, '<key>', '<location>', numel)` whose bytes are `<root>/data/<key>`.
 *  (b) legacy pre-1.6 files: pickles of the magic number, protocol version 1001 and sys_info, then the object
 *      pickle (persistent ids `('storage', type, key, location, numel, view_metadata)`), then a pickle of the
 *      sorted storage keys, then per key an int64 little-endian element count and the raw data.
 *  (c) TorchScript archives (`torch.jit.save`): the same zip layout, with `data.pkl` holding the module tree as
 *      `__torch__.*` objects; `torchScriptStateDict` flattens it like `Module.state_dict()`.
 *  (d) NVIDIA network pickles (stylegan2-ada-pytorch `training_loop.py` snapshots, `ffhq.pkl` & co.): a plain
 *      pickle whose modules are `torch_utils.persistence._reconstruct_persistent_obj(meta)` records and whose
 *      storages are `torch.storage._load_from_bytes(b)`, each `b` a complete legacy torch.save stream (b above).
 *      The records keep the class name and state only; the Python source they embed is never looked at.
 *
 * The pickle runs in the restricted VM of pickle.ts with an allow-list of torch globals; nothing is executed.
 * Results are Python-like values: dict → Map, list/tuple → Array, tensor → HostTensor, module → PyObject.
 */
import {StyleclipError} from '../errors.js';
import {
  DTYPE_BYTES,
  gatherStrided,
  hostDataFromBytes,
  isContiguous,
  isHostTensor,
  numel,
  type HostData,
  type HostDType,
  type HostTensor,
  type StateDict,
} from './host-tensor.js';
import {describe, PyGlobal, PyObject, unpickleAt, type GlobalHandler, type GlobalResolver, type UnpickleLimits} from './pickle.js';
import {preview} from './preview.js';
import {isZip, openZip, type ZipArchive} from './zip.js';

/** `torch.<Name>Storage` → element dtype. */
const STORAGE_DTYPES: Readonly<Record<string, HostDType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** `torch.<dtype>` globals (as passed to `_rebuild_tensor_v3`) → host dtype. */
const TORCH_DTYPES: Readonly<Record<string, HostDType>> = {
  float32: 'float32', float: 'float32',
  float64: 'float64', double: 'float64',
  float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64', long: 'int64',
  int32: 'int32', int: 'int32',
  int16: 'int16', short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/** The legacy torch.save magic number, pickled as the file's first object. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** A storage named by a persistent id; `bytes` arrive immediately (zip) or after the object pickle (legacy). */
interface StorageRef {
  key: string;
  dtype: HostDType;
  /** Elements the persistent id announces. */
  numel: number;
  bytes?: Uint8Array;
  /** Legacy view storages: the root storage and the element offset into it. */
  base?: StorageRef;
  baseOffset?: number;
  typed?: HostData;
}

/** A tensor rebuilt lazily: the storage data of legacy files is only known after the pickle ends. */
class TensorRef {
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
  dtype: HostDType;
  constructor(storage: StorageRef, offset: number, size: number[], stride: number[], dtype: HostDType) {
    this.storage = storage;
    this.offset = offset;
    this.size = size;
    this.stride = stride;
    this.dtype = dtype;
  }
}

/** What a loaded file may make the loader allocate; decided from sizes in the file before allocating. */
export interface TorchLimits {
  /** Bytes of one tensor, and of one storage record inflated from a zip. */
  maxTensorBytes: number;
  /**
   * Bytes allocated beyond the file itself, in total: inflated zip entries and tensors copied out of their storage
   * (non-contiguous views, dtype reinterpretations). Default: the larger of 512 MiB and 4 × the file size (a real
   * deflated checkpoint inflates to about its own size; inflating one entry briefly takes twice its size).
   */
  maxAllocBytes?: number;
}

/**
 * The largest tensor of a supported checkpoint is CLIP ViT-L/14's token embedding, 49408 × 768 float32 =
 * 151.8 MB (the next are the IRSE-50 output layer, 512 × 25088 float32 = 51.4 MB, and StyleGAN2-1024's 512 × 512 × 3 × 3
 * convs, 9.4 MB); 512 MiB leaves 3.5× headroom for larger vocabularies or float64.
 */
export const TORCH_LIMITS: Readonly<TorchLimits> = {maxTensorBytes: 512 * 2 ** 20};

/** The object pickle of a zip archive: a TorchScript CLIP's data.pkl is under 1 MB. */
const MAX_PICKLE_BYTES = 256 * 2 ** 20;

export interface LoadTorchOptions {
  /** File name for error messages (default "PyTorch file"). */
  what?: string;
  /** Which pickle of a zip archive to load (default "data.pkl"; TorchScript archives also have "constants.pkl"). */
  pickle?: string;
  /** Tensor and allocation limits (defaults in TORCH_LIMITS). */
  limits?: Partial<TorchLimits>;
  /** Limits of the pickle VM (defaults in PICKLE_LIMITS). */
  pickleLimits?: Partial<UnpickleLimits>;
}

/** The limits of one load, with the running count of allocated bytes. */
class LoadBudget {
  readonly what: string;
  readonly maxTensorBytes: number;
  readonly maxAllocBytes: number;
  private readonly total: {allocated: number};
  constructor(what: string, fileBytes: number, limits: Partial<TorchLimits> = {}, total = {allocated: 0}) {
    this.what = what;
    this.maxTensorBytes = limits.maxTensorBytes ?? TORCH_LIMITS.maxTensorBytes;
    this.maxAllocBytes = limits.maxAllocBytes ?? Math.max(512 * 2 ** 20, 4 * fileBytes);
    this.total = total;
  }
  get allocated(): number {
    return this.total.allocated;
  }
  /** Count `bytes` about to be allocated for `purpose`; a named error when they pass the total. */
  charge(bytes: number, purpose: string): void {
    this.total.allocated += bytes;
    if (this.total.allocated > this.maxAllocBytes) {
      throw new StyleclipError(`${this.what}: ${purpose} would bring the memory allocated for this file to ${this.total.allocated} bytes, over the limit of ${this.maxAllocBytes}`);
    }
  }
  /** A stream nested in this file, under its own name: the same limits and the same running total. */
  nested(what: string): LoadBudget {
    return new LoadBudget(what, 0, {maxTensorBytes: this.maxTensorBytes, maxAllocBytes: this.maxAllocBytes}, this.total);
  }
}

function intList(x: unknown, what: string, field: string): number[] {
  if (!Array.isArray(x) || !x.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new StyleclipError(`${what}: tensor ${field} ${preview(x)} is not a list of non-negative integers`);
  }
  return x as number[];
}

function rebuildArgs(budget: LoadBudget, storage: unknown, offset: unknown, size: unknown, stride: unknown, dtype?: HostDType): TensorRef {
  const what = budget.what;
  if (!(storage instanceof Object) || !('key' in storage)) {
    throw new StyleclipError(`${what}: tensor rebuilt from a ${describe(storage)} instead of a storage`);
  }
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new StyleclipError(`${what}: bad tensor storage offset ${preview(offset)}`);
  const s = storage as StorageRef;
  const sz = intList(size, what, 'size');
  const st = intList(stride, what, 'stride');
  if (sz.length !== st.length) throw new StyleclipError(`${what}: tensor size ${preview(sz)} and stride ${preview(st)} differ in length`);
  const t = new TensorRef(s, offset as number, sz, st, dtype ?? s.dtype);
  checkView(budget, t);
  return t;
}

/**
 * Refuse, before anything is allocated, a tensor view that would materialise more than its storage holds or more
 * than the tensor limit: an expanded view (stride 0), a view reaching past the storage, a shape too big to allocate.
 */
function checkView(budget: LoadBudget, t: TensorRef): void {
  const {what} = budget;
  const desc = (): string => `shape ${preview(t.size)} stride ${preview(t.stride)} offset ${t.offset}`;
  let n = 1;
  for (const d of t.size) n *= d; // a float: may pass 2^53, which the checks below refuse anyway
  const bytes = n * DTYPE_BYTES[t.dtype];
  if (bytes > budget.maxTensorBytes) {
    throw new StyleclipError(`${what}: tensor ${desc()} would take ${bytes} bytes, over the limit of ${budget.maxTensorBytes} bytes per tensor`);
  }
  if (n === 0) return;
  for (let i = 0; i < t.size.length; i++) {
    if (t.stride[i] === 0 && t.size[i]! > 1) {
      throw new StyleclipError(`${what}: tensor ${desc()} is an expanded view (stride 0), which would materialise more than its storage holds`);
    }
  }
  let needed = t.offset + 1;
  for (let i = 0; i < t.size.length; i++) needed += (t.size[i]! - 1) * t.stride[i]!;
  const elems = (t.storage.numel * DTYPE_BYTES[t.storage.dtype]) / DTYPE_BYTES[t.dtype];
  if (needed > elems || n > elems) {
    throw new StyleclipError(
      `${what}: storage ${preview(t.storage.key)} is too short for the tensor view: ${desc()} needs ${Math.max(needed, n)} elements but the storage has ${Math.floor(elems)}`,
    );
  }
}

/** The torch globals a checkpoint may use; `__torch__.*` classes become dict-backed PyObjects. */
function torchGlobals(budget: LoadBudget): GlobalResolver {
  const what = budget.what;
  const valueOnly: GlobalHandler = {};
  const identity: GlobalHandler = {call: (args) => args[0]};
  const handlers = new Map<string, GlobalHandler>([
    ['torch._utils._rebuild_tensor', {call: ([st, off, size, stride]) => rebuildArgs(budget, st, off, size, stride)}],
    ['torch._utils._rebuild_tensor_v2', {call: ([st, off, size, stride]) => rebuildArgs(budget, st, off, size, stride)}],
    ['torch._utils._rebuild_tensor_v3', {
      call: ([st, off, size, stride, , , dtype]) => {
        const name = dtype instanceof PyGlobal && dtype.module === 'torch' ? TORCH_DTYPES[dtype.name] : undefined;
        if (name === undefined) throw new StyleclipError(`${what}: _rebuild_tensor_v3 with unsupported dtype ${preview(dtype)}`);
        return rebuildArgs(budget, st, off, size, stride, name);
      },
    }],
    // nn.Parameter(data, requires_grad, backward_hooks[, state]) → the data tensor.
    ['torch._utils._rebuild_parameter', identity],
    ['torch._utils._rebuild_parameter_with_state', identity],
    // Tensor subclasses in torch 2.x: _rebuild_from_type_v2(func, new_type, args, state) → func(*args).
    ['torch._tensor._rebuild_from_type_v2', {
      call: ([func, , args]) => {
        if (!(func instanceof PyGlobal) || func.handler.call === undefined || !Array.isArray(args)) {
          throw new StyleclipError(`${what}: _rebuild_from_type_v2 with an unsupported rebuild function`);
        }
        return func.handler.call(args);
      },
    }],
    ['torch.nn.parameter.Parameter', valueOnly],
    ['torch.Tensor', valueOnly],
    ['torch.Size', {call: (args) => (Array.isArray(args[0]) ? [...args[0]] : [])}],
    ['torch.device', {call: (args) => args.map(String).join(':')}],
    // TorchScript's typed-list helpers just wrap plain values.
    ['torch.jit._pickle.build_intlist', identity],
    ['torch.jit._pickle.build_floatlist', identity],
    ['torch.jit._pickle.build_boollist', identity],
    ['torch.jit._pickle.build_doublelist', identity],
    ['torch.jit._pickle.build_tensorlist', identity],
    ['torch.jit._pickle.restore_type_tag', identity],
  ]);
  return (module, name) => {
    const h = handlers.get(`${module}.${name}`);
    if (h !== undefined) return h;
    if ((module === 'torch' || module === 'torch.cuda') && name in STORAGE_DTYPES) return valueOnly;
    if (module === 'torch' && name in TORCH_DTYPES) return valueOnly;
    if (module === '__torch__' || module.startsWith('__torch__.')) {
      const className = `${module}.${name}`;
      return {newobj: () => new PyObject(className), call: () => new PyObject(className)};
    }
    return undefined;
  };
}

function storageDtype(what: string, type: unknown): HostDType {
  const dtype = type instanceof PyGlobal ? STORAGE_DTYPES[type.name] : undefined;
  if (dtype === undefined) throw new StyleclipError(`${what}: unsupported storage type ${type instanceof PyGlobal ? `'${type.qualifiedName}'` : describe(type)}`);
  return dtype;
}

/** Check a persistent id's head and return its fields after 'storage'. */
function storagePid(what: string, pid: unknown): unknown[] {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    throw new StyleclipError(`${what}: unsupported persistent id ${Array.isArray(pid) ? preview(pid[0]) : describe(pid)} (only storages are supported)`);
  }
  return pid.slice(1);
}

/** Typed array over a whole storage (for a legacy view storage: the root storage, plus the view offset). */
function storageData(what: string, s: StorageRef): {data: HostData; base: number; count: number} {
  if (s.base !== undefined) {
    const root = storageData(what, s.base);
    return {data: root.data, base: root.base + s.baseOffset!, count: s.numel};
  }
  if (s.typed === undefined) {
    if (s.bytes === undefined) throw new StyleclipError(`${what}: missing storage record for storage ${preview(s.key)}`);
    const size = DTYPE_BYTES[s.dtype];
    s.typed = hostDataFromBytes(s.dtype, s.bytes, Math.floor(s.bytes.byteLength / size));
  }
  return {data: s.typed, base: 0, count: s.numel};
}

function materializeTensor(budget: LoadBudget, t: TensorRef): HostTensor {
  const what = budget.what;
  const {data, base, count} = storageData(what, t.storage);
  let src = data;
  let avail = count;
  if (t.dtype !== t.storage.dtype) {
    // _rebuild_tensor_v3 reinterprets the storage bytes as another dtype.
    const bytes = new Uint8Array(data.buffer, data.byteOffset + base * DTYPE_BYTES[t.storage.dtype], count * DTYPE_BYTES[t.storage.dtype]);
    avail = Math.floor(bytes.byteLength / DTYPE_BYTES[t.dtype]);
    if (bytes.byteOffset % DTYPE_BYTES[t.dtype] !== 0) budget.charge(bytes.byteLength, `copying storage ${preview(t.storage.key)} to realign it`);
    src = hostDataFromBytes(t.dtype, bytes, avail);
  } else if (base !== 0) {
    src = data.subarray(base, base + count) as HostData;
  }
  avail = Math.min(avail, src.length);
  const n = numel(t.size);
  let needed = 0;
  if (n > 0) {
    needed = t.offset + 1;
    for (let i = 0; i < t.size.length; i++) needed += (t.size[i]! - 1) * t.stride[i]!;
  }
  if (needed > avail) {
    throw new StyleclipError(
      `${what}: storage ${preview(t.storage.key)} is too short for the tensor view: shape [${t.size.join(', ')}] ` +
        `stride [${t.stride.join(', ')}] offset ${t.offset} needs ${needed} elements but the storage has ${avail}`,
    );
  }
  const shape = [...t.size];
  if (n === 0) return {dtype: t.dtype, shape, data: src.subarray(0, 0) as HostData};
  if (isContiguous(t.size, t.stride)) return {dtype: t.dtype, shape, data: src.subarray(t.offset, t.offset + n) as HostData};
  budget.charge(n * DTYPE_BYTES[t.dtype], `copying the strided tensor ${preview(t.size)}`);
  return {dtype: t.dtype, shape, data: gatherStrided(src, t.dtype, t.size, t.stride, t.offset)};
}

/**
 * Replace every TensorRef in the object tree with a HostTensor (in place; shared tensors stay shared). Iterative,
 * each container visited once, so deep, shared or cyclic structure costs its distinct size and no stack.
 */
function materialize(budget: LoadBudget, root: unknown): unknown {
  const done = new Map<TensorRef, HostTensor>();
  const fix = (x: unknown): unknown => {
    if (!(x instanceof TensorRef)) return x;
    let t = done.get(x);
    if (t === undefined) {
      t = materializeTensor(budget, x);
      done.set(x, t);
    }
    return t;
  };
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length > 0) {
    const x = todo.pop();
    if (typeof x !== 'object' || x === null || seen.has(x) || ArrayBuffer.isView(x) || x instanceof TensorRef) continue;
    seen.add(x);
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) todo.push((x[i] = fix(x[i])));
    } else if (x instanceof Map) {
      for (const [k, v] of x) todo.push(x.set(k, fix(v)).get(k));
    } else if (x instanceof PyObject) {
      for (const [k, v] of x.attrs) todo.push(x.attrs.set(k, fix(v)).get(k));
    } else if (x instanceof Set) {
      const items = [...x].map(fix);
      x.clear();
      for (const v of items) {
        x.add(v);
        todo.push(v);
      }
    }
  }
  return fix(root);
}

/** True when the bytes start with the pickled legacy magic number (protocol 2 PROTO + LONG1, as torch writes it). */
export function isLegacyTorch(bytes: Uint8Array): boolean {
  const head = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  if (bytes.byteLength < 2 + head.length || bytes[0] !== 0x80) return false;
  return head.every((b, i) => bytes[2 + i] === b);
}

/** Load a torch.save file (zip or legacy) or a TorchScript archive from bytes. */
export function loadTorch(bytes: Uint8Array, opts: LoadTorchOptions = {}): unknown {
  const what = opts.what ?? 'PyTorch file';
  const budget = new LoadBudget(what, bytes.byteLength, opts.limits);
  if (isZip(bytes)) return loadTorchZip(openZip(bytes, {what}), budget, opts);
  if (isLegacyTorch(bytes)) return loadTorchLegacy(bytes, budget, opts.pickleLimits);
  if (bytes.byteLength >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new StyleclipError(`${what}: the tar-based torch.save format of torch < 0.4 is not supported; re-save it with a newer torch`);
  }
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new StyleclipError(`${what}: not a PyTorch file: neither a zip archive nor a legacy torch.save file (starts with ${head || 'nothing'})`);
}

/** Load one pickle (default data.pkl) of a torch zip / TorchScript archive. */
function loadTorchZip(zip: ZipArchive, budget: LoadBudget, opts: LoadTorchOptions): unknown {
  const what = budget.what;
  // Deflated entries are inflated only when referenced, each capped by its declared size and the bytes it must
  // hold, and counted against the allocation limit before inflating.
  const readEntry = (name: string, maxBytes: number): Uint8Array => {
    const e = zip.entry(name)!;
    if (e.method !== 0 && e.uncompressedSize <= maxBytes) budget.charge(e.uncompressedSize, `inflating ${preview(name)}`);
    return zip.read(e, {maxBytes});
  };
  const first = zip.entries[0]?.name;
  const slash = first?.indexOf('/') ?? -1;
  if (first === undefined || slash <= 0) {
    throw new StyleclipError(`${what}: not a PyTorch archive: ${first === undefined ? 'the zip is empty' : `first entry ${preview(first)} is not in a folder`}`);
  }
  const root = first.slice(0, slash);
  const pklName = `${root}/${opts.pickle ?? 'data.pkl'}`;
  if (!zip.has(pklName)) throw new StyleclipError(`${what}: not a PyTorch archive: missing ${preview(pklName)}`);
  const byteorder = `${root}/byteorder`;
  if (zip.has(byteorder)) {
    const order = new TextDecoder().decode(readEntry(byteorder, 64)).trim();
    if (order !== 'little') throw new StyleclipError(`${what}: storages are ${preview(order)}-endian; only little-endian is supported`);
  }
  // constants.pkl refers to constants/<key>, data.pkl to data/<key>.
  const dataDir = (opts.pickle ?? 'data.pkl') === 'constants.pkl' ? 'constants' : 'data';
  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const [type, key, , size] = storagePid(what, pid);
    if (typeof key !== 'string') throw new StyleclipError(`${what}: storage key ${preview(key)} is not a string`);
    const k = key;
    let s = storages.get(k);
    if (s !== undefined) return s;
    const dtype = storageDtype(what, type);
    let record = `${root}/${dataDir}/${k}`;
    if (!zip.has(record) && zip.has(`${root}/${k}`)) record = `${root}/${k}`;
    if (!zip.has(record)) throw new StyleclipError(`${what}: missing storage record ${preview(record, 120)}`);
    const declared = Number.isSafeInteger(size) && (size as number) >= 0 ? (size as number) * DTYPE_BYTES[dtype] : Infinity;
    if (declared > budget.maxTensorBytes && Number.isFinite(declared)) {
      throw new StyleclipError(`${what}: storage ${preview(k)} of ${size} ${dtype} elements (${declared} bytes) is over the limit of ${budget.maxTensorBytes} bytes`);
    }
    const bytes = readEntry(record, Math.min(declared, budget.maxTensorBytes));
    const n = Number.isFinite(declared) ? (size as number) : Math.floor(bytes.byteLength / DTYPE_BYTES[dtype]);
    if (bytes.byteLength < n * DTYPE_BYTES[dtype]) {
      throw new StyleclipError(`${what}: storage record ${preview(record, 120)} has ${bytes.byteLength} bytes but ${n} ${dtype} elements need ${n * DTYPE_BYTES[dtype]}`);
    }
    s = {key: k, dtype, numel: n, bytes};
    storages.set(k, s);
    return s;
  };
  const pkl = readEntry(pklName, MAX_PICKLE_BYTES);
  const {value} = unpickleAt(pkl, 0, {
    what: `${what} (${pklName})`,
    resolveGlobal: torchGlobals(budget),
    persistentLoad,
    ...(opts.pickleLimits ? {limits: opts.pickleLimits} : {}),
  });
  return materialize(budget, value);
}

/** Load a legacy (pre-1.6, non-zip) torch.save file. */
function loadTorchLegacy(bytes: Uint8Array, budget: LoadBudget, pickleLimits?: Partial<UnpickleLimits>): unknown {
  const what = budget.what;
  const magic = unpickleAt(bytes, 0, {what: `${what} (magic number)`});
  if (magic.value !== LEGACY_MAGIC) throw new StyleclipError(`${what}: not a legacy torch.save file (bad magic number)`);
  const version = unpickleAt(bytes, magic.end, {what: `${what} (protocol version)`});
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new StyleclipError(`${what}: unsupported legacy torch.save protocol version ${preview(version.value)} (expected ${LEGACY_PROTOCOL_VERSION})`);
  }
  const sysInfo = unpickleAt(bytes, version.end, {what: `${what} (sys_info)`});
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new StyleclipError(`${what}: the file was written on a big-endian machine; only little-endian is supported`);
  }
  const storages = new Map<string, StorageRef>();
  const views = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): unknown => {
    if (Array.isArray(pid) && pid[0] === 'module') return pid[3] ?? null; // source text of a pickled module class
    const [type, key, , size, viewMetadata] = storagePid(what, pid);
    if (typeof key !== 'string') throw new StyleclipError(`${what}: storage key ${preview(key)} is not a string`);
    const k = key;
    let root = storages.get(k);
    if (root === undefined) {
      if (!Number.isSafeInteger(size) || (size as number) < 0) throw new StyleclipError(`${what}: storage ${preview(k)} has a bad size ${preview(size)}`);
      root = {key: k, dtype: storageDtype(what, type), numel: size as number};
      storages.set(k, root);
    }
    if (viewMetadata === null || viewMetadata === undefined) return root;
    const [viewKey, offset, viewSize] = Array.isArray(viewMetadata) ? viewMetadata : [];
    if (typeof viewKey !== 'string' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(viewSize)) {
      throw new StyleclipError(`${what}: bad storage view metadata ${preview(viewMetadata)} for ${preview(k)}`);
    }
    if ((offset as number) < 0 || (viewSize as number) < 0 || (offset as number) + (viewSize as number) > root.numel) {
      throw new StyleclipError(`${what}: storage view ${preview(viewKey)} [${offset}, ${(offset as number) + (viewSize as number)}) lies outside storage ${preview(k)} of ${root.numel} elements`);
    }
    const vk = viewKey as string;
    let view = views.get(vk);
    if (view === undefined) {
      view = {key: vk, dtype: root.dtype, numel: viewSize as number, base: root, baseOffset: offset as number};
      views.set(vk, view);
    }
    return view;
  };
  const limits = pickleLimits ? {limits: pickleLimits} : {};
  const obj = unpickleAt(bytes, sysInfo.end, {what: `${what} (object pickle)`, resolveGlobal: torchGlobals(budget), persistentLoad, ...limits});
  const keys = unpickleAt(bytes, obj.end, {what: `${what} (storage keys)`, ...limits});
  if (!Array.isArray(keys.value)) throw new StyleclipError(`${what}: the storage key list is not a list`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value) {
    const k = typeof key === 'string' ? key : '';
    const s = storages.get(k);
    if (s === undefined) throw new StyleclipError(`${what}: storage record ${preview(key)} is not referenced by the object pickle`);
    if (pos + 8 > bytes.byteLength) throw new StyleclipError(`${what}: truncated: storage record ${preview(k)} is missing at byte ${pos}`);
    const count = Number(dv.getBigInt64(pos, true));
    const nbytes = count * DTYPE_BYTES[s.dtype];
    pos += 8;
    if (count < 0 || pos + nbytes > bytes.byteLength) {
      if (count < 0) throw new StyleclipError(`${what}: storage record ${preview(k)} has a negative element count ${count}`);
      throw new StyleclipError(`${what}: truncated: storage record ${preview(k)} needs ${nbytes} bytes at byte ${pos} but the file has ${bytes.byteLength}`);
    }
    if (count < s.numel) throw new StyleclipError(`${what}: storage record ${preview(k)} has ${count} elements but ${s.numel} are referenced`);
    s.bytes = bytes.subarray(pos, pos + nbytes);
    pos += nbytes;
  }
  for (const s of storages.values()) {
    if (s.bytes === undefined) throw new StyleclipError(`${what}: missing storage record ${preview(s.key)}`);
  }
  return materialize(budget, obj.value);
}

// ---------------------------------------------------------------------------------------------------------------
// NVIDIA network pickles

/**
 * The classes of NVlabs stylegan2-ada-pytorch (`training/networks.py`, `training/augment.py`) that a network pickle
 * may hold. Any other class would need its embedded source to run and is refused.
 */
const PERSISTENT_CLASSES: ReadonlySet<string> = new Set([
  'Generator', 'MappingNetwork', 'SynthesisNetwork', 'SynthesisBlock', 'SynthesisLayer', 'ToRGBLayer',
  'FullyConnectedLayer', 'Conv2dLayer', 'Discriminator', 'DiscriminatorBlock', 'DiscriminatorEpilogue',
  'MinibatchStdLayer', 'AugmentPipe',
]);

/** `torch_utils.persistence._version`: the layout of the reconstruction record. */
const PERSISTENCE_VERSION = 6;

/**
 * One module of an NVIDIA network pickle as data: the class name and the module's `__dict__` (`attrs`: plain
 * fields, `_parameters` / `_buffers` / `_modules` maps, `_init_kwargs`). The Python source the record carries
 * (`module_src`) is dropped unread.
 */
export class PersistentRecord extends PyObject {
  readonly version: number;
  constructor(className: string, version: number, state: Map<string, unknown>) {
    super(className, state);
    this.version = version;
  }
}

/** The extra globals of network pickles, on top of the torch ones: persistence records, EasyDict, pickled storages. */
function networkPickleGlobals(budget: LoadBudget): GlobalResolver {
  const what = budget.what;
  const torch = torchGlobals(budget);
  const easyDict: GlobalHandler = {
    newobj: () => new Map(),
    call: (args) => (args[0] instanceof Map ? new Map(args[0]) : new Map()),
    build: (obj, state) => {
      if (state instanceof Map) for (const [k, v] of state) (obj as Map<unknown, unknown>).set(k, v);
      return obj;
    },
  };
  const handlers = new Map<string, GlobalHandler>([
    ['torch_utils.persistence._reconstruct_persistent_obj', {call: ([meta]) => persistentRecord(what, meta)}],
    ['dnnlib.util.EasyDict', easyDict],
    ['torch.storage._load_from_bytes', {
      call: ([b]) => {
        if (!(b instanceof Uint8Array)) throw new StyleclipError(`${what}: torch.storage._load_from_bytes of a ${describe(b)}, not bytes`);
        // A nested legacy torch.save stream; its storages count against the same budget as the whole file.
        const s = loadTorchLegacy(b, budget.nested(`${what} (pickled storage)`));
        if (s instanceof TensorRef || typeof s !== 'object' || s === null || !('key' in s)) {
          throw new StyleclipError(`${what}: a pickled storage holds a ${describe(s)}, not a storage`);
        }
        return s;
      },
    }],
  ]);
  return (module, name) => handlers.get(`${module}.${name}`) ?? torch(module, name);
}

function persistentRecord(what: string, meta: unknown): PersistentRecord {
  if (!(meta instanceof Map)) throw new StyleclipError(`${what}: a persistent object is rebuilt from a ${describe(meta)}, not a record`);
  const className = meta.get('class_name');
  if (meta.get('type') !== 'class' || typeof className !== 'string') {
    throw new StyleclipError(`${what}: unsupported persistent object of type '${String(meta.get('type'))}' (only classes are supported)`);
  }
  if (!PERSISTENT_CLASSES.has(className)) {
    throw new StyleclipError(
      `${what}: the pickle holds a persistent object of class '${className.slice(0, 80)}', which only its embedded Python source (module_src) defines; ` +
        `that source is never run, so only the StyleGAN2-ADA network classes can be read`,
    );
  }
  const version = meta.get('version');
  if (version !== PERSISTENCE_VERSION) throw new StyleclipError(`${what}: persistent object '${className}' has record version ${String(version)}, expected ${PERSISTENCE_VERSION}`);
  const state = meta.get('state');
  if (!(state instanceof Map) || ![...state.keys()].every((k) => typeof k === 'string')) {
    throw new StyleclipError(`${what}: persistent object '${className}' has a ${describe(state)} as its state, not a dict of attributes`);
  }
  return new PersistentRecord(className, version, state as Map<string, unknown>);
}

/** True when the bytes start like a pickle of protocol 2–5 that is not a legacy torch.save file. */
export function isPlainPickle(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 3 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5 && !isLegacyTorch(bytes);
}

/**
 * Load an NVIDIA network pickle (e.g. stylegan2-ada-pytorch's `ffhq.pkl`) from bytes: the snapshot dict with its
 * modules as PersistentRecords and its tensors as HostTensors. Nothing from the file is executed.
 */
export function loadNetworkPickle(bytes: Uint8Array, opts: {what?: string; limits?: Partial<TorchLimits>; pickleLimits?: Partial<UnpickleLimits>} = {}): unknown {
  const what = opts.what ?? 'network pickle';
  const budget = new LoadBudget(what, bytes.byteLength, opts.limits);
  const {value} = unpickleAt(bytes, 0, {what, resolveGlobal: networkPickleGlobals(budget), ...(opts.pickleLimits ? {limits: opts.pickleLimits} : {})});
  return materialize(budget, value);
}

/**
 * `Module.state_dict()` of a PersistentRecord tree: each module's `_parameters`, then its persistent `_buffers`, then
 * its `_modules` recursively, keys joined with '.'. A sub-module that is not a record is an error.
 */
export function persistentStateDict(root: PersistentRecord, what = 'network'): StateDict {
  const out: StateDict = new Map();
  const walk = (m: PersistentRecord, prefix: string, depth: number): void => {
    if (depth > 64) throw new StyleclipError(`${what}: modules nested deeper than 64 levels`);
    const skip = m.attrs.get('_non_persistent_buffers_set');
    const nonPersistent = skip instanceof Set ? skip : new Set();
    for (const field of ['_parameters', '_buffers'] as const) {
      const entries = m.attrs.get(field);
      if (entries === undefined) continue;
      if (!(entries instanceof Map)) throw new StyleclipError(`${what}: '${prefix}${field}' of a '${m.className}' is a ${describe(entries)}, not a dict`);
      for (const [k, v] of entries) {
        if (v === null || (field === '_buffers' && nonPersistent.has(k))) continue;
        if (!isHostTensor(v)) throw new StyleclipError(`${what}: '${prefix}${String(k)}' is a ${describe(v)}, not a tensor`);
        out.set(`${prefix}${String(k)}`, v);
      }
    }
    const modules = m.attrs.get('_modules');
    if (modules === undefined) return;
    if (!(modules instanceof Map)) throw new StyleclipError(`${what}: '${prefix}_modules' of a '${m.className}' is a ${describe(modules)}, not a dict`);
    for (const [k, v] of modules) {
      if (v === null) continue;
      if (!(v instanceof PersistentRecord)) throw new StyleclipError(`${what}: sub-module '${prefix}${String(k)}' is a ${describe(v)}, not a network module`);
      walk(v, `${prefix}${String(k)}.`, depth + 1);
    }
  };
  walk(root, '', 0);
  return out;
}

/** Attributes of TorchScript modules that are not parameters or buffers. */
const TORCHSCRIPT_SKIP = new Set(['training', '_is_full_backward_hook']);

/**
 * Flatten a TorchScript module tree (the `data.pkl` of a `torch.jit.save` archive) into its state dict:
 * every tensor attribute under `path.name`, sub-modules recursed into, in attribute order. This equals
 * `torch.jit.load(f).state_dict()` (fixtures README §7). Class names are not looked at.
 */
export function torchScriptStateDict(obj: unknown): StateDict {
  if (!(obj instanceof PyObject)) throw new StyleclipError(`not a TorchScript module tree: the root is a ${describe(obj)}`);
  const out: StateDict = new Map();
  const seen = new Set<PyObject>();
  const walk = (m: PyObject, prefix: string): void => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const [name, v] of m.attrs) {
      if (TORCHSCRIPT_SKIP.has(name)) continue;
      if (isHostTensor(v)) out.set(prefix + name, v);
      else if (v instanceof PyObject) walk(v, `${prefix}${name}.`);
    }
  };
  walk(obj, '');
  return out;
}

export interface ExtractStateDictOptions {
  /** Keys to descend into, first match wins (default ['state_dict', 'g_ema', 'model']). */
  prefer?: string[];
  /** Name of the source for error messages. */
  what?: string;
}

/**
 * The flat name → tensor map inside a loaded checkpoint: a dict of tensors itself, the value at the first
 * preferred key (e.g. 'g_ema' of rosinality checkpoints, 'state_dict' of StyleCLIP mappers), or a TorchScript
 * module tree. Fails naming the top-level keys when none of these apply.
 */
export function extractStateDict(obj: unknown, {prefer = ['state_dict', 'g_ema', 'model'], what = 'checkpoint'}: ExtractStateDictOptions = {}): StateDict {
  if (obj instanceof PyObject) return torchScriptStateDict(obj);
  if (!(obj instanceof Map)) {
    throw new StyleclipError(`${what} holds a ${isHostTensor(obj) ? 'single tensor' : describe(obj)}, not a state dict`);
  }
  for (const key of prefer) {
    if (obj.has(key)) return extractStateDict(obj.get(key), {prefer: [], what: `${what}[${preview(key)}]`});
  }
  const out: StateDict = new Map();
  const bad: string[] = [];
  for (const [k, v] of obj) {
    if (isHostTensor(v)) out.set(String(k), v);
    else bad.push(String(k));
  }
  if (bad.length > 0) {
    const keys = [...obj.keys()].map(String);
    const list = keys.slice(0, 10).map((k) => preview(k)).join(', ') + (keys.length > 10 ? `, … (${keys.length} keys)` : '');
    throw new StyleclipError(
      `${what} is not a flat state dict (non-tensor values at ${bad.slice(0, 5).map((b) => preview(b)).join(', ')}${bad.length > 5 ? ', …' : ''}) ` +
        `and has none of the keys ${prefer.map((p) => `'${p}'`).join(', ') || '(none given)'}; its keys are [${list}]`,
    );
  }
  return out;
}
