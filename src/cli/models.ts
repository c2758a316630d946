/**
 * `styleclip models`: the known public checkpoints (name, kind, size, sha256, URL) and how to use them;
 * `styleclip models fetch NAME`: download one, verified against its published sha256, only when asked.
 * Nothing in styleclip downloads weights implicitly; this file is the only place that touches the network.
 */
import {createHash} from 'node:crypto';
import {createReadStream, existsSync, statSync, unlinkSync} from 'node:fs';
import {open, rename} from 'node:fs/promises';
import path from 'node:path';
import type {Command} from 'commander';
import {StyleclipError} from '../errors.js';
import {type ModelEntry, describeSize, findModel, formatBytes, loadCatalogue} from './catalogue.js';
import {createProgress} from './progress.js';

interface ListFlags {
  json?: boolean;
}

interface FetchFlags {
  dir: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('list the known public checkpoints (name, URL, sha256, size) and how to use them; fetch one on request')
    .addHelpText(
      'after',
      `
Nothing is downloaded unless you run 'styleclip models fetch NAME'. Examples:
  styleclip models                  (same as 'styleclip models list')
  styleclip models --json
  styleclip models fetch clip-vit-b-32 --dir weights/`,
    );
  // 'list' is the default subcommand, so '--json' after 'models' or after 'fetch NAME' reaches the right command.
  models
    .command('list', {isDefault: true})
    .description('list the known checkpoints: name, kind, size, sha256, URL, and the flag that uses each')
    .option('--json', 'print the catalogue as JSON')
    .argument('[extra...]')
    .action((extra: string[], flags: ListFlags) => {
      if (extra.length) throw new StyleclipError(`unknown 'models' subcommand '${extra[0]}'; use 'styleclip models' (list) or 'styleclip models fetch NAME'`);
      runList(flags);
    });
  models
    .command('fetch')
    .description('download one checkpoint and verify its sha256 (only entries with a published sha256)')
    .argument('<name>', "model name from 'styleclip models'")
    .option('--dir <dir>', 'directory to save into (must exist)', '.')
    .option('--force', 'download again even if the file is already there')
    .option('--quiet', 'no progress output')
    .option('--json', 'print a JSON summary instead of text')
    .action(async (name: string, flags: FetchFlags) => {
      await runFetch(name, flags);
    });
}

