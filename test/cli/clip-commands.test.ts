/** `styleclip embed` and `styleclip optimize` on the tiny fixture models, through the real CLI entry point. */
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {toFloat32} from '../../src/io/host-tensor.js';
import {serializeNpy} from '../../src/io/npy.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {expectAllClose} from '../helpers/allclose.js';
import {expectOneLineError, runCli} from '../helpers/cli.js';
import {fixtureBytes, fixturePath} from '../helpers/fixtures.js';
import {TINY_CLIP_PATH, TINY_G_PATH, writeTinyClipConfig} from '../helpers/tiny-models.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-clipcli-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const CLIP = ['--clip', TINY_CLIP_PATH, '--clip-config', writeTinyClipConfig(tmp)];
const G = ['--generator', TINY_G_PATH];

describe('styleclip embed', () => {
  it('writes text and image features and logits equal to the fixture', async () => {
    const io = parseSafetensors(fixtureBytes('clip_tiny_io.safetensors')).tensors;
    const images = path.join(tmp, 'images.npy');
    writeFileSync(images, serializeNpy(io.get('image')!));
    const out = path.join(tmp, 'emb.safetensors');
    const texts = ['a face with grey hair', 'a person with purple hair', 'Emma Stone'];
    const r = await runCli('embed', ...CLIP, ...texts.flatMap((t) => ['--text', t]), '--image-tensor', images, '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({texts: 3, images: 2, embedDim: 32});
    const e = parseSafetensors(readFileSync(out)).tensors;
    // Fixture text rows 0, 1 and 3 are these texts (row 2 is the empty string).
    const tf = toFloat32(io.get('text_features')!);
    const want = new Float32Array([...tf.subarray(0, 64), ...tf.subarray(96, 128)]);
    expectAllClose(toFloat32(e.get('text_features')!), want, {atol: 1e-5, what: 'text_features'});
    expectAllClose(toFloat32(e.get('image_features')!), toFloat32(io.get('image_features')!), {atol: 1e-5, what: 'image_features'});
    const lp = toFloat32(io.get('logits_per_image')!);
    const wantLogits = [0, 1].flatMap((i) => [0, 1, 3].map((t) => lp[i * 4 + t]!));
    expectAllClose(toFloat32(e.get('logits_per_image')!), wantLogits, {atol: 1e-3, what: 'logits_per_image'});
  });

  it('gives one-line errors for an empty text, an unreadable image and a model without a config', async () => {
    const out = path.join(tmp, 'never.safetensors');
    for (const [args, pattern] of [
      [[...CLIP, '--text', '  ', '--out', out], /--text number 1 is empty/],
      [[...CLIP, '--image', fixturePath('README.md'), '--out', out], /cannot decode image/],
      [['--clip', TINY_CLIP_PATH, '--text', 'x', '--out', out], /cannot infer transformer_heads/],
    ] as const) {
      expectOneLineError(await runCli('embed', ...args), pattern);
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe('styleclip optimize', () => {
  it('lowers the CLIP loss and writes the image, intermediates and latent', async () => {
    const out = path.join(tmp, 'opt.png');
    const lat = path.join(tmp, 'opt.npy');
    const r = await runCli('optimize', ...G, ...CLIP, '--prompt', 'a face with grey hair', '--seed', '2', '--steps', '12', '--lr', '0.05', '--save-every', '5', '--out', out, '--save-latent', lat, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {clipLoss: {first: number; last: number}};
    expect(s.clipLoss.last).toBeLessThan(s.clipLoss.first);
    expect(existsSync(out) && existsSync(lat)).toBe(true);
    expect(existsSync(path.join(tmp, 'opt-step00005.png')) && existsSync(path.join(tmp, 'opt-step00010.png'))).toBe(true);
  });

  it('writes only the final image unless --save-every is given, and prints plain progress lines without a TTY', async () => {
    const dir = mkdtempSync(path.join(tmp, 'final-only-'));
    const out = path.join(dir, 'final.png');
    const r = await runCli('optimize', ...G, ...CLIP, '--prompt', 'a face with grey hair', '--seed', '2', '--steps', '21', '--lr', '0.05', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(['final.png']);
    // stderr is a pipe here: plain lines, the last one at the end with every loss term.
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^optimize 21\/21  loss \S+  clip \S+  l2 \S+  lr \S+  elapsed \d+\.\ds  eta 0\.0s$/);
  });

  it('adds the ID loss with --identity (tiny IR-SE checkpoint), reported as a loss term', async () => {
    const out = path.join(tmp, 'opt-id.png');
    const r = await runCli('optimize', ...G, ...CLIP, '--identity', fixturePath('irse_tiny_state_dict.pt'), '--prompt', 'a face with grey hair', '--seed', '2', '--steps', '6', '--lr', '0.05', '--save-every', '0', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {loss: {first: number; last: number}; clipLoss: {first: number}};
    // At step 0 the ID term is 0 (same image) and so is L2: the loss equals the CLIP term.
    expect(s.loss.first).toBeCloseTo(s.clipLoss.first, 5);
    const r2 = await runCli('optimize', ...G, ...CLIP, '--lambda-id', '0.1', '--prompt', 'x', '--out', out);
    expect(r2.stderr).toMatch(/--lambda-id needs an identity network/);
  });

  it('on the demo generator adds the ID loss of the demo identity network by default; --lambda-id 0 turns it off', async () => {
    const out = path.join(tmp, 'opt-demo.png');
    const run = async (...extra: string[]) => {
      const r = await runCli('optimize', '--prompt', 'a face with grey hair', '--seed', '1', '--steps', '2', '--save-every', '0', '--out', out, '--json', ...extra);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {lambdaId: number; identity: string | null};
    };
    const d = await run();
    expect(d.lambdaId).toBe(0.1);
    expect(path.basename(d.identity!)).toBe('identity.safetensors');
    expect(await run('--lambda-id', '0')).toMatchObject({lambdaId: 0, identity: null});
  });

  it('rejects an empty prompt and a latent of the wrong shape', async () => {
    const bad = path.join(tmp, 'bad.npy');
    writeFileSync(bad, serializeNpy({dtype: 'float32', shape: [1, 3, 64], data: new Float32Array(192)}));
    const r1 = await runCli('optimize', ...G, ...CLIP, '--prompt', ' ', '--out', path.join(tmp, 'x.png'));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/^error: --prompt is empty\n$/);
    const r2 = await runCli('optimize', ...G, ...CLIP, '--prompt', 'grey hair', '--latent', bad, '--out', path.join(tmp, 'x.png'));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/start latent must be W\+ \[N, 8, 64\]/);
  });
});
