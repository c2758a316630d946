/**
 * Photos in the web API (in process, on the tiny fixture models): an upload is decoded and aligned in a worker (or
 * used as it is when "already aligned"), then inverted as a job — by projection from the mean latent without an
 * encoder, with the e4e encoder when the server has one (checked against e4e_tiny_io's golden W+) — into a latent
 * the edit routes take. Named errors: no face, not an image, unknown photo, an encoder for another generator.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {toFloat32} from '../../src/io/host-tensor.js';
import {encodePng} from '../../src/io/image.js';
import {parseNpy} from '../../src/io/npy.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {loadWeights} from '../../src/io/weights.js';
import {generate} from '../../src/models/generate.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {StyleGAN2} from '../../src/models/stylegan2.js';
import {demoAssetPath} from '../../src/demo/assets.js';
import {type WebApp, createApp} from '../../src/server/app.js';
import {type ModelBundle, loadPhotoEncoder} from '../../src/server/bundle.js';
import {expectOneLineError, runCliWith} from '../helpers/cli.js';
import {fixtureBytes, fixturePath} from '../helpers/fixtures.js';
import {readSse} from './sse.js';
import {tinyBundle} from './tiny-bundle.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-photo-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

type Json = Record<string, unknown>;
let bundle: ModelBundle;
let web: WebApp;

beforeAll(async () => {
  // Projection with the pixel loss alone and few steps: the tiny generator draws no human faces.
  bundle = {...(await tinyBundle(tmp)), inversion: {steps: 12, identity: false}};
  web = createApp(bundle, {webRoot: null});
}, 120_000);
afterAll(() => web?.close());

async function call(w: WebApp, url: string, init: RequestInit = {}): Promise<{status: number; body: Json}> {
  const res = await w.app.request(url, init);
  return {status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? ((await res.json()) as Json) : {}};
}

function uploadPhoto(w: WebApp, bytes: Uint8Array, name: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return call(w, '/api/photo', {method: 'POST', body: form});
}

const post = (w: WebApp, url: string, body: unknown) => call(w, url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});

async function bytesOf(w: WebApp, url: string): Promise<Uint8Array> {
  const res = await w.app.request(url);
  expect(res.status, url).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

/** Run an inversion job to its end: its events. */
async function invertJob(w: WebApp, body: Json) {
  const r = await post(w, '/api/invert', body);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return readSse(await w.app.request(`/api/jobs/${r.body.job as string}/events`));
}

const rawPixels = async (png: Uint8Array) => sharp(png).removeAlpha().raw().toBuffer({resolveWithObject: true});

