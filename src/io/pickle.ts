/**
 * A restricted pickle VM (opcodes as documented in CPython Lib/pickletools.py, protocols 0–5).
 *
 * It builds plain values and executes nothing: a `GLOBAL` / `STACK_GLOBAL` / `INST` opcode is resolved
 * against an allow-list of handlers when it is read, and an unlisted global is an error right there, so a
 * hostile pickle (`os.system`, `builtins.eval`, …) never gets further than naming it. Handlers say what
 * REDUCE / NEWOBJ / BUILD mean for their global, producing data, never running code from the file.
 *
 * Python values map to JS as: None → null, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes → Uint8Array, list and tuple → Array, dict → Map (insertion order kept),
 * set / frozenset → Set, objects of allowed classes → what their handler makes (often a PyObject).
 */
import {StyleclipError} from '../errors.js';
import {latin1} from '../bytes.js';
import {preview} from './preview.js';
import {DTYPE_BYTES, type HostDType, type HostTensor, gatherStrided, hostDataFromBytes} from './host-tensor.js';

/** An object of an allowed class with no better JS form: its qualified class name and its attributes. */
export class PyObject {
  readonly className: string;
  readonly attrs: Map<string, unknown>;
  constructor(className: string, attrs: Map<string, unknown> = new Map()) {
    this.className = className;
    this.attrs = attrs;
  }
}

/** What REDUCE / NEWOBJ / BUILD do for one allowed global. A missing hook is an error when used. */
export interface GlobalHandler {
  /** REDUCE: `global(*args)`. */
  call?: (args: unknown[]) => unknown;
  /** NEWOBJ / NEWOBJ_EX: `global.__new__(global, *args, **kwargs)`. */
  newobj?: (args: unknown[], kwargs: Map<unknown, unknown>) => unknown;
  /** BUILD on an object this handler created; returns the (possibly replaced) object. */
  build?: (obj: unknown, state: unknown) => unknown;
}

/** A resolved global sitting on the stack (it may also end up as a plain value, e.g. `torch.FloatStorage`). */
export class PyGlobal {
  readonly module: string;
  readonly name: string;
  readonly handler: GlobalHandler;
  constructor(module: string, name: string, handler: GlobalHandler) {
    this.module = module;
    this.name = name;
    this.handler = handler;
  }
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
  toString(): string {
    return this.qualifiedName;
  }
}

/** Resolves `module.name` to a handler, or undefined when the global is not allowed. */
export type GlobalResolver = (module: string, name: string) => GlobalHandler | undefined;

export interface UnpickleOptions {
  /** Allowed globals beyond the built-in ones; consulted first. */
  resolveGlobal?: GlobalResolver;
  /** BINPERSID / PERSID: turn a persistent id into a value. Without it persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Name of the pickle for error messages (default "pickle"). */
  what?: string;
  /** Resource limits (each defaults to the value in PICKLE_LIMITS). */
  limits?: Partial<UnpickleLimits>;
}

/** What one pickle may cost, decided from the opcodes before the work is done. */
export interface UnpickleLimits {
  /** Nesting of MARKs, and of containers in the result (Python's own recursion limit is 1000). */
  maxDepth: number;
  /** Bytes of one LONG1 / LONG4 integer, and digits of a text INT / LONG. */
  maxIntBytes: number;
  /**
   * Container elements that REDUCE / NEWOBJ / BUILD may hand to handlers (which may copy them), in total, per byte of
   * the pickle; `list(x)` repeated on one memoised list would otherwise copy it once per 4-byte opcode.
   */
  workPerByte: number;
}

/**
 * Defaults: no real checkpoint nests deeper than a few dozen levels (Python's pickler recurses and stops at 1000);
 * the only big integer torch files hold is the legacy magic number (10 bytes); handlers copy far less than 16
 * elements per pickle byte (a state dict's OrderedDict(list of pairs) hands over one pair per ~20 bytes).
 */
export const PICKLE_LIMITS: Readonly<UnpickleLimits> = {maxDepth: 1000, maxIntBytes: 4096, workPerByte: 16};

/** Elements a container holds (0 for anything else): what a handler given it may iterate over or copy. */
function shallowSize(x: unknown): number {
  if (Array.isArray(x)) return x.length;
  if (x instanceof Map || x instanceof Set) return x.size;
  if (x instanceof PyObject) return x.attrs.size;
  return 0;
}

