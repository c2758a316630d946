/**
 * Symbolic tensors with static shapes: the nodes of the graph that ops.ts builds, autodiff.ts differentiates,
 * onnx.ts serialises and session.ts runs on ONNX Runtime. A tensor is immutable; it records the op that made it,
 * that op's inputs and attributes, and (for constants) its data.
 */
import {StyleclipError} from '../errors.js';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';
export type Shape = readonly number[];
export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
export type AttrValue = number | number[] | string | boolean;
export type Attrs = Readonly<Record<string, AttrValue>>;

let nextId = 1;

/**
 * `op` is 'input' (fed at run time), 'const' (data baked into the model) or a primitive op name from ops.ts.
 * Methods are thin wrappers around the functions of ops.ts, so model code can read like the paper.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: number[];
  readonly dtype: DType;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly attrs: Attrs;
  /** Constant data (op === 'const'). */
  readonly data: TypedData | undefined;
  /** Graph input name (op === 'input'). */
  readonly name: string | undefined;

  constructor(op: string, shape: Shape, dtype: DType, inputs: readonly Tensor[] = [], attrs: Attrs = {}, data?: TypedData, name?: string) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new StyleclipError(`${op}: invalid shape [${shape.join(', ')}]`);
    }
    this.op = op;
    this.shape = [...shape];
    this.dtype = dtype;
    this.inputs = inputs;
    this.attrs = attrs;
    this.data = data;
    this.name = name;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  toString(): string {
    return `Tensor(${this.op}#${this.id}, [${this.shape.join(', ')}], ${this.dtype})`;
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

function typedArrayFor(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

/** A graph input of the given shape, fed by name at run time. */
export function input(name: string, shape: Shape, dtype: DType = 'float32'): Tensor {
  return new Tensor('input', shape, dtype, [], {}, undefined, name);
}

/** A constant baked into the model (weights, masks, index tables). The data is not copied. */
export function constant(data: TypedData | number[], shape: Shape, dtype?: DType): Tensor {
  const dt: DType = dtype ?? dtypeOfData(data);
  const arr = Array.isArray(data) ? fromNumbers(data, dt) : data;
  if (arr.length !== numel(shape)) {
    throw new StyleclipError(`constant: ${arr.length} values for shape [${shape.join(', ')}]`);
  }
  return new Tensor('const', shape, dt, [], {}, arr);
}

/** A 0-d constant. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return constant(fromNumbers([value], dtype), [], dtype);
}

function dtypeOfData(data: TypedData | number[]): DType {
  if (Array.isArray(data) || data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'bool';
}

export function fromNumbers(values: readonly number[], dtype: DType): TypedData {
  const arr = typedArrayFor(dtype, values.length);
  if (arr instanceof BigInt64Array) values.forEach((v, i) => (arr[i] = BigInt(v)));
  else values.forEach((v, i) => (arr[i] = v));
  return arr;
}

/**
 * Check a tensor's shape against a pattern (null = any) and return its dims, e.g.
 * `const [N, C] = assertShape(x, [null, 512, null, null])`.
 */
export function assertShape(t: Tensor, pattern: readonly (number | null)[], what = 'tensor'): number[] {
  const ok = t.rank === pattern.length && pattern.every((p, i) => p === null || p === t.shape[i]);
  if (!ok) {
    const want = pattern.map((p) => (p === null ? '*' : String(p))).join(', ');
    throw new StyleclipError(`${what} has shape [${t.shape.join(', ')}], expected [${want}]`);
  }
  return t.shape;
}
