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
