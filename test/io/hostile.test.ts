/**
 * Hostile files through the loaders: each class of the robustness probe (unbounded allocation, superlinear work,
 * expanded shared structure, recursion and spread limits, silent wrong results) has crafted small files that must
 * end in a named one-line error, within 10 s, and — measured in a child process — within 1.5 GB peak memory.
 */
import {execFile} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {afterAll, describe, expect, it} from 'vitest';
import {parseRelevance, serializeRelevance, type Relevance} from '../../src/edit/global-relevance-file.js';
import {unpickle} from '../../src/io/pickle.js';
import {loadTorch} from '../../src/io/torch.js';
import {loadLatent} from '../../src/io/weights.js';
import {ROOT} from '../helpers/cli.js';
import {HOSTILE_FILES, binstringPickle, deepListPickle, long4Pickle, tensorPickle, torchZip, zipBomb} from '../helpers/hostile-files.js';
import {styleclipErrorOf} from '../helpers/io.js';
import {op} from '../helpers/pickle-builder.js';

const execFileP = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-hostile-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const TIME_LIMIT_MS = 10_000;
const MEMORY_LIMIT_BYTES = 1.5e9;

function load(name: string, bytes: Uint8Array): unknown {
  return name.endsWith('.pkl') ? unpickle(bytes, {what: name}) : loadLatent(bytes, {what: name});
}

describe('crafted hostile files end in named errors', () => {
  for (const f of HOSTILE_FILES) {
    it(`${f.finding}: ${f.name}`, () => {
      const bytes = f.bytes();
      expect(bytes.byteLength).toBeLessThanOrEqual(64 * 2 ** 20);
      const t0 = performance.now();
      const err = styleclipErrorOf(() => load(f.name, bytes));
      expect(performance.now() - t0).toBeLessThan(TIME_LIMIT_MS);
      expect(err.message.startsWith(f.name)).toBe(true);
      expect(err.message).toMatch(f.error);
      expect(err.message.length).toBeLessThan(400);
    });
  }
});

describe('what stays within the limits still loads, in linear time', () => {
  it('a LONG4 integer decodes to its value; 1 MB of it (limit raised) in well under a second', () => {
    // 0xff… 0x7f little-endian two's complement is 2^(8n−1) − 1, computed here independently.
    expect(unpickle(long4Pickle(4096))).toBe((1n << BigInt(8 * 4096 - 1)) - 1n);
    const t0 = performance.now();
    const big = unpickle(long4Pickle(2 ** 20), {limits: {maxIntBytes: 2 ** 20}});
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(big).toBe((1n << BigInt(8 * 2 ** 20 - 1)) - 1n);
  });

  it('a 2 MB BINSTRING (not UTF-8) decodes as latin-1 without overflowing the stack', () => {
    const s = unpickle(binstringPickle(2 * 2 ** 20)) as string;
    expect(s.length).toBe(2 * 2 ** 20);
    expect(s.charCodeAt(0)).toBe(0xff);
    expect(s.charCodeAt(s.length - 1)).toBe(0xff);
  });

  it('lists nested 999 deep load; 1001 deep do not', () => {
    let v = unpickle(deepListPickle(1000));
    let depth = 0;
    while (Array.isArray(v) && v.length > 0) {
      v = v[0];
      depth++;
    }
    expect(depth).toBe(999);
    expect(styleclipErrorOf(() => unpickle(deepListPickle(1002))).message).toMatch(/nested deeper than the limit of 1000 levels/);
  });

  it('a deflated storage inflates within its caps; the allocation limit is the caller’s', () => {
    const t = loadTorch(torchZip(tensorPickle(4, [op.mark, ...op.int(4), op.tuple], [op.mark, ...op.int(1), op.tuple]), undefined, 'deflate')) as {data: Float32Array};
    expect([...t.data]).toEqual([1, 2, 3, 4]);
    const pkl = tensorPickle(4, [op.mark, ...op.int(4), op.tuple], [op.mark, ...op.int(1), op.tuple]);
    expect(styleclipErrorOf(() => loadTorch(torchZip(pkl, undefined, 'deflate'), {what: 'x.pt', limits: {maxAllocBytes: 8}})).message)
      .toMatch(/^x\.pt: inflating 'archive\/data\/0' would bring the memory allocated for this file to 16 bytes, over the limit of 8$/);
    expect(styleclipErrorOf(() => loadTorch(torchZip(pkl), {what: 'y.pt', limits: {maxTensorBytes: 8}})).message)
      .toMatch(/^y\.pt: storage '0' of 4 float32 elements \(16 bytes\) is over the limit of 8 bytes$/);
  });
});

