/**
 * `styleclip generate` end to end through the real CLI entry point: outputs are written and correct, and every
 * kind of malformed input gives a one-line named error, a non-zero exit and no output file.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {afterAll, describe, expect, it} from 'vitest';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseNpy, serializeNpy} from '../../src/io/npy.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {expectAllClose} from '../helpers/allclose.js';
import {expectOneLineError, runCli} from '../helpers/cli.js';
import {fixtureBytes, fixturePath} from '../helpers/fixtures.js';
import {HOSTILE_FILES} from '../helpers/hostile-files.js';
import {RawGlobal, RawRecord, conditionalTinyPickle, writeNetworkPickle} from '../helpers/network-pickle-writer.js';
import {op, pickle} from '../helpers/pickle-builder.js';
import {loadNetworkPickle} from '../../src/io/torch.js';
import {writeZip} from '../helpers/zip-writer.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-cli-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
const CKPT = fixturePath('stylegan2_tiny_ckpt.pt');

function tmpFile(name: string, bytes?: Uint8Array): string {
  const p = path.join(tmp, name);
  if (bytes) writeFileSync(p, bytes);
  return p;
}

describe('styleclip generate', () => {
  it('writes the W+ image matching the fixture, plus latent and raw outputs', async () => {
    const io = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors;
    const latent = tmpFile('wplus.npy', serializeNpy(io.get('w_plus_input')!));
    const out = tmpFile('wplus.png');
    const raw = tmpFile('raw.safetensors');
    const saved = tmpFile('saved.npy');
    const r = await runCli('generate', '--generator', CKPT, '--latent', latent, '--space', 'w+', '--out', out, '--save-raw', raw, '--save-latent', saved, '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {images: number; size: number};
    expect(summary).toMatchObject({images: 2, size: 32});
    const rawT = parseSafetensors(readFileSync(raw)).tensors.get('image')!;
    expect(rawT.shape).toEqual([2, 3, 32, 32]);
    expectAllClose(toFloat32(rawT), toFloat32(io.get('img_wplus')!), {atol: 1e-4, what: 'raw image'});
    expectAllClose(toFloat32(parseNpy(readFileSync(saved))), toFloat32(io.get('w_plus_input')!), {what: 'saved W+'});
    // Two images become one grid of ⌈√2⌉ = 2 columns: 64×32 pixels.
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([64, 32]);
    // The PNG holds round((x+1)·127.5) clamped: check the first pixel of image 0.
    const {data} = await sharp(out).raw().toBuffer({resolveWithObject: true});
    const img = toFloat32(io.get('img_wplus')!);
    const expectByte = (v: number) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));
    expect(Math.abs(data[0]! - expectByte(img[0]!))).toBeLessThanOrEqual(1);
    expect(Math.abs(data[1]! - expectByte(img[32 * 32]!))).toBeLessThanOrEqual(1);
  });

  it('samples from a seed reproducibly and round-trips the saved latent', async () => {
    const a = tmpFile('seed-a.safetensors');
    const w = tmpFile('seed-w.npy');
    const r1 = await runCli('generate', '--generator', CKPT, '--seed', '5', '--batch', '3', '--truncation', '0.7', '--out', tmpFile('seed.png'), '--save-raw', a, '--save-latent', w);
    expect(r1.code, r1.stderr).toBe(0);
    const b = tmpFile('seed-b.safetensors');
    const r2 = await runCli('generate', '--generator', CKPT, '--latent', w, '--out', tmpFile('seed2.png'), '--save-raw', b);
    expect(r2.code, r2.stderr).toBe(0);
    const ia = toFloat32(parseSafetensors(readFileSync(a)).tensors.get('image')!);
    const ib = toFloat32(parseSafetensors(readFileSync(b)).tensors.get('image')!);
    expect(ia.length).toBe(3 * 3 * 32 * 32);
    expectAllClose(ib, ia, {atol: 1e-5, what: 'regenerated from saved W+'});
  });
});

describe('styleclip generate: malformed input gives one-line named errors', () => {
  const out = () => tmpFile(`never-${Math.random().toString(36).slice(2)}.png`);

  it('a truncated .pt checkpoint', async () => {
    const bytes = fixtureBytes('stylegan2_tiny_ckpt.pt');
    const ckpt = tmpFile('truncated.pt', bytes.subarray(0, bytes.length >> 1));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /truncated\.pt/, {noFile: o});
  });

  it('a truncated .safetensors checkpoint', async () => {
    const bytes = fixtureBytes('stylegan2_tiny_weights.safetensors');
    const ckpt = tmpFile('truncated.safetensors', bytes.subarray(0, bytes.length - 1000));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /truncated\.safetensors/, {noFile: o});
  });

  it('a wrong key', async () => {
    const sd = parseSafetensors(fixtureBytes('stylegan2_tiny_weights.safetensors')).tensors;
    const renamed = new Map([...sd].map(([k, v]) => [k === 'convs.3.noise.weight' ? 'convs.3.noise.wieght' : k, v]));
    const ckpt = tmpFile('wrong-key.safetensors', serializeSafetensors(renamed));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /missing key.*convs\.3\.noise\.weight.*unexpected key.*convs\.3\.noise\.wieght/, {noFile: o});
  });

  it('a wrong shape', async () => {
    const sd = parseSafetensors(fixtureBytes('stylegan2_tiny_weights.safetensors')).tensors;
    const t = sd.get('to_rgbs.1.conv.modulation.bias')!;
    sd.set('to_rgbs.1.conv.modulation.bias', {dtype: 'float32', shape: [t.shape[0]! + 1], data: new Float32Array(t.shape[0]! + 1)});
    const ckpt = tmpFile('wrong-shape.safetensors', serializeSafetensors(sd));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /shape mismatch.*to_rgbs\.1\.conv\.modulation\.bias: expected \[24\], got \[25\]/, {noFile: o});
  });

  it('a pickle naming a global outside the allow-list (os.system) is refused, never run', async () => {
    const marker = tmpFile('pwned');
    const evil = pickle(op.proto(2), op.global('os', 'system'), op.unicode(`touch ${marker}`), op.tuple1, op.reduce, op.stop);
    const ckpt = tmpFile('evil.pt', writeZip([{name: 'evil/data.pkl', data: evil}]));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /global 'os\.system', which is not in the allow-list/, {noFile: o});
    expect(existsSync(marker)).toBe(false);
  });

  it('a latent of the wrong shape', async () => {
    const latent = tmpFile('bad-latent.npy', serializeNpy({dtype: 'float32', shape: [2, 7, 64], data: new Float32Array(2 * 7 * 64)}));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--latent', latent, '--space', 'w+', '--out', o), /W\+ latent must have shape \[N, 8, 64\], got \[2, 7, 64\]/, {noFile: o});
  });

  it('a latent with NaN, a z of the wrong width, an S file with missing layers', async () => {
    const nan = new Float32Array(8 * 64);
    nan[17] = NaN;
    const latent = tmpFile('nan.npy', serializeNpy({dtype: 'float32', shape: [1, 8, 64], data: nan}));
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--latent', latent, '--out', out()), /non-finite/);
    const z = tmpFile('z.npy', serializeNpy({dtype: 'float32', shape: [1, 63], data: new Float32Array(63)}));
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--z', z, '--out', out()), /z latent must have shape \[N, 64\]/);
    const s = tmpFile('s.safetensors', serializeSafetensors(new Map([['s_00', {dtype: 'float32' as const, shape: [1, 32], data: new Float32Array(32)}]])));
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--latent', s, '--space', 's', '--out', out()), /missing s_01/);
  });

  it('a latent of 3e38 or a NaN weight: a non-finite image is an error unless --allow-nonfinite', async () => {
    const latent = tmpFile('huge.npy', serializeNpy({dtype: 'float32', shape: [1, 8, 64], data: new Float32Array(8 * 64).fill(3e38)}));
    const o = out();
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--latent', latent, '--out', o), /generator produced a non-finite value .* pass --allow-nonfinite/, {noFile: o});
    const allowed = tmpFile('huge.png');
    const r = await runCli('generate', '--generator', CKPT, '--latent', latent, '--out', allowed, '--allow-nonfinite');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(allowed)).toBe(true);
    const sd = parseSafetensors(fixtureBytes('stylegan2_tiny_weights.safetensors')).tensors;
    const bias = sd.get('to_rgbs.1.conv.modulation.bias')!;
    const nanBias = Float32Array.from(bias.data as Float32Array);
    nanBias[0] = NaN;
    sd.set('to_rgbs.1.conv.modulation.bias', {...bias, data: nanBias});
    const ckpt = tmpFile('nan-weight.safetensors', serializeSafetensors(sd));
    expectOneLineError(await runCli('generate', '--generator', ckpt, '--seed', '1', '--out', o), /generator produced a non-finite value/, {noFile: o});
  });

  it('crafted hostile latent files end in one line naming the file and the problem', async () => {
    const names = ['stride0-2e9.pt', 'bomb-3gib-lying.pt', 'cyclic-size.pt', 'npy-1mb-padding.npy', 'safetensors-deep-shape.safetensors', 'empty-latent.npy', 'legacy-negative-offset.pt'];
    const files = HOSTILE_FILES.filter((f) => names.includes(f.name));
    expect(files).toHaveLength(names.length);
    const runs = await Promise.all(files.map(async (f) => {
      const o = out();
      return {f, o, r: await runCli('generate', '--generator', CKPT, '--latent', tmpFile(f.name, f.bytes()), '--out', o)};
    }));
    for (const {f, o, r} of runs) expectOneLineError(r, new RegExp(`--latent file '[^']*${f.name.replace(/\./g, '\\.')}'.*${f.error.source}`), {noFile: o});
  });

  it('bad flags: a non-numeric seed, an unknown noise mode, a missing file', async () => {
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--seed', 'abc', '--out', out()), /--seed must be an integer/);
    expectOneLineError(await runCli('generate', '--generator', CKPT, '--noise', 'loud', '--out', out()), /--noise must be one of const, random, zero/);
    expectOneLineError(await runCli('generate', '--generator', tmpFile('nope.pt'), '--out', out()), /nope\.pt' does not exist/);
  });

  it('--ep: an unknown execution provider is refused; --ep cpu runs', async () => {
    const bad = await runCli('--ep', 'gpu', 'generate', '--generator', CKPT, '--out', out());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--ep takes a comma-separated list of cpu, cuda/);
    const file = tmpFile('ep-cpu.png');
    const ok = await runCli('--ep', 'cpu', 'generate', '--generator', CKPT, '--seed', '1', '--out', file);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
  });
});

describe('styleclip generate --generator NVIDIA .pkl (sg2ada_tiny.pkl, fixtures §11)', () => {
  const PKL = fixturePath('sg2ada_tiny.pkl');
  const io = parseSafetensors(fixtureBytes('sg2ada_tiny_io.safetensors')).tensors;
  const ref = (k: string) => toFloat32(io.get(k)!);
  const z = tmpFile('sg2ada-z.npy', serializeNpy(io.get('z')!));
  const read = (file: string) => parseSafetensors(readFileSync(file)).tensors;

  it('--z with ψ 1, ψ 0.7 and ψ 0.7 cutoff 2 gives ws within 1e-5; img_const and every S vector match', async () => {
    for (const [name, args] of [['ws_trunc1', ['--truncation', '1']], ['ws_trunc07', ['--truncation', '0.7']], ['ws_trunc07_cutoff2', ['--truncation', '0.7', '--truncation-cutoff', '2']]] as const) {
      const w = tmpFile(`${name}.safetensors`);
      const raw = tmpFile(`${name}-raw.safetensors`);
      const st = tmpFile(`${name}-s.safetensors`);
      const r = await runCli('generate', '--generator', PKL, '--z', z, ...args, '--out', tmpFile(`${name}.png`), '--save-latent', w, '--save-raw', raw, '--save-styles', st);
      expect(r.code, r.stderr).toBe(0);
      expectAllClose(toFloat32(read(w).get('w_plus')!), ref(name), {atol: 1e-5, what: name});
      if (name === 'ws_trunc07') {
        expectAllClose(toFloat32(read(raw).get('image')!), ref('img_const'), {atol: 1e-4, what: 'img_const'});
        const styles = read(st);
        expect(styles.size).toBe(11);
        for (const [k, t] of styles) expectAllClose(toFloat32(t), ref(k), {atol: 1e-5, what: k});
      }
    }
  });

  it('img_none (--noise zero) and img_wplus (--latent W+) within 1e-4', async () => {
    const ws = tmpFile('sg2ada-ws07.npy', serializeNpy(io.get('ws_trunc07')!));
    const none = tmpFile('sg2ada-none.safetensors');
    const r1 = await runCli('generate', '--generator', PKL, '--latent', ws, '--space', 'w+', '--noise', 'zero', '--out', tmpFile('none.png'), '--save-raw', none);
    expect(r1.code, r1.stderr).toBe(0);
    expectAllClose(toFloat32(read(none).get('image')!), ref('img_none'), {atol: 1e-4, what: 'img_none'});
    const wp = tmpFile('sg2ada-wplus.npy', serializeNpy(io.get('wplus')!));
    const raw = tmpFile('sg2ada-wplus.safetensors');
    const r2 = await runCli('generate', '--generator', PKL, '--latent', wp, '--space', 'w+', '--out', tmpFile('wplus.png'), '--save-raw', raw);
    expect(r2.code, r2.stderr).toBe(0);
    expectAllClose(toFloat32(read(raw).get('image')!), ref('img_wplus'), {atol: 1e-4, what: 'img_wplus'});
  });

  it('a conditional pickle needs --class; --class N runs; --class on an unconditional one is an error', async () => {
    const cond = tmpFile('cond.pkl', conditionalTinyPickle(loadNetworkPickle(fixtureBytes('sg2ada_tiny.pkl')) as Map<string, unknown>, 3).bytes);
    const o = tmpFile('cond.png');
    expectOneLineError(await runCli('generate', '--generator', cond, '--seed', '1', '--out', o), /conditional generator with 3 classes: choose one with --class N \(0…2\)/, {noFile: o});
    const ok = await runCli('generate', '--generator', cond, '--class', '2', '--seed', '1', '--out', o);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(o)).toBe(true);
    expectOneLineError(await runCli('generate', '--generator', cond, '--class', '3', '--seed', '1', '--out', tmpFile('c3.png')), /class 3 does not exist/);
    expectOneLineError(await runCli('generate', '--generator', PKL, '--class', '0', '--seed', '1', '--out', tmpFile('c0.png')), /is not a conditional generator/);
  });

  it('a pickle naming os.system or builtins.eval (GLOBAL or STACK_GLOBAL), or an unknown class, is a one-line error', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['os-global.pkl', writeNetworkPickle(new Map([['G_ema', new RawGlobal('os', 'system', ['touch pwned'])]])), /global 'os\.system', which is not in the allow-list/],
      ['eval-stack.pkl', writeNetworkPickle(new Map([['G_ema', new RawGlobal('builtins', 'eval', ['1'], true)]])), /global 'builtins\.eval', which is not in the allow-list/],
      ['evil-class.pkl', writeNetworkPickle(new Map([['G_ema', new RawRecord(new Map<string, unknown>([['type', 'class'], ['version', 6], ['module_src', 'import os'], ['class_name', 'Backdoor'], ['state', new Map()]]))]])), /persistent object of class 'Backdoor'/],
    ];
    for (const [name, bytes, re] of cases) {
      const o = tmpFile(`${name}.png`);
      expectOneLineError(await runCli('generate', '--generator', tmpFile(name, bytes), '--seed', '1', '--out', o), re, {noFile: o});
    }
  });
});
