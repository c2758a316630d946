import {describe, expect, it} from 'vitest';
import {
  bfloat16BitsToNumber,
  halfBitsToNumber,
  numberToBFloat16Bits,
  numberToHalfBits,
  toFloat32,
  type HostTensor,
} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {expectSameTensor, styleclipErrorOf} from '../helpers/io.js';

const allDtypes: Record<string, HostTensor> = {
  f32: {dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1.5, -2, 3e-38, Infinity, NaN])},
  f64: {dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324])},
  f16: {dtype: 'float16', shape: [2, 2], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001])},
  bf16: {dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0x4049])},
  i32: {dtype: 'int32', shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1])},
  i64: {dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 40n + 1n])},
  i16: {dtype: 'int16', shape: [1], data: Int16Array.from([-300])},
  i8: {dtype: 'int8', shape: [3], data: Int8Array.from([-128, 0, 127])},
  u8: {dtype: 'uint8', shape: [1, 1, 2], data: Uint8Array.from([0, 255])},
  bool: {dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1])},
  scalar: {dtype: 'float32', shape: [], data: Float32Array.from([42])},
  empty: {dtype: 'float32', shape: [0, 4], data: new Float32Array(0)},
};

/** Build a safetensors file from a header object and a raw data section. */
function rawFile(header: unknown, data: number[] | Uint8Array, {pad = true, raw = false} = {}): Uint8Array {
  let json = raw ? String(header) : JSON.stringify(header);
  if (pad) while (json.length % 8 !== 0) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips every dtype, 0-dim and empty tensors, metadata and order', () => {
    const bytes = serializeSafetensors(allDtypes, {format: 'pt', note: 'hi'});
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(/^[^ ]*} *$/.test(header.replace(/"[^"]*"/g, '""'))).toBe(true); // only trailing spaces as padding
    const {tensors, metadata} = parseSafetensors(bytes);
    expect(metadata).toEqual({format: 'pt', note: 'hi'});
    expect([...tensors.keys()]).toEqual(Object.keys(allDtypes));
    for (const [k, t] of Object.entries(allDtypes)) expectSameTensor(tensors.get(k), t, k);
    // Serializing the parsed map again gives the same bytes.
    expect(Buffer.from(serializeSafetensors(tensors, metadata)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads tensors at unaligned offsets (F64 starting at an odd byte) by copying', () => {
    const f64 = new Uint8Array(new Float64Array([1.25, -3.5]).buffer);
    const i32 = new Uint8Array(new Int32Array([7, -9]).buffer);
    const header = {
      a: {dtype: 'U8', shape: [1], data_offsets: [0, 1]},
      b: {dtype: 'F64', shape: [2], data_offsets: [1, 17]},
      c: {dtype: 'I32', shape: [2], data_offsets: [17, 25]},
      d: {dtype: 'F16', shape: [], data_offsets: [25, 27]},
    };
    const data = [0xab, ...f64, ...i32, 0x00, 0x3c];
    const file = rawFile(header, data);
    expect((8 + (file.length - data.length - 8) + 1) % 8).not.toBe(0); // b really is unaligned
    const {tensors} = parseSafetensors(file);
    expect([...tensors.get('a')!.data]).toEqual([0xab]);
    expect([...tensors.get('b')!.data]).toEqual([1.25, -3.5]);
    expect([...tensors.get('c')!.data]).toEqual([7, -9]);
    expect(tensors.get('d')!.shape).toEqual([]);
    expect([...toFloat32(tensors.get('d')!)]).toEqual([1]);
    // The same file inside a larger buffer at an odd byteOffset.
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const again = parseSafetensors(shifted.subarray(3));
    expect([...again.tensors.get('b')!.data]).toEqual([1.25, -3.5]);
    expect([...again.tensors.get('c')!.data]).toEqual([7, -9]);
  });

  it('gives named one-line errors for malformed files', () => {
    const good = rawFile({x: {dtype: 'F32', shape: [2], data_offsets: [0, 8]}}, new Uint8Array(8));
    expect(parseSafetensors(good).tensors.get('x')!.shape).toEqual([2]);
    expect(styleclipErrorOf(() => parseSafetensors(new Uint8Array(5))).message).toMatch(/truncated.*too short/);
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(styleclipErrorOf(() => parseSafetensors(huge, {what: 'w.safetensors'})).message).toMatch(/^w\.safetensors: truncated or not safetensors: header length \d+ is beyond/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile('{"x": ', [], {raw: true}))).message).toMatch(/not valid UTF-8 JSON/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile([1, 2], []))).message).toMatch(/not a JSON object/);
    expect(styleclipErrorOf(() => parseSafetensors(good.subarray(0, good.length - 3))).message).toMatch(/truncated: tensor 'x' data_offsets \[0, 8\] run past the 5-byte data section/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile({x: {dtype: 'F32', shape: [3], data_offsets: [0, 8]}}, new Uint8Array(8)))).message)
      .toMatch(/tensor 'x' has 8 data bytes but F32\[3\] needs 12/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile({x: {dtype: 'C64', shape: [1], data_offsets: [0, 8]}}, new Uint8Array(8)))).message)
      .toMatch(/unknown or unsupported dtype 'C64'/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile({x: {dtype: 'F32', shape: [-1], data_offsets: [0, 4]}}, new Uint8Array(4)))).message)
      .toMatch(/invalid shape/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile({x: {dtype: 'F32', shape: [1], data_offsets: [4, 0]}}, new Uint8Array(4)))).message)
      .toMatch(/invalid data_offsets/);
    expect(styleclipErrorOf(() => parseSafetensors(rawFile({__metadata__: {a: 1}}, []))).message).toMatch(/__metadata__ value for 'a' is not a string/);
  });

  it('cutting a fixture in half gives a named truncation error', () => {
    const bytes = fixtureBytes('stylegan2_tiny_weights.safetensors');
    expect(styleclipErrorOf(() => parseSafetensors(bytes.subarray(0, bytes.length >> 1), {what: 'stylegan2_tiny_weights.safetensors'})).message)
      .toMatch(/^stylegan2_tiny_weights\.safetensors: truncated: tensor '.+' data_offsets/);
  });

  it('reads the fixtures (F32, I64, 0-dim, metadata)', () => {
    const hf = parseSafetensors(fixtureBytes('clip_tiny_hf.safetensors')).tensors.get('logit_scale')!;
    expect(hf.shape).toEqual([]);
    expect(toFloat32(hf)[0]).toBeCloseTo(Math.log(100), 5);
    const irse = parseSafetensors(fixtureBytes('irse_tiny_weights.safetensors'));
    const counters = [...irse.tensors].filter(([k]) => k.endsWith('num_batches_tracked'));
    expect(counters.length).toBeGreaterThan(0);
    for (const [, t] of counters) expect(t.dtype).toBe('int64');
    expect(typeof irse.metadata).toBe('object');
  });

  it('rejects non-serializable input with named errors', () => {
    expect(styleclipErrorOf(() => serializeSafetensors({x: {dtype: 'float32', shape: [3], data: new Float32Array(2)}})).message)
      .toMatch(/'x': data has 2 elements but shape \[3\] needs 3/);
  });
});

