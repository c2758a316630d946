/**
 * `styleclip tokenize` through the real CLI entry point: ids match the CLIP fixture as text lines and as JSON, and
 * bad input (too long with --no-truncate, invalid UTF-8 in --file, nothing to do) is a one-line named error.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {expectOneLineError, runCli} from '../helpers/cli.js';
import {fixtureJson} from '../helpers/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-tokenize-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const {cases} = fixtureJson<{cases: {text: string; ids: number[]; untruncated_length: number}[]}>('clip_tokenizer_cases.json');
const idsOf = (text: string) => cases.find((c) => c.text === text)!.ids;
const TEXTS = ['a face with grey hair', 'cafÃ© crÃ¨me'];

describe('styleclip tokenize', () => {
  it('prints one line of 77 ids per text, truncating a too-long one with EOT last', async () => {
    const long = cases.find((c) => c.untruncated_length === 78)!;
    const r = await runCli('tokenize', ...TEXTS, long.text);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ').map(Number))).toEqual([...TEXTS.map(idsOf), long.ids]);
  });

  it('prints a JSON array of id arrays with --json, texts from --file after the arguments', async () => {
    const file = path.join(tmp, 'prompts.txt');
    writeFileSync(file, 'Emma Stone\r\n\nblond hair\n');
    const r = await runCli('tokenize', '--json', ...TEXTS, '--file', file);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([...TEXTS.map(idsOf), idsOf('Emma Stone'), idsOf(''), idsOf('blond hair')]);
  });

  it('gives one-line errors: too long with --no-truncate, invalid UTF-8 in --file, nothing to do', async () => {
    const long = cases.find((c) => c.untruncated_length === 78)!;
    const file = path.join(tmp, 'bad.txt');
    writeFileSync(file, Buffer.from([0x6f, 0x6b, 0x0a, 0x61, 0xff, 0x62, 0x0a]));
    const [tooLong, badUtf8, empty] = await Promise.all([runCli('tokenize', '--no-truncate', long.text), runCli('tokenize', '--file', file), runCli('tokenize')]);
    expectOneLineError(tooLong, /is 78 tokens with SOT\/EOT, more than the context length 77/, {emptyStdout: true});
    expectOneLineError(badUtf8, /bad\.txt' line 2: text is not valid UTF-8 \(byte 0xff at offset 1/, {emptyStdout: true});
    expectOneLineError(empty, /nothing to tokenize/, {emptyStdout: true});
  });

  it('documents itself with examples', async () => {
    const r = await runCli('tokenize', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--no-truncate/);
    expect(r.stdout).toMatch(/Examples:\n {2}styleclip tokenize "a face with grey hair"/);
  });
});
