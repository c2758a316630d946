/**
 * Hand assembly of pickle byte streams for tests (opcodes from CPython Lib/pickletools.py), so unpickler tests
 * do not need Python. Each helper returns the bytes of one opcode with its argument; `pickle(...)` joins them.
 */
type Part = number | number[] | Uint8Array;

export function pickle(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

const enc = new TextEncoder();
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

export const op = {
  proto: (n: number): number[] => [0x80, n],
  stop: 0x2e,
  mark: 0x28,
  none: 0x4e,
  newtrue: 0x88,
  newfalse: 0x89,
  tuple: 0x74,
  tuple1: 0x85,
  tuple2: 0x86,
  tuple3: 0x87,
  emptyTuple: 0x29,
  emptyList: 0x5d,
  emptyDict: 0x7d,
  append: 0x61,
  appends: 0x65,
  setitem: 0x73,
  setitems: 0x75,
  reduce: 0x52,
  build: 0x62,
  newobj: 0x81,
  binpersid: 0x51,
  memoize: 0x94,
  global: (module: string, name: string): number[] => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  stackGlobal: 0x93,
  unicode: (s: string): number[] => {
    const b = enc.encode(s);
    return b.length < 256 ? [0x8c, b.length, ...b] : [0x58, ...u32(b.length), ...b];
  },
  binunicode: (s: string): number[] => {
    const b = enc.encode(s);
    return [0x58, ...u32(b.length), ...b];
  },
  shortBinstring: (s: string): number[] => [0x55, s.length, ...[...s].map((c) => c.charCodeAt(0))],
  shortBinbytes: (b: number[]): number[] => [0x43, b.length, ...b],
  int: (n: number): number[] => {
    if (n >= 0 && n < 256) return [0x4b, n];
    if (n >= 0 && n < 65536) return [0x4d, n & 0xff, n >> 8];
    return [0x4a, ...u32(n >>> 0)];
  },
  long1: (v: bigint): number[] => {
    const bytes: number[] = [];
    let x = v;
    // Minimal little-endian two's complement.
    for (;;) {
      const b = Number(x & 0xffn);
      bytes.push(b);
      x >>= 8n;
      if ((x === 0n && (b & 0x80) === 0) || (x === -1n && (b & 0x80) !== 0)) break;
    }
    return [0x8a, bytes.length, ...bytes];
  },
  binfloat: (x: number): number[] => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return [0x47, ...b];
  },
  binput: (i: number): number[] => [0x71, i],
  binget: (i: number): number[] => [0x68, i],
};
