#!/usr/bin/env node
/** The `styleclip` command line: one subcommand per file in this folder; no math here. */
import {Command, CommanderError} from 'commander';
import {configureEngine} from '../engine/session.js';
import {registerDemo} from './demo.js';
import {registerEmbed} from './embed.js';
import {registerGenerate} from './generate.js';
import {registerGlobal} from './global.js';
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
  .exitOverride();

// Output piped into a reader that closes early (`styleclip models | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

program.hook('preAction', (cmd) => {
  const threads = cmd.opts().threads as number | undefined;
  if (threads) configureEngine({threads});
});

registerGenerate(program);
registerGlobal(program);
registerTokenize(program);
registerOptimize(program);
registerEmbed(program);
registerMapper(program);
registerDemo(program);
registerServe(program);
registerModels(program);

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