/**
 * The nesting height of a value graph (a leaf is 0, `[[1]]` is 2), walked iteratively with each container visited
 * once, so shared structure costs its distinct size and cycles (back edges) end the walk there. Throws via `fail`
 * as soon as the height passes `max`.
 */
function checkNesting(root: unknown, max: number, fail: (msg: string) => never): void {
  const children = (x: unknown): unknown[] | undefined => {
    if (Array.isArray(x)) return x;
    if (x instanceof Set) return [...x];
    if (x instanceof Map) return [...x.keys(), ...x.values()];
    if (x instanceof PyObject) return [...x.attrs.values()];
    return undefined;
  };
  const height = new Map<object, number>();
  const onStack = new Set<object>();
  const first = children(root);
  if (first === undefined) return;
  const frames: Array<{node: object; kids: unknown[]; i: number; h: number}> = [{node: root as object, kids: first, i: 0, h: 0}];
  onStack.add(root as object);
  while (frames.length > 0) {
    const f = frames[frames.length - 1]!;
    if (f.i < f.kids.length) {
      const k = f.kids[f.i++];
      const kk = typeof k === 'object' && k !== null && !onStack.has(k) ? children(k) : undefined;
      if (kk === undefined) continue;
      const known = height.get(k as object);
      if (known !== undefined) {
        f.h = Math.max(f.h, known + 1);
        continue;
      }
      if (frames.length >= max) fail(`nested deeper than the limit of ${max} levels`);
      frames.push({node: k as object, kids: kk, i: 0, h: 0});
      onStack.add(k as object);
      continue;
    }
    frames.pop();
    onStack.delete(f.node);
    height.set(f.node, f.h);
    if (f.h > max) fail(`nested deeper than the limit of ${max} levels`);
    const parent = frames[frames.length - 1];
    if (parent !== undefined) parent.h = Math.max(parent.h, f.h + 1);
  }
}

/** Attributes set by BUILD on dict-like objects (e.g. an OrderedDict's `_metadata`), kept off the Map itself. */
const extraState = new WeakMap<object, unknown>();

/** The BUILD state recorded on a dict-like object (e.g. `{_metadata: …}` of a torch state_dict), if any. */
export function pyState(obj: object): unknown {
  return extraState.get(obj);
}

function toMapFromPairs(pairs: unknown): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (pairs instanceof Map) return new Map(pairs);
  if (Array.isArray(pairs)) {
    for (const p of pairs) {
      if (Array.isArray(p) && p.length === 2) m.set(p[0], p[1]);
      else throw new StyleclipError('pickle: dict constructor argument is not a list of pairs');
    }
  }
  return m;
}

function mergeStateInto(target: Map<unknown, unknown>, state: unknown): void {
  // state may be a dict, or (dict, slotstate) as produced by objects with __slots__.
  const parts = Array.isArray(state) ? state : [state];
  for (const part of parts) {
    if (part instanceof Map) for (const [k, v] of part) target.set(k, v);
  }
}

const NUMPY_DTYPES: Readonly<Record<string, {size: number; read: (v: DataView, le: boolean) => number | bigint | boolean}>> = {
  f8: {size: 8, read: (v, le) => v.getFloat64(0, le)},
  f4: {size: 4, read: (v, le) => v.getFloat32(0, le)},
  i8: {size: 8, read: (v, le) => narrowBigInt(v.getBigInt64(0, le))},
  i4: {size: 4, read: (v, le) => v.getInt32(0, le)},
  i2: {size: 2, read: (v, le) => v.getInt16(0, le)},
  i1: {size: 1, read: (v) => v.getInt8(0)},
  u8: {size: 8, read: (v, le) => narrowBigInt(v.getBigUint64(0, le))},
  u4: {size: 4, read: (v, le) => v.getUint32(0, le)},
  u2: {size: 2, read: (v, le) => v.getUint16(0, le)},
  u1: {size: 1, read: (v) => v.getUint8(0)},
  b1: {size: 1, read: (v) => v.getUint8(0) !== 0},
};

function narrowBigInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** numpy dtype objects as BUILD leaves them: the type code ('f8', …) and byte order ('<', '>', '|', '='). */
class NumpyDType extends PyObject {
  constructor(code: string) {
    super('numpy.dtype', new Map<string, unknown>([['code', code], ['byteorder', '=']]));
  }
}

/**
 * The globals every pickle may use: containers, argparse.Namespace (as a plain dict, the form StyleCLIP
 * checkpoints store their `opts` in), `_codecs.encode` (how protocol 2 spells bytes) and numpy scalars.
 */
const BASE_GLOBALS: ReadonlyMap<string, GlobalHandler> = new Map<string, GlobalHandler>([
  ['collections.OrderedDict', {
    call: (args) => toMapFromPairs(args[0]),
    newobj: () => new Map(),
    build: (obj, state) => {
      extraState.set(obj as object, state);
      return obj;
    },
  }],
  ['builtins.dict', {call: (args) => toMapFromPairs(args[0]), newobj: () => new Map()}],
  ['builtins.list', {call: (args) => (Array.isArray(args[0]) ? [...args[0]] : [])}],
  ['builtins.tuple', {call: (args) => (Array.isArray(args[0]) ? [...args[0]] : [])}],
  ['builtins.set', {call: (args) => new Set(Array.isArray(args[0]) ? args[0] : [])}],
  ['builtins.frozenset', {call: (args) => new Set(Array.isArray(args[0]) ? args[0] : [])}],
  ['builtins.slice', {
    call: (args) => new PyObject('builtins.slice', new Map([['start', args[0] ?? null], ['stop', args[1] ?? null], ['step', args[2] ?? null]])),
  }],
  ['_codecs.encode', {
    call: (args) => {
      const [s, enc] = args;
      if (typeof s !== 'string') throw new StyleclipError('pickle: _codecs.encode expects a string');
      if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') {
        return Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);
      }
      if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(s);
      throw new StyleclipError(`pickle: _codecs.encode with unsupported encoding ${preview(enc)}`);
    },
  }],
  ['argparse.Namespace', {
    call: () => new Map(),
    newobj: (_args, kwargs) => new Map(kwargs),
    build: (obj, state) => {
      mergeStateInto(obj as Map<unknown, unknown>, state);
      return obj;
    },
  }],
  ['numpy.dtype', {
    call: (args) => new NumpyDType(String(args[0]).replace(/^[<>|=]/, '')),
    build: (obj, state) => {
      // numpy dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      if (Array.isArray(state) && typeof state[1] === 'string') (obj as PyObject).attrs.set('byteorder', state[1]);
      return obj;
    },
  }],
  ['numpy.core.multiarray.scalar', {call: numpyScalar}],
  ['numpy._core.multiarray.scalar', {call: numpyScalar}],
]);

function numpyScalar(args: unknown[]): unknown {
  const [dtype, raw] = args;
  if (!(dtype instanceof NumpyDType) || !(raw instanceof Uint8Array)) {
    throw new StyleclipError('pickle: numpy scalar with an unsupported dtype or payload');
  }
  const code = String(dtype.attrs.get('code'));
  const spec = NUMPY_DTYPES[code];
  if (spec === undefined || raw.byteLength !== spec.size) {
    throw new StyleclipError(`pickle: numpy scalar of dtype '${code}' is not supported`);
  }
  const le = dtype.attrs.get('byteorder') !== '>';
  return spec.read(new DataView(raw.buffer, raw.byteOffset, raw.byteLength), le);
}

/** numpy dtype codes of the arrays numpyArrayGlobals rebuilds. */
const NUMPY_ARRAY_DTYPES: Readonly<Record<string, HostDType>> = {
  f4: 'float32', f8: 'float64', f2: 'float16', i8: 'int64', i4: 'int32', i2: 'int16', i1: 'int8', u1: 'uint8', b1: 'bool',
};

/**
 * numpy's array pickling (`ndarray.__reduce__`): `_reconstruct(ndarray, (0,), b'b')` makes an empty array and BUILD
 * fills it from `(version, shape, dtype, is_fortran, rawdata)`. The array becomes a HostTensor (C order), filled
 * in place so memo references see it. Only numeric dtypes with raw bytes are accepted (object arrays hold pickles).
 */
