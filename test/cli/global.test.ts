/**
 * `styleclip global prepare|merge|edit` through the real CLI entry point on the tiny fixture models: a prepare → edit
 * round trip, chaining through a saved S, merging shards, and one-line named errors for bad input.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {parseRelevance} from '../../src/edit/global-relevance-file.js';
import {prepareRelevance} from '../../src/edit/global-prepare.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {serializeNpy} from '../../src/io/npy.js';
import {randomStateDict} from '../../src/models/stylegan2.js';
import {expectAllClose} from '../helpers/allclose.js';
import {expectOneLineError, runCli} from '../helpers/cli.js';
import {fixturePath} from '../helpers/fixtures.js';
import {TINY_CLIP_PATH, TINY_G_PATH, tinyClip, tinyG, writeTinyClipConfig} from '../helpers/tiny-models.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-cli-global-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
const CLIP_CONFIG = writeTinyClipConfig(tmp);
const REL = path.join(tmp, 'rel.safetensors');
const SMALL = ['--samples', '200', '--images', '2', '--batch', '16', '--chunk', '8'];

function models(): string[] {
  return ['--generator', TINY_G_PATH, '--clip', TINY_CLIP_PATH, '--clip-config', CLIP_CONFIG];
}

beforeAll(async () => {
  const r = await runCli('global', 'prepare', ...models(), ...SMALL, '--channels', '0:16', '--out', REL, '--json');
  expect(r.code, r.stderr).toBe(0);
});

describe('styleclip global', () => {
  it('prepare writes a relevance file of unit vectors', () => {
    const rel = parseRelevance(new Uint8Array(readFileSync(REL)));
    expect(rel.channels.length).toBe(16);
    for (let c = 0; c < 16; c++) {
      const row = rel.fs3.subarray(c * 32, (c + 1) * 32);
      expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    }
    expect(rel.meta).toMatchObject({samples: 200, images: 2, seed: 5, rangeStart: 0, rangeEnd: 16, selectedTotal: 192});
  });

  it('edit prints the channels moved, writes image and S; α = 0 on the saved S reproduces the image', async () => {
    const out = path.join(tmp, 'edit.png');
    const s = path.join(tmp, 'edit-s.safetensors');
    const r = await runCli('global', 'edit', ...models(), '--relevance', REL, '--neutral', 'a face', '--target', 'a face with glasses', '--seed', '1', '--min-channels', '3', '--out', out, '--save-latent', s, '--json');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {channelsMoved: number; beta: number};
    expect(summary.channelsMoved).toBe(3);
    expect(existsSync(out)).toBe(true);
    expect([...parseSafetensors(new Uint8Array(readFileSync(s))).tensors.keys()]).toHaveLength(11);
    const out2 = path.join(tmp, 'chain.png');
    const r2 = await runCli('global', 'edit', ...models(), '--relevance', REL, '--neutral', 'a face', '--target', 'a face with glasses', '--latent', s, '--alpha', '0', '--beta', '0.05', '--out', out2);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/^moved \d+ channels? \(α 0, β 0.05\)/);
    expect(readFileSync(out2).equals(readFileSync(out))).toBe(true);
    const r3 = await runCli('global', 'edit', ...models(), '--relevance', REL, '--neutral', 'a face', '--target', 'a face with glasses', '--beta', '0.99', '--out', path.join(tmp, 'none.png'));
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.stdout).toMatch(/^moved 0 channels/);
  });

  it('merge joins shards into what one run computes, and refuses gaps', async () => {
    const g = tinyG();
    const clip = tinyClip();
    const opts = {samples: 200, images: 2, batch: 16, chunkChannels: 8} as const;
    const a = path.join(tmp, 'shard-a.safetensors');
    const b = path.join(tmp, 'shard-b.safetensors');
    await prepareRelevance(g, clip, {...opts, channels: [0, 8], out: a});
    await prepareRelevance(g, clip, {...opts, channels: [8, 16], out: b});
    const merged = path.join(tmp, 'merged.safetensors');
    expectOneLineError(await runCli('global', 'merge', b, a, '--out', merged), /gap: channels 16:192/, {noFile: merged});
    const r = await runCli('global', 'merge', b, a, '--out', merged, '--allow-partial', '--json');
    expect(r.code, r.stderr).toBe(0);
    const m = parseRelevance(new Uint8Array(readFileSync(merged)));
    const one = parseRelevance(new Uint8Array(readFileSync(REL)));
    expect(Array.from(m.channels)).toEqual(Array.from(one.channels));
    expectAllClose(m.fs3, one.fs3, {atol: 1e-6, what: 'merged vs one run'});
    expectOneLineError(await runCli('global', 'merge', a, a, '--out', path.join(tmp, 'merged2.safetensors'), '--allow-partial'), /overlap/, {noFile: path.join(tmp, 'merged2.safetensors')});
  });

  it('defaults: a relevance file can recommend auto β and α, which edits without --beta/--alpha then use', async () => {
    const rel = path.join(tmp, 'rel-defaults.safetensors');
    writeFileSync(rel, readFileSync(REL));
    const show = await runCli('global', 'defaults', rel, '--json');
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({recommended: null, effective: {alpha: 4.1, beta: 0.15}});
    const set = await runCli('global', 'defaults', rel, '--min-channels', '4', '--alpha', '2', '--json');
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({recommended: {minChannels: 4, alpha: 2}, effective: {alpha: 2, minChannels: 4}});
    // Everything else in the file is unchanged.
    const a = parseRelevance(new Uint8Array(readFileSync(REL)));
    const b = parseRelevance(new Uint8Array(readFileSync(rel)));
    expect(b.fs3).toEqual(a.fs3);
    expect({...b.meta, editDefaults: undefined}).toEqual({...a.meta, editDefaults: undefined});
    const out = path.join(tmp, 'dflt.png');
    const edit = async (...extra: string[]) => JSON.parse((await runCli('global', 'edit', ...models(), '--relevance', rel, '--neutral', 'a face', '--target', 'a face with glasses', '--seed', '1', '--out', out, '--json', ...extra)).stdout) as {channelsMoved: number; alpha: number; beta: number};
    expect(await edit()).toMatchObject({channelsMoved: 4, alpha: 2});
    // Explicit flags win over the recommendation.
    expect(await edit('--beta', '0.99', '--alpha', '3')).toMatchObject({channelsMoved: 0, alpha: 3, beta: 0.99});
    const off = await runCli('global', 'defaults', rel, '--official', '--json');
    expect(JSON.parse(off.stdout)).toMatchObject({recommended: null, effective: {alpha: 4.1, beta: 0.15}});
    expectOneLineError(await runCli('global', 'defaults', rel, '--beta', '0.2', '--min-channels', '3'), /either --beta or --min-channels/);
    expectOneLineError(await runCli('global', 'defaults', rel, '--official', '--alpha', '1'), /either --official or new settings/);
    expectOneLineError(await runCli('global', 'defaults', rel, '--beta', '3'), /beta must be in \[0, 1\]/);
    expectOneLineError(await runCli('global', 'defaults', path.join(tmp, 'nope.safetensors')), /does not exist/);
  });

  it('gives one-line named errors for bad input', async () => {
    const out = path.join(tmp, 'err.png');
    const base = ['global', 'edit', ...models(), '--relevance', REL, '--out', out];
    expectOneLineError(await runCli(...base, '--neutral', '', '--target', 'x'), /neutral prompt is empty/, {noFile: out});
    expectOneLineError(await runCli(...base, '--neutral', 'a', '--target', ' '), /target prompt is empty/, {noFile: out});
    expectOneLineError(await runCli(...base, '--neutral', 'a', '--target', 'b', '--beta', '1.5'), /beta must be in \[0, 1\]/, {noFile: out});
    expectOneLineError(await runCli(...base, '--neutral', 'a', '--target', 'b', '--beta', '0.1', '--min-channels', '3'), /either --beta or --min-channels/, {noFile: out});
    const nanW = path.join(tmp, 'nan.npy');
    const w = new Float32Array(64).fill(0.1);
    w[5] = NaN;
    writeFileSync(nanW, serializeNpy({dtype: 'float32', shape: [1, 64], data: w}));
    expectOneLineError(await runCli(...base, '--neutral', 'a', '--target', 'b', '--latent', nanW), /non-finite/, {noFile: out});
    // A relevance made for another generator.
    const g = tinyG();
    const otherCfg = {...g.config, channels: {4: 16, 8: 16, 16: 16, 32: 16}};
    const other = path.join(tmp, 'other-g.safetensors');
    writeFileSync(other, serializeSafetensors(randomStateDict(otherCfg, 3)));
    const r = await runCli('global', 'edit', '--generator', other, '--clip', TINY_CLIP_PATH, '--clip-config', CLIP_CONFIG, '--relevance', REL, '--neutral', 'a', '--target', 'b', '--out', out);
    expectOneLineError(r, /prepared for another generator/, {noFile: out});
    // Bad channel ranges and a missing relevance.
    const rel2 = path.join(tmp, 'bad.safetensors');
    expectOneLineError(await runCli('global', 'prepare', ...models(), ...SMALL, '--channels', '10:5', '--out', rel2), /bad channel range '10:5'/, {noFile: rel2});
    expectOneLineError(await runCli('global', 'prepare', ...models(), ...SMALL, '--channels', '0:500', '--out', rel2), /bad channel range/, {noFile: rel2});
    expectOneLineError(await runCli('global', 'edit', ...models(), '--neutral', 'a', '--target', 'b', '--out', out), /no relevance given/, {noFile: out});
    // Unwritable output folders (sysfs refuses new files even to root).
    expectOneLineError(await runCli('global', 'prepare', ...models(), ...SMALL, '--out', path.join(tmp, 'no-dir', 'r.safetensors')), /cannot write relevance file '.*r\.safetensors': directory '.*no-dir' does not exist/);
    if (existsSync('/sys/kernel')) expectOneLineError(await runCli('global', 'prepare', ...models(), ...SMALL, '--out', '/sys/r.safetensors'), /cannot write relevance file '\/sys\/r\.safetensors': permission denied/);
  });
});

describe('one seed is one face in generate and the edit commands', () => {
  it('generate --seed 5 and global edit --seed 5 --alpha 0 write the same pixels (demo models, shared truncation)', async () => {
    const gen = path.join(tmp, 'seed5-generate.png');
    const edit = path.join(tmp, 'seed5-edit.png');
    const untruncated = path.join(tmp, 'seed5-psi1.png');
    const [r1, r2, r3] = await Promise.all([
      runCli('generate', '--seed', '5', '--out', gen),
      runCli('global', 'edit', '--neutral', 'a face', '--target', 'a face with grey hair', '--seed', '5', '--alpha', '0', '--out', edit),
      runCli('generate', '--seed', '5', '--truncation', '1', '--out', untruncated),
    ]);
    for (const r of [r1, r2, r3]) expect(r.code, r.stderr).toBe(0);
    const pixels = async (f: string) => new Uint8Array(await sharp(f).raw().toBuffer());
    const [a, b, c] = await Promise.all([pixels(gen), pixels(edit), pixels(untruncated)]);
    expect(a.length).toBe(64 * 64 * 3);
    expect(b).toEqual(a);
    // The truncation is what makes them agree: the same seed at ψ 1 is another face.
    expect(c).not.toEqual(a);
  }, 60_000);
});

describe("global edit with StyleCLIP's precomputed files: --fs3 and --s-mean-std S_mean_std", () => {
  it('reads S_mean_std directly and edits stylegan2_tiny exactly as with the same statistics as .npy', async () => {
    // A unit-row fs3 for the tiny generator's 192 non-ToRGB channels in the 32-d tiny CLIP space (seeded).
    let s = 99;
    const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    const fs3 = new Float32Array(192 * 32);
    for (let r = 0; r < 192; r++) {
      const row = Array.from({length: 32}, rand);
      const n = Math.hypot(...row);
      row.forEach((v, i) => (fs3[r * 32 + i] = v / n));
    }
    const fs3File = path.join(tmp, 'fs3.npy');
    writeFileSync(fs3File, serializeNpy({dtype: 'float32', shape: [192, 32], data: fs3}));
    const ref = parseSafetensors(readFileSync(fixturePath('S_mean_std_tiny.safetensors'))).tensors;
    const flat = (kind: string) => Float32Array.from([...ref].filter(([k]) => k.startsWith(`${kind}_`)).flatMap(([, t]) => [...(t.data as Float32Array)]));
    const meanFile = path.join(tmp, 's_mean.npy');
    const stdFile = path.join(tmp, 's_std.npy');
    writeFileSync(meanFile, serializeNpy({dtype: 'float32', shape: [296], data: flat('mean')}));
    writeFileSync(stdFile, serializeNpy({dtype: 'float32', shape: [296], data: flat('std')}));
    const edit = ['global', 'edit', ...models(), '--fs3', fs3File, '--neutral', 'a face', '--target', 'a face with grey hair', '--min-channels', '8', '--alpha', '3', '--seed', '2'];
    const a = path.join(tmp, 'meanstd.safetensors');
    const r1 = await runCli(...edit, '--s-mean-std', fixturePath('S_mean_std_tiny'), '--out', path.join(tmp, 'meanstd.png'), '--save-latent', a, '--json');
    expect(r1.code, r1.stderr).toBe(0);
    expect((JSON.parse(r1.stdout) as {channelsMoved: number}).channelsMoved).toBeGreaterThanOrEqual(8);
    const b = path.join(tmp, 'npy.safetensors');
    const r2 = await runCli(...edit, '--s-mean', meanFile, '--s-std', stdFile, '--out', path.join(tmp, 'npy.png'), '--save-latent', b);
    expect(r2.code, r2.stderr).toBe(0);
    const sa = parseSafetensors(readFileSync(a)).tensors;
    const sb = parseSafetensors(readFileSync(b)).tensors;
    expect(sa.size).toBe(11);
    for (const [k, t] of sa) expect(t.data, k).toEqual(sb.get(k)!.data);
    // The edit moved S away from the unedited face (α 0).
    const c = path.join(tmp, 'alpha0.safetensors');
    const r3 = await runCli(...edit.map((x) => (x === '3' ? '0' : x)), '--s-mean-std', fixturePath('S_mean_std_tiny'), '--out', path.join(tmp, 'alpha0.png'), '--save-latent', c);
    expect(r3.code, r3.stderr).toBe(0);
    const sc = parseSafetensors(readFileSync(c)).tensors;
    expect([...sa].some(([k, t]) => !(t.data as Float32Array).every((v, i) => v === (sc.get(k)!.data as Float32Array)[i]))).toBe(true);
    // Named errors: S statistics without --fs3, both kinds at once, a hostile S_mean_std.
    expectOneLineError(await runCli('global', 'edit', ...models(), '--s-mean-std', fixturePath('S_mean_std_tiny'), '--neutral', 'a', '--target', 'b', '--out', path.join(tmp, 'x.png')), /need --fs3/);
    expectOneLineError(await runCli(...edit, '--s-mean-std', fixturePath('S_mean_std_tiny'), '--s-mean', meanFile, '--out', path.join(tmp, 'y.png')), /either --s-mean-std or --s-mean\/--s-std/);
    const evil = path.join(tmp, 'evil_S_mean_std');
    writeFileSync(evil, Uint8Array.from([0x80, 0x03, ...new TextEncoder().encode('cos\nsystem\n'), 0x58, 5, 0, 0, 0, ...new TextEncoder().encode('touch'), 0x85, 0x52, 0x2e]));
    expectOneLineError(await runCli(...edit, '--s-mean-std', evil, '--out', path.join(tmp, 'z.png')), /'os\.system', which is not in the allow-list/);
  }, 120_000);
});
