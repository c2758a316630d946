/** Shared CLI plumbing: strict option parsing, output writing and the one-line error handler. */
import path from 'node:path';
import {InvalidArgumentError} from 'commander';
import {StyleclipError} from '../errors.js';
import {writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {serializeNpy} from '../io/npy.js';
import {serializeSafetensors} from '../io/safetensors.js';

export function parseIntStrict(name: string, {min = -Infinity} = {}) {
  return (v: string): number => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer, got '${v}'`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function parseFloatStrict(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a finite number, got '${v}'`);
    return n;
  };
}

export function parseChoice<T extends string>(name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** Write one tensor as .npy, or several as .safetensors, chosen by the file extension. */
export function writeTensorFile(file: string, tensors: Map<string, HostTensor>, what: string): void {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') {
    if (tensors.size !== 1) throw new StyleclipError(`${what} '${file}': .npy holds one tensor; use .safetensors for ${tensors.size}`);
    writeFileAtomic(file, serializeNpy([...tensors.values()][0]!), what);
  } else if (ext === '.safetensors') {
    writeFileAtomic(file, serializeSafetensors(tensors), what);
  } else {
    throw new StyleclipError(`${what} '${file}' must end in .npy or .safetensors`);
  }
}

/** Print a user error as one line and exit non-zero; anything unexpected also gets one line (stack with STYLECLIP_DEBUG=1). */
export function reportError(err: unknown): never {
  if (process.env.STYLECLIP_DEBUG) console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = err instanceof StyleclipError ? 'error' : 'internal error';
  process.stderr.write(`${prefix}: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}