describe('photos without an encoder: projection', () => {
  it('says so in /api/info', async () => {
    const info = (await call(web, '/api/info')).body;
    expect(info.photo).toEqual({method: 'projection', encoder: null, side: bundle.g.config.size, steps: 12, maxSteps: 2000, maxPixels: 50e6});
  });

  it("an 'already aligned' render is inverted by projection into a latent the edits take", async () => {
    const R = bundle.g.config.size;
    const render = await generate(bundle.g, {seed: 3, truncation: 0.7});
    const png = await encodePng(render.image);
    const up = await uploadPhoto(web, png, 'render.png', {aligned: 'true'});
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({name: 'render.png', mode: 'as-is', faces: 0, face: -1, side: R});
    // Used as it is: the aligned face is the uploaded image, pixel for pixel.
    const crop = await rawPixels(await bytesOf(web, up.body.image as string));
    expect([crop.info.width, crop.info.height]).toEqual([R, R]);
    expect(Buffer.compare(crop.data, (await rawPixels(png)).data)).toBe(0);

    const events = await invertJob(web, {photoId: up.body.photoId, client: 'photo-1'});
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', ...Array(12).fill('progress'), 'done']);
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.map((p) => p.step)).toEqual(Array.from({length: 12}, (_, i) => i + 1));
    expect(progress.at(-1)!.pixel as number).toBeLessThan(progress[0]!.pixel as number);
    const done = events.at(-1)!.data;
    expect(done).toMatchObject({method: 'projection', steps: 12, wPlus: true, label: "photo 'render.png' (projection, 12 steps)"});

    // The reported error is the reconstruction's, and it beats the start (the mean latent) — recomputed here from the
    // downloaded W+ and the uploaded PNG.
    const wPlus = parseNpy(await bytesOf(web, `/api/latents/${done.latentId as string}/download`));
    expect(wPlus.shape).toEqual([1, bundle.g.nLatent, bundle.g.config.styleDim]);
    const target = Float32Array.from((await rawPixels(png)).data, (v) => (v / 255 - 0.5) / 0.5);
    const mseTo = (img: Float32Array) => {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let i = 0; i < R * R; i++) s += (img[c * R * R + i]! - target[i * 3 + c]!) ** 2;
      return s / target.length;
    };
    const recon = mseTo(toFloat32((await generate(bundle.g, {latent: wPlus, space: 'w+'})).image));
    const mean = mseTo(toFloat32((await generate(bundle.g, {latent: {dtype: 'float32', shape: [1, bundle.g.config.styleDim], data: bundle.g.latentAvg!}, space: 'w'})).image));
    expect(done.pixel as number).toBeCloseTo(recon, 6);
    expect(recon).toBeLessThan(mean * 0.8);

    // The reconstruction is the current latent like a sampled one: a global edit and a mapper apply to it.
    const preview = await post(web, '/api/global/preview', {latentId: done.latentId, neutral: 'a face', target: 'a face with grey hair', alpha: 5, beta: 0.08});
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(await bytesOf(web, preview.body.image as string)).not.toEqual(await bytesOf(web, done.image as string));
    expect((await post(web, '/api/mapper/apply', {latentId: done.latentId, mapper: 'tiny-random'})).status).toBe(200);
  }, 60_000);

  it('no face in an image that is not marked aligned: a named error that says what to do', async () => {
    const png = await encodePng((await generate(bundle.g, {seed: 4})).image);
    const r = await uploadPhoto(web, png, 'cartoon.png');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^no face found in 'cartoon\.png'.*tick 'already aligned'$/);
  }, 60_000);

  it('refuses what is not a photo, bad fields, unknown photos and zero projection steps', async () => {
    const notImage = await uploadPhoto(web, new TextEncoder().encode('hello, not a picture'), 'me.png', {aligned: 'true'});
    expect(notImage.status).toBe(400);
    expect(notImage.body.error).toMatch(/^'me\.png' is not an image/);
    expect((await uploadPhoto(web, new Uint8Array(8), 'me.npy')).body.error).toMatch(/the file must be \.png, \.jpg/);
    expect((await uploadPhoto(web, new Uint8Array(8), 'me.png', {aligned: 'yes'})).body.error).toMatch(/'aligned' must be one of true, false/);
    expect((await uploadPhoto(web, new Uint8Array(8), 'me.png', {face: '-1'})).body.error).toMatch(/'face' must be a non-negative integer/);
    expect((await uploadPhoto(web, new Uint8Array(8), 'me.png', {colour: 'red'})).body.error).toMatch(/unknown form field 'colour'/);
    expect((await call(web, '/api/photo', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})).status).toBe(415);
    const small = createApp(bundle, {webRoot: null, maxPhotoPixels: 1000});
    const big = await uploadPhoto(small, await encodePng((await generate(bundle.g, {seed: 5})).image), 'big.png', {aligned: 'true'});
    small.close();
    expect(big.status).toBe(400);
    expect(big.body.error).toBe(`'big.png' is ${bundle.g.config.size}×${bundle.g.config.size}; photos up to 1000 pixels are accepted`);
    expect((await post(web, '/api/invert', {photoId: 'nope'})).status).toBe(404);
    const up = await uploadPhoto(web, await encodePng((await generate(bundle.g, {seed: 5})).image), 'r.png', {aligned: 'true'});
    const zero = await post(web, '/api/invert', {photoId: up.body.photoId, steps: 0});
    expect(zero.status).toBe(400);
    expect(zero.body.error).toMatch(/'steps' must be at least 1/);
    expect((await post(web, '/api/invert', {photoId: up.body.photoId, steps: 5, lr: 1})).body.error).toMatch(/unknown field 'lr'/);
  }, 60_000);
});

