#!/usr/bin/env node
/** The `styleclip` command line: one subcommand per file in this folder; no math here. */
import {Command, CommanderError, InvalidArgumentError} from 'commander';
import {configureEngine} from '../engine/session.js';
import {registerAlign} from './align.js';
import {registerDemo} from './demo.js';
import {registerEmbed} from './embed.js';
import {registerGenerate} from './generate.js';
import {registerGlobal} from './global.js';
import {registerInvert} from './invert.js';
import {registerMapper} from './mapper.js';
import {registerModels} from './models.js';
import {registerTokenize} from './tokenize.js';
import {registerOptimize} from './optimize.js';
import {registerServe} from './serve.js';
import {StyleclipError} from '../errors.js';
import {parseIntStrict} from './options.js';

const program = new Command('styleclip')
  .description('StyleCLIP: text-driven editing of StyleGAN2 images with CLIP, on ONNX Runtime')
  .version('0.1.0')
  .option('--threads <n>', 'CPU threads for ONNX Runtime (default: all cores)', parseIntStrict('--threads', {min: 1}))
  .option('--ep <providers>', 'ONNX Runtime execution providers in order of preference, e.g. cuda,cpu (CUDA needs the provider installed; see README)', parseProviders)
  .exitOverride();

// Output piped into a reader that closes early (`styleclip models | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

program.hook('preAction', (cmd) => {
  const {threads, ep} = cmd.opts() as {threads?: number; ep?: string[]};
  if (threads) configureEngine({threads});
  if (ep) configureEngine({executionProviders: ep});
});

/** `--ep cuda,cpu` → ['cuda', 'cpu']; only the providers onnxruntime-node knows. */
function parseProviders(value: string): string[] {
  const known = ['cpu', 'cuda', 'tensorrt', 'dml', 'coreml', 'webgpu'];
  const list = value.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
  const bad = list.find((p) => !known.includes(p));
  if (list.length === 0 || bad !== undefined) throw new InvalidArgumentError(`--ep takes a comma-separated list of ${known.join(', ')}; got '${value}'`);
  return list;
}

registerGenerate(program);
registerGlobal(program);
registerTokenize(program);
registerOptimize(program);
registerEmbed(program);
registerMapper(program);
registerDemo(program);
registerServe(program);
registerModels(program);
registerAlign(program);
registerInvert(program);

/** Print a user error as one line and exit non-zero; anything unexpected also gets one line (stack with STYLECLIP_DEBUG=1). */
function reportError(err: unknown): never {
  if (process.env.STYLECLIP_DEBUG) console.error(err);
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = err instanceof StyleclipError ? 'error' : 'internal error';
  process.stderr.write(`${prefix}: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  reportError(err);
}
