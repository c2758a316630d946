/**
 * Shared access to the golden fixtures in ../shared/fixtures (relative to the repo root; see
 * /work/shared/fixtures/README.md). Tests run with cwd = repo root, but the path is resolved from this
 * file so it also works from other working directories.
 */
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import path from 'node:path';

/** Absolute path of the fixtures folder (…/shared/fixtures). */
export const FIXTURES: string = path.resolve(fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url)));

/** Absolute path of one fixture file. */
export function fixturePath(name: string): string {
  return path.join(FIXTURES, name);
}

/** The bytes of one fixture file (a fresh Uint8Array; callers may mutate it). */
export function fixtureBytes(name: string): Uint8Array {
  const buf = readFileSync(fixturePath(name));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A fixture JSON manifest, parsed. */
export function fixtureJson<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as T;
}
