import {copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, describe, expect, it} from 'vitest';
import {loadLatentFile, loadWeightsFile, readBytes, writeFileAtomic} from '../../src/io/files.js';
import {f32} from '../../src/io/host-tensor.js';
import {serializeNpy} from '../../src/io/npy.js';
import {serializeSafetensors} from '../../src/io/safetensors.js';
import {detectWeightsFormat} from '../../src/io/weights.js';
import {fixtureBytes, fixturePath} from '../helpers/fixtures.js';
import {errorOf} from '../helpers/io.js';

const dir = mkdtempSync(path.join(tmpdir(), 'styleclip-io-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));
const data = (name: string): string => fileURLToPath(new URL(`./data/${name}`, import.meta.url));

describe('file helpers', () => {
  it('readBytes names missing files and directories', () => {
    expect(errorOf(() => readBytes(path.join(dir, 'missing.pt'), 'weights file'))).toBe(`weights file '${path.join(dir, 'missing.pt')}' does not exist`);
    expect(errorOf(() => readBytes(dir, 'latent file'))).toBe(`latent file '${dir}' is a directory, not a file`);
    expect(readBytes(fixturePath('index.json')).length).toBeGreaterThan(0);
  });

  it('writeFileAtomic writes, replaces and leaves no temporary files', () => {
    const file = path.join(dir, 'out.bin');
    writeFileAtomic(file, Uint8Array.from([1, 2, 3]));
    writeFileAtomic(file, Uint8Array.from([4, 5]));
    expect([...readFileSync(file)]).toEqual([4, 5]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(errorOf(() => writeFileAtomic(path.join(dir, 'no/such/dir/x.bin'), Uint8Array.from([1])))).toMatch(/cannot write output file .* does not exist/);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('loadWeightsFile sniffs the format by content, not by name', () => {
    const st = path.join(dir, 'weights.bin');
    copyFileSync(fixturePath('stylegan2_tiny_weights.safetensors'), st);
    const a = loadWeightsFile(st);
    expect(a.format).toBe('safetensors');
    const pt = path.join(dir, 'weights.safetensors'); // misleading name on purpose
    copyFileSync(fixturePath('stylegan2_tiny_ckpt.pt'), pt);
    const b = loadWeightsFile(pt);
    expect(b.format).toBe('torch-zip');
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    expect((b.raw as Map<string, unknown>).has('latent_avg')).toBe(true);
    expect(loadWeightsFile(data('mixed_legacy.pt')).format).toBe('torch-legacy');
    expect(loadWeightsFile(fixturePath('clip_tiny_jit.pt')).tensors.size).toBe(65);
    const npy = path.join(dir, 'w_avg.npy');
    writeFileSync(npy, serializeNpy(f32([2], [1, 2])));
    const c = loadWeightsFile(npy);
    expect(c.format).toBe('npy');
    expect([...c.tensors.keys()]).toEqual(['w_avg']);
    const junk = path.join(dir, 'junk.pt');
    writeFileSync(junk, 'not weights at all');
    expect(errorOf(() => loadWeightsFile(junk))).toMatch(/^weights file '.*junk\.pt': unrecognised weight file format .* starts with 6e 6f 74 20/);
    expect(detectWeightsFormat(fixtureBytes('mapper_tiny_weights.safetensors'))).toBe('safetensors');
  });

  it('loadLatentFile reads npy, safetensors (single or named) and .pt tensors', () => {
    const latent = f32([1, 2], [0.5, -1]);
    const npy = path.join(dir, 'latent.npy');
    writeFileSync(npy, serializeNpy(latent));
    expect(loadLatentFile(npy)).toEqual(latent);
    const one = path.join(dir, 'one.safetensors');
    writeFileSync(one, serializeSafetensors({w: latent}));
    expect([...loadLatentFile(one).data]).toEqual([0.5, -1]);
    const io = fixturePath('stylegan2_tiny_io.safetensors');
    expect(errorOf(() => loadLatentFile(io))).toMatch(/holds \d+ tensors; name the latent to use/);
    expect(loadLatentFile(io, {name: 'w_plus_z_trunc07'}).shape).toEqual([2, 8, 64]);
    expect(errorOf(() => loadLatentFile(io, {name: 'nope'}))).toMatch(/has no tensor named 'nope'/);
    for (const f of ['latent_zip.pt', 'latent_legacy.pt']) expect(loadLatentFile(data(f)).shape).toEqual([2, 4, 8]);
    expect(loadLatentFile(fixturePath('stylegan2_tiny_ckpt.pt'), {name: 'latent_avg'}).shape).toEqual([64]);
  });
});
