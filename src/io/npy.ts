/**
 * NumPy .npy reader and writer (format: numpy/lib/format.py, NEP 1 "A Simple File Format for NumPy Arrays").
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, header length (u16 LE for v1, u32 LE for v2/v3),
 * a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and
 * a newline (latin-1 for v1/v2, UTF-8 for v3), then the raw data. Fortran-order arrays are transposed to C order.
 */
import {StyleclipError} from '../errors.js';
import {latin1} from '../bytes.js';
import {preview} from './preview.js';
import {
  contiguousStrides,
  DTYPE_BYTES,
  gatherStrided,
  hostDataBytes,
  hostDataFromBytes,
  numel,
  type HostDType,
  type HostTensor,
} from './host-tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Type codes (without the byte-order character) → host dtype. */
const FROM_CODE: Readonly<Record<string, HostDType>> = {
  f4: 'float32', f8: 'float64', f2: 'float16',
  i4: 'int32', i8: 'int64', i2: 'int16', i1: 'int8',
  u1: 'uint8', b1: 'bool',
};

const TO_DESCR: Readonly<Partial<Record<HostDType, string>>> = {
  float32: '<f4', float64: '<f8', float16: '<f2',
  int32: '<i4', int64: '<i8', int16: '<i2', int8: '|i1',
  uint8: '|u1', bool: '|b1',
};

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && MAGIC.every((b, i) => bytes[i] === b);
}

type PyLiteral = string | number | boolean | null | PyLiteral[] | Map<string, PyLiteral>;

/**
 * numpy's own reader refuses headers over 10 000 bytes unless told otherwise (`max_header_size`); a real header
 * is under 200 bytes. 64 KiB leaves room for a shape of thousands of dimensions.
 */
const MAX_HEADER_BYTES = 65536;
/** The header is a dict holding a tuple; nesting beyond this is not an .npy header. */
const MAX_HEADER_DEPTH = 32;

/**
 * Parse the small subset of Python literals an .npy header uses: dicts, tuples, strings, ints, bools, None.
 * Iterative, with the nesting depth bounded.
 */
function parseHeaderLiteral(text: string, fail: (msg: string) => never): PyLiteral {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const scalar = /-?\d+L?|True|False|None/y;
  const at = (): string => JSON.stringify(text.slice(i, i + 10));
  interface Open {close: string; items: PyLiteral[]; map: Map<string, PyLiteral> | undefined; key: string | undefined}
  const open: Open[] = [];
  let result: PyLiteral | undefined;
  // Each turn reads one value (an opening bracket pushes a container) or closes the innermost container.
  for (;;) {
    ws();
    const c = text[i];
    const top = open[open.length - 1];
    let v: PyLiteral | undefined;
    if (top !== undefined && c === top.close) {
      i++;
      open.pop();
      v = top.map ?? top.items;
    } else if (c === '{' || c === '(' || c === '[') {
      if (open.length >= MAX_HEADER_DEPTH) fail(`header is nested deeper than ${MAX_HEADER_DEPTH} levels`);
      i++;
      open.push({close: c === '{' ? '}' : c === '(' ? ')' : ']', items: [], map: c === '{' ? new Map() : undefined, key: undefined});
      continue;
    } else if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('header has an unterminated string');
      v = text.slice(i + 1, end);
      i = end + 1;
    } else {
      scalar.lastIndex = i;
      const m = scalar.exec(text);
      if (m === null) fail(`header has an unsupported value at ${at()}`);
      const tok = m![0];
      i += tok.length;
      v = tok === 'True' ? true : tok === 'False' ? false : tok === 'None' ? null : Number.parseInt(tok, 10);
    }
    // Place v into the innermost open container (or finish), then expect ',' / ':' / the closing bracket.
    const parent = open[open.length - 1];
    if (parent === undefined) {
      result = v;
      break;
    }
    ws();
    if (parent.map !== undefined && parent.key === undefined) {
      if (text[i] !== ':' || typeof v !== 'string') fail('header dict is malformed');
      i++;
      parent.key = v as string;
      continue;
    }
    if (parent.map !== undefined) {
      parent.map.set(parent.key!, v!);
      parent.key = undefined;
    } else {
      parent.items.push(v!);
    }
    if (text[i] === ',') i++;
    else if (text[i] !== parent.close) fail(`header has an unexpected character ${text[i] === undefined ? 'end' : at()}`);
  }
  ws();
  if (i !== text.length) fail('header has trailing characters');
  return result!;
}

