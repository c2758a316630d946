/**
 * safetensors reader and writer (format: huggingface/safetensors, docs "safetensors format").
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`, then the data section.
 * Offsets count from the start of the data section; data is little-endian, C-order. Offsets need not be
 * aligned to the element size, so a tensor is copied when a typed-array view of it would throw.
 */
import {StyleclipError} from '../errors.js';
import {preview} from './preview.js';
import {
  DTYPE_BYTES,
  hostDataBytes,
  hostDataFromBytes,
  isHostTensor,
  numel,
  type HostDType,
  type HostTensor,
  type StateDict,
} from './host-tensor.js';

/** safetensors dtype tag → host dtype. */
const FROM_TAG: Readonly<Record<string, HostDType>> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  I64: 'int64',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const TO_TAG: Readonly<Record<HostDType, string>> = Object.fromEntries(
  Object.entries(FROM_TAG).map(([tag, dtype]) => [dtype, tag]),
) as Record<HostDType, string>;

/** Header lengths above this are treated as corrupt (the reference implementation caps at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  /** Tensors in header order (which is the order they were written in by ordered writers). */
  tensors: StateDict;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

export interface ParseSafetensorsOptions {
  /** Name of the file, used in error messages (default "safetensors file"). */
  what?: string;
}

/** Parse a safetensors file. Tensors view `bytes` where aligned, so keep `bytes` unmodified afterwards. */
export function parseSafetensors(bytes: Uint8Array, {what = 'safetensors file'}: ParseSafetensorsOptions = {}): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new StyleclipError(`${what}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`truncated: ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(bytes.byteLength - 8)) {
    fail(`truncated or not safetensors: header length ${headerLen64} is beyond the end of the ${bytes.byteLength}-byte file`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} is implausibly large`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const data = bytes.subarray(dataStart);

  const metadata: Record<string, string> = {};
  const tensors: StateDict = new Map();
  const spans: Array<{name: string; begin: number; end: number}> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value for ${preview(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null) fail(`entry for tensor ${preview(name)} is not an object`);
    const {dtype: tag, shape, data_offsets: offsets} = entry as {dtype?: unknown; shape?: unknown; data_offsets?: unknown};
    if (typeof tag !== 'string') fail(`tensor ${preview(name)} has no dtype`);
    const dtype = FROM_TAG[tag as string];
    if (dtype === undefined) {
      fail(`tensor ${preview(name)} has unknown or unsupported dtype ${preview(tag)} (supported: ${Object.keys(FROM_TAG).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${preview(name)} has an invalid shape ${preview(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor ${preview(name)} has invalid data_offsets ${preview(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen) {
      fail(`truncated: tensor ${preview(name)} data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data section`);
    }
    const dims = shape as number[];
    const n = numel(dims);
    const expected = n * DTYPE_BYTES[dtype!];
    if (end - begin !== expected) {
      fail(`tensor ${preview(name)} has ${end - begin} data bytes but ${tag}${preview(dims)} needs ${expected}`);
    }
    spans.push({name, begin, end});
    tensors.set(name, {dtype: dtype!, shape: [...dims], data: hostDataFromBytes(dtype!, data.subarray(begin, end), n)});
  }
  checkSpans(spans, dataLen, fail);
  return {tensors, metadata};
}

/**
 * The tensors' data_offsets, in offset order, must tile the data section exactly (as the reference implementation
 * requires): an overlap would make two tensors share bytes, a gap or trailing bytes mean a damaged file.
 */
function checkSpans(spans: Array<{name: string; begin: number; end: number}>, dataLen: number, fail: (msg: string) => never): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = '';
  for (const {name, begin, end} of spans) {
    if (begin < at) fail(`tensor ${preview(name)} data_offsets [${begin}, ${end}] overlap those of ${preview(prev)}, which end at ${at}`);
    if (begin > at) fail(`tensor ${preview(name)} data_offsets [${begin}, ${end}] leave a gap of ${begin - at} bytes after ${prev ? preview(prev) : 'the header'}`);
    at = end;
    prev = name;
  }
  if (at !== dataLen) fail(`the data section has ${dataLen - at} bytes after the last tensor (data_offsets end at ${at}, the section at ${dataLen})`);
}

/**
 * Serialize tensors to safetensors bytes, in iteration order, data packed back to back. The header is padded
 * with spaces to a multiple of 8 bytes so the data section starts 8-aligned.
 */
export function serializeSafetensors(
  tensors: StateDict | Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: Array<[string, HostTensor]> = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new StyleclipError(`safetensors metadata value for '${k}' must be a string`);
    }
    header['__metadata__'] = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new StyleclipError(`'__metadata__' cannot be used as a tensor name in safetensors`);
    if (!isHostTensor(t)) throw new StyleclipError(`cannot serialize '${name}': not a host tensor`);
    const n = numel(t.shape);
    if (t.data.length !== n) {
      throw new StyleclipError(`cannot serialize '${name}': data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${n}`);
    }
    const nbytes = n * DTYPE_BYTES[t.dtype];
    header[name] = {dtype: TO_TAG[t.dtype], shape: t.shape, data_offsets: [offset, offset + nbytes]};
    offset += nbytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    const b = hostDataBytes(t.data);
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}
