/**
 * A bounded load test of the web app on a real HTTP server (tiny fixture models): concurrent cheap requests, a
 * burst of jobs, disconnects mid-stream (SSE) and mid-upload, a hostile 64 MB upload while /api/info is probed,
 * and memory across many optimisation jobs (20 by default; STYLECLIP_LOAD_JOBS=100 for the full check).
 */
import {spawn} from 'node:child_process';
import http from 'node:http';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {liveSessions, sessionsCreated} from '../../src/engine/session.js';
import {serializeNpy} from '../../src/io/npy.js';
import type {ModelBundle} from '../../src/server/bundle.js';
import {MAX_UPLOAD_BYTES} from '../../src/server/context.js';
import {type RunningServer, startServer} from '../../src/server/serve.js';
import {readSse} from './sse.js';
import {tinyBundle} from './tiny-bundle.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-load-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const JOBS = Number(process.env.STYLECLIP_LOAD_JOBS ?? 20);
// The bound the issue sets for /api/info while an upload is parsed. Most probes must meet it; on a loaded 2-core CI
// machine a probe can wait for the scheduler, so the worst one gets a looser bound that still catches a parse on the
// event loop (which stalled every request for seconds).
const INFO_MS = 200;
const INFO_STALL_MS = 1000;

/** The 90th percentile of latencies and the worst one. */
function latencySummary(ms: readonly number[]): {p90: number; max: number} {
  const s = [...ms].sort((a, b) => a - b);
  return {p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]!, max: s[s.length - 1]!};
}

/** Probes taken while an upload was parsed: the 90th percentile within INFO_MS, none stalled past INFO_STALL_MS. */
function expectResponsive(during: readonly number[]): void {
  const {p90, max} = latencySummary(during);
  expect(p90).toBeLessThan(INFO_MS);
  expect(max).toBeLessThan(INFO_STALL_MS);
}

let bundle: ModelBundle;
let srv: RunningServer;
let base: string;

beforeAll(async () => {
  bundle = await tinyBundle(tmp);
  srv = await startServer(bundle, {port: 0, webRoot: null, maxQueued: 4, maxTrainedMappers: 3, uploads: {parallel: 1, queue: 1, timeoutMs: 4000}});
  base = srv.url.replace(/\/$/, '');
  // A server that has rendered once (compiling the generator's program is start-up work, not upload work).
  expect((await postJson('/api/sample', {seed: 1})).status).toBe(200);
});
afterAll(() => srv?.close());

type Json = Record<string, unknown>;

async function getJson(url: string): Promise<{status: number; body: Json; ms: number}> {
  const t0 = performance.now();
  const res = await fetch(base + url);
  const body = (await res.json()) as Json;
  return {status: res.status, body, ms: performance.now() - t0};
}

