/**
 * Writing files: temporary files named `.NAME.tmp-<pid>-<rand>`, left behind by a writer killed with SIGKILL and
 * removed by the next write of the same file (or removeStaleTemps); named one-line errors for output folders that
 * are missing, not folders, or not writable.
 */
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {checkWritable, makeDir, removeStaleTemps, writeFileAtomic} from '../../src/io/files.js';
import {errorOf} from '../helpers/io.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'styleclip-write-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

const TEMP = /^\.(.+)\.tmp-(\d+)-[a-z0-9]+$/;
const temps = (d: string) => readdirSync(d).filter((f) => TEMP.test(f)).sort();

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'});
  return Number(r.stdout);
}

describe('temporary files', () => {
  it('a writer killed with SIGKILL leaves a recognisable temporary file; the next write of that file removes it', async () => {
    const d = mkdtempSync(path.join(dir, 'kill-'));
    const target = path.join(d, 'ckpt.safetensors');
    // A child that rewrites a 32 MB file atomically in a loop, until killed mid-write.
    const script = `import {writeFileAtomic} from ${JSON.stringify(path.join(ROOT, 'src/io/files.ts'))};
      const bytes = new Uint8Array(32 * 2 ** 20).fill(7);
      for (;;) writeFileAtomic(${JSON.stringify(target)}, bytes, 'checkpoint');`;
    // Killed while a temporary file exists (retried in the rare case the rename wins the race with the kill).
    let child: ReturnType<typeof spawn> | undefined;
    for (let attempt = 0; attempt < 5 && temps(d).length === 0; attempt++) {
      child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, stdio: 'ignore'});
      const t0 = Date.now();
      while (temps(d).length === 0 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 1));
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    const left = temps(d);
    expect(left).toHaveLength(1);
    expect(TEMP.exec(left[0]!)![1]).toBe('ckpt.safetensors');
    expect(Number(TEMP.exec(left[0]!)![2])).toBe(child!.pid);
    // The target, when there, is whole: a reader never sees a half-written file.
    if (existsSync(target)) expect(statSync(target).size).toBe(32 * 2 ** 20);
    writeFileAtomic(target, Uint8Array.from([1, 2, 3]), 'checkpoint');
    expect(temps(d)).toEqual([]);
    expect([...readFileSync(target)]).toEqual([1, 2, 3]);
  }, 60_000);

  it("removeStaleTemps removes dead writers' files (of one target, or all) and keeps live writers' and other files", () => {
    const d = mkdtempSync(path.join(dir, 'stale-'));
    const dead = deadPid();
    const live = process.ppid; // the test runner's parent: alive
    for (const f of [`.a.bin.tmp-${dead}-x1`, `.a.bin.tmp-${live}-x2`, `.b.bin.tmp-${dead}-x3`, '.a.bin.tmp-notapid', 'a.bin', '.a.bin.12.tmp']) writeFileSync(path.join(d, f), 'x');
    expect(removeStaleTemps(d, 'a.bin')).toEqual([`.a.bin.tmp-${dead}-x1`]);
    expect(removeStaleTemps(d)).toEqual([`.b.bin.tmp-${dead}-x3`]);
    expect(readdirSync(d).sort()).toEqual([`.a.bin.tmp-${live}-x2`, '.a.bin.12.tmp', '.a.bin.tmp-notapid', 'a.bin'].sort());
    expect(removeStaleTemps(path.join(d, 'missing'))).toEqual([]);
  });
});

describe('unwritable output folders are named errors', () => {
  it('missing folder, a file as the folder, and (where there is one) a folder nobody may write', () => {
    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'x');
    for (const f of [(p: string) => writeFileAtomic(p, Uint8Array.from([1]), 'relevance file'), (p: string) => checkWritable(p, 'relevance file')]) {
      expect(errorOf(() => f(path.join(dir, 'no/such/dir/out.safetensors')))).toBe(`cannot write relevance file '${path.join(dir, 'no/such/dir/out.safetensors')}': directory '${path.join(dir, 'no/such/dir')}' does not exist`);
      expect(errorOf(() => f(path.join(file, 'out.safetensors')))).toMatch(/^cannot write relevance file '.*': a parent of it is not a directory$/);
    }
    expect(errorOf(() => makeDir(path.join(file, 'parts'), 'prepare journal'))).toMatch(/^cannot create prepare journal '.*parts': a parent of it is not a directory$/);
    // sysfs refuses new files even to root (EACCES / EPERM).
    if (existsSync('/sys/kernel')) {
      expect(errorOf(() => writeFileAtomic('/sys/out.safetensors', Uint8Array.from([1]), 'relevance file'))).toBe("cannot write relevance file '/sys/out.safetensors': permission denied (is '/sys' writable?)");
      expect(errorOf(() => makeDir('/sys/out.safetensors.parts', 'prepare journal'))).toMatch(/^cannot create prepare journal '\/sys\/out\.safetensors\.parts': permission denied/);
    }
  });
});
