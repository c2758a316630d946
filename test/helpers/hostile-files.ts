/**
 * Crafted hostile files for the loader hardening tests: small inputs that would have made the loaders allocate
 * gigabytes, run for minutes or overflow the stack. Each builder returns the bytes of one file; `HOSTILE_FILES`
 * lists them with the error each must end in. Shared by test/io/hostile.test.ts and the child-process probe.
 */
import {constants, deflateRawSync} from 'node:zlib';
import {concatBytes} from '../../src/bytes.js';
import {serializeNpy} from '../../src/io/npy.js';
import {op, pickle} from './pickle-builder.js';
import {writeZip} from './zip-writer.js';

const enc = new TextEncoder();
const u32le = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const f32bytes = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);
const tup = (xs: number[]): number[] => (xs.length === 0 ? [op.emptyTuple] : [op.mark, ...xs.flatMap(op.int), op.tuple]);

/** Pickle ops of `persid(('storage', FloatStorage, key, 'cpu', numel))`. */
function storageOps(key: string, numel: number): number[] {
  return [
    op.mark, ...op.unicode('storage'), ...op.global('torch', 'FloatStorage'), ...op.unicode(key), ...op.unicode('cpu'), ...op.int(numel), op.tuple,
    op.binpersid,
  ];
}

/** A torch zip pickle of one bare tensor `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`; size/stride as raw ops. */
export function tensorPickle(numel: number, sizeOps: number[] | Uint8Array, strideOps: number[], offset = 0, key = '0'): Uint8Array {
  return concatBytes([
    pickle(op.proto(2), op.global('torch._utils', '_rebuild_tensor_v2'), op.mark, storageOps(key, numel), op.int(offset)),
    sizeOps instanceof Uint8Array ? sizeOps : Uint8Array.from(sizeOps),
    pickle(strideOps, op.newfalse, op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce, op.tuple, op.reduce, op.stop),
  ]);
}

/** A torch.save zip archive holding `pkl` as data.pkl and one float storage '0'. */
export function torchZip(pkl: Uint8Array, storage: Uint8Array = f32bytes([1, 2, 3, 4]), method: 'store' | 'deflate' = 'store'): Uint8Array {
  return writeZip([{name: 'archive/data.pkl', data: pkl}, {name: 'archive/data/0', data: storage, method}], {align: 64});
}

/** A raw deflate stream of `mib` MiB of zeros, built from sync-flushed 1 MiB blocks (about 1 KB each). */
export function zeroDeflate(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(2 ** 20), {finishFlush: constants.Z_SYNC_FLUSH});
  const end = deflateRawSync(new Uint8Array(0));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < mib; i++) parts.push(block);
  parts.push(end);
  return concatBytes(parts);
}

/**
 * A zip whose storage entry is a deflate bomb of `mib` MiB of zeros, with the central and local headers declaring
 * `declared` uncompressed bytes, and the storage persistent id announcing `numel` float32 elements.
 */
export function zipBomb(mib: number, declared: number, numel: number): Uint8Array {
  const name = enc.encode('archive/data/0');
  const pkl = tensorPickle(numel, tup([Math.min(numel, 4)]), tup([1]));
  const first = writeZip([{name: 'archive/data.pkl', data: pkl}]);
  // Rebuild: data.pkl stored, then the bomb entry by hand (writeZip would inflate-check nothing, but it deflates the raw data itself).
  const body = zeroDeflate(mib);
  const pklEntryEnd = first.byteLength - 22 - (46 + 'archive/data.pkl'.length);
  const pklLocal = first.subarray(0, pklEntryEnd);
  const pklCentral = first.subarray(pklEntryEnd, first.byteLength - 22);
  const local = new Uint8Array(30 + name.byteLength);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, 20, true);
  lv.setUint16(8, 8, true);
  lv.setUint32(18, body.byteLength, true);
  lv.setUint32(22, declared, true);
  lv.setUint16(26, name.byteLength, true);
  local.set(name, 30);
  const central = new Uint8Array(46 + name.byteLength);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(4, 20, true);
  cv.setUint16(6, 20, true);
  cv.setUint16(10, 8, true);
  cv.setUint32(20, body.byteLength, true);
  cv.setUint32(24, declared, true);
  cv.setUint16(28, name.byteLength, true);
  cv.setUint32(42, pklLocal.byteLength, true);
  central.set(name, 46);
  const cdOffset = pklLocal.byteLength + local.byteLength + body.byteLength;
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, 2, true);
  ev.setUint16(10, 2, true);
  ev.setUint32(12, pklCentral.byteLength + central.byteLength, true);
  ev.setUint32(16, cdOffset, true);
  return concatBytes([pklLocal, local, body, pklCentral, central, eocd]);
}

/** Ops of a memoised list `width` wide nested `depth` deep: width^depth leaves in a few hundred bytes. */
export function sharedListOps(width: number, depth: number): number[] {
  const out: number[] = [op.emptyList, op.mark, ...Array.from({length: width}, () => op.int(1)).flat(), op.appends, ...op.binput(0)];
  for (let d = 1; d < depth; d++) {
    out.push(0x30 /* POP the previous level, which stays reachable through the memo */);
    out.push(op.emptyList, op.mark, ...Array.from({length: width}, () => op.binget(d - 1)).flat(), op.appends, ...op.binput(d));
  }
  return out;
}

