/**
 * `npm run bench -- [suite…] [--threads N] [--json FILE]`: run benchmark suites (default: all).
 * Suites: generator, clip, mapper, step, global, inversion, jobs.
 */
import {writeFileSync} from 'node:fs';
import {configureEngine} from '../src/engine/session.js';
import type {BenchResult} from './common.js';
import {benchClip} from './clip.js';
import {benchGenerator} from './generator.js';
import {benchGlobal} from './global.js';
import {benchInversion} from './inversion.js';
import {benchJobs} from './jobs.js';
import {benchMapper} from './mapper.js';
import {benchStep} from './step.js';

const SUITES: Record<string, () => Promise<BenchResult[]>> = {
  generator: () => benchGenerator(),
  clip: () => benchClip(),
  mapper: () => benchMapper(),
  step: () => benchStep(),
  global: () => benchGlobal(),
  inversion: () => benchInversion(),
  jobs: () => benchJobs(),
};

const args = process.argv.slice(2);
let threads = 2;
let jsonOut: string | null = null;
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--threads') threads = Number(args[++i]);
  else if (a === '--json') jsonOut = args[++i] ?? null;
  else if (a === '--steps' || a === '--reps' || a === '--assets') i++; // read by the suites that take them (common.ts flag)
  else names.push(a);
}
for (const n of names) {
  if (!(n in SUITES)) {
    console.error(`error: unknown benchmark suite '${n}' (suites: ${Object.keys(SUITES).join(', ')})`);
    process.exit(1);
  }
}
// The PyTorch baseline ran with 2 threads; match it unless told otherwise.
configureEngine({threads});
const all: BenchResult[] = [];
for (const n of names.length ? names : Object.keys(SUITES)) all.push(...(await SUITES[n]!()));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({threads, node: process.version, results: all}, null, 2));
