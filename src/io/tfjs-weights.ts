/**
 * TensorFlow.js weights manifests (`*-weights_manifest.json` + binary shards), as tfjs-core io/io_utils.ts
 * `decodeWeights` reads them (tfjs 4.x): the manifest is a list of groups `{paths, weights}`; a group's shards,
 * concatenated in `paths` order, hold its weights back to back in `weights` order, each
 * `{name, shape, dtype, quantization?}`. Quantized weights store uint8/uint16 codes q with value q·scale + min,
 * or float16 halves. Parsers take bytes; reading files is the caller's business.
 */
import {concatBytes} from '../bytes.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, type StateDict, halfBitsToNumber, numel} from './host-tensor.js';

export interface TfjsQuantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  /** Affine dequantisation (uint8/uint16): value = q·scale + min. */
  scale?: number;
  min?: number;
}

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: TfjsQuantization;
}

export interface TfjsWeightGroup {
  /** Shard file names, relative to the manifest. */
  paths: string[];
  weights: TfjsWeightSpec[];
}

const ELEMENT_BYTES: Readonly<Record<string, number>> = {float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2};

/** Parse and validate a weights manifest (JSON text or bytes). */
export function parseTfjsManifest(json: string | Uint8Array, what = 'tfjs weights manifest'): TfjsWeightGroup[] {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof json === 'string' ? json : new TextDecoder().decode(json));
  } catch (e) {
    throw new StyleclipError(`${what}: not JSON (${(e as Error).message})`);
  }
  check(Array.isArray(obj), `${what}: expected a JSON array of weight groups`);
  return obj.map((g: unknown, gi) => {
    const group = g as Partial<TfjsWeightGroup> | null;
    check(group && Array.isArray(group.paths) && group.paths.every((p) => typeof p === 'string'), `${what}: group ${gi} has no 'paths' list`);
    check(Array.isArray(group.weights), `${what}: group ${gi} has no 'weights' list`);
    for (const w of group.weights) {
      check(w && typeof w.name === 'string', `${what}: group ${gi} has a weight without a name`);
      check(Array.isArray(w.shape) && w.shape.every((d) => Number.isInteger(d) && d >= 0), `${what}: weight '${w.name}' has an invalid shape`);
      check(w.dtype === 'float32' || w.dtype === 'int32' || w.dtype === 'bool', `${what}: weight '${w.name}' has unsupported dtype '${String(w.dtype)}' (supported: float32, int32, bool)`);
      const q = w.quantization;
      if (q !== undefined) {
        check(q.dtype === 'uint8' || q.dtype === 'uint16' || q.dtype === 'float16', `${what}: weight '${w.name}' has unknown quantization dtype '${String(q.dtype)}' (supported: uint8, uint16, float16)`);
        if (q.dtype === 'float16') check(w.dtype === 'float32', `${what}: weight '${w.name}' is float16-quantized but of type ${w.dtype}`);
        else check(typeof q.scale === 'number' && typeof q.min === 'number', `${what}: weight '${w.name}' is ${q.dtype}-quantized without scale and min`);
      }
    }
    return {paths: group.paths, weights: group.weights};
  });
}

/** Decode one weight from its bytes (dequantised to float32 exactly as tfjs does: q·scale + min in doubles, stored as float32). */
function decodeWeight(spec: TfjsWeightSpec, bytes: Uint8Array): HostTensor {
  const n = numel(spec.shape);
  const q = spec.quantization;
  const view = (Ctor: typeof Uint8Array | typeof Uint16Array | typeof Float32Array | typeof Int32Array) => {
    const copy = bytes.slice(); // own, aligned buffer
    return new Ctor(copy.buffer, copy.byteOffset, n);
  };
  if (q?.dtype === 'float16') {
    const h = view(Uint16Array) as Uint16Array;
    return {dtype: 'float32', shape: spec.shape, data: Float32Array.from(h, halfBitsToNumber)};
  }
  if (q) {
    const codes = view(q.dtype === 'uint8' ? Uint8Array : Uint16Array);
    const {scale, min} = q as {scale: number; min: number};
    if (spec.dtype === 'float32') {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = codes[i]! * scale + min;
      return {dtype: 'float32', shape: spec.shape, data};
    }
    if (spec.dtype === 'int32') return {dtype: 'int32', shape: spec.shape, data: Int32Array.from(codes, (c) => Math.round(c * scale + min))};
    return {dtype: 'bool', shape: spec.shape, data: Uint8Array.from(codes, (c) => (Math.round(c * scale + min) ? 1 : 0))};
  }
  if (spec.dtype === 'float32') return {dtype: 'float32', shape: spec.shape, data: view(Float32Array) as Float32Array};
  if (spec.dtype === 'int32') return {dtype: 'int32', shape: spec.shape, data: view(Int32Array) as Int32Array};
  return {dtype: 'bool', shape: spec.shape, data: bytes.slice(0, n)};
}

/**
 * Decode every weight of a manifest. `shards` maps each path named in the manifest to its bytes.
 * Returns name → tensor in manifest order. Fails on a missing shard, a truncated group or trailing bytes.
 */
export function decodeTfjsWeights(
  groups: readonly TfjsWeightGroup[],
  shards: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>,
  what = 'tfjs weights',
): StateDict {
  const get = (p: string) => (shards instanceof Map ? shards.get(p) : (shards as Record<string, Uint8Array>)[p]);
  const out: StateDict = new Map();
  groups.forEach((g, gi) => {
    const parts = g.paths.map((p) => {
      const b = get(p);
      if (!b) throw new StyleclipError(`${what}: missing shard '${p}' of group ${gi}`);
      return b;
    });
    const bytes = parts.length === 1 ? parts[0]! : concatBytes(parts);
    let at = 0;
    for (const spec of g.weights) {
      const size = numel(spec.shape) * ELEMENT_BYTES[spec.quantization?.dtype ?? spec.dtype]!;
      check(at + size <= bytes.byteLength, `${what}: group ${gi} (${g.paths.join(', ')}) ends at byte ${bytes.byteLength}, inside weight '${spec.name}' (bytes ${at}..${at + size})`);
      check(!out.has(spec.name), `${what}: weight '${spec.name}' appears twice`);
      out.set(spec.name, decodeWeight(spec, bytes.subarray(at, at + size)));
      at += size;
    }
    check(at === bytes.byteLength, `${what}: group ${gi} has ${bytes.byteLength - at} bytes after its last weight`);
  });
  return out;
}