/** Ops of a list that contains itself. */
export const CYCLIC_LIST_OPS: number[] = [op.emptyList, ...op.binput(0), ...op.binget(0), op.append];

/** A pickle of lists nested `depth` deep: `depth` EMPTY_LISTs folded into one by `depth − 1` APPENDs (no MARKs). */
export function deepListPickle(depth: number): Uint8Array {
  const out = new Uint8Array(2 + depth + (depth - 1) + 1);
  out.set([0x80, 2]);
  out.fill(op.emptyList, 2, 2 + depth);
  out.fill(op.append, 2 + depth, 1 + 2 * depth);
  out[1 + 2 * depth] = op.stop;
  return out;
}

/** A pickle of `n` nested MARKs. */
export function deepMarkPickle(n: number): Uint8Array {
  const out = new Uint8Array(2 + n + 1);
  out.set([0x80, 2]);
  out.fill(op.mark, 2, 2 + n);
  out[2 + n] = op.stop;
  return out;
}

/** A pickle of one LONG4 integer of `n` bytes (0xff… then 0x7f: 2^(8n−1) − 1). */
export function long4Pickle(n: number): Uint8Array {
  const out = new Uint8Array(2 + 5 + n + 1);
  out.set([0x80, 2, 0x8b, ...u32le(n)]);
  out.fill(0xff, 7, 7 + n);
  out[7 + n - 1] = 0x7f;
  out[7 + n] = op.stop;
  return out;
}

/** A pickle of one BINSTRING of `n` bytes of 0xff (not UTF-8: decoded as latin-1). */
export function binstringPickle(n: number): Uint8Array {
  const out = new Uint8Array(2 + 5 + n + 1);
  out.set([0x80, 2, 0x54, ...u32le(n)]);
  out.fill(0xff, 7, 7 + n);
  out[7 + n] = op.stop;
  return out;
}

/** `list(x)` called `calls` times on one memoised list of `n` elements: n × calls element copies from ~4·calls bytes. */
export function listCopyPickle(n: number, calls: number): Uint8Array {
  const head = pickle(op.proto(2), op.emptyList, op.binput(0), op.mark, ...Array.from({length: n}, () => op.int(1)), op.appends, op.global('builtins', 'list'), op.binput(1));
  const call = Uint8Array.from([...op.binget(1), ...op.binget(0), op.tuple1, op.reduce, 0x30 /* POP */]);
  const parts: Uint8Array[] = [head];
  for (let i = 0; i < calls; i++) parts.push(call);
  parts.push(Uint8Array.from([op.stop]));
  return concatBytes(parts);
}

/** An .npy (version 2) whose header is `dict` padded to `headerLen` bytes. */
export function npyWithHeader(dict: string, headerLen: number): Uint8Array {
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const out = new Uint8Array(12 + headerLen);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  new DataView(out.buffer).setUint32(8, headerLen, true);
  out.set(enc.encode(header), 12);
  return out;
}