function runList(flags: ListFlags): void {
  const entries = loadCatalogue();
  if (flags.json) {
    console.log(JSON.stringify({models: entries}, null, 2));
    return;
  }
  const rows = [['NAME', 'KIND', 'SIZE', 'SHA256', 'URL'], ...entries.map((e) => [e.name, e.kind, describeSize(e), e.sha256 ? e.sha256.slice(0, 12) : 'unpublished', e.url])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
  console.log('\nHow to use:');
  for (const e of entries) {
    console.log(`  ${e.name}: ${e.usage}`);
    console.log(`      ${e.description}`);
    if (e.edit) {
      const k = e.edit.domain === 'faces' ? 'faces' : 'not faces';
      console.log(`      global edit: --min-channels ${e.edit.minChannels} (auto β; ${k}) --alpha ${e.edit.alpha}`);
    }
    if (e.sizeNote) console.log(`      size: ${e.sizeNote}`);
    for (const n of e.notes) console.log(`      - ${n}`);
    console.log(`      fetch: ${e.sha256 ? `styleclip models fetch ${e.name}` : 'not available (no published sha256); download it yourself from the URL above'}`);
  }
  console.log("\nNothing is downloaded at run time; 'styleclip models fetch NAME' downloads one entry with sha256 verification.");
}

/** sha256 of a file on disk, streamed. */
async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function networkReason(err: unknown): string {
  const e = err as {cause?: {code?: string; message?: string}; message?: string};
  const c = e.cause;
  return (c?.code ?? c?.message ?? e.message ?? String(err)).split('\n')[0]!;
}

async function runFetch(name: string, flags: FetchFlags): Promise<void> {
  const entry = findModel(name, loadCatalogue());
  if (!entry.sha256) {
    throw new StyleclipError(
      `'${entry.name}' has no published sha256, so styleclip will not download it unverified; download ${entry.url} yourself, save it as ${entry.file}, and use ${entry.usage}`,
    );
  }
  let isDir = false;
  try {
    isDir = statSync(flags.dir).isDirectory();
  } catch {
    throw new StyleclipError(`--dir '${flags.dir}' does not exist`);
  }
  if (!isDir) throw new StyleclipError(`--dir '${flags.dir}' is not a directory`);
  const target = path.join(flags.dir, entry.file);

  if (existsSync(target) && !flags.force) {
    const have = await sha256File(target);
    if (have !== entry.sha256) {
      throw new StyleclipError(`'${target}' already exists but its sha256 ${have} does not match ${entry.sha256}; use --force to download it again`);
    }
    report(flags, entry, target, 'present', statSync(target).size, 0);
    return;
  }
  const t0 = performance.now();
  const bytes = await download(entry, target, flags);
  report(flags, entry, target, 'downloaded', bytes, (performance.now() - t0) / 1000);
}

function report(flags: FetchFlags, entry: ModelEntry, file: string, status: 'present' | 'downloaded', bytes: number, seconds: number): void {
  if (flags.json) {
    console.log(JSON.stringify({name: entry.name, file, status, bytes, sha256: entry.sha256, verified: true, seconds: Number(seconds.toFixed(3)), usage: entry.usage}));
  } else if (status === 'present') {
    console.log(`${file} is already present and its sha256 matches; use it with ${entry.usage}`);
  } else {
    console.log(`downloaded ${file} (${formatBytes(bytes)}, sha256 verified) in ${seconds.toFixed(1)}s; use it with ${entry.usage}`);
  }
}

/**
 * Stream `entry.url` into a temporary file next to `target`, hashing as it arrives; rename it over `target` only
 * when the sha256 matches. Any failure (network, HTTP status, hash mismatch, Ctrl-C) removes the temporary file.
 */
async function download(entry: ModelEntry, target: string, flags: FetchFlags): Promise<number> {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${entry.file}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.part`);
  const cleanup = () => {
    try {
      unlinkSync(tmp);
    } catch {
      // not created yet, or already renamed
    }
  };
  const onSignal = () => {
    cleanup();
    process.stderr.write(`\ninterrupted: removed the partial download of ${entry.file}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let res: Response;
    try {
      res = await fetch(entry.url, {redirect: 'follow'});
    } catch (err) {
      throw new StyleclipError(`cannot download ${entry.name} from ${entry.url}: ${networkReason(err)}`);
    }
    if (!res.ok || !res.body) {
      throw new StyleclipError(`cannot download ${entry.name}: the server answered HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''} for ${entry.url}`);
    }
    // Content-Length counts encoded bytes; fetch decodes, so only trust it for identity-encoded bodies.
    const lengthHeader = res.headers.get('content-encoding') ? NaN : Number(res.headers.get('content-length') ?? NaN);
    const expected = Number.isSafeInteger(lengthHeader) && lengthHeader > 0 ? lengthHeader : entry.bytes;
    if (entry.bytes !== null && expected !== null && expected !== entry.bytes) {
      throw new StyleclipError(`cannot download ${entry.name}: the server announces ${expected} bytes but the catalogue expects ${entry.bytes}`);
    }
    const MB = 1e6;
    const progress = createProgress(`${entry.file} (MB)`, expected ? Math.max(1, Math.ceil(expected / MB)) : 1, {quiet: flags.quiet ?? false});
    const hash = createHash('sha256');
    let received = 0;
    const fh = await open(tmp, 'wx');
    try {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          let off = 0;
          while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
          received += chunk.byteLength;
          const mb = expected ? Math.min(Math.floor(received / MB), Math.ceil(expected / MB)) : 0;
          progress.update(mb, {received: formatBytes(received)});
        }
      } catch (err) {
        if (err instanceof StyleclipError) throw err;
        throw new StyleclipError(`download of ${entry.name} broke off after ${formatBytes(received)}: ${networkReason(err)}`);
      }
      await fh.sync();
      progress.update(expected ? Math.ceil(expected / MB) : 1, {received: formatBytes(received)});
    } finally {
      await fh.close();
      progress.stop();
    }
    const got = hash.digest('hex');
    if (got !== entry.sha256) {
      const size = entry.bytes !== null && received !== entry.bytes ? ` (${received} bytes, expected ${entry.bytes})` : '';
      throw new StyleclipError(`sha256 mismatch for ${entry.file}: expected ${entry.sha256}, got ${got}${size}; the download was deleted`);
    }
    await rename(tmp, target);
    return received;
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
