/**
 * Benchmark plumbing: burn-in, then the median of timed runs, printed beside the PyTorch CPU baseline
 * (../shared/fixtures/pytorch_cpu_baseline.json, 2 threads) and the tuned-malloc PyTorch figures from
 * pytorch_cpu_baseline.md. Ratios < 1 mean faster than PyTorch.
 */
import {existsSync, readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {DEMO_FILES, type DemoAsset, demoMapperDir} from '../src/demo/assets.js';
import {StyleclipError} from '../src/errors.js';

export interface BenchResult {
  name: string;
  medianS: number;
  minS: number;
  runs: number[];
  baselineS: number | null;
  tunedS: number | null;
}

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/fixtures');

interface BaselineEntry {
  name: string;
  threads: number;
  median_s: number;
}

let baseline: BaselineEntry[] | null = null;
export function baselineSeconds(name: string, threads = 2): number | null {
  if (!baseline) {
    try {
      baseline = (JSON.parse(readFileSync(path.join(FIXTURES, 'pytorch_cpu_baseline.json'), 'utf8')) as {results: BaselineEntry[]}).results;
    } catch {
      baseline = [];
    }
  }
  return baseline.find((b) => b.name === name && b.threads === threads)?.median_s ?? null;
}

/** Tuned-malloc PyTorch (pytorch_cpu_baseline.md, "Tuned PyTorch"): the upper end of each reported range. */
export const TUNED_S: Record<string, number> = {
  stylegan2_256_fwd: 0.67,
  stylegan2_256_fwdbwd: 2.76,
  stylegan2_1024_fwd: 1.91,
  stylegan2_1024_fwdbwd: 8.65,
  styleclip_step_256: 3.07,
};

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run `fn` `warmup` times untimed, then `reps` times timed. */
export async function timeIt(name: string, fn: () => Promise<unknown>, {warmup = 1, reps = 5} = {}): Promise<BenchResult> {
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    runs.push((performance.now() - t) / 1000);
  }
  return report(name, runs);
}

/** The result of timed runs (seconds), printed as a row. */
export function report(name: string, runs: number[]): BenchResult {
  const res = {name, medianS: median(runs), minS: Math.min(...runs), runs, baselineS: baselineSeconds(name), tunedS: TUNED_S[name] ?? null};
  printRow(res);
  return res;
}

export function printHeader(title: string): void {
  console.log(`\n${title} — ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, node ${process.version}`);
  console.log(['item'.padEnd(36), 'median s', '   min s', 'PyTorch s', 'ratio', 'tuned s', 'ratio'].join('  '));
}

function printRow(r: BenchResult): void {
  const f = (x: number | null, w = 8) => (x === null ? '—'.padStart(w) : x.toFixed(3).padStart(w));
  const ratio = (b: number | null) => (b === null ? '    —' : (r.medianS / b).toFixed(2).padStart(5));
  console.log([r.name.padEnd(36), f(r.medianS), f(r.minS), f(r.baselineS, 9), ratio(r.baselineS), f(r.tunedS, 7), ratio(r.tunedS)].join('  '));
}

/** `--name VALUE` from the command line, or `dflt` when absent. */
export function flag(name: string, dflt: string, args: readonly string[] = process.argv.slice(2)): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

/**
 * The demo models a benchmark measures: the folder of `--assets DIR` (default: the shipped assets/demo), each file
 * overridable by its own flag where the benchmark offers one (`--generator FILE`, …).
 */
export class DemoAssetDir {
  readonly dir: string;
  private readonly args: readonly string[];
  constructor(args: readonly string[] = process.argv.slice(2)) {
    this.args = args;
    this.dir = path.resolve(flag('assets', path.resolve(demoMapperDir(), '..'), args));
  }

  /** The file of `name` (or the `--<flagName>` override); a named error when it does not exist. */
  file(name: DemoAsset, flagName?: string): string {
    const f = this.optional(name, flagName);
    if (!f) throw new StyleclipError(`${path.join(this.dir, DEMO_FILES[name])}: missing (--assets ${this.dir} has no ${name})`);
    return f;
  }

  /** The file of `name` (or the `--<flagName>` override), or null when it does not exist. */
  optional(name: DemoAsset, flagName?: string): string | null {
    const f = flagName ? flag(flagName, '', this.args) || path.join(this.dir, DEMO_FILES[name]) : path.join(this.dir, DEMO_FILES[name]);
    return existsSync(f) ? f : null;
  }

  /** The folder of the mappers (one `<slug>.safetensors` per prompt). */
  get mapperDir(): string {
    return path.join(this.dir, 'mappers');
  }
}
