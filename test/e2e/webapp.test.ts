/// <reference lib="dom" />
/**
 * The web app end to end in a real headless Chromium (playwright-core driving Debian's /usr/bin/chromium; no
 * browser download): build the UI with Vite, start `styleclip serve`'s server on a free localhost port, then as
 * a user: load the page, type a target, move the α slider, see the preview change, accept, start a short
 * optimisation, see progress and an intermediate image arrive, cancel it. Bad requests against the live server
 * get 4xx and it keeps serving. Uses the demo models when they are trained (a real grey-hair edit), otherwise
 * the tiny fixture models, and says which. Screenshot: test-artifacts/webapp-grey-hair.png.
 */
import {existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {type BrowserContext, type Page, chromium} from 'playwright-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {DEMO_FILES} from '../../src/demo/assets.js';
import {type ModelBundle, demoBundleFiles, loadBundle} from '../../src/server/bundle.js';
import {MAX_UPLOAD_BYTES} from '../../src/server/app.js';
import {type RunningServer, startServer} from '../../src/server/serve.js';
import {CHROMIUM, ensureChromium} from '../setup/browser.js';
import {tinyBundle} from '../server/tiny-bundle.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOT = path.join(ROOT, 'test-artifacts', 'webapp-grey-hair.png');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-e2e-'));
let server: RunningServer;
let context: BrowserContext;
let page: Page;
let models: 'demo' | 'tiny fixtures';
const pageErrors: string[] = [];

function demoModelsTrained(): boolean {
  return (['generator', 'clip', 'relevance'] as const).every((k) => existsSync(path.join(ROOT, 'assets', 'demo', DEMO_FILES[k])));
}

// A fresh Debian machine gets the browser here (apt-get, several minutes, once).
beforeAll(() => ensureChromium(), 900_000);

