import {describe, expect, it} from 'vitest';
import {crc32, isZip, openZip} from '../../src/io/zip.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {errorOf} from '../helpers/io.js';
import {writeZip} from '../helpers/zip-writer.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const long = 'grey hair '.repeat(200);

describe('zip reader', () => {
  it('reads stored and deflated entries in directory order', () => {
    const bytes = writeZip([
      {name: 'a/one.txt', data: 'hello'},
      {name: 'a/two.txt', data: long, method: 'deflate'},
      {name: 'a/empty', data: ''},
    ], {align: 64});
    expect(isZip(bytes)).toBe(true);
    const zip = openZip(bytes);
    expect(zip.names()).toEqual(['a/one.txt', 'a/two.txt', 'a/empty']);
    expect(text(zip.read('a/one.txt'))).toBe('hello');
    expect(text(zip.read('a/two.txt'))).toBe(long);
    expect(zip.entry('a/two.txt')!.compressedSize).toBeLessThan(long.length);
    expect(zip.read('a/empty').length).toBe(0);
    expect(errorOf(() => zip.read('nope'))).toBe("zip archive: no entry named 'nope'");
  });

  it('reads zip64 records', () => {
    const zip = openZip(writeZip([{name: 'x/data', data: 'zip64!'}, {name: 'x/d2', data: long, method: 'deflate'}], {zip64: true}));
    expect(zip.names()).toEqual(['x/data', 'x/d2']);
    expect(text(zip.read('x/data'))).toBe('zip64!');
    expect(text(zip.read('x/d2'))).toBe(long);
  });

  it('reads torch archives with 64-byte aligned payloads', () => {
    const zip = openZip(fixtureBytes('clip_tiny_jit.pt'));
    expect(zip.names()[0]).toBe('clip_tiny_jit/data/0');
    expect(text(zip.read('clip_tiny_jit/version')).trim()).toBe('3');
  });

  it('names truncated and corrupt archives', () => {
    const bytes = writeZip([{name: 'a/one.txt', data: 'hello'}, {name: 'a/two.txt', data: long, method: 'deflate'}]);
    expect(errorOf(() => openZip(bytes.subarray(0, 10), {what: 'x.zip'}))).toBe('x.zip: truncated or not a zip: 10 bytes, too short for the end-of-central-directory record');
    expect(errorOf(() => openZip(bytes.subarray(0, bytes.length - 30)))).toMatch(/truncated or corrupt: no end-of-central-directory record/);
    // Flip a payload byte: the CRC catches it.
    const flipped = bytes.slice();
    flipped[30 + 'a/one.txt'.length] ^= 0xff;
    expect(errorOf(() => openZip(flipped).read('a/one.txt'))).toBe("zip archive: corrupt: CRC-32 mismatch in 'a/one.txt'");
    expect(text(openZip(flipped, {verifyCrc: false}).read('a/one.txt'))).not.toBe('hello');
    // Garbage in the deflate stream.
    const zip = openZip(bytes);
    const e = zip.entry('a/two.txt')!;
    const bad = bytes.slice();
    bad.fill(0xff, e.localHeaderOffset + 30 + 'a/two.txt'.length, e.localHeaderOffset + 30 + 'a/two.txt'.length + 8);
    expect(errorOf(() => openZip(bad).read('a/two.txt'))).toMatch(/corrupt: (cannot inflate|CRC-32|'a\/two\.txt' inflated)/);
    // Central directory pointing past the end.
    const cd = bytes.slice();
    const eocd = cd.length - 22;
    new DataView(cd.buffer).setUint32(eocd + 16, cd.length + 100, true);
    expect(errorOf(() => openZip(cd))).toMatch(/central directory .* is beyond the/);
  });

  it('computes CRC-32 like zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