async function postJson(url: string, body: unknown): Promise<{status: number; body: Json}> {
  const res = await fetch(base + url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return {status: res.status, body: (await res.json()) as Json};
}

/** A multipart body holding `bytes` as the 'file' field, and its Content-Type. */
async function multipart(bytes: Uint8Array, name: string): Promise<{body: Uint8Array; type: string}> {
  const form = new FormData();
  form.append('file', new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  const req = new Request('http://x/', {method: 'POST', body: form});
  return {body: new Uint8Array(await req.arrayBuffer()), type: req.headers.get('content-type')!};
}

async function upload(bytes: Uint8Array, name: string, headers: Record<string, string> = {}): Promise<{status: number; body: Json}> {
  return send(await multipart(bytes, name), headers);
}

/** POST a prepared multipart body to /api/latent (prepared beforehand: this test's client shares the thread). */
async function send(m: {body: Uint8Array; type: string}, headers: Record<string, string> = {}): Promise<{status: number; body: Json}> {
  const res = await fetch(`${base}/api/latent`, {method: 'POST', headers: {'Content-Type': m.type, ...headers}, body: m.body as Uint8Array<ArrayBuffer>});
  return {status: res.status, body: (await res.json()) as Json};
}

/**
 * POST a prepared multipart body from another process (as a browser would be), so that this thread, which runs the
 * server, does no client work while its latency is measured.
 */
async function sendFromChild(m: {body: Uint8Array; type: string}): Promise<{status: number; body: Json}> {
  const file = path.join(tmp, `body-${Math.random().toString(36).slice(2)}.bin`);
  writeFileSync(file, m.body);
  const script = `const r = await fetch(${JSON.stringify(`${base}/api/latent`)}, {method: 'POST', headers: {'Content-Type': ${JSON.stringify(m.type)}}, body: (await import('node:fs')).readFileSync(${JSON.stringify(file)})});
    process.stdout.write(JSON.stringify({status: r.status, body: await r.json()}));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']});
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise((r) => child.once('exit', r));
  rmSync(file);
  return JSON.parse(out) as {status: number; body: Json};
}

/** Start an upload whose body never finishes (`sent` bytes of a declared `length`); destroy() disconnects. */
function stalledUpload(length: number, sent: number): {destroy: () => void; response: Promise<number>} {
  const req = http.request(`${base}/api/latent`, {method: 'POST', headers: {'Content-Type': 'multipart/form-data; boundary=zz', 'Content-Length': String(length)}});
  const response = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(-1));
  });
  req.write(new Uint8Array(sent));
  return {destroy: () => req.destroy(), response};
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function jobDone(id: string): Promise<string> {
  for (;;) {
    const r = await getJson(`/api/jobs/${id}`);
    const state = r.body.state as string;
    if (state !== 'queued' && state !== 'running') return state;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/**
 * A legacy torch.save file of about `size` bytes whose second pickle holds a 1 MB LONG4 integer (slow to decode
 * without care), padded with bytes the loader never reaches.
 */
function hostileTorch(size: number): Uint8Array {
  const magic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
  const n = 2 ** 20;
  const out = new Uint8Array(size);
  out.set(magic, 0);
  out.set([0x80, 0x02, 0x8b, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24], magic.length);
  const at = magic.length + 7;
  for (let i = 0; i < n; i++) out[at + i] = (i * 131 + 7) & 0xff;
  out[at + n] = 0x2e;
  return out;
}

describe('the web server under load', () => {
  it('answers 200 concurrent cheap requests quickly', async () => {
    const lat: number[] = [];
    for (let round = 0; round < 10; round++) {
      const rs = await Promise.all(Array.from({length: 20}, () => getJson('/api/info')));
      for (const r of rs) {
        expect(r.status).toBe(200);
        lat.push(r.ms);
      }
    }
    lat.sort((a, b) => a - b);
    const p50 = lat[lat.length >> 1]!;
    const p99 = lat[Math.floor(lat.length * 0.99)]!;
    console.log(`GET /api/info, 20 at a time: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    expect(p99).toBeLessThan(1000);
  });

  it('keeps /api/info within 200 ms while a hostile 64 MB upload is parsed; the upload ends in a 4xx', async () => {
    const pending = sendFromChild(await multipart(hostileTorch(MAX_UPLOAD_BYTES - 4096), 'hostile.pt'));
    let done = false;
    void pending.finally(() => (done = true));
    const during: number[] = [];
    while (!done) {
      const busy = srv.web.uploads.busy > 0;
      const r = await getJson('/api/info');
      expect(r.status).toBe(200);
      if (busy) during.push(r.ms);
      await new Promise((res) => setTimeout(res, 20));
    }
    const res = await pending;
    expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(during.length, 'probes while the upload was read and parsed').toBeGreaterThanOrEqual(3);
    console.log(`hostile 64 MB upload: ${res.status} ${JSON.stringify(res.body.error)}; /api/info during it: ${during.length} probes, p90 ${latencySummary(during).p90.toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms`);
    expectResponsive(during);
    expect(srv.web.uploads.busy).toBe(0);
  }, 60_000);

  it('parses a valid 64 MB upload with the same latency bound', async () => {
    const [L, D] = [bundle.g.nLatent, bundle.g.config.styleDim];
    const N = Math.floor((MAX_UPLOAD_BYTES - 4096) / (L * D * 4));
    const data = new Float32Array(N * L * D).map((_, i) => Math.sin(i) * 0.5);
    const pending = sendFromChild(await multipart(serializeNpy({dtype: 'float32', shape: [N, L, D], data}), 'many.npy'));
    let done = false;
    void pending.finally(() => (done = true));
    const during: number[] = [];
    while (!done) {
      const busy = srv.web.uploads.busy > 0;
      const r = await getJson('/api/info');
      if (busy) during.push(r.ms);
      await new Promise((res) => setTimeout(res, 20));
    }
    const res = await pending;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    console.log(`valid 64 MB upload (${N} W+ latents): /api/info during it: ${during.length} probes, max ${during.length ? Math.max(...during).toFixed(1) : '-'} ms`);
    if (during.length) expectResponsive(during);
  }, 60_000);

  it('bounds the uploads at once: one parsed, one waiting, the next gets 429; a client that disconnects mid-upload frees its slot', async () => {
    const a = stalledUpload(8 * 2 ** 20, 2 ** 20);
    await waitFor(() => srv.web.uploads.busy === 1, 5000, 'the first upload to start');
    const b = stalledUpload(8 * 2 ** 20, 2 ** 20);
    await new Promise((r) => setTimeout(r, 100));
    const npy = serializeNpy({dtype: 'float32', shape: [1, bundle.g.config.styleDim], data: new Float32Array(bundle.g.config.styleDim)});
    const c = await upload(npy, 'w.npy');
    expect(c.status).toBe(429);
    a.destroy();
    b.destroy();
    await Promise.all([a.response, b.response]);
    await waitFor(() => srv.web.uploads.busy === 0, 5000, 'the slots to be freed after the disconnects');
    const d = await upload(npy, 'w.npy');
    expect(d.status, JSON.stringify(d.body)).toBe(200);
  }, 30_000);

  it('refuses an upload from Origin: null (a sandboxed or file: page) with 403', async () => {
    const npy = serializeNpy({dtype: 'float32', shape: [1, bundle.g.config.styleDim], data: new Float32Array(bundle.g.config.styleDim)});
    const r = await upload(npy, 'w.npy', {Origin: 'null'});
    expect(r.status).toBe(403);
    expect(srv.web.uploads.busy).toBe(0);
  });

  it('takes a burst of jobs (queue bound 429), survives SSE disconnects, keeps a bounded number of trained mappers', async () => {
    const seed = await postJson('/api/sample', {seed: 3});
    const latentId = seed.body.latentId as string;
    // 8 clients at once: one runs, 4 wait, the rest are told the queue is full.
    const starts = await Promise.all(
      Array.from({length: 8}, (_, i) =>
        i % 2 === 0 ? postJson('/api/optimize', {latentId, prompt: 'a face', steps: 2, client: `c${i}`}) : postJson('/api/mapper/train', {prompt: `prompt ${i}`, steps: 1, batch: 1, samples: 1, client: `c${i}`}),
      ),
    );
    const accepted = starts.filter((s) => s.status === 202);
    expect(accepted).toHaveLength(5);
    expect(starts.filter((s) => s.status === 429)).toHaveLength(3);
    // Subscribe to the first job's events and disconnect after the first one.
    const ac = new AbortController();
    const res = await fetch(`${base}/api/jobs/${accepted[0]!.body.job as string}/events`, {signal: ac.signal});
    await readSse(res, () => ac.abort()).catch(() => undefined);
    for (const s of accepted) expect(await jobDone(s.body.job as string)).toBe('done');
    // Five more mapper jobs: only the 3 newest trained mappers stay listed (beside the loaded one).
    const trained: string[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await postJson('/api/mapper/train', {prompt: `more ${i}`, steps: 1, batch: 1, samples: 1, client: 'm'});
      expect(s.status).toBe(202);
      const events = await readSse(await fetch(`${base}/api/jobs/${s.body.job as string}/events`));
      const done = events.at(-1)!;
      expect(done.event).toBe('done');
      trained.push(done.data.mapper as string);
    }
    expect(trained[4]).toMatch(/^trained-\d+-more-4$/);
    const info = await getJson('/api/info');
    const names = (info.body.mappers as {name: string}[]).map((m) => m.name);
    expect(names).toEqual(['tiny-random', ...trained.slice(2)]);
    expect((info.body.limits as Json).maxTrainedMappers).toBe(3);
  }, 120_000);

  it(`keeps memory flat across ${JOBS} optimisation jobs with different prompts (one compiled step session)`, async () => {
    const seed = await postJson('/api/sample', {seed: 4});
    const prompts = ['a face with grey hair', 'a smiling face', 'a face with glasses'];
    let i = 0;
    const run = async () => {
      const s = await postJson('/api/optimize', {latentId: seed.body.latentId, prompt: prompts[i++ % prompts.length], steps: 2, saveEvery: 1000, client: 'mem'});
      expect(s.status).toBe(202);
      expect(await jobDone(s.body.job as string)).toBe('done');
    };
    await run();
    const rss1 = process.memoryUsage().rss;
    const sessions1 = liveSessions();
    const created1 = sessionsCreated();
    const t0 = performance.now();
    for (let j = 1; j < JOBS; j++) await run();
    const rssN = process.memoryUsage().rss;
    const mb = (b: number) => (b / 2 ** 20).toFixed(0);
    console.log(`RSS after 1 job ${mb(rss1)} MB, after ${JOBS} jobs ${mb(rssN)} MB (${((performance.now() - t0) / (JOBS - 1)).toFixed(0)} ms per job); ONNX sessions ${sessions1} → ${liveSessions()}`);
    expect(liveSessions()).toBe(sessions1);
    expect(sessionsCreated()).toBe(created1); // nothing compiled after the first job
    expect(rssN - rss1).toBeLessThan(150 * 2 ** 20);
  }, 600_000);
});
