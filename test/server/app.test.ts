/**
 * The web app's HTTP API in process (Hono app.request) on the tiny fixture models: latents (sample, upload round
 * trips, downloads), global-direction preview/accept, optimisation jobs with SSE progress and cancel, mappers
 * (apply, train), the job queue rules, the static UI, and every kind of bad request (4xx, and the server still
 * answers the next request).
 */
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {parseNpy} from '../../src/io/npy.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {MAX_UPLOAD_BYTES, type WebApp, createApp} from '../../src/server/app.js';
import type {ModelBundle} from '../../src/server/bundle.js';
import {readSse} from './sse.js';
import {tinyBundle} from './tiny-bundle.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-server-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

let bundle: ModelBundle;
let web: WebApp;

beforeAll(async () => {
  bundle = await tinyBundle(tmp);
  web = createApp(bundle, {webRoot: null});
});
afterAll(() => web?.close());

type Json = Record<string, unknown>;

async function call(url: string, init: RequestInit = {}, w = web): Promise<{status: number; body: Json; res: Response}> {
  const res = await w.app.request(url, init);
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? ((await res.json()) as Json) : {};
  return {status: res.status, body, res};
}

function post(url: string, body: unknown, w = web) {
  return call(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)}, w);
}

async function bytesOf(url: string, w = web): Promise<Uint8Array> {
  const res = await w.app.request(url);
  expect(res.status, url).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

function upload(bytes: Uint8Array, name: string, fields: Record<string, string> = {}, w = web) {
  const form = new FormData();
  form.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return call('/api/latent', {method: 'POST', body: form}, w);
}

async function sample(seed = 1): Promise<Json> {
  const r = await post('/api/sample', {seed});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** The server still answers a normal request. */
async function stillServing(): Promise<void> {
  const r = await call('/api/info');
  expect(r.status).toBe(200);
  expect((r.body.model as Json).size).toBe(32);
}

const GREY = {neutral: 'a face', target: 'a face with grey hair'};

describe('latents', () => {
  it('samples a seed deterministically and serves its image', async () => {
    const a = await sample(7);
    const b = await sample(7);
    expect(a.latentId).not.toBe(b.latentId);
    const png = await bytesOf(a.image as string);
    expect(Array.from(png.subarray(1, 4), (c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect(await bytesOf(b.image as string)).toEqual(png);
    expect((await call(`/api/latents/${a.latentId as string}`)).body.label).toBe('seed 7 (ψ 0.7)');
  });

  it('round-trips a W+ latent: download .npy, upload it, same image', async () => {
    const a = await sample(3);
    const npy = await bytesOf(`/api/latents/${a.latentId as string}/download`);
    expect(parseNpy(npy).shape).toEqual([1, 8, 64]);
    const up = await upload(npy, 'w.npy');
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.wPlus).toBe(true);
    expect(await bytesOf(up.body.image as string)).toEqual(await bytesOf(a.image as string));
    // The same latent as safetensors, and a row picked from a batch of two.
    const st = await bytesOf(`/api/latents/${a.latentId as string}/download?format=safetensors`);
    expect((await upload(st, 'w.safetensors')).status).toBe(200);
    const w = parseNpy(npy).data as Float32Array;
    const batch = new Float32Array(w.length * 2);
    batch.set(w, w.length);
    const {serializeNpy} = await import('../../src/io/npy.js');
    const two = serializeNpy({dtype: 'float32', shape: [2, 8, 64], data: batch});
    const row1 = await upload(two, 'batch.npy', {index: '1'});
    expect(await bytesOf(row1.body.image as string)).toEqual(await bytesOf(a.image as string));
    expect((await upload(two, 'batch.npy', {index: '2'})).status).toBe(400);
  });

  it('takes W [1, D] uploads and refuses other shapes with a message naming the expected ones', async () => {
    const {serializeNpy} = await import('../../src/io/npy.js');
    const w = serializeNpy({dtype: 'float32', shape: [1, 64], data: new Float32Array(64).fill(0.1)});
    expect((await upload(w, 'w.npy')).status).toBe(200);
    const bad = await upload(serializeNpy({dtype: 'float32', shape: [3, 5], data: new Float32Array(15)}), 'x.npy');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/W\+ \[N, 8, 64\]/);
    const junk = await upload(new TextEncoder().encode('not a tensor file'), 'x.pt');
    expect(junk.status).toBe(400);
    await stillServing();
  });
});

describe('global directions', () => {
  it('previews without changing the latent, accepts (chains), and round-trips the S latent', async () => {
    const a = await sample(2);
    const p0 = await post('/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 0, beta: 0.15});
    expect(p0.status).toBe(200);
    expect(await bytesOf(p0.body.image as string)).toEqual(await bytesOf(a.image as string)); // α = 0 is the identity
    const p = await post('/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 5, beta: 0.1});
    expect(p.body.channelsMoved).toBeGreaterThan(0);
    expect(await bytesOf(p.body.image as string)).not.toEqual(await bytesOf(a.image as string));
    const acc = await post('/api/global/accept', {latentId: a.latentId, ...GREY, alpha: 5, beta: 0.1});
    expect(acc.status).toBe(200);
    expect(acc.body.wPlus).toBe(false);
    expect(await bytesOf(acc.body.image as string)).toEqual(await bytesOf(p.body.image as string));
    // Chaining: a second accepted edit starts from the first.
    const acc2 = await post('/api/global/accept', {latentId: acc.body.latentId, ...GREY, alpha: 5, beta: 0.1});
    expect(await bytesOf(acc2.body.image as string)).not.toEqual(await bytesOf(acc.body.image as string));
    // S latents download as safetensors (s_00 …) and upload again to the same image.
    const st = await bytesOf(`/api/latents/${acc.body.latentId as string}/download`);
    expect([...parseSafetensors(st).tensors.keys()][0]).toBe('s_00');
    const up = await upload(st, 'edited.safetensors');
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(await bytesOf(up.body.image as string)).toEqual(await bytesOf(acc.body.image as string));
    expect((await call(`/api/latents/${acc.body.latentId as string}/download?format=npy`)).status).toBe(400);
  });
});

describe('bad requests get 4xx and the server keeps serving', () => {
  it('unknown routes', async () => {
    for (const [method, url] of [['GET', '/api/nope'], ['POST', '/api/nope'], ['GET', '/nope'], ['DELETE', '/api/info'], ['GET', '/api/jobs/abc/nope']] as const) {
      const r = await call(url, {method});
      expect(r.status, `${method} ${url}`).toBe(404);
      expect(r.body.error).toBeTruthy();
    }
    await stillServing();
  });

  it('an upload over 64 MB is refused with 413', async () => {
    const big = new Uint8Array(MAX_UPLOAD_BYTES + 1);
    const r = await upload(big, 'big.npy');
    expect(r.status).toBe(413);
    expect(r.body.error).toMatch(/64 MB/);
    // The same with a declared Content-Length: refused before the body is read.
    const head = await call('/api/latent', {method: 'POST', headers: {'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': String(MAX_UPLOAD_BYTES + 1)}, body: 'x'});
    expect(head.status).toBe(413);
    await stillServing();
  });

  it('non-numeric, out-of-range, missing and unknown parameters', async () => {
    const a = await sample(4);
    const cases: [string, unknown, RegExp][] = [
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 'x'}, /'alpha' must be a finite number/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: null}, /'alpha' must be a finite number/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 11}, /'alpha' must be in -10…10/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 1, beta: 2}, /'beta' must be in/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 1, beta: 0.1, minChannels: 5}, /either 'beta' or 'minChannels'/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 1, minChannels: 0}, /'minChannels' must be in/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 1, minChannels: 2.5}, /'minChannels' must be an integer/],
      ['/api/global/preview', {latentId: a.latentId, neutral: 'a face', target: '  ', alpha: 1}, /'target' is empty/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY}, /'alpha' is required/],
      ['/api/global/preview', {latentId: a.latentId, ...GREY, alpha: 1, gamma: 2}, /unknown field 'gamma'/],
      ['/api/global/preview', {latentId: 'nope/../x', ...GREY, alpha: 1}, /'latentId' must be an id/],
      ['/api/sample', {seed: 1.5}, /'seed' must be an integer/],
      ['/api/sample', {seed: -1}, /'seed' must be in/],
      ['/api/sample', [1, 2], /JSON object/],
      ['/api/optimize', {latentId: a.latentId, prompt: 'x', steps: 0}, /'steps' must be in/],
      ['/api/optimize', {latentId: a.latentId, prompt: 'x', lr: 'fast'}, /'lr' must be a finite number/],
      ['/api/optimize', {latentId: a.latentId, prompt: 'x'.repeat(301)}, /longer than 300/],
      ['/api/optimize', {latentId: a.latentId, prompt: 'x', client: '../etc'}, /'client' must be an id/],
      ['/api/mapper/train', {prompt: 'x', batch: 4, samples: 2}, /'samples' \(2\) must be at least 'batch'/],
    ];
    for (const [url, body, msg] of cases) {
      const r = await post(url, body);
      expect(r.status, `${url} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error).toMatch(msg);
    }
    expect((await post('/api/global/preview', {latentId: 'unknownLatent', ...GREY, alpha: 1})).status).toBe(404);
    expect((await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"seed": '})).status).toBe(400);
    expect((await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'text/plain'}, body: '{"seed": 1}'})).status).toBe(415);
    expect((await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({seed: 1, pad: 'x'.repeat(70_000)})})).status).toBe(413);
    expect((await call(`/api/latents/${a.latentId as string}/download?format=exe`)).status).toBe(400);
    expect((await call(`/api/latents/${a.latentId as string}/download?path=/etc/passwd`)).status).toBe(400);
    expect((await call('/api/images/..%2F..%2Fpackage.json')).status).toBe(404);
    await stillServing();
  });

  it('path-traversal and other bad upload file names', async () => {
    const {serializeNpy} = await import('../../src/io/npy.js');
    const npy = serializeNpy({dtype: 'float32', shape: [1, 64], data: new Float32Array(64)});
    for (const name of ['../../etc/passwd.npy', '..\\..\\w.npy', '/abs/w.npy', 'dir/w.npy', '.hidden.npy', 'w.exe', 'w.npy\u0000.png']) {
      const r = await upload(npy, name);
      expect(r.status, name).toBe(400);
    }
    expect((await upload(npy, 'w.npy', {space: 'q'})).status).toBe(400);
    expect((await upload(npy, 'w.npy', {path: '/tmp/x'})).status).toBe(400);
    expect((await call('/api/latent', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})).status).toBe(415);
    await stillServing();
  });

  it('refuses cross-origin posts and, when asked, foreign Host headers', async () => {
    const cross = await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'application/json', Origin: 'http://evil.example'}, body: '{"seed":1}'});
    expect(cross.status).toBe(403);
    // 'null' is the origin of sandboxed frames and file: pages: foreign too.
    expect((await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'application/json', Origin: 'null'}, body: '{"seed":1}'})).status).toBe(403);
    const same = await call('/api/sample', {method: 'POST', headers: {'Content-Type': 'application/json', Origin: 'http://localhost'}, body: '{"seed":1}'});
    expect(same.status).toBe(200);
    const guarded = createApp(bundle, {webRoot: null, allowedHosts: ['localhost', '127.0.0.1']});
    expect((await guarded.app.request('http://evil.example/api/info', {headers: {Host: 'evil.example'}})).status).toBe(403);
    expect((await guarded.app.request('http://localhost:8787/api/info', {headers: {Host: 'localhost:8787'}})).status).toBe(200);
  });
});

describe('jobs', () => {
  it('streams an optimisation over SSE: queued, started, progress with loss terms and images, done', async () => {
    const a = await sample(5);
    const r = await post('/api/optimize', {latentId: a.latentId, prompt: 'a face with grey hair', steps: 6, saveEvery: 2, lr: 0.05, client: 'sse-test'});
    expect(r.status).toBe(202);
    const res = await web.app.request(`/api/jobs/${r.body.job as string}/events`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = await readSse(res);
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', ...Array(6).fill('progress'), 'done']);
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const p of progress) for (const k of ['loss', 'clip', 'l2', 'lr']) expect(Number.isFinite(p[k]), k).toBe(true);
    expect(progress.filter((p) => typeof p.image === 'string').map((p) => p.step)).toEqual([1, 3, 5]);
    await bytesOf(progress[0]!.image as string);
    const done = events.at(-1)!.data;
    expect(done.wPlus).toBe(true);
    expect(await bytesOf(done.image as string)).not.toEqual(await bytesOf(a.image as string));
    // A late subscriber gets the whole log; Last-Event-ID resumes after an event.
    expect((await readSse(await web.app.request(`/api/jobs/${r.body.job as string}/events`))).length).toBe(events.length);
    const resumed = await readSse(await web.app.request(`/api/jobs/${r.body.job as string}/events`, {headers: {'Last-Event-ID': '7'}}));
    expect(resumed.map((e) => e.event)).toEqual(['done']);
  });

  it('optimises with the identity loss when λ_ID > 0 (face-api), reporting the id term; refuses a bad λ_ID', async () => {
    const a = await sample(6);
    const r = await post('/api/optimize', {latentId: a.latentId, prompt: 'a face with grey hair', steps: 3, saveEvery: 3, lr: 0.05, lambdaId: 0.005, client: 'id-test'});
    expect(r.status).toBe(202);
    const events = await readSse(await web.app.request(`/api/jobs/${r.body.job as string}/events`));
    expect(events.at(-1)!.event).toBe('done');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    // Step 1 starts at the input image, so its identity term is 1 − cos(x, x) = 0; later steps move away from it.
    expect(Math.abs(progress[0]!.id as number)).toBeLessThan(1e-4);
    expect(progress.at(-1)!.id as number).toBeGreaterThan(0);
    const bad = await post('/api/optimize', {latentId: a.latentId, prompt: 'x', steps: 3, lambdaId: 2, client: 'id-test'});
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/'lambdaId' must be in/);
  }, 60_000);

  it('optimises a StyleSpace latent (after a global edit) in S', async () => {
    const a = await sample(6);
    const acc = await post('/api/global/accept', {latentId: a.latentId, ...GREY, alpha: 4, beta: 0.1});
    expect((await post('/api/optimize', {latentId: acc.body.latentId, prompt: 'grey hair', steps: 2, space: 'w+', client: 's-test'})).status).toBe(400);
    const r = await post('/api/optimize', {latentId: acc.body.latentId, prompt: 'grey hair', steps: 3, client: 's-test'});
    expect(r.status).toBe(202);
    const events = await readSse(await web.app.request(`/api/jobs/${r.body.job as string}/events`));
    expect(events.at(-1)!.event).toBe('done');
    expect(events.at(-1)!.data.wPlus).toBe(false);
  });

  it('runs one job at a time: a second concurrent job of a client is 409, other clients queue, a full queue is 429; cancel works', async () => {
    const w = createApp(bundle, {webRoot: null, maxQueued: 1});
    try {
      const a = (await post('/api/sample', {seed: 1}, w)).body;
      const job = (client: string, steps = 400) => post('/api/optimize', {latentId: a.latentId, prompt: 'a face', steps, saveEvery: 1000, client}, w);
      const first = await job('alice');
      expect(first.status).toBe(202);
      expect(first.body.position).toBe(0);
      // Wait until it is running (its first progress event).
      const stream = Promise.resolve(w.app.request(`/api/jobs/${first.body.job as string}/events`));
      let sawProgress!: () => void;
      const progressed = new Promise<void>((resolve) => (sawProgress = resolve));
      const firstEvents = stream.then((res) => readSse(res, (e) => (e.event === 'progress' ? sawProgress() : undefined)));
      await progressed;

      const again = await job('alice');
      expect(again.status).toBe(409);
      expect(again.body.error).toMatch(/already has a running optimize job/);
      const bob = await job('bob', 3);
      expect(bob.status).toBe(202);
      expect(bob.body.position).toBe(1);
      const carol = await job('carol');
      expect(carol.status).toBe(429);
      expect((await call(`/api/jobs/${bob.body.job as string}`, {}, w)).body.state).toBe('queued');

      // Cancel the running job: its stream ends with 'cancelled', and bob's job starts and finishes.
      expect((await post(`/api/jobs/${first.body.job as string}/cancel`, {}, w)).status).toBe(200);
      const evs = await firstEvents;
      expect(evs.at(-1)!.event).toBe('cancelled');
      const bobEvents = await readSse(await w.app.request(`/api/jobs/${bob.body.job as string}/events`));
      expect(bobEvents.map((e) => e.event)).toContain('started');
      expect(bobEvents.at(-1)!.event).toBe('done');
      // Alice may start again; a queued job cancels at once.
      const next = await job('alice', 400);
      expect(next.status).toBe(202);
      const queued = await job('dave', 2);
      expect(queued.body.position).toBe(1);
      await post(`/api/jobs/${queued.body.job as string}/cancel`, {}, w);
      expect((await call(`/api/jobs/${queued.body.job as string}`, {}, w)).body.state).toBe('cancelled');
      await post(`/api/jobs/${next.body.job as string}/cancel`, {}, w);
      expect((await readSse(await w.app.request(`/api/jobs/${next.body.job as string}/events`))).at(-1)!.event).toBe('cancelled');
      expect((await call('/api/jobs/unknownJob', {}, w)).status).toBe(404);
      expect((await post('/api/jobs/unknownJob/cancel', {}, w)).status).toBe(404);
    } finally {
      w.close();
    }
  });
});

describe('mappers', () => {
  it('applies a mapper to W+ and refuses S-only latents and unknown names', async () => {
    const a = await sample(8);
    const r = await post('/api/mapper/apply', {latentId: a.latentId, mapper: 'tiny-random'});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await bytesOf(r.body.image as string)).not.toEqual(await bytesOf(a.image as string));
    expect((await post('/api/mapper/apply', {latentId: a.latentId, mapper: '../tiny-random'})).status).toBe(404);
    const acc = await post('/api/global/accept', {latentId: a.latentId, ...GREY, alpha: 3, beta: 0.1});
    expect((await post('/api/mapper/apply', {latentId: acc.body.latentId, mapper: 'tiny-random'})).status).toBe(400);
  });

  it('trains a mapper as a job with streamed progress; the result is listed, applicable and downloadable', async () => {
    const r = await post('/api/mapper/train', {prompt: 'purple hair', steps: 3, batch: 2, samples: 4, client: 'trainer'});
    expect(r.status).toBe(202);
    const events = await readSse(await web.app.request(`/api/jobs/${r.body.job as string}/events`));
    expect(events.filter((e) => e.event === 'progress').map((e) => e.data.step)).toEqual([1, 2, 3]);
    const done = events.at(-1)!;
    expect(done.event, JSON.stringify(done.data)).toBe('done');
    const name = done.data.mapper as string;
    const info = (await call('/api/info')).body;
    expect((info.mappers as Json[]).map((m) => m.name)).toContain(name);
    const a = await sample(9);
    expect((await post('/api/mapper/apply', {latentId: a.latentId, mapper: name})).status).toBe(200);
    const file = await bytesOf(`/api/mappers/${name}/download`);
    expect(parseSafetensors(file).metadata.prompt).toBe('purple hair');
  });
});

describe('the browser UI files', () => {
  it('serves index.html and assets/ only, with no way out of the web root', async () => {
    const root = path.join(tmp, 'web');
    mkdirSync(path.join(root, 'assets'), {recursive: true});
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(path.join(root, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(path.join(root, 'secret.txt'), 'secret');
    symlinkSync(path.join(root, 'secret.txt'), path.join(root, 'assets', 'link.js'));
    const w = createApp(bundle, {webRoot: root});
    const index = await w.app.request('/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const js = await w.app.request('/assets/app.js');
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    for (const url of ['/secret.txt', '/assets/../secret.txt', '/assets/..%2fsecret.txt', '/assets/%2e%2e/secret.txt', '/assets/link.js', '/assets/', '/assets/nope.js', '/assets/..%2f..%2fpackage.json']) {
      expect((await w.app.request(url)).status, url).toBe(404);
    }
    expect((await w.app.request('/assets/%E0%A4%A')).status).toBe(400);
    const unbuilt = createApp(bundle, {webRoot: path.join(tmp, 'missing')});
    expect((await unbuilt.app.request('/')).status).toBe(503);
  });
});