function numpyReconstruct(what: string): GlobalHandler {
  return {
    call: (args) => {
      if (!(args[0] instanceof PyGlobal) || args[0].qualifiedName !== 'numpy.ndarray') {
        throw new StyleclipError(`${what}: numpy _reconstruct of ${describe(args[0])}, not of numpy.ndarray`);
      }
      const empty: HostTensor = {dtype: 'float32', shape: [0], data: new Float32Array(0)};
      return empty;
    },
    build: (obj, state) => {
      const [, shape, dtype, fortran, raw] = Array.isArray(state) ? state : [];
      if (!(dtype instanceof NumpyDType) || !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        throw new StyleclipError(`${what}: a numpy array with an unsupported state`);
      }
      const code = String(dtype.attrs.get('code'));
      const hostDtype = NUMPY_ARRAY_DTYPES[code];
      if (hostDtype === undefined) throw new StyleclipError(`${what}: numpy arrays of dtype '${code}' are not supported`);
      if (dtype.attrs.get('byteorder') === '>') throw new StyleclipError(`${what}: big-endian numpy arrays are not supported`);
      if (!(raw instanceof Uint8Array)) throw new StyleclipError(`${what}: a numpy array of dtype '${code}' without raw data`);
      const dims = shape as number[];
      const n = dims.reduce((a, b) => a * b, 1);
      if (raw.byteLength !== n * DTYPE_BYTES[hostDtype]) {
        throw new StyleclipError(`${what}: a numpy array of shape [${dims.join(', ')}] and dtype '${code}' has ${raw.byteLength} bytes of data, expected ${n * DTYPE_BYTES[hostDtype]}`);
      }
      let data = hostDataFromBytes(hostDtype, raw, n);
      if (fortran === true && dims.length > 1) {
        const stride: number[] = [];
        let st = 1;
        for (const d of dims) {
          stride.push(st);
          st *= d;
        }
        data = gatherStrided(data, hostDtype, dims, stride, 0);
      }
      const t = obj as HostTensor;
      t.dtype = hostDtype;
      t.shape = [...dims];
      t.data = data;
      return t;
    },
  };
}

/** The globals of pickled numpy arrays (`numpy.ndarray` and its `_reconstruct`), for data files such as StyleCLIP's S_mean_std. */
export function numpyArrayGlobals(what = 'pickle'): GlobalResolver {
  const reconstruct = numpyReconstruct(what);
  return (module, name) => {
    const q = `${module}.${name}`;
    if (q === 'numpy.ndarray') return {};
    if (q === 'numpy.core.multiarray._reconstruct' || q === 'numpy._core.multiarray._reconstruct') return reconstruct;
    return undefined;
  };
}

/** Python 2 module names that protocol ≤ 2 pickles written by Python 3 use (pickle's fix_imports). */
const PY2_MODULES: Readonly<Record<string, string>> = {__builtin__: 'builtins', copy_reg: 'copyreg'};

