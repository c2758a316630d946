/**
 * Seeded fuzzing of the loaders: mutations (bit flips, truncations, splices, size-field edits, insertions and
 * deletions) of every fixture format — torch.save zip, legacy torch.save, TorchScript, safetensors, .npy and
 * pickle — must each end in a result or a StyleclipError, never another error, a hang or a crash.
 *
 * A few seconds by default; STYLECLIP_FUZZ_ITERS=N runs N mutations per fixture (default 40) and
 * STYLECLIP_FUZZ_SEED picks another seed. A failure names the seed, fixture, iteration and mutation to replay.
 */
import {readFileSync} from 'node:fs';
import {describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {parseNpy, serializeNpy} from '../../src/io/npy.js';
import {PyObject, unpickle} from '../../src/io/pickle.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {loadTorch} from '../../src/io/torch.js';
import {loadLatent, loadWeights} from '../../src/io/weights.js';
import {openZip} from '../../src/io/zip.js';
import {mulberry32} from '../../src/random.js';
import {fixtureBytes} from '../helpers/fixtures.js';

const ITERS = Number(process.env.STYLECLIP_FUZZ_ITERS ?? 40);
const SEED = Number(process.env.STYLECLIP_FUZZ_SEED ?? 17);
const dataBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./data/${name}`, import.meta.url)));

/** A resolver that allows every global with inert handlers, so mutated pickles reach deep into the VM. */
const anyGlobal = (): {call: () => unknown; newobj: () => unknown; build: (o: unknown) => unknown} => ({
  call: () => new Map(),
  newobj: () => new PyObject('fuzz.Object'),
  build: (o) => o,
});

interface Target {
  name: string;
  bytes: () => Uint8Array;
  /** Every loader the format goes through. */
  load: (b: Uint8Array) => unknown;
}

const weightsAndLatent = (b: Uint8Array): void => {
  for (const f of [() => loadWeights(b, {what: 'fuzz'}), () => loadLatent(b, {what: 'fuzz'})]) {
    try {
      f();
    } catch (e) {
      if (!(e instanceof StyleclipError)) throw e;
    }
  }
};

const TARGETS: Target[] = [
  {name: 'mixed_zip.pt', bytes: () => dataBytes('mixed_zip.pt'), load: (b) => (loadTorch(b), weightsAndLatent(b))},
  {name: 'extras_zip.pt', bytes: () => dataBytes('extras_zip.pt'), load: (b) => (loadTorch(b), weightsAndLatent(b))},
  {name: 'mixed_legacy.pt', bytes: () => dataBytes('mixed_legacy.pt'), load: (b) => (loadTorch(b), weightsAndLatent(b))},
  {name: 'extras_legacy.pt', bytes: () => dataBytes('extras_legacy.pt'), load: (b) => (loadTorch(b), weightsAndLatent(b))},
  {name: 'clip_tiny_jit.pt (TorchScript)', bytes: () => fixtureBytes('clip_tiny_jit.pt'), load: (b) => (loadTorch(b), weightsAndLatent(b))},
  {name: 'mapper_tiny_weights.safetensors', bytes: () => fixtureBytes('mapper_tiny_weights.safetensors'), load: (b) => (parseSafetensors(b), weightsAndLatent(b))},
  {
    name: 'latent.npy',
    bytes: () => serializeNpy({dtype: 'float32', shape: [2, 8, 64], data: Float32Array.from({length: 1024}, (_, i) => i / 7)}),
    load: (b) => (parseNpy(b), weightsAndLatent(b)),
  },
  {name: 'sg2ada_tiny.pkl', bytes: () => fixtureBytes('sg2ada_tiny.pkl'), load: (b) => unpickle(b, {resolveGlobal: anyGlobal, persistentLoad: (p) => p})},
  {
    name: 'extras data.pkl',
    bytes: () => openZip(dataBytes('extras_zip.pt')).read('extras_zip/data.pkl'),
    load: (b) => unpickle(b, {resolveGlobal: anyGlobal, persistentLoad: (p) => p}),
  },
];

/** Values a size field is most likely to break on. */
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32 + 1, 2 ** 53, 2 ** 63, 2 ** 64 - 1];

/** One seeded mutation of `src`; returns the bytes and a description to replay it by. */
function mutate(src: Uint8Array, rnd: () => number): {bytes: Uint8Array; how: string} {
  const int = (n: number): number => Math.floor(rnd() * n);
  // Structure (headers, pickles, zip directories) sits near the start and the end: aim there half of the time.
  const pos = (len: number): number => {
    if (len === 0) return 0;
    const r = rnd();
    if (r < 0.25) return int(Math.min(len, 4096));
    if (r < 0.5) return Math.max(0, len - 1 - int(Math.min(len, 4096)));
    return int(len);
  };
  const b = src.slice();
  switch (int(6)) {
    case 0: {
      const n = 1 + int(8);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = pos(b.length);
        b[p]! ^= 1 << int(8);
        at.push(p);
      }
      return {bytes: b, how: `bit flips at ${at.join(',')}`};
    }
    case 1: {
      const len = int(src.length);
      return {bytes: src.slice(0, len), how: `truncated to ${len}`};
    }
    case 2: {
      const from = pos(src.length);
      const to = pos(src.length);
      const len = 1 + int(256);
      b.set(src.subarray(from, Math.min(src.length, from + len)).subarray(0, Math.max(0, b.length - to)), to);
      return {bytes: b, how: `splice ${len} bytes from ${from} to ${to}`};
    }
    case 3: {
      const width = [1, 2, 4, 8][int(4)]!;
      const p = Math.min(pos(b.length), Math.max(0, b.length - width));
      const v = BigInt(INTERESTING[int(INTERESTING.length)]!) + BigInt(int(3) - 1);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (b.length >= width) {
        const masked = BigInt.asUintN(width * 8, v);
        for (let i = 0; i < width; i++) dv.setUint8(p + i, Number((masked >> BigInt(8 * i)) & 0xffn));
      }
      return {bytes: b, how: `size field u${width * 8} = ${v} at ${p}`};
    }
    case 4: {
      const p = pos(src.length);
      const n = 1 + int(64);
      const ins = Uint8Array.from({length: n}, () => int(256));
      const out = new Uint8Array(src.length + n);
      out.set(src.subarray(0, p));
      out.set(ins, p);
      out.set(src.subarray(p), p + n);
      return {bytes: out, how: `inserted ${n} bytes at ${p}`};
    }
    default: {
      const n = Math.min(src.length, 1 + int(64));
      const p = Math.min(pos(src.length), src.length - n);
      const out = new Uint8Array(src.length - n);
      out.set(src.subarray(0, p));
      out.set(src.subarray(p + n), p);
      return {bytes: out, how: `deleted ${n} bytes at ${p}`};
    }
  }
}

describe(`loader fuzzing (seed ${SEED}, ${ITERS} mutations per fixture)`, () => {
  for (const [t, target] of TARGETS.entries()) {
    it(`${target.name}: every mutation loads or ends in a StyleclipError`, () => {
      const src = target.bytes();
      target.load(src); // the unmutated file loads
      const rnd = mulberry32(SEED * 1000 + t);
      const outcomes = {ok: 0, named: 0};
      let slowest = 0;
      for (let i = 0; i < ITERS; i++) {
        const {bytes, how} = mutate(src, rnd);
        const t0 = performance.now();
        try {
          target.load(bytes);
          outcomes.ok++;
        } catch (e) {
          if (!(e instanceof StyleclipError)) {
            throw new Error(`fuzz seed ${SEED}, ${target.name}, iteration ${i} (${how}): ${(e as Error).name}: ${(e as Error).message.slice(0, 300)}`);
          }
          expect((e as Error).message, how).not.toContain('\n');
          outcomes.named++;
        }
        slowest = Math.max(slowest, performance.now() - t0);
        expect(slowest, how).toBeLessThan(10_000);
      }
      expect(outcomes.ok + outcomes.named).toBe(ITERS);
      console.log(`fuzz ${target.name}: ${ITERS} mutations, ${outcomes.ok} loaded, ${outcomes.named} named errors, slowest ${slowest.toFixed(0)} ms`);
    });
  }
});
