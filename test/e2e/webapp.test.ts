/// <reference lib="dom" />
/**
 * The web app end to end in a real headless Chromium (playwright-core driving Debian's /usr/bin/chromium; no
 * browser download): build the UI with Vite, start `styleclip serve`'s server on a free localhost port, then as
 * a user: α starts at the default strength, so clicking an example prompt previews an edit; move α and the
 * comparison slider; accept (the history grows); apply a mapper after the global edit (it runs on the image before
 * the edit, which is re-applied) and undo it; see an error next to the control that caused it; run optimisations
 * (progress, an intermediate image, cancel, a short run to the end with its summary) and a short mapper training.
 * Bad requests against the live server get 4xx and it keeps serving. A photo: a render with no human face is refused
 * next to the upload control, then uploaded as "already aligned", inverted by projection (a short job) and edited
 * with a global direction. Uses the demo models when they are trained
 * (a real grey-hair edit), otherwise the tiny fixture models, and says which. Screenshots in test-artifacts/:
 * webapp-grey-hair.png (the whole page with the grey-hair preview) and one per panel (webapp-panel-*.png).
 */
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {type BrowserContext, type Page, chromium} from 'playwright-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {DEMO_FILES} from '../../src/demo/assets.js';
import {SAMPLE_TRUNCATION} from '../../src/edit/truncation.js';
import {encodePng} from '../../src/io/image.js';
import {generate} from '../../src/models/generate.js';
import {type ModelBundle, demoBundleFiles, loadBundle} from '../../src/server/bundle.js';
import type {InfoResponse} from '../../src/server/api-types.js';
import {MAX_UPLOAD_BYTES} from '../../src/server/app.js';
import {type RunningServer, startServer} from '../../src/server/serve.js';
import {CHROMIUM, ensureChromium} from '../setup/browser.js';
import {tinyBundle} from '../server/tiny-bundle.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'webapp-grey-hair.png');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-e2e-'));
let server: RunningServer;
let bundle: ModelBundle;
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

/** Screenshot of one element into test-artifacts/webapp-panel-NAME.png. */
async function panelShot(selector: string, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, {recursive: true});
  const file = path.join(ARTIFACTS, `webapp-panel-${name}.png`);
  await page.locator(selector).screenshot({path: file});
  console.log(`screenshot of ${selector}: ${path.relative(ROOT, file)}`);
}

async function apiJson<T>(p: string, body?: unknown): Promise<T> {
  const init: RequestInit = body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
  const res = await fetch(new URL(p, server.url), init);
  expect(res.status, p).toBe(200);
  return (await res.json()) as T;
}

const historyLength = () => page.locator('#history li').count();
const afterSrc = async () => (await page.getAttribute('#after-img', 'src'))!;

