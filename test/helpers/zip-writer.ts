/**
 * A tiny zip writer for tests (PKWARE APPNOTE.TXT): builds archives with stored or deflated entries, optional
 * data alignment like PyTorchStreamWriter, and optional zip64 records, so readers can be tested on archives
 * that are built here byte by byte (and then broken on purpose).
 */
import {crc32, deflateRawSync} from 'node:zlib';
import {concatBytes} from '../../src/bytes.js';

export interface ZipInput {
  name: string;
  data: Uint8Array | string;
  /** 'store' (default) or 'deflate'. */
  method?: 'store' | 'deflate';
}

export interface ZipWriteOptions {
  /** Pad each stored payload to start at a multiple of this many bytes (torch uses 64). */
  align?: number;
  /** Write zip64 EOCD records and zip64 extra fields (with 0xffffffff placeholders). */
  zip64?: boolean;
}

export function writeZip(entries: ZipInput[], {align = 1, zip64 = false}: ZipWriteOptions = {}): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let pos = 0;
  const push = (b: Uint8Array): void => {
    chunks.push(b);
    pos += b.byteLength;
  };
  const central: Uint8Array[] = [];
  for (const e of entries) {
    const raw = typeof e.data === 'string' ? enc.encode(e.data) : e.data;
    const deflate = e.method === 'deflate';
    const body = deflate ? new Uint8Array(deflateRawSync(raw)) : raw;
    const name = enc.encode(e.name);
    const crc = crc32(raw) >>> 0;
    const offset = pos;
    // Padding goes into the local header's extra field so the payload starts aligned.
    let extraLen = 0;
    if (!deflate && align > 1) {
      const start = offset + 30 + name.byteLength + 4;
      extraLen = 4 + ((align - (start % align)) % align);
    }
    const local = new Uint8Array(30 + name.byteLength + extraLen);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, deflate ? 8 : 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.byteLength, true);
    lv.setUint32(22, raw.byteLength, true);
    lv.setUint16(26, name.byteLength, true);
    lv.setUint16(28, extraLen, true);
    local.set(name, 30);
    if (extraLen > 0) {
      lv.setUint16(30 + name.byteLength, 0xcafe, true); // an unknown extra-field tag, as padding
      lv.setUint16(32 + name.byteLength, extraLen - 4, true);
    }
    push(local);
    push(body);
    const cExtra = zip64 ? 4 + 24 : 0;
    const c = new Uint8Array(46 + name.byteLength + cExtra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, zip64 ? 45 : 20, true);
    cv.setUint16(6, zip64 ? 45 : 20, true);
    cv.setUint16(10, deflate ? 8 : 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, zip64 ? 0xffffffff : body.byteLength, true);
    cv.setUint32(24, zip64 ? 0xffffffff : raw.byteLength, true);
    cv.setUint16(28, name.byteLength, true);
    cv.setUint16(30, cExtra, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    c.set(name, 46);
    if (zip64) {
      const x = 46 + name.byteLength;
      cv.setUint16(x, 0x0001, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(raw.byteLength), true);
      cv.setBigUint64(x + 12, BigInt(body.byteLength), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    central.push(c);
  }
  const cdOffset = pos;
  for (const c of central) push(c);
  const cdSize = pos - cdOffset;
  if (zip64) {
    const z = new Uint8Array(56);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(entries.length), true);
    zv.setBigUint64(32, BigInt(entries.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    const zOffset = pos;
    push(z);
    const loc = new Uint8Array(20);
    const locv = new DataView(loc.buffer);
    locv.setUint32(0, 0x07064b50, true);
    locv.setBigUint64(8, BigInt(zOffset), true);
    locv.setUint32(16, 1, true);
    push(loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : entries.length, true);
  ev.setUint16(10, zip64 ? 0xffff : entries.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  push(eocd);
  return concatBytes(chunks);
}
