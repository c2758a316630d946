/**
 * Child-process probe for the loader limits: loads each file given on the command line (a .pkl through the pickle
 * VM, anything else as a latent through the format sniffer), and prints one JSON line per file with the time taken
 * and the error (name and message), then one line with the process's peak resident set size. Run as
 * `node --import tsx test/helpers/load-probe.ts FILE…` so the peak belongs to the loads alone.
 */
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {unpickle} from '../../src/io/pickle.js';
import {loadLatent} from '../../src/io/weights.js';

for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(readFileSync(file));
  const what = path.basename(file);
  const t0 = performance.now();
  let error: {name: string; message: string} | null = null;
  try {
    if (file.endsWith('.pkl')) unpickle(bytes, {what});
    else loadLatent(bytes, {what});
  } catch (e) {
    error = {name: (e as Error).name, message: (e as Error).message};
  }
  console.log(JSON.stringify({file: what, bytes: bytes.byteLength, ms: performance.now() - t0, error}));
}
console.log(JSON.stringify({maxRssBytes: process.resourceUsage().maxRSS * 1024}));
