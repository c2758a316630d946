/**
 * Writes NVIDIA-style network pickles from JS values for tests (protocol 2 opcodes, assembled with
 * pickle-builder.ts): dicts, lists/tuples, sets, str, bytes, numbers, HostTensors as `_rebuild_tensor_v2` over a
 * `torch.storage._load_from_bytes` legacy stream, PersistentRecords as `_reconstruct_persistent_obj` records, and
 * RawGlobal for any global (to build hostile files). The output is what loadNetworkPickle reads back.
 */
import type {HostTensor} from '../../src/io/host-tensor.js';
import {isHostTensor} from '../../src/io/host-tensor.js';
import {PersistentRecord} from '../../src/io/torch.js';
import {op, pickle} from './pickle-builder.js';

/** A reference to `module.name`, written with GLOBAL (or STACK_GLOBAL), optionally called with `args` (REDUCE). */
export class RawGlobal {
  readonly module: string;
  readonly name: string;
  readonly args: unknown[] | undefined;
  readonly stack: boolean;
  constructor(module: string, name: string, args?: unknown[], stack = false) {
    this.module = module;
    this.name = name;
    this.args = args;
    this.stack = stack;
  }
}

/** A persistence record whose class name, version or module_src differ from what a loaded record gives. */
export class RawRecord {
  readonly meta: Map<string, unknown>;
  constructor(meta: Map<string, unknown>) {
    this.meta = meta;
  }
}

const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const LIST = 0x6c;
const EMPTY_SET = 0x8f;
const ADDITEMS = 0x90;

function bytesOp(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + b.length);
  out.set([0x42, ...u32(b.length)]);
  out.set(b, 5);
  return out;
}

function globalOp(module: string, name: string, stack = false): number[] {
  return stack ? [...op.unicode(module), ...op.unicode(name), op.stackGlobal] : op.global(module, name);
}

/** A legacy (pre-1.6) torch.save stream of one float32 storage: what `torch.storage._load_from_bytes` reads. */
export function legacyStorageBytes(data: Float32Array, key = '0'): Uint8Array {
  const sysInfo = [op.emptyDict, op.mark, ...op.unicode('protocol_version'), ...op.int(1001), ...op.unicode('little_endian'), op.newtrue,
    ...op.unicode('type_sizes'), op.emptyDict, op.mark, ...op.unicode('short'), ...op.int(2), ...op.unicode('int'), ...op.int(4), ...op.unicode('long'), ...op.int(4), op.setitems, op.setitems];
  const head = pickle(
    op.proto(2), op.long1(0x1950a86a20f9469cfc6cn), op.stop,
    op.proto(2), op.int(1001), op.stop,
    op.proto(2), sysInfo, op.stop,
    op.proto(2), op.mark, op.unicode('storage'), op.global('torch', 'FloatStorage'), op.unicode(key), op.unicode('cpu'), op.int(data.length), op.none, op.tuple, op.binpersid, op.stop,
    op.proto(2), op.mark, op.unicode(key), LIST, op.stop,
  );
  const count = new Uint8Array(8);
  new DataView(count.buffer).setBigInt64(0, BigInt(data.length), true);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(head.length + 8 + raw.length);
  out.set(head);
  out.set(count, head.length);
  out.set(raw, head.length + 8);
  return out;
}

function contiguousStride(shape: readonly number[]): number[] {
  const st: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st.unshift(s);
    s *= shape[i]!;
  }
  return st;
}

