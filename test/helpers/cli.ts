/**
 * Running the real CLI entry point (`node --import tsx src/cli/main.ts …`) from tests, and the shared check that a
 * failure is one named line on stderr.
 */
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {promisify} from 'node:util';
import {expect} from 'vitest';

const execFileP = promisify(execFile);

/** The repository root: the default working directory of the CLI. */
export const ROOT: string = path.resolve(import.meta.dirname, '../..');

/** What one CLI run gave: its exit code and everything it printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Environment of the child; default: this process's, with STYLECLIP_DEBUG cleared so errors stay one line. */
  env?: NodeJS.ProcessEnv;
  /** Working directory; default: the repository root. */
  cwd?: string;
  /** Kill the child after this many ms (a command that should fail but would serve forever). */
  timeoutMs?: number;
}

/** Run `styleclip …args` with options; a non-zero exit is a result, not a throw. */
export async function runCliWith(options: CliOptions, ...args: string[]): Promise<CliResult> {
  const env = options.env ?? {...process.env, STYLECLIP_DEBUG: ''};
  try {
    const r = await execFileP(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {cwd: options.cwd ?? ROOT, env, ...(options.timeoutMs ? {timeout: options.timeoutMs} : {})});
    return {code: 0, stdout: r.stdout, stderr: r.stderr};
  } catch (e) {
    const err = e as {code: number; stdout: string; stderr: string};
    return {code: err.code, stdout: err.stdout, stderr: err.stderr};
  }
}

/** Run `styleclip …args` from the repository root with STYLECLIP_DEBUG cleared. */
export function runCli(...args: string[]): Promise<CliResult> {
  return runCliWith({}, ...args);
}

export interface OneLineErrorOptions {
  /** An output path that must not exist afterwards. */
  noFile?: string;
  /** Also require that nothing was printed on stdout. */
  emptyStdout?: boolean;
}

/** The CLI failed (non-zero exit) with exactly one line on stderr, `error: …`, that matches `pattern`. */
export function expectOneLineError(r: CliResult, pattern: RegExp, options: OneLineErrorOptions = {}): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  if (options.emptyStdout) expect(r.stdout).toBe('');
  if (options.noFile) expect(existsSync(options.noFile)).toBe(false);
}