describe('photos with an e4e encoder', () => {
  it('inverts an aligned face with the encoder (the golden W+ of e4e_tiny_io); aligns a photo', async () => {
    const encoder = await loadPhotoEncoder(fixturePath('e4e_tiny_ckpt.pt'), bundle.g);
    const w = createApp({...bundle, encoder}, {webRoot: null});
    try {
      const info = (await call(w, '/api/info')).body.photo as Json;
      expect(info).toMatchObject({method: 'encoder', encoder: 'e4e_tiny_ckpt.pt', side: 256, steps: 0});
      const up = await uploadPhoto(w, fixtureBytes('align_plain_output.png'), 'aligned.png', {aligned: 'true'});
      expect(up.status, JSON.stringify(up.body)).toBe(200);
      const events = await invertJob(w, {photoId: up.body.photoId});
      expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'done']);
      const done = events.at(-1)!.data;
      expect(done).toMatchObject({method: 'encoder', steps: 0, label: "photo 'aligned.png' (e4e_tiny_ckpt.pt)"});
      const got = toFloat32(parseNpy(await bytesOf(w, `/api/latents/${done.latentId as string}/download`)));
      const want = toFloat32(parseSafetensors(fixtureBytes('e4e_tiny_io.safetensors')).tensors.get('w_plus')!);
      expect(got.length).toBe(want.length);
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
      expect(diff).toBeLessThanOrEqual(1e-4);

      // A photo: its face is detected and aligned in the worker as the official FFHQ alignment does (README §10's
      // tolerance against the official output, with our detected landmarks in place of the fixture's).
      const photo = await uploadPhoto(w, fixtureBytes('align_plain_input.png'), 'astronaut.png');
      expect(photo.status, JSON.stringify(photo.body)).toBe(200);
      expect(photo.body).toMatchObject({mode: 'detected', faces: 1, face: 0, side: 256});
      const ours = (await rawPixels(await bytesOf(w, photo.body.image as string))).data;
      const official = (await rawPixels(fixtureBytes('align_plain_output.png'))).data;
      expect(ours.length).toBe(official.length);
      let sum = 0;
      for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i]! - official[i]!);
      expect(sum / ours.length).toBeLessThanOrEqual(1.5);
      expect((await uploadPhoto(w, fixtureBytes('align_plain_input.png'), 'astronaut.png', {face: '1'})).body.error).toMatch(/has 1 face; face index 1 is out of range/);
    } finally {
      w.close();
    }
  }, 60_000);

  it('refuses at start-up an encoder whose decoder is another generator', async () => {
    const file = fixturePath('e4e_tiny_ckpt.pt');
    await expect(loadPhotoEncoder(file, loadGenerator(demoAssetPath('generator')))).rejects.toThrow(/^the encoder predicts 8 styles of width 64, but the generator takes W\+ with 10 rows/);
    // The same shapes with one weight changed (not just scaled: the convolutions demodulate): the probe image tells
    // them apart.
    const {tensors} = loadWeights(fixtureBytes('e4e_tiny_ckpt.pt'), {prefer: ['state_dict']});
    const sd = new Map([...tensors].filter(([k]) => k.startsWith('decoder.')).map(([k, v]) => [k.slice('decoder.'.length), v]));
    const key = 'convs.0.conv.weight';
    const t = sd.get(key)!;
    sd.set(key, {...t, dtype: 'float32', data: toFloat32(t).map((v, i) => v + 0.5 * Math.sin(i))});
    const other = StyleGAN2.fromStateDict(sd);
    await expect(loadPhotoEncoder(file, other)).rejects.toMatchObject({name: 'EncoderMismatchError', message: expect.stringMatching(/its decoder has the shapes of the generator in use but other weights/)});
    // `serve --encoder` on the demo generator stops at start-up with that error.
    const r = await runCliWith({timeoutMs: 90_000}, 'serve', '--port', '0', '--encoder', file);
    expectOneLineError(r, /^error: the encoder predicts 8 styles of width 64, but the generator takes W\+ with 10 rows/, {emptyStdout: true});
  }, 120_000);
});