describe('relevance files', () => {
  const base = (): Relevance => ({
    fs3: Float32Array.from([1, 0, 0, 1]),
    channels: Int32Array.from([0, 1]),
    sMean: new Float32Array(4),
    sStd: Float32Array.from([1, 1, 1, 1]),
    meta: {
      generator: {size: 8, styleDim: 4, nLatent: 2, layers: [2, 2]}, clipEmbedDim: 2, clipInput: 'normalized', alphaP: 3, images: 1,
      samples: 2, seed: 0, truncation: 1, noise: 'const', layers: [0], rangeStart: 0, rangeEnd: 2, selectedTotal: 2,
    } as unknown as Relevance['meta'],
  });

  it('a valid file parses; NaN values and duplicate channel indices are named errors', () => {
    expect(parseRelevance(serializeRelevance(base())).channels).toEqual(Int32Array.from([0, 1]));
    const nan = base();
    nan.fs3[3] = NaN;
    expect(styleclipErrorOf(() => parseRelevance(serializeRelevance(nan), 'r.safetensors')).message).toBe("r.safetensors: 'fs3' holds a non-finite value (NaN) at index 3");
    const std = base();
    std.sStd[1] = Infinity;
    expect(styleclipErrorOf(() => parseRelevance(serializeRelevance(std), 'r.safetensors')).message).toBe("r.safetensors: 's_std' holds a non-finite value (Infinity) at index 1");
    const dup = base();
    dup.channels[1] = 0;
    expect(styleclipErrorOf(() => parseRelevance(serializeRelevance(dup), 'r.safetensors')).message).toBe("r.safetensors: channel index 0 appears twice in 'channels' (rows 0 and 1)");
  });
});

describe('time and memory, measured in a child process', () => {
  it('every crafted file (and a deflate bomb within the limits) ends in a named error in ≤ 10 s and ≤ 1.5 GB peak', async () => {
    const files = HOSTILE_FILES.map((f) => {
      const p = path.join(tmp, f.name);
      writeFileSync(p, f.bytes());
      return p;
    });
    // Within every limit: MiB of zeros declared and referenced (its CRC is wrong, found after inflating it). 256 MiB
    // by default; STYLECLIP_HOSTILE_BOMB_MIB=512 runs the worst case the default limits allow.
    const mib = Number(process.env.STYLECLIP_HOSTILE_BOMB_MIB ?? 256);
    const bomb = path.join(tmp, `bomb-${mib}mib.pt`);
    writeFileSync(bomb, zipBomb(mib, mib * 2 ** 20, mib * 2 ** 18));
    files.push(bomb);
    const {stdout} = await execFileP(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/load-probe.ts'), ...files], {cwd: ROOT, maxBuffer: 2 ** 24});
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as {file?: string; ms?: number; error?: {name: string; message: string} | null; maxRssBytes?: number});
    const rss = lines.pop()!.maxRssBytes!;
    expect(lines).toHaveLength(files.length);
    for (const l of lines) {
      expect(l.error?.name, l.file).toBe('StyleclipError');
      expect(l.ms!, l.file).toBeLessThan(TIME_LIMIT_MS);
    }
    expect(lines.at(-1)!.error!.message).toMatch(/CRC-32 mismatch/);
    expect(rss).toBeLessThan(MEMORY_LIMIT_BYTES);
    const worst = lines.reduce((a, b) => (b.ms! > a.ms! ? b : a));
    console.log(`hostile files: ${lines.length} named errors, slowest ${worst.file} ${worst.ms!.toFixed(0)} ms, peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
  }, 60_000);
});
