/**
 * Node-only file access for the byte parsers in this folder (parsers take bytes; this is the thin
 * wrapper that turns paths into bytes at the edge, with named errors for the usual file problems).
 */
import {appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync} from 'node:fs';
import path from 'node:path';
import {StyleclipError} from '../errors.js';
import type {HostTensor} from './host-tensor.js';
import {loadLatent, loadWeights, type LoadedWeights, type LoadLatentOptions, type LoadWeightsOptions} from './weights.js';

function fsError(err: unknown, file: string, what: string, verb: string): StyleclipError {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return new StyleclipError(`${what} '${file}' does not exist`);
    case 'EISDIR':
      return new StyleclipError(`${what} '${file}' is a directory, not a file`);
    case 'EACCES':
    case 'EPERM':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': permission denied`);
    case 'ENOTDIR':
      return new StyleclipError(`${what} '${file}': a parent of it is not a directory`);
    default:
      return new StyleclipError(`cannot ${verb} ${what} '${file}': ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Read a whole file as bytes; `what` names it in errors ("weights file", "latent file", …). */
export function readBytes(file: string, what = 'file'): Uint8Array {
  let isDir = false;
  try {
    isDir = statSync(file).isDirectory();
  } catch (err) {
    throw fsError(err, file, what, 'read');
  }
  if (isDir) throw new StyleclipError(`${what} '${file}' is a directory, not a file`);
  try {
    const buf = readFileSync(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw fsError(err, file, what, 'read');
  }
}

/**
 * The named error of a failed write, create or remove of `file`: a missing or non-directory parent, no
 * permission, a read-only file system, a full disk.
 */
function writeError(err: unknown, file: string, what: string, verb = 'write'): StyleclipError {
  const dir = path.dirname(file);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': directory '${dir}' does not exist`);
    case 'ENOTDIR':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': a parent of it is not a directory`);
    case 'EACCES':
    case 'EPERM':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': permission denied (is '${dir}' writable?)`);
    case 'EROFS':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': '${dir}' is on a read-only file system`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new StyleclipError(`cannot ${verb} ${what} '${file}': no space left on the device`);
    default:
      return fsError(err, file, what, verb);
  }
}

/**
 * Fail early, with a named error, when `file` could not be written (its directory missing, not a directory,
 * read-only or not writable): creates and removes an empty temporary file beside it. Long commands call it before
 * they start working.
 */
export function checkWritable(file: string, what = 'output file'): void {
  const tmp = tempName(file);
  try {
    closeSync(openSync(tmp, 'wx'));
    unlinkSync(tmp);
  } catch (err) {
    throw writeError(err, file, what);
  }
}

/** Create a directory (and its parents) with a named error. */
export function makeDir(dir: string, what = 'directory'): void {
  try {
    mkdirSync(dir, {recursive: true});
  } catch (err) {
    throw writeError(err, dir, what, 'create');
  }
}

/** Remove a directory and what it holds (nothing when it does not exist), with a named error. */
export function removeDir(dir: string, what = 'directory'): void {
  try {
    rmSync(dir, {recursive: true, force: true});
  } catch (err) {
    throw writeError(err, dir, what, 'remove');
  }
}

/** Temporary files of writeFileAtomic: `.<name>.tmp-<pid>-<random>` beside the target. */
const TEMP_RE = /^\.(.+)\.tmp-(\d+)-[a-z0-9]+$/;

function tempName(file: string): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/** Whether process `pid` is alive (a temporary file of a live process is still being written). */
function alive(pid: number): boolean {
  if (pid === process.pid) return false; // writes here are synchronous: no temporary file of ours is in flight
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporary files a killed writer left in `dir` (all of them, or those of the file named `base`);
 * files of writers still running are kept. Returns the removed names. Missing or unreadable directories are
 * skipped: this is housekeeping, the write that follows reports real problems.
 */
export function removeStaleTemps(dir: string, base?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || (base !== undefined && m[1] !== base) || alive(Number(m[2]))) continue;
    try {
      unlinkSync(path.join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/**
 * Write a file so that readers never see it half-written: write a temporary file in the same directory
 * (`.<name>.tmp-<pid>-<random>`), flush it, then rename it over the target (rename is atomic within a file
 * system). Temporary files of this target that a killed writer left behind are removed first.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array, what = 'output file'): void {
  removeStaleTemps(path.dirname(path.resolve(file)), path.basename(file));
  const tmp = tempName(file);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file may not exist
    }
    throw writeError(err, file, what);
  }
}

/** Append text to a file (created when missing) and flush it to disk: for append-only journals. */
export function appendDurable(file: string, text: string, what = 'journal'): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'a');
    appendFileSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    throw writeError(err, file, what);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Read a weight file of any supported format (sniffed by content) and find its state dict. */
export function loadWeightsFile(file: string, opts: Omit<LoadWeightsOptions, 'what'> = {}): LoadedWeights {
  const bytes = readBytes(file, 'weights file');
  const arrayName = opts.arrayName ?? path.basename(file).replace(/\.[^.]*$/, '');
  return loadWeights(bytes, {...opts, arrayName, what: `weights file '${file}'`});
}

/** Read a latent (W, W+ or S) from .npy, safetensors (single or named tensor) or a .pt holding a tensor. */
export function loadLatentFile(file: string, opts: Omit<LoadLatentOptions, 'what'> = {}): HostTensor {
  return loadLatent(readBytes(file, 'latent file'), {...opts, what: `latent file '${file}'`});
}