beforeAll(async () => {
  // The UI as `npm run build` makes it, but from the current sources into a temporary folder.
  const webRoot = path.join(tmp, 'web');
  const {build} = await import('vite');
  await build({configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn', build: {outDir: webRoot, emptyOutDir: true}});

  let bundle: ModelBundle;
  if (demoModelsTrained()) {
    models = 'demo';
    bundle = await loadBundle(demoBundleFiles());
  } else {
    models = 'tiny fixtures';
    bundle = await tinyBundle(tmp);
  }
  console.log(`web-app e2e on the ${models} models (${bundle.g.config.size}px)${models === 'demo' ? '' : ': the demo models are not trained yet'}`);
  server = await startServer(bundle, {port: 0, host: '127.0.0.1', webRoot});

  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: {width: 1280, height: 900}});
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`);
  });
}, 180_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  rmSync(tmp, {recursive: true, force: true});
});

async function imageBytes(src: string): Promise<Buffer> {
  const res = await fetch(new URL(src, server.url));
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('the web app in headless Chromium', () => {
  it('global directions: type a target, move α, see the preview change, accept', async () => {
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]', {timeout: 60_000});
    const before = await page.getAttribute('#before-img', 'src');
    expect(before).toMatch(/^\/api\/images\/.+\.png$/);
    expect(await page.$eval('#after-img', (img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);

    await page.fill('#neutral', 'a face');
    await page.fill('#target', 'a face with grey hair');
    // Drag-free slider move: click at 80 % of the α track (−10…10 → about +6).
    const box = (await page.locator('#alpha').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.8, box.y + box.height / 2);
    const alpha = Number(await page.inputValue('#alpha'));
    expect(alpha).toBeGreaterThan(3);
    await page.waitForFunction((a) => document.getElementById('after-kind')!.textContent === `(preview α ${a.toFixed(1)})`, alpha, {timeout: 60_000});
    await page.waitForFunction(() => (document.getElementById('after-img') as HTMLImageElement).complete);
    const channels = Number(await page.textContent('#channels'));
    expect(channels).toBeGreaterThan(0);
    const after = (await page.getAttribute('#after-img', 'src'))!;
    expect(after).not.toBe(before);
    expect(await imageBytes(after)).not.toEqual(await imageBytes(before!));

    mkdirSync(path.dirname(SCREENSHOT), {recursive: true});
    await page.screenshot({path: SCREENSHOT, fullPage: true});
    console.log(`screenshot of the grey-hair edit (${models} models, α ${alpha}, ${channels} channels): ${path.relative(ROOT, SCREENSHOT)}`);

    await page.click('#accept');
    await page.waitForFunction(() => /^accepted/.test(document.getElementById('status')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.textContent('#latent-label')).toMatch(/^global 'a face' → 'a face with grey hair'/);
    expect(await page.inputValue('#alpha')).toBe('0');
    expect(await imageBytes((await page.getAttribute('#after-img', 'src'))!)).toEqual(await imageBytes(after));
  });

  it('optimisation: start, see progress and an intermediate image arrive, cancel', async () => {
    await page.fill('#opt-prompt', 'a face with grey hair');
    await page.fill('#opt-steps', '500');
    await page.click('#opt-start');
    // The first step includes compiling generator + CLIP + gradients (tens of seconds for the demo models on a busy CPU).
    await page.waitForFunction(() => /^step \d+\/500: loss /.test(document.getElementById('opt-status')!.textContent ?? ''), undefined, {timeout: 200_000});
    await page.waitForFunction(() => /^\(step \d+\)$/.test(document.getElementById('after-kind')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.isEnabled('#opt-cancel')).toBe(true);
    expect(await page.isDisabled('#opt-start')).toBe(true);
    await page.click('#opt-cancel');
    await page.waitForFunction(() => document.getElementById('opt-status')!.textContent === 'cancelled', undefined, {timeout: 60_000});
    expect(await page.isEnabled('#opt-start')).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('bad requests to the live server get 4xx and it keeps serving', async () => {
    const api = (p: string, init?: RequestInit) => fetch(new URL(p, server.url), init);
    const json = (body: unknown): RequestInit => ({method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const {latentId} = (await (await api('/api/sample', json({seed: 11}))).json()) as {latentId: string};

    expect((await api('/api/no-such-route')).status).toBe(404);
    expect((await api('/api/global/preview', json({latentId, neutral: 'a face', target: 'a face with grey hair', alpha: 'lots'}))).status).toBe(400);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(16)]), '../../../etc/passwd.npy');
    expect((await api('/api/latent', {method: 'POST', body: form})).status).toBe(400);
    expect((await api('/assets/..%2F..%2Fpackage.json')).status).toBe(404);
    expect(await oversizeUploadStatus(server.port)).toBe(413);
    const job = json({latentId, prompt: 'a face', steps: 2000, saveEvery: 1000, client: 'e2e-second-job'});
    const first = await api('/api/optimize', job);
    expect(first.status).toBe(202);
    const second = await api('/api/optimize', job);
    expect(second.status).toBe(409);
    await api(`/api/jobs/${((await first.json()) as {job: string}).job}/cancel`, {method: 'POST'});
    // DNS-rebinding guard: a foreign Host header is refused on the localhost server.
    expect(await statusWithHost(server.port, 'attacker.example')).toBe(403);

    expect((await api('/api/info')).status).toBe(200);
    expect((await api('/')).status).toBe(200);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', {timeout: 60_000});
  });
});

/** POST /api/latent announcing a body over the limit: the server answers 413 without waiting for it. */
function oversizeUploadStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method: 'POST', path: '/api/latent', headers: {'Content-Type': 'multipart/form-data; boundary=b', 'Content-Length': String(MAX_UPLOAD_BYTES + 1)}}, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.write('--b\r\n');
  });
}

function statusWithHost(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({host: '127.0.0.1', port, path: '/api/info', headers: {Host: host}}, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}
