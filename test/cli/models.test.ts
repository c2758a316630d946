/**
 * `styleclip models` and `styleclip models fetch` through the real CLI entry point. Downloads are tested against
 * an HTTP server on 127.0.0.1 started here, with the catalogue replaced through the test-only
 * STYLECLIP_CATALOGUE_OVERRIDE file; nothing leaves the machine.
 */
import {execFile} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {MODEL_CATALOGUE, type ModelEntry} from '../../src/cli/catalogue.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-models-'));

// 1.5 MB of deterministic bytes, so the progress path sees more than one MB.
const PAYLOAD = new Uint8Array(1_500_000).map((_, i) => (i * 2654435761) >>> 24);
const SHA = createHash('sha256').update(PAYLOAD).digest('hex');

let server: http.Server;
let override = '';

async function cli(args: string[], env: Record<string, string> = {}): Promise<{code: number; stdout: string; stderr: string}> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      env: {...process.env, STYLECLIP_DEBUG: '', ...env},
    });
    return {code: 0, stdout: r.stdout, stderr: r.stderr};
  } catch (e) {
    const err = e as {code: number; stdout: string; stderr: string};
    return {code: err.code, stdout: err.stdout, stderr: err.stderr};
  }
}

const fetchCli = (args: string[]) => cli(['models', 'fetch', ...args], {STYLECLIP_CATALOGUE_OVERRIDE: override});

function expectOneLineError(r: {code: number; stderr: string}, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
}

function freshDir(name: string): string {
  const d = path.join(tmp, name);
  mkdirSync(d);
  return d;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/weights.bin') {
      res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': PAYLOAD.byteLength});
      res.end(PAYLOAD);
    } else {
      res.writeHead(500, 'Internal Server Error');
      res.end('boom');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that refuses connections: bind one, note it, close it.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  const entry = (name: string, url: string, sha256: string | null, bytes: number | null = PAYLOAD.byteLength): ModelEntry => ({
    name,
    kind: 'clip',
    description: `test entry ${name}`,
    url,
    sha256,
    bytes,
    file: `${name}.pt`,
    usage: `--clip ${name}.pt`,
    notes: [],
    source: 'test',
  });
  override = path.join(tmp, 'catalogue.json');
  writeFileSync(
    override,
    JSON.stringify([
      entry('good', `${base}/weights.bin`, SHA),
      entry('wrong-hash', `${base}/weights.bin`, 'f'.repeat(64), null),
      entry('server-error', `${base}/error`, SHA),
      entry('refused', `http://127.0.0.1:${closedPort}/weights.bin`, SHA),
      entry('no-hash', `${base}/weights.bin`, null),
    ]),
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, {recursive: true, force: true});
});

describe('styleclip models', () => {
  it('--json lists every catalogue entry with all its fields; the table names them all', async () => {
    const [json, text] = await Promise.all([cli(['models', '--json']), cli(['models'])]);
    expect(json.code, json.stderr).toBe(0);
    const listed = (JSON.parse(json.stdout) as {models: ModelEntry[]}).models;
    expect(listed).toEqual(MODEL_CATALOGUE);
    expect(text.code, text.stderr).toBe(0);
    for (const e of MODEL_CATALOGUE) {
      expect(text.stdout).toContain(e.name);
      expect(text.stdout).toContain(e.url);
      expect(text.stdout).toContain(e.usage);
    }
    expect(text.stdout).toMatch(/Nothing is downloaded at run time/);
    expect(text.stdout).toMatch(/ir-se50 +identity +unknown +unpublished/);
  });
});

describe('styleclip models fetch', () => {
  it('downloads, verifies and renames atomically; a second run finds the file; --force downloads again', async () => {
    const dir = freshDir('good');
    const r = await fetchCli(['good', '--dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as {status: string; bytes: number; sha256: string; verified: boolean; file: string};
    expect(summary).toMatchObject({status: 'downloaded', bytes: PAYLOAD.byteLength, sha256: SHA, verified: true, file: path.join(dir, 'good.pt')});
    expect(new Uint8Array(readFileSync(path.join(dir, 'good.pt')))).toEqual(PAYLOAD);
    expect(readdirSync(dir)).toEqual(['good.pt']);
    // Without a TTY the progress is plain lines on stderr, the last one at the end.
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^good\.pt \(MB\) 2\/2  received 1\.50 MB  elapsed \d+\.\ds  eta 0\.0s$/);

    const again = await fetchCli(['good', '--dir', dir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({status: 'present'});

    writeFileSync(path.join(dir, 'good.pt'), 'corrupted');
    const stale = await fetchCli(['good', '--dir', dir]);
    expectOneLineError(stale, /already exists but its sha256 [0-9a-f]{64} does not match [0-9a-f]{64}; use --force/);
    const forced = await fetchCli(['good', '--dir', dir, '--force', '--quiet']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/downloaded .*good\.pt \(1\.50 MB, sha256 verified\)/);
    expect(forced.stderr).toBe('');
    expect(new Uint8Array(readFileSync(path.join(dir, 'good.pt')))).toEqual(PAYLOAD);
    expect(readdirSync(dir)).toEqual(['good.pt']);
  });

  it('refuses a download whose sha256 does not match and leaves no file behind', async () => {
    const dir = freshDir('wrong-hash');
    const r = await fetchCli(['wrong-hash', '--dir', dir, '--quiet']);
    expectOneLineError(r, new RegExp(`sha256 mismatch for wrong-hash\\.pt: expected f{64}, got ${SHA}; the download was deleted`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives one-line errors for an HTTP error, a refused connection, an unknown name and an entry without a hash', async () => {
    const dir = freshDir('errors');
    const [status, refused, unknown, noHash] = await Promise.all([
      fetchCli(['server-error', '--dir', dir]),
      fetchCli(['refused', '--dir', dir]),
      fetchCli(['nope', '--dir', dir]),
      fetchCli(['no-hash', '--dir', dir]),
    ]);
    expectOneLineError(status, /cannot download server-error: the server answered HTTP 500 Internal Server Error for http:\/\/127\.0\.0\.1:\d+\/error/);
    expectOneLineError(refused, /cannot download refused from http:\/\/127\.0\.0\.1:\d+\/weights\.bin: ECONNREFUSED/);
    expectOneLineError(unknown, /unknown model 'nope'; known models: good, wrong-hash, server-error, refused, no-hash/);
    expectOneLineError(noHash, /'no-hash' has no published sha256, so styleclip will not download it unverified; download .* yourself, save it as no-hash\.pt, and use --clip no-hash\.pt/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses the real Google Drive entries (no published sha256) and a missing --dir, without touching the network', async () => {
    const [drive, noDir] = await Promise.all([
      cli(['models', 'fetch', 'stylegan2-ffhq-config-f', '--dir', tmp]),
      cli(['models', 'fetch', 'clip-vit-b-32', '--dir', path.join(tmp, 'missing')]),
    ]);
    expectOneLineError(drive, /'stylegan2-ffhq-config-f' has no published sha256.*--generator stylegan2-ffhq-config-f\.pt/);
    expectOneLineError(noDir, /--dir '.*missing' does not exist/);
    expect(existsSync(path.join(tmp, 'stylegan2-ffhq-config-f.pt'))).toBe(false);
  });
});