/** A safetensors file from a raw JSON header text and a data section. */
export function rawSafetensors(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = enc.encode(header);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** A legacy torch.save file with one tensor on a view of storage 'k' (6 floats) at `viewOffset`, `viewSize` elements. */
export function legacyWithView(viewOffset: number, viewSize: number): Uint8Array {
  const e = (...parts: Array<number | number[]>): number[] => [...pickle(...parts)];
  const magic = e(op.proto(2), op.long1(0x1950a86a20f9469cfc6cn), op.stop);
  const version = e(op.proto(2), op.int(1001), op.stop);
  const sysInfo = e(op.proto(2), op.emptyDict, op.mark, op.unicode('little_endian'), op.newtrue, op.setitems, op.stop);
  const pid = [
    op.mark, ...op.unicode('storage'), ...op.global('torch', 'FloatStorage'), ...op.unicode('k'), ...op.unicode('cpu'), ...op.int(6),
    op.mark, ...op.unicode('kv'), ...op.int(viewOffset), ...op.int(viewSize), op.tuple,
    op.tuple, op.binpersid,
  ];
  const obj = e(op.proto(2), op.global('torch._utils', '_rebuild_tensor'), op.mark, pid, op.int(0), tup([viewSize]), tup([1]), op.tuple, op.reduce, op.stop);
  const keys = e(op.proto(2), op.emptyList, op.unicode('k'), op.append, op.stop);
  return Uint8Array.from([...magic, ...version, ...sysInfo, ...obj, ...keys, 6, 0, 0, 0, 0, 0, 0, 0, ...f32bytes([10, 11, 12, 13, 14, 15])]);
}

export interface HostileFile {
  name: string;
  /** The finding class of the robustness probe it reproduces. */
  finding: string;
  bytes: () => Uint8Array;
  /** The named error it must end in (a StyleclipError whose message matches). */
  error: RegExp;
}

const nested = (open: string, close: string, depth: number, inner: string): string => open.repeat(depth) + inner + close.repeat(depth);

/** The crafted files, one or more per finding class; each must end in the named error given, quickly and in bounded memory. */
export const HOSTILE_FILES: readonly HostileFile[] = [
  {name: 'stride0-2e9.pt', finding: 'allocation', bytes: () => torchZip(tensorPickle(4, tup([2_000_000_000]), tup([0]))), error: /over the limit of 536870912 bytes per tensor/},
  {name: 'stride0.pt', finding: 'allocation', bytes: () => torchZip(tensorPickle(4, tup([1000]), tup([0]))), error: /expanded view \(stride 0\)/},
  {name: 'huge-shape.pt', finding: 'allocation', bytes: () => torchZip(tensorPickle(4, tup([1_000_000, 1_000_000]), tup([1_000_000, 1]))), error: /over the limit of \d+ bytes per tensor/},
  {name: 'overlapping-view.pt', finding: 'allocation', bytes: () => torchZip(tensorPickle(20, tup([10, 10]), tup([1, 1])), f32bytes(Array.from({length: 20}, (_, i) => i))), error: /is too short for the tensor view: .* needs 100 elements but the storage has 20/},
  {name: 'bomb-3gib-declared.pt', finding: 'allocation', bytes: () => zipBomb(3072, 3 * 2 ** 30, 4), error: /declares 3221225472 bytes, more than the 16 it may hold/},
  {name: 'bomb-3gib-lying.pt', finding: 'allocation', bytes: () => zipBomb(3072, 16, 4), error: /inflates to more than its declared 16 bytes/},
  {name: 'bomb-3gib-storage.pt', finding: 'allocation', bytes: () => zipBomb(3072, 3 * 2 ** 30, 3 * 2 ** 28), error: /storage '0' of 805306368 float32 elements \(3221225472 bytes\) is over the limit/},
  {name: 'long4-1mb.pkl', finding: 'superlinear', bytes: () => long4Pickle(2 ** 20), error: /integer of 1048576 bytes exceeds the limit of 4096 bytes/},
  {name: 'list-copies.pkl', finding: 'superlinear', bytes: () => listCopyPickle(20_000, 100_000), error: /REDUCE work exceeds the limit/},
  {name: 'shared-size.pt', finding: 'shared structure', bytes: () => torchZip(tensorPickle(4, sharedListOps(8, 10), tup([1]))), error: /tensor size \[\[\[\[.*… is not a list of non-negative integers/},
  {name: 'cyclic-size.pt', finding: 'shared structure', bytes: () => torchZip(tensorPickle(4, CYCLIC_LIST_OPS, tup([1]))), error: /tensor size \[<cycle>\] is not a list of non-negative integers/},
  {name: 'deep-lists.pkl', finding: 'recursion', bytes: () => deepListPickle(300_000), error: /nested deeper than the limit of 1000 levels/},
  {name: 'deep-marks.pkl', finding: 'recursion', bytes: () => deepMarkPickle(300_000), error: /MARKs nested deeper than the limit of 1000/},
  {name: 'npy-1mb-padding.npy', finding: 'recursion', bytes: () => npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 2 ** 20), error: /header of 1048576 bytes is over the limit of 65536/},
  {name: 'npy-100k-parens.npy', finding: 'recursion', bytes: () => npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${nested('(', ')', 100_000, '2,')}, }`, 200_064), error: /header of 200064 bytes is over the limit/},
  {name: 'npy-nested-parens.npy', finding: 'recursion', bytes: () => npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${nested('(', ')', 5000, '2,')}, }`, 10_112), error: /header is nested deeper than 32 levels/},
  {name: 'safetensors-deep-shape.safetensors', finding: 'recursion', bytes: () => rawSafetensors(`{"x":{"dtype":"F32","shape":${nested('[', ']', 200_000, '1')},"data_offsets":[0,4]}}`, f32bytes([1])), error: /tensor 'x' has an invalid shape \[\[\[\[/},
  {name: 'empty-latent.npy', finding: 'recursion', bytes: () => serializeNpy({dtype: 'float32', shape: [0, 8, 64], data: new Float32Array(0)}), error: /holds an empty tensor float32\[0, 8, 64\]; a latent needs at least one value/},
  {name: 'legacy-negative-offset.pt', finding: 'silent', bytes: () => legacyWithView(-2, 3), error: /storage view 'kv' \[-2, 1\) lies outside storage 'k' of 6 elements/},
  {name: 'legacy-view-past-end.pt', finding: 'silent', bytes: () => legacyWithView(4, 3), error: /storage view 'kv' \[4, 7\) lies outside storage 'k' of 6 elements/},
  {
    name: 'safetensors-overlap.safetensors', finding: 'silent',
    bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32bytes([1, 2, 3])),
    error: /tensor 'b' data_offsets \[4, 12\] overlap those of 'a', which end at 8/,
  },
  {
    name: 'safetensors-gap.safetensors', finding: 'silent',
    bytes: () => rawSafetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32bytes([1, 2])),
    error: /tensor 'a' data_offsets \[4, 8\] leave a gap of 4 bytes after the header/,
  },
];
