/** `styleclip invert`: a photo (aligned first) or an aligned face → W+ with an e4e / pSp encoder, optionally refined. */
import path from 'node:path';
import type {Command} from 'commander';
import {alignFace} from '../align/align-face.js';
import {decodePhoto} from '../align/photo.js';
import {invert} from '../edit/invert.js';
import {PROJECT_DEFAULTS} from '../edit/project-defaults.js';
import {StyleclipError, check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {encodePng} from '../io/image.js';
import {loadEncoder} from '../models/encoder/load.js';
import {loadFaceRecognitionNet} from '../models/identity/face-api.js';
import {loadGenerator} from '../models/load-generator.js';
import {parseIntStrict} from './options.js';
import {createProgress} from './progress.js';
import {writeTensorFile} from './tensor-files.js';

interface InvertFlags {
  image?: string;
  photo?: string;
  encoder?: string;
  generator?: string;
  refine: number;
  saveLatent: string;
  out?: string;
  json?: boolean;
}

export function registerInvert(program: Command): void {
  program
    .command('invert')
    .description('invert a face photo into the generator\'s W+ with an e4e encoder, so that it can be edited')
    .option('--image <aligned.png>', 'an already aligned face (resized to the encoder input)')
    .option('--photo <file>', 'a photo: its largest face is aligned first (see styleclip align)')
    .option('--encoder <ckpt>', 'e4e / pSp checkpoint (e4e_ffhq_encode.pt layout); default: the demo encoder')
    .option('--generator <ckpt>', "StyleGAN2 checkpoint to decode with; default: the encoder checkpoint's decoder")
    .option('--refine <steps>', `refine the inversion by this many projection steps (pixel + face-api identity loss; default 0, ${PROJECT_DEFAULTS.steps} is a good start)`, parseIntStrict('--refine', {min: 0}), 0)
    .requiredOption('--save-latent <W.npy>', 'write W+ [1, n_latent, style_dim] float32 (.npy or .safetensors), usable as --latent of every edit command')
    .option('--out <recon.png>', 'also write the reconstruction')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Examples:
  styleclip invert --encoder e4e_ffhq_encode.pt --photo me.jpg --save-latent me.npy --out me-recon.png
  styleclip global edit --generator ffhq.pt --clip ViT-B-32.pt --relevance ffhq-relevance.safetensors --latent me.npy --neutral "a face" --target "a smiling face" --out smile.png`,
    )
    .action(async (flags: InvertFlags) => runInvert(flags));
}

async function runInvert(flags: InvertFlags): Promise<void> {
  check((flags.image === undefined) !== (flags.photo === undefined), 'give exactly one of --image (an aligned face) and --photo (a photo to align first)');
  if (flags.out) check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  const ext = path.extname(flags.saveLatent).toLowerCase();
  check(ext === '.npy' || ext === '.safetensors', `--save-latent must end in .npy or .safetensors, got '${flags.saveLatent}'`);
  if (!flags.encoder) throw new StyleclipError('the demo encoder is not trained yet: pass --encoder with an e4e checkpoint (e.g. e4e_ffhq_encode.pt)');
  const t0 = performance.now();
  const {encoder, decoder} = loadEncoder(flags.encoder);
  const g = flags.generator ? loadGenerator(flags.generator) : decoder;
  if (!g) throw new StyleclipError(`encoder checkpoint '${flags.encoder}' holds no decoder; pass --generator`);
  const source = (flags.image ?? flags.photo)!;
  const bytes = readBytes(source, flags.image ? 'aligned image' : 'photo');
  const aligned = flags.image ? await decodePhoto(bytes, `'${source}'`) : (await alignFace(bytes, {what: `'${source}'`, size: encoder.config.inputSize})).image;
  const bar = flags.refine > 0 ? createProgress('refine', flags.refine, {quiet: flags.json === true}) : null;
  const r = await invert(encoder, g, aligned, {
    refine: flags.refine,
    ...(flags.refine > 0 ? {perceptual: loadFaceRecognitionNet()} : {}),
    onStep: (s) => bar?.update(s.step + 1, {loss: s.loss, pixel: s.pixel, id: s.perceptual, lr: s.lr}),
  });
  bar?.stop();
  writeTensorFile(flags.saveLatent, new Map([['w_plus', r.wPlus]]), 'latent output');
  if (flags.out) writeFileAtomic(flags.out, await encodePng(r.image), 'reconstruction');
  const summary = {
    latent: path.normalize(flags.saveLatent),
    shape: r.wPlus.shape,
    ...(flags.out ? {out: flags.out} : {}),
    refine: flags.refine,
    ...(r.history.length ? {pixelLoss: {first: r.history[0]!.pixel, last: r.history.at(-1)!.pixel}} : {}),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.saveLatent} (W+ [${r.wPlus.shape.join(', ')}])${flags.out ? ` and ${flags.out}` : ''} in ${summary.seconds}s`);
}
