/**
 * `styleclip invert` and `styleclip align` as the issue writes them: the tiny e4e checkpoint's W+ for the aligned
 * fixture photo equals e4e_tiny_io's w_plus (≤ 1e-4), the three alignment cases through the CLI within the
 * fixtures README's tolerances, and one-line named errors (no face, not an image, an encoder that does not fit
 * the generator, a missing demo encoder).
 */
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {describe, expect, it} from 'vitest';
import {decodePhoto} from '../../src/align/photo.js';
import {DEMO_ENCODER_ENV} from '../../src/demo/assets.js';
import {toFloat32} from '../../src/io/host-tensor.js';
import {parseNpy} from '../../src/io/npy.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {channelStats} from '../helpers/image-stats.js';
import {expectAllClose} from '../helpers/allclose.js';
import {expectOneLineError, runCli, runCliWith} from '../helpers/cli.js';
import {fixtureBytes, fixtureJson, fixturePath} from '../helpers/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-invert-'));
const CKPT = '../shared/fixtures/e4e_tiny_ckpt.pt';
const ALIGNED = '../shared/fixtures/align_plain_output.png';

describe('styleclip invert', () => {
  it("writes e4e_tiny_io's w_plus for the aligned photo", {timeout: 120_000}, async () => {
    const out = path.join(tmp, 'w.npy');
    const recon = path.join(tmp, 'recon.png');
    const r = await runCli('invert', '--encoder', CKPT, '--image', ALIGNED, '--save-latent', out, '--out', recon, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({shape: [1, 8, 64], refine: 0});
    const w = parseNpy(new Uint8Array(readFileSync(out)));
    expect(w.dtype).toBe('float32');
    expect(w.shape).toEqual([1, 8, 64]);
    const want = toFloat32(parseSafetensors(fixtureBytes('e4e_tiny_io.safetensors')).tensors.get('w_plus')!);
    expectAllClose(toFloat32(w), want, {atol: 1e-4});
    expect((await sharp(recon).metadata()).width).toBe(32); // the tiny decoder's resolution
  });

  it('a missing demo encoder, a non-image and a mismatched generator are named errors', {timeout: 120_000}, async () => {
    // The demo encoder is optional; pointed at a missing file (test-only override), the default is a named error.
    const noDemo = {env: {...process.env, STYLECLIP_DEBUG: '', [DEMO_ENCODER_ENV]: path.join(tmp, 'no-encoder.safetensors')}};
    expectOneLineError(await runCliWith(noDemo, 'invert', '--image', ALIGNED, '--save-latent', path.join(tmp, 'a.npy')), /no --encoder given and the demo encoder is missing .*: pass --encoder with an e4e checkpoint/, {noFile: path.join(tmp, 'a.npy')});
    expectOneLineError(await runCli('invert', '--encoder', CKPT, '--image', 'package.json', '--save-latent', path.join(tmp, 'b.npy')), /'package\.json' is not an image/, {noFile: path.join(tmp, 'b.npy')});
    expectOneLineError(
      await runCli('invert', '--encoder', CKPT, '--generator', 'assets/demo/generator.safetensors', '--image', ALIGNED, '--save-latent', path.join(tmp, 'c.npy')),
      /the encoder predicts 8 styles of width 64, but the generator takes W\+ with \d+ rows of width \d+/,
      {noFile: path.join(tmp, 'c.npy')},
    );
    expectOneLineError(await runCli('invert', '--encoder', CKPT, '--save-latent', path.join(tmp, 'd.npy')), /exactly one of --image .* and --photo/);
  });
});

describe('styleclip align', () => {
  const cases = fixtureJson<{cases: Record<string, {input: string; landmarks: number[][]; output: string}>}>('align.json').cases;
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: the official output within the README tolerances`, {timeout: 60_000}, async () => {
      const lm = path.join(tmp, `${name}.json`);
      writeFileSync(lm, JSON.stringify(c.landmarks));
      const out = path.join(tmp, `${name}.png`);
      const r = await runCli('align', fixturePath(c.input), '--landmarks', lm, '--out', out, '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).quad).toHaveLength(4);
      const got = await decodePhoto(new Uint8Array(readFileSync(out)));
      const want = await decodePhoto(fixtureBytes(c.output));
      for (const s of channelStats(got, want)) {
        expect(s.mean).toBeLessThanOrEqual(1.5);
        expect(s.p99).toBeLessThanOrEqual(12);
      }
    });
  }

  it('no face is a one-line named error', {timeout: 60_000}, async () => {
    const grey = path.join(tmp, 'grey.png');
    writeFileSync(grey, await sharp({create: {width: 64, height: 64, channels: 3, background: {r: 90, g: 90, b: 90}}}).png().toBuffer());
    expectOneLineError(await runCli('align', grey, '--out', path.join(tmp, 'g.png')), /no face found in/, {noFile: path.join(tmp, 'g.png')});
  });
});
