/**
 * Minimal zip reader (PKWARE APPNOTE.TXT 6.3: end of central directory, central directory, local headers,
 * zip64 extensions). Enough for PyTorch archives written by PyTorchStreamWriter (stored entries, often
 * 64-byte aligned) and ordinary deflated zips. Reads from bytes; entries are sliced or inflated on demand.
 */
import {crc32 as nodeCrc32, inflateRawSync} from 'node:zlib';
import {StyleclipError} from '../errors.js';
import {preview} from './preview.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  /** Offset of the entry's local header in the archive. */
  localHeaderOffset: number;
}

export interface ZipOptions {
  /** Archive name for error messages (default "zip archive"). */
  what?: string;
  /** Verify the CRC-32 of each entry when it is read (default true). */
  verifyCrc?: boolean;
}

/** True when the bytes start like a zip archive (a local file header, or the EOCD of an empty archive). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 4) return false;
  const sig = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zip uses). Uses node:zlib's native one when present (Node >= 20.15). */
export function crc32(data: Uint8Array): number {
  if (typeof nodeCrc32 === 'function') return nodeCrc32(data) >>> 0;
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class ZipArchive {
  /** Entries in central-directory order (for torch archives, the order they were written). */
  readonly entries: readonly ZipEntry[];
  readonly what: string;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #byName: Map<string, ZipEntry>;
  readonly #verifyCrc: boolean;

  constructor(bytes: Uint8Array, {what = 'zip archive', verifyCrc = true}: ZipOptions = {}) {
    this.what = what;
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#verifyCrc = verifyCrc;
    this.entries = this.#readCentralDirectory();
    this.#byName = new Map(this.entries.map((e) => [e.name, e]));
  }

  #fail(msg: string): never {
    throw new StyleclipError(`${this.what}: ${msg}`);
  }

  #u16(pos: number): number {
    return this.#view.getUint16(pos, true);
  }

  #u32(pos: number): number {
    return this.#view.getUint32(pos, true);
  }

  #u64(pos: number): number {
    const v = this.#view.getBigUint64(pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail(`zip64 field ${v} at byte ${pos} is too large`);
    return Number(v);
  }

  #readCentralDirectory(): ZipEntry[] {
    const len = this.#bytes.byteLength;
    if (len < 22) this.#fail(`truncated or not a zip: ${len} bytes, too short for the end-of-central-directory record`);
    // The EOCD record is 22 bytes plus a comment of up to 65535 bytes, at the very end.
    let eocd = -1;
    for (let pos = len - 22; pos >= Math.max(0, len - 22 - 0xffff); pos--) {
      if (this.#u32(pos) === SIG_EOCD && pos + 22 + this.#u16(pos + 20) <= len) {
        eocd = pos;
        break;
      }
    }
    if (eocd < 0) this.#fail('truncated or corrupt: no end-of-central-directory record found');
    let count = this.#u16(eocd + 10);
    let cdSize = this.#u32(eocd + 12);
    let cdOffset = this.#u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.#u32(loc) !== SIG_ZIP64_LOCATOR) this.#fail('corrupt: zip64 sizes without a zip64 locator');
      const z64 = this.#u64(loc + 8);
      if (z64 + 56 > len || this.#u32(z64) !== SIG_ZIP64_EOCD) this.#fail('corrupt: bad zip64 end-of-central-directory record');
      count = this.#u64(z64 + 32);
      cdSize = this.#u64(z64 + 40);
      cdOffset = this.#u64(z64 + 48);
    }
    if (cdOffset + cdSize > len) {
      this.#fail(`truncated or corrupt: central directory [${cdOffset}, ${cdOffset + cdSize}) is beyond the ${len}-byte file`);
    }
    const entries: ZipEntry[] = [];
    const decoder = new TextDecoder('utf-8');
    let pos = cdOffset;
    for (let i = 0; i < count; i++) {
      if (pos + 46 > cdOffset + cdSize || this.#u32(pos) !== SIG_CENTRAL) {
        this.#fail(`corrupt: central directory entry ${i} of ${count} is missing or damaged`);
      }
      const method = this.#u16(pos + 10);
      const crc = this.#u32(pos + 16);
      let compressedSize = this.#u32(pos + 20);
      let uncompressedSize = this.#u32(pos + 24);
      const nameLen = this.#u16(pos + 28);
      const extraLen = this.#u16(pos + 30);
      const commentLen = this.#u16(pos + 32);
      let localHeaderOffset = this.#u32(pos + 42);
      const end = pos + 46 + nameLen + extraLen + commentLen;
      if (end > cdOffset + cdSize) this.#fail(`corrupt: central directory entry ${i} runs past the directory`);
      const name = decoder.decode(this.#bytes.subarray(pos + 46, pos + 46 + nameLen));
      // Zip64 extended information (tag 0x0001) holds, in order, only the fields that are 0xffffffff above.
      let x = pos + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const tag = this.#u16(x);
        const size = this.#u16(x + 2);
        if (tag === 0x0001) {
          let f = x + 4;
          if (uncompressedSize === 0xffffffff) { uncompressedSize = this.#u64(f); f += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = this.#u64(f); f += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = this.#u64(f); f += 8; }
          if (f > x + 4 + size) this.#fail(`corrupt: zip64 extra field of ${preview(name)} is too short`);
        }
        x += 4 + size;
      }
      entries.push({name, method, compressedSize, uncompressedSize, crc32: crc, localHeaderOffset});
      pos = end;
    }
    return entries;
  }

  /** Entry names in directory order. */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.#byName.get(name);
  }

  /**
   * The bytes of an entry (a view into the archive for stored entries). Throws a named error if missing. A deflated
   * entry is inflated only now, into at most its declared size and at most `maxBytes` (the caller's bound, e.g. the
   * bytes the tensors stored in it can use), so a zip bomb stops at the cap instead of allocating what it expands to.
   */
  read(nameOrEntry: string | ZipEntry, {maxBytes = Number.MAX_SAFE_INTEGER}: {maxBytes?: number} = {}): Uint8Array {
    const e = typeof nameOrEntry === 'string' ? this.#byName.get(nameOrEntry) : nameOrEntry;
    if (e === undefined) this.#fail(`no entry named ${preview(typeof nameOrEntry === 'string' ? nameOrEntry : nameOrEntry.name)}`);
    const len = this.#bytes.byteLength;
    const h = e.localHeaderOffset;
    if (h + 30 > len) this.#fail(`truncated: local header of ${preview(e.name)} at byte ${h} is beyond the ${len}-byte file`);
    if (this.#u32(h) !== SIG_LOCAL) this.#fail(`corrupt: bad local header signature for ${preview(e.name)} at byte ${h}`);
    const start = h + 30 + this.#u16(h + 26) + this.#u16(h + 28);
    const end = start + e.compressedSize;
    if (end > len) this.#fail(`truncated: data of ${preview(e.name)} [${start}, ${end}) runs past the ${len}-byte file`);
    const raw = this.#bytes.subarray(start, end);
    if (e.uncompressedSize > maxBytes) {
      this.#fail(`entry ${preview(e.name)} declares ${e.uncompressedSize} bytes, more than the ${maxBytes} it may hold`);
    }
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize) this.#fail(`corrupt: stored entry ${preview(e.name)} has mismatched sizes`);
      out = raw;
    } else if (e.method === 8) {
      try {
        // One byte over the declared size tells "inflates to more than declared" apart from "exactly".
        const buf = inflateRawSync(raw, {maxOutputLength: e.uncompressedSize + 1});
        out = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          this.#fail(`corrupt: ${preview(e.name)} inflates to more than its declared ${e.uncompressedSize} bytes`);
        }
        this.#fail(`corrupt: cannot inflate ${preview(e.name)} (${(err as Error).message.split('\n')[0]})`);
      }
      if (out.byteLength !== e.uncompressedSize) {
        this.#fail(`corrupt: ${preview(e.name)} inflated to ${out.byteLength} bytes, expected ${e.uncompressedSize}`);
      }
    } else {
      this.#fail(`entry ${preview(e.name)} uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    }
    if (this.#verifyCrc && crc32(out) !== e.crc32) this.#fail(`corrupt: CRC-32 mismatch in ${preview(e.name)}`);
    return out;
  }
}

/** Open a zip archive held in memory. */
export function openZip(bytes: Uint8Array, opts: ZipOptions = {}): ZipArchive {
  return new ZipArchive(bytes, opts);
}