/** Serialise `root` as a network pickle. */
export function writeNetworkPickle(root: unknown): Uint8Array {
  const out: number[] = [...op.proto(2)];
  const putBytes = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i++) out.push(b[i]!);
  };
  let storageKey = 0;
  const tuple = (items: unknown[]) => {
    out.push(op.mark);
    for (const x of items) emit(x);
    out.push(op.tuple);
  };
  const dict = (m: Map<unknown, unknown>) => {
    out.push(op.emptyDict);
    if (m.size === 0) return;
    out.push(op.mark);
    for (const [k, v] of m) {
      emit(k);
      emit(v);
    }
    out.push(op.setitems);
  };
  const emit = (x: unknown): void => {
    if (x === null || x === undefined) out.push(op.none);
    else if (x === true) out.push(op.newtrue);
    else if (x === false) out.push(op.newfalse);
    else if (typeof x === 'number') out.push(...(Number.isInteger(x) ? op.int(x) : op.binfloat(x)));
    else if (typeof x === 'string') out.push(...op.binunicode(x));
    else if (x instanceof Uint8Array) putBytes(bytesOp(x));
    else if (x instanceof RawGlobal) {
      out.push(...globalOp(x.module, x.name, x.stack));
      if (x.args) {
        tuple(x.args);
        out.push(op.reduce);
      }
    } else if (x instanceof RawRecord) {
      out.push(...op.global('torch_utils.persistence', '_reconstruct_persistent_obj'));
      dict(x.meta);
      out.push(op.tuple1, op.reduce);
    } else if (x instanceof PersistentRecord) {
      out.push(...op.global('torch_utils.persistence', '_reconstruct_persistent_obj'));
      dict(new Map<string, unknown>([['type', 'class'], ['version', x.version], ['module_src', '# placeholder\n'], ['class_name', x.className], ['state', x.attrs]]));
      out.push(op.tuple1, op.reduce);
    } else if (isHostTensor(x)) {
      const t = x as HostTensor;
      const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
      out.push(...op.global('torch._utils', '_rebuild_tensor_v2'), op.mark);
      out.push(...op.global('torch.storage', '_load_from_bytes'));
      putBytes(bytesOp(legacyStorageBytes(data, String(storageKey++))));
      out.push(op.tuple1, op.reduce);
      out.push(...op.int(0));
      tuple(t.shape);
      tuple(contiguousStride(t.shape));
      out.push(op.newfalse, ...op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce, op.tuple, op.reduce);
    } else if (Array.isArray(x)) tuple(x);
    else if (x instanceof Set) {
      out.push(EMPTY_SET);
      if (x.size > 0) {
        out.push(op.mark);
        for (const v of x) emit(v);
        out.push(ADDITEMS);
      }
    } else if (x instanceof Map) dict(x);
    else throw new Error(`writeNetworkPickle: cannot write a ${typeof x}`);
  };
  emit(root);
  out.push(op.stop);
  return Uint8Array.from(out);
}

/**
 * A conditional variant of the fixture sg2ada_tiny.pkl's G_ema (c_dim classes, embed_features = w_dim = 64): the
 * record tree is the fixture's with `mapping.embed` added (seeded random weights), `mapping.fc0` widened to take
 * [z, embed(c)] (128 inputs) and the kwargs updated, written back as a network pickle {G_ema}.
 */
export function conditionalTinyPickle(fixtureRoot: Map<string, unknown>, cDim: number, seed = 7): {bytes: Uint8Array; embedW: Float32Array; embedB: Float32Array; fc0W: Float32Array} {
  let s = seed >>> 0;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const g = fixtureRoot.get('G_ema') as PersistentRecord;
  const modules = g.attrs.get('_modules') as Map<string, PersistentRecord>;
  const mapping = modules.get('mapping')!;
  const mapMods = mapping.attrs.get('_modules') as Map<string, PersistentRecord>;
  const fc0 = mapMods.get('fc0')!;
  const tensor = (shape: number[], data: Float32Array): HostTensor => ({dtype: 'float32', shape, data});
  const embedW = Float32Array.from({length: 64 * cDim}, () => 2 * rand());
  const embedB = Float32Array.from({length: 64}, () => rand());
  const fc0W = Float32Array.from({length: 64 * 128}, () => 2 * rand());
  const fcRecord = (weight: HostTensor, bias: HostTensor, extra: [string, unknown][]) =>
    new PersistentRecord('FullyConnectedLayer', 6, new Map<string, unknown>([
      ['training', false], ['_parameters', new Map<string, unknown>([['weight', weight], ['bias', bias]])], ['_buffers', new Map()],
      ['_non_persistent_buffers_set', new Set()], ['_modules', new Map()], ...extra,
    ]));
  const embed = fcRecord(tensor([64, cDim], embedW), tensor([64], embedB), [['activation', 'linear'], ['weight_gain', 1 / Math.sqrt(cDim)], ['bias_gain', 1]]);
  const fc0Params = fc0.attrs.get('_parameters') as Map<string, unknown>;
  const newFc0 = fcRecord(tensor([64, 128], fc0W), fc0Params.get('bias') as HostTensor, [['activation', 'lrelu'], ['weight_gain', 0.01 / Math.sqrt(128)], ['bias_gain', 0.01]]);
  const newMapMods = new Map<string, PersistentRecord>([['embed', embed], ...[...mapMods].map(([k, v]): [string, PersistentRecord] => [k, k === 'fc0' ? newFc0 : v])]);
  const newMapping = new PersistentRecord('MappingNetwork', 6, new Map([...mapping.attrs, ['_modules', newMapMods], ['c_dim', cDim]]));
  const kwargs = new Map(g.attrs.get('_init_kwargs') as Map<string, unknown>);
  kwargs.set('c_dim', cDim);
  const newG = new PersistentRecord('Generator', 6, new Map([...g.attrs, ['_modules', new Map([...modules, ['mapping', newMapping]])], ['c_dim', cDim], ['_init_kwargs', kwargs]]));
  return {bytes: writeNetworkPickle(new Map([['G_ema', newG]])), embedW, embedB, fc0W};
}
