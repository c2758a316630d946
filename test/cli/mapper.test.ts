/** `styleclip mapper train|apply` end to end on the tiny models: round trip, resume, official checkpoints, errors. */
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {afterAll, describe, expect, it} from 'vitest';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseNpy, serializeNpy} from '../../src/io/npy.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {LevelsMapper, mapperFromBytes, runMapper, serializeMapper} from '../../src/models/mapper.js';
import {sampleZ, toWPlus} from '../../src/models/generate.js';
import {expectAllClose} from '../helpers/allclose.js';
import {ROOT, expectOneLineError, runCli} from '../helpers/cli.js';
import {fixturePath} from '../helpers/fixtures.js';
import {TINY_CLIP_PATH, TINY_G_PATH, tinyG, writeTinyClipConfig} from '../helpers/tiny-models.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-mapper-cli-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));
const G = ['--generator', TINY_G_PATH];
const MODELS = [...G, '--clip', TINY_CLIP_PATH, '--clip-config', writeTinyClipConfig(tmp)];

const f = (name: string) => path.join(tmp, name);

describe('styleclip mapper', () => {
  it('trains (with checkpoints), resumes to the same mapper, and applies it', async () => {
    const train = ['mapper', 'train', ...MODELS, '--prompt', 'a smiling face', '--samples', '4', '--seed', '2', '--checkpoint-every', '3'];
    const full = f('full.safetensors');
    const r1 = await runCli(...train, '--steps', '6', '--out', full, '--json');
    expect(r1.code, r1.stderr).toBe(0);
    const s1 = JSON.parse(r1.stdout) as {steps: number; loss: {first: number; last: number}; checkpoint: string; split: number[]};
    expect(s1).toMatchObject({steps: 6, split: [2, 4], checkpoint: f('full.ckpt.safetensors')});
    const md = parseSafetensors(readFileSync(full)).metadata;
    expect(md).toMatchObject({prompt: 'a smiling face', n_latent: '8', style_dim: '64', generator_size: '32', coarse: 'true'});

    // Stop at 3 steps, then resume to 6: the same weights. Temporary files that a killed run left while writing
    // the checkpoint or the output (a writer that no longer runs) are removed at the start.
    const part = f('part.safetensors');
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'}).stdout);
    const stale = [f(`.part-ckpt.safetensors.tmp-${dead}-k1`), f(`.part.safetensors.tmp-${dead}-k2`)];
    for (const p of stale) writeFileSync(p, 'half-written');
    const r2 = await runCli(...train, '--steps', '3', '--out', part, '--checkpoint', f('part-ckpt.safetensors'));
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(/mapper 3\/3/); // progress lines on stderr
    for (const p of stale) expect(existsSync(p), p).toBe(false);
    const resumed = f('resumed.safetensors');
    const r3 = await runCli(...train, '--steps', '6', '--resume', f('part-ckpt.safetensors'), '--out', resumed, '--checkpoint', f('resumed-ckpt.safetensors'), '--json');
    expect(r3.code, r3.stderr).toBe(0);
    expect(JSON.parse(r3.stdout)).toMatchObject({steps: 6, stepsRun: 3});
    const a = parseSafetensors(readFileSync(full)).tensors;
    const b = parseSafetensors(readFileSync(resumed)).tensors;
    for (const [k, t] of a) expect(Array.from(toFloat32(b.get(k)!)), k).toEqual(Array.from(toFloat32(t)));

    // Apply: the saved ŵ is the mapper's output on the sampled latent; the PNG has the generator's size.
    const out = f('edit.png');
    const wOut = f('what.npy');
    const r4 = await runCli('mapper', 'apply', '--mapper', full, ...G, '--seed', '5', '--batch', '2', '--out', out, '--save-latent', wOut, '--json');
    expect(r4.code, r4.stderr).toBe(0);
    expect(JSON.parse(r4.stdout)).toMatchObject({images: 2, size: 32, prompt: 'a smiling face'});
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([64, 32]);
    const wHat = parseNpy(readFileSync(wOut));
    expect(wHat.shape).toEqual([2, 8, 64]);
    // ŵ is the mapper applied to the seed's W+ (z at ψ 0.7), computed here in-process.
    const g = tinyG();
    const w0 = await toWPlus(g, sampleZ(g, 2, 5), 'z', 0.7);
    const want = await runMapper(mapperFromBytes(readFileSync(full)), w0);
    expectAllClose(toFloat32(wHat), toFloat32(want.wHat), {atol: 1e-6, what: 'saved ŵ'});
    expect(toFloat32(wHat).some((v, i) => Math.abs(v - toFloat32(w0)[i]!) > 1e-4)).toBe(true);
  }, 60_000);

  it('applies the official checkpoint layout and the --no-* groups', async () => {
    const out = f('official.png');
    const r = await runCli('mapper', 'apply', '--mapper', fixturePath('mapper_tiny_ckpt.pt'), ...G, '--seed', '1', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    const m = f('nofine.safetensors');
    const rt = await runCli('mapper', 'train', ...MODELS, '--identity', fixturePath('irse_tiny_state_dict.pt'), '--prompt', 'x', '--samples', '2', '--steps', '2', '--no-fine', '--no-coarse', '--checkpoint-every', '0', '--out', m, '--json');
    expect(rt.code, rt.stderr).toBe(0);
    // With --identity the ID term (λ 0.1 by default) is on: a fresh mapper already moves ŵ away from w.
    const st = JSON.parse(rt.stdout) as {steps: number; idLoss: {first: number}};
    expect(st.steps).toBe(2);
    expect(st.idLoss.first).toBeGreaterThan(0);
    const back = mapperFromBytes(readFileSync(m));
    expect(back.config.groups).toEqual({coarse: false, medium: true, fine: false});
    expect(existsSync(f('nofine.ckpt.safetensors'))).toBe(false);
  }, 30_000);

  it('fails with one-line named errors', async () => {
    // A mapper for a 1024px generator (18 rows) on the 32px one.
    const big = f('big.safetensors');
    const cfg = {styleDim: 64, nLatent: 18, groups: {coarse: true, medium: true, fine: true}, split: null, generatorSize: 1024};
    writeFileSync(big, serializeMapper(LevelsMapper.random(cfg, 0)));
    const out = f('never.png');
    expectOneLineError(await runCli('mapper', 'apply', '--mapper', big, ...G, '--seed', '0', '--out', out), /mapper was trained for W\+ with 18 rows \(a 1024px generator\), the generator has 8 \(32px\)/, {noFile: out});
    // style_dim mismatch.
    const narrow = f('narrow.safetensors');
    writeFileSync(narrow, serializeMapper(LevelsMapper.random({...cfg, styleDim: 16, nLatent: null, generatorSize: null}, 0)));
    expectOneLineError(await runCli('mapper', 'apply', '--mapper', narrow, ...G, '--out', out), /style_dim 16, the generator has style_dim 64/, {noFile: out});
    // A bare name is a demo mapper only on the demo generator; an unknown one lists the shipped names.
    expectOneLineError(await runCli('mapper', 'apply', '--mapper', 'no-such-edit', '--seed', '0', '--out', out), /mapper 'no-such-edit' is neither a file nor a demo mapper \(demo mappers: /, {noFile: out});
    expectOneLineError(await runCli('mapper', 'apply', '--mapper', 'grey-hair', ...G, '--seed', '0', '--out', out), /mapper file 'grey-hair' does not exist/, {noFile: out});
    const badLatent = f('bad-latent.npy');
    writeFileSync(badLatent, serializeNpy({dtype: 'float32', shape: [1, 7, 64], data: new Float32Array(7 * 64)}));
    expectOneLineError(await runCli('mapper', 'apply', '--mapper', fixturePath('mapper_tiny_weights.safetensors'), ...G, '--latent', badLatent, '--out', out), /W\+ \[N, 8, 64\] or W \[N, 64\]/, {noFile: out});
    const m = f('never.safetensors');
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--out', f('m.pt')), /--out must be a \.safetensors file/);
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--lambda-id', '0.1', '--out', m), /--lambda-id needs an identity network/, {noFile: m});
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--no-coarse', '--no-medium', '--no-fine', '--out', m), /nothing to train/, {noFile: m});
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--samples', '2', '--steps', '4', '--optimizer', 'adam', '--resume', f('part-ckpt.safetensors'), '--out', m), /resume checkpoint was made with other settings/, {noFile: m});
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--latents', badLatent, '--steps', '1', '--out', m), /training latents must be W\+ \[N, 8, 64\]/, {noFile: m});
    expectOneLineError(await runCli('mapper', 'train', ...MODELS, '--prompt', 'x', '--out', path.join(tmp, 'no-such-dir', 'm.safetensors')), /does not exist/);
  }, 60_000);
});

/** Start `styleclip …args`, wait for its first progress line on stderr (a pipe: plain lines), stop it, return the line. */
function firstProgressLine(args: string[], pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {cwd: ROOT, env: {...process.env, STYLECLIP_DEBUG: ''}});
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      const m = pattern.exec(err);
      if (m) {
        child.kill('SIGKILL');
        resolve(m[0]);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited (${code}) before a progress line: ${err}`)));
  });
}

describe('styleclip mapper train: which defaults apply', () => {
  it('the demo settings on the demo generator, the official ones with --generator; flags given override either', async () => {
    type Settings = {samples: number; batch: number; lr: number; optimizer: string; lambdaL2: number; lambdaId: number};
    const run = async (...args: string[]) => {
      const r = await runCli('mapper', 'train', '--prompt', 'a face with grey hair', '--steps', '1', '--checkpoint-every', '0', '--json', ...args);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as {settings: Settings}).settings;
    };
    const [demo, demoLr, official] = await Promise.all([
      run('--out', f('demo-defaults.safetensors')),
      run('--lr', '1', '--samples', '16', '--lambda-id', '0', '--out', f('demo-lr.safetensors')),
      run(...MODELS, '--out', f('official-defaults.safetensors')),
    ]);
    // The demo generator trains with the demo identity network's ID loss at the official faces weight.
    expect(demo).toEqual({samples: 2000, batch: 8, lr: 3, optimizer: 'ranger', lambdaL2: 0.15, lambdaId: 0.1});
    expect(demoLr).toEqual({samples: 16, batch: 8, lr: 1, optimizer: 'ranger', lambdaL2: 0.15, lambdaId: 0});
    expect(official).toEqual({samples: 5000, batch: 2, lr: 0.5, optimizer: 'ranger', lambdaL2: 0.8, lambdaId: 0});
  }, 120_000);

  it('trains 800 steps on the demo generator and 50 000 with --generator unless --steps says otherwise; --help says so', async () => {
    // Without a TTY a progress line comes within seconds even before the first step; it names the total.
    const [demo, official] = await Promise.all([
      firstProgressLine(['mapper', 'train', '--prompt', 'a face with grey hair', '--out', f('demo-steps.safetensors')], /^mapper \d+\/\d+/m),
      firstProgressLine(['mapper', 'train', ...MODELS, '--prompt', 'a face', '--samples', '4', '--out', f('official-steps.safetensors')], /^mapper \d+\/\d+/m),
    ]);
    expect(demo).toMatch(/\/800$/);
    expect(official).toMatch(/\/50000$/);
    const help = await runCli('mapper', 'train', '--help');
    expect(help.stdout).toMatch(/--steps <n>\s+training steps \(default: 50000; 800 on the\s+demo generator\)/);
    expect(help.stdout).toMatch(/on the shipped demo generator \(no --generator\) the demo settings \(steps 800, batch 8, samples 2000, lr 3, λ_L2 0\.15\)/);
  }, 120_000);
});
