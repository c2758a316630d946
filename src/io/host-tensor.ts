/**
 * Host tensors: plain typed arrays with a dtype and a shape, as read from and written to weight files.
 * Layout is C-order (row-major), little-endian, as PyTorch and safetensors store it.
 */
import {StyleclipError} from '../errors.js';

export type HostDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int16' | 'int8' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

export interface HostTensor {
  dtype: HostDType;
  shape: number[];
  /** float16/bfloat16 are stored as raw Uint16Array bits; bool as Uint8Array. */
  data: HostData;
}

/** An ordered name → tensor map (PyTorch state_dict order is preserved). */
export type StateDict = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function f32(shape: number[], data?: Float32Array | number[]): HostTensor {
  const n = numel(shape);
  const arr = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (arr.length !== n) throw new StyleclipError(`tensor data has ${arr.length} elements but shape [${shape.join(', ')}] needs ${n}`);
  return {dtype: 'float32', shape, data: arr};
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Convert any numeric host tensor to float32 (fp16/bf16/f64/ints are converted; float32 is returned as is). */
export function toFloat32(t: HostTensor): Float32Array {
  const {data} = t;
  switch (t.dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float16': {
      const src = data as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]!);
      return out;
    }
    case 'bfloat16': {
      const src = data as Uint16Array;
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case 'int64': {
      const src = data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    default:
      return Float32Array.from(data as ArrayLike<number>);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Byte-level helpers shared by the file parsers (safetensors, .pt, .npy). All data is little-endian; Node and
// every browser engine we target run on little-endian hosts, so typed arrays can view file bytes directly.

/** Bytes per element of each host dtype. */
export const DTYPE_BYTES: Readonly<Record<HostDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int32: 4,
  int64: 8,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Allocate a zero-filled typed array of `n` elements for `dtype`. */
export function allocHostData(dtype: HostDType, n: number): HostData {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16':
    case 'bfloat16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'int16': return new Int16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8':
    case 'bool': return new Uint8Array(n);
  }
}

/**
 * Typed array over `count` elements of `dtype` starting at `bytes[0]`. Views the same memory when the start is
 * aligned to the element size (a typed-array view would throw otherwise), else copies. Callers check bounds.
 */
export function hostDataFromBytes(dtype: HostDType, bytes: Uint8Array, count: number): HostData {
  const size = DTYPE_BYTES[dtype];
  const nbytes = count * size;
  if (bytes.byteLength < nbytes) {
    throw new StyleclipError(`need ${nbytes} bytes for ${count} ${dtype} elements but only ${bytes.byteLength} are there`);
  }
  let buffer = bytes.buffer;
  let offset = bytes.byteOffset;
  if (offset % size !== 0) {
    const copy = new Uint8Array(nbytes);
    copy.set(bytes.subarray(0, nbytes));
    buffer = copy.buffer;
    offset = 0;
  }
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, offset, count);
    case 'float64': return new Float64Array(buffer, offset, count);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buffer, offset, count);
    case 'int32': return new Int32Array(buffer, offset, count);
    case 'int64': return new BigInt64Array(buffer, offset, count);
    case 'int16': return new Int16Array(buffer, offset, count);
    case 'int8': return new Int8Array(buffer, offset, count);
    case 'uint8':
    case 'bool': return new Uint8Array(buffer, offset, count);
  }
}

/** The raw little-endian bytes of a tensor's data (a view, not a copy). */
export function hostDataBytes(data: HostData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** C-order (row-major) strides, in elements, of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when a (shape, stride) view is laid out C-contiguously (strides of size-1 dims do not matter). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/**
 * Gather the elements of a strided view (offset/stride in elements) of `src` into a new C-contiguous array.
 * Used for non-contiguous PyTorch tensors and Fortran-order .npy files. Callers check that the view fits.
 */
export function gatherStrided(src: HostData, dtype: HostDType, shape: readonly number[], stride: readonly number[], offset: number): HostData {
  const n = numel(shape);
  const out = allocHostData(dtype, n);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let pos = offset;
  // The two array families cannot share one element type in TS, but both copy element-for-element.
  const s = src as unknown as {[i: number]: number | bigint};
  const o = out as unknown as {[i: number]: number | bigint};
  for (let i = 0; i < n; i++) {
    o[i] = s[pos]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      pos += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      pos -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Decode one IEEE binary16 value from its bits. */
export function halfBitsToNumber(h: number): number {
  return halfToFloat(h);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Encode a number as IEEE binary16 bits, rounding to nearest even (overflow → ±Inf, NaN kept). */
export function numberToHalfBits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  // Rebias the exponent from 127 to 15.
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or underflow to zero): shift the implicit-1 mantissa right, round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0));
}

/** Encode a number as bfloat16 bits (the top 16 bits of float32), rounding to nearest even; NaN kept. */
export function numberToBFloat16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** Decode bfloat16 bits. */
export function bfloat16BitsToNumber(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** Describe a tensor briefly for error messages, e.g. `float32[2, 3]`. */
export function describeTensor(t: HostTensor): string {
  return `${t.dtype}[${t.shape.join(', ')}]`;
}

/** True for objects shaped like a HostTensor (dtype, shape array and a typed-array data). */
export function isHostTensor(x: unknown): x is HostTensor {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Partial<HostTensor>;
  return typeof t.dtype === 'string' && t.dtype in DTYPE_BYTES && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/** Throw a named error at the first NaN or ±Inf in `t` (latents and styles are checked before use). */
export function assertFinite(t: HostTensor | ArrayLike<number>, what: string): void {
  const i = firstNonFinite('dtype' in t ? toFloat32(t) : t);
  if (i >= 0) throw new StyleclipError(`${what} contains a non-finite value (NaN or ±Inf) at index ${i}`);
}

/** Index of the first NaN or ±Inf in `d`, or −1 when every value is finite. */
export function firstNonFinite(d: ArrayLike<number>): number {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
}