describe('float16 / bfloat16 conversion', () => {
  const halfCases: Array<[number, number]> = [
    [0x3c00, 1], [0xc000, -2], [0x3800, 0.5], [0x7bff, 65504], [0x0400, 6.103515625e-5], [0x0001, 5.960464477539063e-8],
    [0x03ff, 6.097555160522461e-5], [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
  ];

  it('decodes known binary16 bit patterns', () => {
    for (const [bits, v] of halfCases) expect(halfBitsToNumber(bits), bits.toString(16)).toBe(v);
    expect(Number.isNaN(halfBitsToNumber(0x7e00))).toBe(true);
    expect(Object.is(halfBitsToNumber(0x8000), -0)).toBe(true);
    const t = toFloat32({dtype: 'float16', shape: [halfCases.length], data: Uint16Array.from(halfCases.map(([b]) => b))});
    expect([...t]).toEqual(halfCases.map(([, v]) => Math.fround(v)));
  });

  it('encodes binary16 with round-to-nearest-even, overflow and subnormals', () => {
    for (const [bits, v] of halfCases) expect(numberToHalfBits(v), String(v)).toBe(bits);
    expect(numberToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(numberToHalfBits(65519)).toBe(0x7bff);
    expect(numberToHalfBits(65520)).toBe(0x7c00); // rounds to Inf
    expect(numberToHalfBits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal → 0
    expect(numberToHalfBits(1.5 * 2 ** -24)).toBe(0x0002); // tie → even
    expect(numberToHalfBits(-0)).toBe(0x8000);
    expect(numberToHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    // Exhaustive: every finite half round-trips.
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      if (numberToHalfBits(halfBitsToNumber(h)) !== h) throw new Error(`half 0x${h.toString(16)} does not round-trip`);
    }
  });

  it('converts bfloat16 both ways', () => {
    expect(bfloat16BitsToNumber(0x3f80)).toBe(1);
    expect(bfloat16BitsToNumber(0xc000)).toBe(-2);
    expect(bfloat16BitsToNumber(0x4049)).toBe(3.140625);
    expect(numberToBFloat16Bits(Math.PI)).toBe(0x4049);
    expect(numberToBFloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(numberToBFloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToBFloat16Bits(-Infinity)).toBe(0xff80);
    expect(Number.isNaN(bfloat16BitsToNumber(numberToBFloat16Bits(NaN)))).toBe(true);
    expect([...toFloat32({dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0x4049])})]).toEqual([1, 3.140625]);
  });
});
