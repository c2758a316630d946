import {describe, expect, it} from 'vitest';
import {hostDataBytes, type HostTensor} from '../../src/io/host-tensor.js';
import {parseNpy, serializeNpy} from '../../src/io/npy.js';
import {errorOf} from '../helpers/io.js';

/** An .npy file with a hand-written header (padded to 64 bytes like numpy) and the given data bytes. */
function npyFile(header: string, data: Uint8Array, major = 1, encoding: 'latin1' | 'utf8' = 'latin1'): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const raw = encoding === 'utf8' ? new TextEncoder().encode(header) : Uint8Array.from(header, (c) => c.charCodeAt(0));
  const total = Math.ceil((prefix + raw.length + 1) / 64) * 64;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, total - prefix, true);
  else dv.setUint32(8, total - prefix, true);
  out.set(raw, prefix);
  out.fill(0x20, prefix + raw.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('npy', () => {
  it('round-trips every supported dtype, 0-dim and 1-dim', () => {
    const cases: HostTensor[] = [
      {dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5])},
      {dtype: 'float64', shape: [], data: Float64Array.from([3.5])},
      {dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000])},
      {dtype: 'int32', shape: [1, 1], data: Int32Array.from([-5])},
      {dtype: 'int64', shape: [3], data: BigInt64Array.from([0n, 1n, -(2n ** 60n)])},
      {dtype: 'uint8', shape: [2], data: Uint8Array.from([0, 255])},
      {dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0])},
      {dtype: 'int8', shape: [1], data: Int8Array.from([-1])},
      {dtype: 'int16', shape: [0, 2], data: new Int16Array(0)},
    ];
    for (const t of cases) {
      const bytes = serializeNpy(t);
      const headerLen = new DataView(bytes.buffer).getUint16(8, true);
      expect((10 + headerLen) % 64).toBe(0);
      expect(bytes[10 + headerLen - 1]).toBe(0x0a);
      const back = parseNpy(bytes);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(Buffer.from(hostDataBytes(back.data)).equals(Buffer.from(hostDataBytes(t.data)))).toBe(true);
    }
  });

  it('writes the header numpy writes', () => {
    const b = serializeNpy({dtype: 'float32', shape: [2, 3], data: new Float32Array(6)});
    const header = new TextDecoder().decode(b.subarray(10, 10 + new DataView(b.buffer).getUint16(8, true)));
    expect(header.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    const one = serializeNpy({dtype: 'int64', shape: [3], data: new BigInt64Array(3)});
    expect(new TextDecoder().decode(one.subarray(10, 70))).toContain("'shape': (3,), }");
    const zero = serializeNpy({dtype: 'float64', shape: [], data: new Float64Array(1)});
    expect(new TextDecoder().decode(zero.subarray(10, 70))).toContain("'shape': (), }");
    expect(errorOf(() => serializeNpy({dtype: 'bfloat16', shape: [1], data: new Uint16Array(1)}))).toMatch(/numpy has no bfloat16/);
  });

  it('parses a header as numpy 2.x writes it (v1, header padded to 128 bytes)', () => {
    // np.save of np.arange(6, dtype='<f4').reshape(2, 3): numpy >= 1.? leaves room for the header to grow.
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".padEnd(117, ' ') + '\n';
    const file = new Uint8Array(128 + 24);
    file.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0]);
    file.set(Uint8Array.from(header, (c) => c.charCodeAt(0)), 10);
    file.set(bytesOf(Float32Array.from([0, 1, 2, 3, 4, 5])), 128);
    const t = parseNpy(file);
    expect(t.shape).toEqual([2, 3]);
    expect([...t.data]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('transposes Fortran-order data to C order', () => {
    // Fortran order stores column by column: [[0,1,2],[3,4,5]] is 0,3,1,4,2,5.
    const f = npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", bytesOf(Float32Array.from([0, 3, 1, 4, 2, 5])));
    const t = parseNpy(f);
    expect(t.shape).toEqual([2, 3]);
    expect([...t.data]).toEqual([0, 1, 2, 3, 4, 5]);
    const f3 = npyFile("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2, 2), }", bytesOf(Int32Array.from([0, 4, 2, 6, 1, 5, 3, 7])));
    expect([...parseNpy(f3).data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('reads v2 and v3 headers, key order and whitespace variations', () => {
    const v2 = npyFile("{'shape': (4,), 'fortran_order': False, 'descr': '<i8'}", bytesOf(BigInt64Array.from([1n, 2n, 3n, -4n])), 2);
    expect([...parseNpy(v2).data]).toEqual([1n, 2n, 3n, -4n]);
    const v3 = npyFile("{'descr':'|u1','fortran_order':False,'shape':(2,),'note':'é'}", Uint8Array.from([7, 8]), 3, 'utf8');
    expect([...parseNpy(v3).data]).toEqual([7, 8]);
    const b1 = npyFile("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Uint8Array.from([1, 0, 1]));
    expect(parseNpy(b1).dtype).toBe('bool');
    const f2 = npyFile("{'descr': '<f2', 'fortran_order': False, 'shape': (), }", bytesOf(Uint16Array.from([0x3c00])));
    expect(parseNpy(f2)).toEqual({dtype: 'float16', shape: [], data: Uint16Array.from([0x3c00])});
  });

  it('names bad files', () => {
    const good = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8));
    expect(errorOf(() => parseNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), {what: 'z.npy'}))).toBe('z.npy: not an .npy file (bad magic)');
    expect(errorOf(() => parseNpy(good.subarray(0, good.length - 1)))).toMatch(/truncated: <f4\[2\] needs 8 data bytes but only 7/);
    expect(errorOf(() => parseNpy(good.subarray(0, 30)))).toMatch(/truncated: header length/);
    expect(errorOf(() => parseNpy(npyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)))))
      .toMatch(/big-endian dtype '>f4' is not supported/);
    expect(errorOf(() => parseNpy(npyFile("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)))))
      .toMatch(/unsupported dtype '<c8'/);
    expect(errorOf(() => parseNpy(npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)))))
      .toMatch(/structured arrays are not supported/);
    expect(errorOf(() => parseNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ", new Uint8Array(4)))))
      .toMatch(/header/);
  });
});