async function imageBytes(src: string): Promise<Buffer> {
  const res = await fetch(new URL(src, server.url));
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('the web app in headless Chromium', () => {
  let info: InfoResponse;
  /** The global edit the page accepted (for checking the mapper step against the API). */
  let accepted: {neutral: string; target: string; alpha: number; minChannels?: number; beta?: number; image: string};

  it('global directions: α starts at the default, an example prompt previews an edit, α and the comparison slider move, accept adds to the history', async () => {
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]', {timeout: 60_000});
    info = await apiJson<InfoResponse>('/api/info');
    const before = await page.getAttribute('#before-img', 'src');
    expect(before).toMatch(/^\/api\/images\/.+\.png$/);
    expect(await page.$eval('#after-img', (img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    // Smooth upscaling of the small generator's images, not blocks.
    expect(await page.$eval('#after-img', (img) => getComputedStyle(img).imageRendering)).toBe('auto');
    expect(await historyLength()).toBe(1);

    // α starts at the default strength, so choosing a target is enough for a preview.
    const alpha0 = Number(await page.inputValue('#alpha'));
    expect(alpha0).toBeCloseTo(info.defaults.alpha, 5);
    expect(alpha0).not.toBe(0);
    expect(await page.locator('#examples button').allTextContents()).toEqual(info.examples.map((e) => e.target));
    const grey = page.locator('#examples button', {hasText: /^a face with grey hair$/});
    if ((await grey.count()) === 1) {
      await grey.click();
    } else {
      await page.fill('#neutral', 'a face');
      await page.fill('#target', 'a face with grey hair');
    }
    expect(await page.inputValue('#target')).toBe('a face with grey hair');
    await page.waitForFunction((a) => document.getElementById('after-kind')!.textContent === `(preview α ${a.toFixed(1)})`, alpha0, {timeout: 60_000});
    expect(Number(await page.textContent('#channels'))).toBeGreaterThan(0);
    expect(await imageBytes(await afterSrc())).not.toEqual(await imageBytes(before!));

    // Drag-free slider move: click at 90 % of the α track (−10…10 → about +8, above the demo's default 6).
    const box = (await page.locator('#alpha').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.9, box.y + box.height / 2);
    const alpha = Number(await page.inputValue('#alpha'));
    expect(alpha).toBeGreaterThan(alpha0);
    await page.waitForFunction((a) => document.getElementById('after-kind')!.textContent === `(preview α ${a.toFixed(1)})`, alpha, {timeout: 60_000});
    await page.waitForFunction(() => (document.getElementById('after-img') as HTMLImageElement).complete);
    const channels = Number(await page.textContent('#channels'));
    expect(channels).toBeGreaterThan(0);
    const after = await afterSrc();
    expect(after).not.toBe(before);
    expect(await imageBytes(after)).not.toEqual(await imageBytes(before!));

    // The comparison frame shows the same two images; a click at 30 % of it moves the split there.
    expect(await page.getAttribute('#compare-before', 'src')).toBe(before);
    expect(await page.getAttribute('#compare-after', 'src')).toBe(after);
    const frame = (await page.locator('#compare-frame').boundingBox())!;
    await page.mouse.click(frame.x + frame.width * 0.3, frame.y + frame.height / 2);
    expect(Number(await page.inputValue('#compare'))).toBeCloseTo(30, -1);
    expect(await page.$eval('#compare-frame', (f) => getComputedStyle(f).getPropertyValue('--split').trim())).toBe(`${await page.inputValue('#compare')}%`);

    await page.waitForFunction(() => Array.from(document.querySelectorAll("img"), (i) => i.complete).every(Boolean));
    mkdirSync(ARTIFACTS, {recursive: true});
    await page.screenshot({path: SCREENSHOT, fullPage: true});
    console.log(`screenshot of the grey-hair edit (${models} models, α ${alpha}, ${channels} channels): ${path.relative(ROOT, SCREENSHOT)}`);
    await panelShot('#view', 'view-compare');
    await panelShot('#global-panel', 'global');

    const threshold = (await page.isChecked('#beta-auto')) ? {minChannels: Number(await page.inputValue('#min-channels'))} : {beta: Number(await page.inputValue('#beta'))};
    accepted = {neutral: await page.inputValue('#neutral'), target: 'a face with grey hair', alpha, ...threshold, image: after};
    await page.click('#accept');
    await page.waitForFunction(() => /^accepted/.test(document.getElementById('status')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.textContent('#latent-label')).toMatch(/^global 'a face' → 'a face with grey hair'/);
    // Ready for the next edit: α back at the default, the target cleared, the accepted image shown.
    expect(Number(await page.inputValue('#alpha'))).toBeCloseTo(info.defaults.alpha, 5);
    expect(await page.inputValue('#target')).toBe('');
    expect(await imageBytes(await afterSrc())).toEqual(await imageBytes(after));
    expect(await historyLength()).toBe(2);
    expect(await page.textContent('#history li[aria-current="step"]')).toMatch(/a face with grey hair/);
    expect(await page.isEnabled('#undo')).toBe(true);
    await panelShot('#history-panel', 'history');
  });

  it('a mapper after a global edit runs on the image before the edit and re-applies it; undo goes back', async () => {
    expect(await page.textContent('#mapper-note')).toMatch(/Mappers act on W\+ latents.*Apply runs the mapper on the image before it, then re-applies it/);
    expect(await page.isEnabled('#mapper-apply')).toBe(true);
    const names = await page.locator('#mapper-select option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const mapper = names.includes('glasses') ? 'glasses' : names[0]!;
    await page.selectOption('#mapper-select', mapper);
    await panelShot('#mapper-panel', 'mapper');
    const acceptedSrc = await afterSrc();

    await page.click('#mapper-apply');
    await page.waitForFunction(() => /^applied .* before its global edit/.test(document.getElementById('status')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await historyLength()).toBe(3);
    expect(await page.textContent('#latent-label')).toMatch(new RegExp(`^mapper ${mapper}.*then the global edit again$`));
    // The same as applying the mapper to the original image and then the accepted edit, through the API.
    const originId = (await page.getAttribute('#history li:first-child', 'data-latent-id'))!;
    const mapped = await apiJson<{latentId: string}>('/api/mapper/apply', {latentId: originId, mapper});
    const {image: _image, ...edit} = accepted;
    const expected = await apiJson<{image: string}>('/api/global/accept', {latentId: mapped.latentId, ...edit});
    expect(await imageBytes(await afterSrc())).toEqual(await imageBytes(expected.image));
    expect(await imageBytes(await afterSrc())).not.toEqual(await imageBytes(acceptedSrc));

    await page.click('#undo');
    expect(await historyLength()).toBe(2);
    expect(await afterSrc()).toBe(acceptedSrc);
  });

  it('an error shows next to the control that caused it', async () => {
    await page.fill('#seed', '-5');
    await page.click('#sample');
    await page.waitForFunction(() => /'seed' must be in/.test(document.getElementById('source-error')!.textContent ?? ''), undefined, {timeout: 30_000});
    expect(await page.getAttribute('#seed', 'aria-invalid')).toBe('true');
    expect(await page.textContent('#global-error')).toBe('');
    // The browser logs the refused request; that one is expected.
    expect(pageErrors.splice(0)).toEqual([expect.stringMatching(/status of 400 .*\/api\/sample\)$/)]);
    await panelShot('#source-panel', 'image');
    await page.fill('#seed', '1');
    await page.click('#sample');
    await page.waitForFunction(() => document.getElementById('source-error')!.textContent === '', undefined, {timeout: 60_000});
    expect(await page.getAttribute('#seed', 'aria-invalid')).toBeNull();
    expect(await historyLength()).toBe(1);
  });

  it('optimisation: progress and an intermediate image, cancel with a summary; a short run ends with a summary and joins the history', async () => {
    await page.fill('#opt-prompt', 'a face with grey hair');
    await page.fill('#opt-steps', '500');
    await page.click('#opt-start');
    // The first step includes compiling generator + CLIP + gradients (tens of seconds for the demo models on a busy CPU).
    await page.waitForFunction(() => /^step \d+\/500: loss /.test(document.getElementById('opt-status')!.textContent ?? ''), undefined, {timeout: 200_000});
    await page.waitForFunction(() => /^\(step \d+\)$/.test(document.getElementById('after-kind')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.isEnabled('#opt-cancel')).toBe(true);
    expect(await page.isDisabled('#opt-start')).toBe(true);
    await page.click('#opt-cancel');
    await page.waitForFunction(() => /^cancelled after \d+\/500 steps in [\d.]+ s; final loss [\d.]+ \(clip /.test(document.getElementById('opt-status')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.isEnabled('#opt-start')).toBe(true);
    expect(await historyLength()).toBe(1);

    await page.fill('#opt-steps', '4');
    await page.click('#opt-start');
    await page.waitForFunction(() => /^done: 4 steps in [\d.]+ s; final loss [\d.]+ \(clip [\d.]+, l2 [\d.]+(, id [\d.]+)?\)$/.test(document.getElementById('opt-status')!.textContent ?? ''), undefined, {timeout: 200_000});
    expect(await historyLength()).toBe(2);
    expect(await page.textContent('#latent-label')).toBe("optimize 'a face with grey hair' (4 steps)");
    await panelShot('#optimize-panel', 'optimize');
  }, 400_000);

  it('mapper training: a short run ends with a summary and the new mapper selected', async () => {
    await page.click('#train-details summary');
    await page.fill('#train-prompt', 'a face with purple hair');
    await page.fill('#train-steps', '3');
    await page.click('#train-start');
    await page.waitForFunction(() => /^mapper trained-1-a-face-with-purple-hair trained: 3 steps in [\d.]+ s; final loss [\d.]+ \(clip /.test(document.getElementById('train-status')!.textContent ?? ''), undefined, {timeout: 300_000});
    expect(await page.inputValue('#mapper-select')).toBe('trained-1-a-face-with-purple-hair');
    await panelShot('#mapper-panel', 'mapper-train');
    expect(pageErrors).toEqual([]);
  }, 400_000);

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

  it('a photo: a render has no human face (the error shows by the upload); as "already aligned" it is reconstructed (the demo encoder, else projection) and edited', async () => {
    if (!(await page.$('body[data-ready="true"]'))) {
      // This test run on its own (vitest -t).
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready="true"]', {timeout: 60_000});
    }
    // A render as `styleclip generate --seed 3` writes it.
    const file = path.join(tmp, 'render-seed3.png');
    writeFileSync(file, await encodePng((await generate(bundle.g, {seed: 3, truncation: bundle.g.latentAvg ? SAMPLE_TRUNCATION : 1})).image));
    // The demo models invert with the shipped demo encoder; the tiny fixture models have none and project.
    const encoder = bundle.encoder ?? null;
    expect(await page.textContent('#photo-method')).toMatch(encoder ? /^Photos are inverted with the encoder encoder\.safetensors / : /no encoder: photos are inverted by projection from the mean latent/);
    expect(await page.textContent('#photo-steps-name')).toBe(encoder ? 'Refine steps' : 'Projection steps');

    await page.setInputFiles('#photo-upload', file);
    await page.waitForFunction(() => /^no face found in 'render-seed3\.png'.*tick 'already aligned'$/.test(document.getElementById('photo-error')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await page.getAttribute('#photo-upload', 'aria-invalid')).toBe('true');
    expect(pageErrors.splice(0)).toEqual([expect.stringMatching(/status of 400 .*\/api\/photo\)$/)]);

    await page.check('#photo-aligned');
    expect(await page.isDisabled('#photo-face')).toBe(true);
    await page.fill('#photo-steps', encoder ? '0' : '20');
    await page.setInputFiles('#photo-upload', file);
    const done = encoder ? '\\. Reconstructed by the encoder encoder\\.safetensors in' : '\\. Reconstructed by projection from the mean latent, 20 steps in';
    await page.waitForFunction((d) => new RegExp(`${d} [\\d.]+ s; pixel error \\(MSE\\) [\\d.]+\\.$`).test(document.getElementById('photo-status')!.textContent ?? ''), done, {timeout: 120_000});
    expect(await page.textContent('#photo-error')).toBe('');
    expect(await page.getAttribute('#photo-upload', 'aria-invalid')).toBeNull();
    expect(await page.textContent('#photo-status')).toMatch(/^Used as it is \(already aligned\), \d+ px\. /);
    // The reconstruction is the new original: the history starts at it.
    const recon = (await page.getAttribute('#photo-recon', 'src'))!;
    expect(await page.getAttribute('#before-img', 'src')).toBe(recon);
    expect(await historyLength()).toBe(1);
    expect(await page.textContent('#latent-label')).toBe(encoder ? "photo 'render-seed3.png' (encoder.safetensors)" : "photo 'render-seed3.png' (projection, 20 steps)");
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#photo-panel img'), (i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0).every(Boolean));
    await panelShot('#photo-panel', 'photo');

    // A global edit of the reconstruction, accepted into its history.
    await page.fill('#neutral', 'a face');
    await page.fill('#target', 'a face with grey hair');
    await page.waitForFunction(() => /^\(preview α /.test(document.getElementById('after-kind')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await imageBytes(await afterSrc())).not.toEqual(await imageBytes(recon));
    await page.click('#accept');
    await page.waitForFunction(() => /^accepted/.test(document.getElementById('status')!.textContent ?? ''), undefined, {timeout: 60_000});
    expect(await historyLength()).toBe(2);
    expect(await page.getAttribute('#before-img', 'src')).toBe(recon);
    expect(pageErrors).toEqual([]);
  }, 120_000);
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
