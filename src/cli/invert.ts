/** `styleclip invert`: a photo (aligned first) or an aligned face → W+ with an e4e / pSp encoder, optionally refined. */
import path from 'node:path';
import type {Command} from 'commander';
import {alignFace} from '../align/align-face.js';
import {decodePhoto} from '../align/photo.js';
import {demoAssetPath, demoEncoderFile} from '../demo/assets.js';
import {EncoderMismatchError, checkDecoderMatches, invert} from '../edit/invert.js';
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
    .option('--encoder <ckpt>', 'e4e / pSp checkpoint (e4e_ffhq_encode.pt layout); default: the demo encoder (assets/demo/encoder.safetensors, for the demo generator)')
    .option('--generator <ckpt>', "StyleGAN2 checkpoint to decode with; default: the encoder checkpoint's decoder (with the demo encoder: the demo generator)")
    .option('--refine <steps>', `refine the inversion by this many projection steps (pixel + face-api identity loss; default 0, ${PROJECT_DEFAULTS.steps} is a good start)`, parseIntStrict('--refine', {min: 0}), 0)
    .requiredOption('--save-latent <W.npy>', 'write W+ [1, n_latent, style_dim] float32 (.npy or .safetensors), usable as --latent of every edit command')
    .option('--out <recon.png>', 'also write the reconstruction')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Examples:
  styleclip invert --image cartoon.png --save-latent face.npy --out face-recon.png      # the demo encoder
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
  const t0 = performance.now();
  const demo = flags.encoder === undefined ? demoEncoderFile() : null;
  if (demo && !demo.exists) {
    throw new StyleclipError(`no --encoder given and the demo encoder is missing (${demo.path}): pass --encoder with an e4e checkpoint (e.g. e4e_ffhq_encode.pt), or train the demo encoder with 'npm run train:demo -- --only encoder'`);
  }
  const encoderFile = flags.encoder ?? demo!.path;
  const {encoder, decoder} = loadEncoder(encoderFile);
  let g = flags.generator ? loadGenerator(flags.generator) : decoder;
  if (!g) throw new StyleclipError(`encoder checkpoint '${encoderFile}' holds no decoder; pass --generator`);
  if (demo) {
    // The demo encoder inverts into the generator it was trained for: the demo generator (or --generator), which
    // its decoder must be; a demo generator replaced since is a named error rather than a silent wrong inversion.
    if (!flags.generator) g = loadGenerator(demoAssetPath('generator'));
    if (!decoder) throw new StyleclipError(`the demo encoder '${demo.path}' holds no decoder`);
    try {
      await checkDecoderMatches(decoder, g, `the demo encoder '${demo.path}'`);
    } catch (e) {
      if (e instanceof EncoderMismatchError && !flags.generator) throw new EncoderMismatchError(`${e.message.replace(/; use the encoder trained for this generator$/, '')}; the demo generator changed since the demo encoder was trained: retrain it with 'npm run train:demo -- --force encoder'`);
      throw e;
    }
  }
  const source = (flags.image ?? flags.photo)!;
  const bytes = readBytes(source, flags.image ? 'aligned image' : 'photo');
  const aligned = flags.image ? await decodePhoto(bytes, `'${source}'`) : (await alignFace(bytes, {what: `'${source}'`, size: encoder.config.inputSize})).image;
  const bar = flags.refine > 0 ? createProgress('refine', flags.refine, {quiet: flags.json === true}) : null;
  const r = await invert(encoder, g, aligned, {
    refine: flags.refine,
    // Cartoon faces are outside the face-recognition net's domain: the demo encoder refines with the pixel loss alone.
    ...(flags.refine > 0 && !demo ? {perceptual: loadFaceRecognitionNet()} : {}),
    onStep: (s) => bar?.update(s.step + 1, {loss: s.loss, pixel: s.pixel, id: s.perceptual, lr: s.lr}),
  });
  bar?.stop();
  writeTensorFile(flags.saveLatent, new Map([['w_plus', r.wPlus]]), 'latent output');
  if (flags.out) writeFileAtomic(flags.out, await encodePng(r.image), 'reconstruction');
  const summary = {
    encoder: demo ? 'demo' : encoderFile,
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
