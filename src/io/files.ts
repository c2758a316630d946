/**
 * Node-only file access for the byte parsers in this folder (parsers take bytes; this is the thin
 * wrapper that turns paths into bytes at the edge, with named errors for the usual file problems).
 */
import {closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync} from 'node:fs';
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
 * Write a file so that readers never see it half-written: write a temporary file in the same directory, flush
 * it, then rename it over the target (rename is atomic within a file system).
 */
export function writeFileAtomic(file: string, bytes: Uint8Array, what = 'output file'): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
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
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StyleclipError(`cannot write ${what} '${file}': directory '${path.dirname(file)}' does not exist`);
    throw fsError(err, file, what, 'write');
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
