/** `styleclip serve` (the web app on any models) and bare `styleclip demo` (the web app on the shipped demo models). */
import type {Command} from 'commander';
import {demoAssetPath} from '../demo/assets.js';
import {StyleclipError, check} from '../errors.js';
import {type BundleFiles, demoBundleFiles, loadBundle} from '../server/bundle.js';
import {isLoopback, startServer} from '../server/serve.js';
import {addModelOptions, type ModelFlags} from './load-models.js';
import {parseIntStrict} from './options.js';

interface ServeFlags extends ModelFlags {
  port: number;
  host: string;
  relevance?: string;
  fs3?: string;
  sMeanStd?: string;
  mappers?: string;
  encoder?: string;
}

function addServerOptions(cmd: Command): Command {
  return cmd
    .option('--port <n>', 'TCP port (0 = any free port)', parseIntStrict('--port', {min: 0}), 8787)
    .option('--host <address>', 'interface to listen on; the default serves this machine only', '127.0.0.1');
}

export function registerServe(program: Command): void {
  addServerOptions(addModelOptions(program.command('serve').description('start the web app: global directions, optimisation and mappers in the browser')))
    .option('--relevance <file>', 'global-direction relevance file from `global prepare` (default: the demo one when the demo generator is used)')
    .option('--fs3 <fs3.npy>', "official StyleCLIP fs3.npy (with --s-mean-std) instead of --relevance")
    .option('--s-mean-std <file>', "official StyleCLIP S_mean_std pickle, beside --fs3")
    .option('--mappers <dir>', 'directory of trained mappers (.safetensors/.pt) to offer (default: assets/demo/mappers with the demo generator)')
    .option('--encoder <ckpt>', "e4e / pSp checkpoint for photos (its decoder must be the served generator); without it photos are inverted by projection")
    .addHelpText(
      'after',
      `
Examples:
  styleclip serve                       # the demo models, http://127.0.0.1:8787/
  styleclip serve --port 9000 --generator ffhq.pt --clip ViT-B-32.pt --relevance ffhq-relevance.safetensors
  styleclip serve --generator ffhq.pt --clip ViT-B-32.pt --relevance ffhq-relevance.safetensors --encoder e4e_ffhq_encode.pt`,
    )
    .action(async (flags: ServeFlags) => {
      checkServerFlags(flags);
      check((flags.fs3 === undefined) === (flags.sMeanStd === undefined), '--fs3 and --s-mean-std go together');
      check(flags.fs3 === undefined || flags.relevance === undefined, 'give either --relevance or --fs3 with --s-mean-std, not both');
      const demo = flags.generator === undefined;
      const files: BundleFiles = demo
        ? demoBundleFiles(pick(flags))
        : {generator: flags.generator!, clip: flags.clip ?? demoAssetPath('clip'), ...pick(flags)};
      await run(files, flags);
    });

  const demo = program.commands.find((c) => c.name() === 'demo');
  if (!demo) throw new Error('internal: register the demo command before serve');
  addServerOptions(demo)
    .addHelpText('after', '\nWithout a command, `styleclip demo` starts the web app on the demo models and prints its URL (as `styleclip serve`).')
    .action(async (flags: {port: number; host: string}) => {
      checkServerFlags(flags);
      await run(demoBundleFiles(), flags);
    });
}

function pick(flags: ServeFlags): Partial<BundleFiles> {
  return {
    ...(flags.clip ? {clip: flags.clip} : {}),
    ...(flags.clipConfig ? {clipConfig: flags.clipConfig} : {}),
    ...(flags.relevance ? {relevance: flags.relevance} : {}),
    ...(flags.fs3 && flags.sMeanStd ? {official: {fs3: flags.fs3, meanStd: flags.sMeanStd}} : {}),
    ...(flags.class !== undefined ? {classIndex: flags.class} : {}),
    ...(flags.mappers ? {mappers: flags.mappers} : {}),
    ...(flags.encoder ? {encoder: flags.encoder} : {}),
  };
}

function checkServerFlags(flags: {port: number; host: string}): void {
  check(flags.port <= 65535, `--port must be ≤ 65535, got ${flags.port}`);
  check(flags.host.trim() !== '', '--host is empty');
}

async function run(files: BundleFiles, flags: {port: number; host: string}): Promise<void> {
  const bundle = await loadBundle(files, (msg) => process.stderr.write(`warning: ${msg}\n`));
  let server;
  try {
    server = await startServer(bundle, {port: flags.port, host: flags.host});
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StyleclipError(`port ${flags.port} is in use; pick another with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new StyleclipError(`cannot listen on '${flags.host}': no such local address`);
    if (code === 'EACCES') throw new StyleclipError(`no permission to listen on port ${flags.port}`);
    throw e;
  }
  if (!isLoopback(flags.host)) process.stderr.write(`warning: listening on ${flags.host}: anyone who can reach this machine can use the app\n`);
  const extras = [
    bundle.relevance ? 'global directions' : 'no relevance file (global directions off)',
    `${bundle.mappers.size} mapper${bundle.mappers.size === 1 ? '' : 's'}`,
    bundle.encoder ? `photos: encoder ${bundle.encoder.name}` : 'photos: projection (no encoder)',
  ];
  console.log(`styleclip web app (${bundle.name}, ${bundle.g.config.size}px; ${extras.join(', ')}): ${server.url}`);
  console.log('press Ctrl+C to stop');
  await new Promise<void>((resolve) => {
    const stop = () => void server.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
