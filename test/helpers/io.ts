/** Small checks shared by the io tests: named one-line errors and bit-identical tensors. */
import {expect} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {type HostTensor, hostDataBytes} from '../../src/io/host-tensor.js';

/** Run `f`, which must throw a StyleclipError with a one-line message, and return that error. */
export function styleclipErrorOf(f: () => unknown): StyleclipError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StyleclipError);
    expect((e as Error).message).not.toContain('\n');
    return e as StyleclipError;
  }
  throw new Error('expected a StyleclipError');
}

/** The one-line message of the StyleclipError that `f` must throw. */
export function errorOf(f: () => unknown): string {
  return styleclipErrorOf(f).message;
}

/**
 * Bit-identical check: both defined, same dtype, shape and data bytes. The safetensors fixtures store 0-dim scalars
 * with shape [1] (fixtures README), so `scalarAsOne` lets a [] tensor match a [1] one.
 */
export function expectSameTensor(a: HostTensor | undefined, b: HostTensor | undefined, what: string, scalarAsOne = false): void {
  expect(a, what).toBeDefined();
  expect(b, what).toBeDefined();
  expect(a!.dtype, what).toBe(b!.dtype);
  const norm = (s: number[]): number[] => (scalarAsOne && s.length === 0 ? [1] : s);
  expect(norm(a!.shape), what).toEqual(norm(b!.shape));
  expect(Buffer.from(hostDataBytes(a!.data)).equals(Buffer.from(hostDataBytes(b!.data))), `${what}: bytes differ`).toBe(true);
}