const HEX_BYTE: readonly string[] = Array.from({length: 256}, (_, i) => i.toString(16).padStart(2, '0'));

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Unpickle one pickle starting at `offset`; returns the value and the byte just after its STOP opcode. */
export function unpickleAt(bytes: Uint8Array, offset: number, opts: UnpickleOptions = {}): {value: unknown; end: number} {
  const what = opts.what ?? 'pickle';
  const limits: UnpickleLimits = {...PICKLE_LIMITS, ...opts.limits};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;
  const utf8 = new TextDecoder('utf-8', {fatal: true});
  let pos = offset;
  let opStart = offset;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const createdBy = new WeakMap<object, GlobalHandler>();
  const maxWork = limits.workPerByte * (len - offset) + 1_000_000;
  let work = 0;

  const fail = (msg: string): never => {
    throw new StyleclipError(`${what}: ${msg} (at byte ${opStart})`);
  };
  const need = (n: number): void => {
    if (pos + n > len) fail(`truncated: needs ${n} more bytes but the data ends at byte ${len}`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => { need(2); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = view.getUint32(pos, true); pos += 4; return v; };
  const i32 = (): number => { need(4); const v = view.getInt32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(len)) fail(`truncated: length ${v} is beyond the end of the data`);
    return Number(v);
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('truncated: unterminated text argument');
    const s = latin1(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const decodeStr = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  // Python 2 str (BINSTRING & co.): decoded as UTF-8 like torch.load does, falling back to latin-1.
  const decodePy2Str = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return latin1(b);
    }
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev !== undefined) work += items.length;
    if (prev === undefined) fail('MARK expected (corrupt pickle)');
    stack = prev!;
    return items;
  };
  const resolve = (rawModule: string, name: string): PyGlobal => {
    const module = PY2_MODULES[rawModule] ?? rawModule;
    const q = `${module}.${name}`;
    const handler = opts.resolveGlobal?.(module, name) ?? BASE_GLOBALS.get(q);
    if (handler === undefined) fail(`pickle references the global ${preview(q, 120)}, which is not in the allow-list`);
    return new PyGlobal(module, name, handler!);
  };
  const asGlobal = (x: unknown, op: string): PyGlobal => {
    if (!(x instanceof PyGlobal)) fail(`${op} applied to a ${describe(x)}, not to an allowed global`);
    return x as PyGlobal;
  };
  // Handlers may iterate over or copy the containers they are given: count that work against the limit first.
  const charge = (op: string, ...args: unknown[]): void => {
    for (const a of args) {
      work += shallowSize(a);
      if (Array.isArray(a)) for (const x of a) work += shallowSize(x);
    }
    if (work > maxWork) fail(`${op} work exceeds the limit of ${maxWork} container elements for a pickle of ${len - offset} bytes (shared structure expanded?)`);
  };
  const record = (value: unknown, handler: GlobalHandler): unknown => {
    if (typeof value === 'object' && value !== null) createdBy.set(value, handler);
    return value;
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    if (dict instanceof Map) {
      for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    } else if (dict instanceof PyObject) {
      for (let i = 0; i < items.length; i += 2) dict.attrs.set(String(items[i]), items[i + 1]);
    } else {
      fail(`SETITEM(S) on a ${describe(dict)}, not a dict`);
    }
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list)) fail(`APPEND(S) on a ${describe(list)}, not a list`);
    for (const x of items) (list as unknown[]).push(x);
  };
  const addItems = (set: unknown, items: unknown[]): void => {
    if (!(set instanceof Set)) fail(`ADDITEMS on a ${describe(set)}, not a set`);
    for (const x of items) (set as Set<unknown>).add(x);
  };
  const persistent = (pid: unknown): unknown => {
    if (opts.persistentLoad === undefined) fail('persistent id found but this pickle has no persistent storage');
    return opts.persistentLoad!(pid);
  };
  const intFromBytes = (b: Uint8Array): number | bigint => {
    // Little-endian two's complement, as LONG1 / LONG4 store it; one BigInt from hex digits (linear time).
    if (b.length === 0) return 0;
    if (b.length > limits.maxIntBytes) fail(`integer of ${b.length} bytes exceeds the limit of ${limits.maxIntBytes} bytes`);
    let hex = '';
    for (let i = b.length - 1; i >= 0; i--) hex += HEX_BYTE[b[i]!]!;
    let v = BigInt(`0x${hex}`);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return narrowBigInt(v);
  };
  const parseIntText = (s: string): number | bigint => {
    if (s.length > 2 * limits.maxIntBytes) fail(`integer literal of ${s.length} digits exceeds the limit of ${2 * limits.maxIntBytes}`);
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d+$/.test(t)) fail(`bad integer literal ${preview(s)}`);
    return narrowBigInt(BigInt(t));
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95: // FRAME: frames are just a framing of the same opcode stream
        take(8);
        break;
      case 0x2e: { // STOP
        const value = pop();
        checkNesting(value, limits.maxDepth, fail);
        return {value, end: pos};
      }
      case 0x28: // MARK
        if (metastack.length >= limits.maxDepth) fail(`MARKs nested deeper than the limit of ${limits.maxDepth}`);
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // --- constants and numbers
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(intFromBytes(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(intFromBytes(take(n)));
        break;
      }
      case 0x47: { // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x49: { // INT (text); protocol 0 spells booleans as 00 / 01
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : parseIntText(s));
        break;
      }
      case 0x4c: stack.push(parseIntText(line())); break; // LONG (text)
      case 0x46: { // FLOAT (text)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) fail(`bad float literal ${preview(s)}`);
        stack.push(v);
        break;
      }

      // --- strings and bytes
      case 0x58: stack.push(decodeStr(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(decodeStr(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(decodeStr(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(unescapeRawUnicode(line())); break; // UNICODE (raw-unicode-escape text)
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(decodePy2Str(take(n)));
        break;
      }
      case 0x55: stack.push(decodePy2Str(take(u8()))); break; // SHORT_BINSTRING
      case 0x53: stack.push(unquotePy2Repr(line(), fail)); break; // STRING (quoted text)
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8

      // --- containers
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST (popMark swaps `stack`)
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x61: { // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        addItems(top(), items);
        break;
      }

      // --- memo
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x70: memo.set(Number(parseIntText(line())), top()); break; // PUT
      case 0x68: case 0x6a: case 0x67: { // BINGET, LONG_BINGET, GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(parseIntText(line()));
        if (!memo.has(idx)) fail(`memo key ${idx} is missing (corrupt pickle)`);
        stack.push(memo.get(idx));
        break;
      }

      // --- globals and object construction (resolved against the allow-list, never executed)
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const g = asGlobal(pop(), 'REDUCE');
        if (!Array.isArray(args)) fail(`REDUCE of '${g.qualifiedName}' with non-tuple arguments`);
        if (g.handler.call === undefined) fail(`the global '${g.qualifiedName}' cannot be called`);
        charge('REDUCE', args);
        stack.push(record(g.handler.call!(args as unknown[]), g.handler));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const g = asGlobal(pop(), 'NEWOBJ');
        if (g.handler.newobj === undefined) fail(`the global '${g.qualifiedName}' cannot be instantiated`);
        charge('NEWOBJ', args);
        stack.push(record(g.handler.newobj!(Array.isArray(args) ? args : [], new Map()), g.handler));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const g = asGlobal(pop(), 'NEWOBJ_EX');
        if (g.handler.newobj === undefined) fail(`the global '${g.qualifiedName}' cannot be instantiated`);
        charge('NEWOBJ_EX', args, kwargs);
        const kw = kwargs instanceof Map ? kwargs : new Map();
        stack.push(record(g.handler.newobj!(Array.isArray(args) ? args : [], kw), g.handler));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        const handler = typeof obj === 'object' && obj !== null ? createdBy.get(obj) : undefined;
        charge('BUILD', state);
        if (handler?.build !== undefined) {
          const built = handler.build(obj, state);
          if (typeof built === 'object' && built !== null && built !== obj) createdBy.set(built, handler);
          stack.push(built);
        } else if (obj instanceof PyObject) {
          mergeStateInto(obj.attrs as Map<unknown, unknown>, state);
          stack.push(obj);
        } else {
          fail(`BUILD (setting state) on a ${describe(obj)} is not supported`);
        }
        break;
      }
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      case 0x50: stack.push(persistent(line())); break; // PERSID

      default: {
        const name = OPCODE_NAMES[op];
        if (name === 'INST' || name === 'OBJ') {
          fail(`pickle opcode ${name} (protocol 0/1 object construction) is not supported`);
        }
        fail(`unsupported or invalid pickle opcode 0x${op.toString(16).padStart(2, '0')}${name ? ` (${name})` : ''}`);
      }
    }
  }
}

/** Unpickle a whole byte string (one pickle; trailing bytes are ignored). */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return unpickleAt(bytes, 0, opts).value;
}

/** A short description of a value for error messages. */
export function describe(x: unknown): string {
  if (x === null) return 'None';
  if (Array.isArray(x)) return 'list/tuple';
  if (x instanceof Map) return 'dict';
  if (x instanceof PyObject) return `'${x.className}' object`;
  if (x instanceof PyGlobal) return `global '${x.qualifiedName}'`;
  if (x instanceof Uint8Array) return 'bytes';
  return typeof x;
}

/** Decode Python's raw-unicode-escape (protocol 0 UNICODE): only \uXXXX and \UXXXXXXXX are escapes. */
function unescapeRawUnicode(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) =>
    String.fromCodePoint(parseInt((a ?? b)!, 16)),
  );
}

/** Decode a protocol 0 STRING argument: a Python 2 repr in single or double quotes. */
function unquotePy2Repr(s: string, fail: (msg: string) => never): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING argument is not quoted');
  const body = s.slice(1, -1);
  const simple: Record<string, string> = {n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0'};
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return simple[e] ?? `\\${e}`;
  });
}