/** Parse an .npy file into a C-order host tensor (views `bytes` when the data start is aligned). */
export function parseNpy(bytes: Uint8Array, {what = 'npy file'}: {what?: string} = {}): HostTensor {
  const fail = (msg: string): never => {
    throw new StyleclipError(`${what}: ${msg}`);
  };
  if (!isNpy(bytes)) fail(bytes.byteLength < 8 ? `truncated: ${bytes.byteLength} bytes` : 'not an .npy file (bad magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    if (bytes.byteLength < 10) fail('truncated header');
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) fail('truncated header');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    return fail(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (headerStart + headerLen > bytes.byteLength) fail(`truncated: header length ${headerLen} is beyond the end of the file`);
  if (headerLen > MAX_HEADER_BYTES) fail(`header of ${headerLen} bytes is over the limit of ${MAX_HEADER_BYTES}`);
  const headerBytes = bytes.subarray(headerStart, headerStart + headerLen);
  const text = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : latin1(headerBytes);
  const header = parseHeaderLiteral(text.trim(), fail);
  if (!(header instanceof Map)) return fail('header is not a dict');
  const descr = header.get('descr');
  const fortran = header.get('fortran_order');
  const shape = header.get('shape');
  if (typeof descr !== 'string') return fail(`unsupported dtype descr ${preview(descr)} (structured arrays are not supported)`);
  if (typeof fortran !== 'boolean') fail("header has no boolean 'fortran_order'");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    fail(`header has an invalid shape ${preview(shape)}`);
  }
  const order = descr[0]!;
  const code = descr.slice(1);
  const dtype = FROM_CODE[code];
  if (dtype === undefined || !'<>|='.includes(order)) {
    return fail(`unsupported dtype '${descr}' (supported: <f4 <f8 <f2 <i4 <i8 <i2 |i1 |u1 |b1)`);
  }
  if (order === '>' && DTYPE_BYTES[dtype] > 1) fail(`big-endian dtype '${descr}' is not supported; save with '<${code}'`);
  const dims = shape as number[];
  const n = numel(dims);
  const dataStart = headerStart + headerLen;
  const nbytes = n * DTYPE_BYTES[dtype];
  if (dataStart + nbytes > bytes.byteLength) {
    fail(`truncated: ${descr}${preview(dims)} needs ${nbytes} data bytes but only ${bytes.byteLength - dataStart} are there`);
  }
  let data = hostDataFromBytes(dtype, bytes.subarray(dataStart, dataStart + nbytes), n);
  if (fortran && dims.length > 1) {
    // Fortran order: the first index varies fastest, i.e. the strides of the reversed shape, reversed.
    const strides = contiguousStrides([...dims].reverse()).reverse();
    data = gatherStrided(data, dtype, dims, strides, 0);
  }
  return {dtype, shape: [...dims], data};
}

/** Serialize a host tensor as a C-order .npy file (version 1.0, or 2.0 if the header would not fit). */
export function serializeNpy(t: HostTensor): Uint8Array {
  const descr = TO_DESCR[t.dtype];
  if (descr === undefined) throw new StyleclipError(`cannot save a ${t.dtype} tensor as .npy: numpy has no ${t.dtype} dtype`);
  const n = numel(t.shape);
  if (t.data.length !== n) throw new StyleclipError(`cannot save .npy: data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${n}`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces and ends it with '\n' so the data starts 64-byte aligned.
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const body = hostDataBytes(t.data);
  const out = new Uint8Array(total + body.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(body, total);
  return out;
}
