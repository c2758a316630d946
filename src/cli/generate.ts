/** `styleclip generate`: images from a StyleGAN2 checkpoint, from a seed, z, W/W+ or S. */
import type {Command} from 'commander';
import {StyleclipError, check} from '../errors.js';
import {type LatentSpace, generate} from '../models/generate.js';
import {stylesFromTensors, stylesToTensors} from '../models/stylespace.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {encodePng} from '../io/image.js';
import {loadLatent} from '../io/weights.js';
import {parseSafetensors} from '../io/safetensors.js';
import type {NoiseMode} from '../models/stylegan2.js';
import {addGeneratorOption, loadGeneratorFromFlags} from './load-models.js';
import {SAMPLE_TRUNCATION} from '../edit/truncation.js';
import {allowNonfiniteOption, checkFiniteImage, parseChoice, parseFloatStrict, parseIntStrict, sampleTruncation} from './options.js';
import {writeTensorFile} from './tensor-files.js';

interface GenerateFlags {
  generator?: string;
  seed?: number;
  z?: string;
  latent?: string;
  space: 'w' | 'w+' | 's';
  truncation?: number;
  truncationCutoff?: number;
  noise: NoiseMode;
  noiseSeed: number;
  batch: number;
  out: string;
  saveLatent?: string;
  saveRaw?: string;
  saveStyles?: string;
  json?: boolean;
  allowNonfinite?: boolean;
}

export function registerGenerate(program: Command): void {
  const cmd = program.command('generate').description('generate images with a StyleGAN2 generator');
  addGeneratorOption(cmd)
    .option('--seed <n>', 'sample z ~ N(0, I) from this seed (default 0)', parseIntStrict('--seed', {min: 0}))
    .option('--z <file>', 'z latents: float32 [N, style_dim] (.npy, .safetensors or .pt)')
    .option('--latent <file>', 'W/W+ latent (.npy, .safetensors, .pt) or, with --space s, a .safetensors of s_00, s_01, …')
    .option('--space <space>', 'space of --latent: w [N, D], w+ [N, n_latent, D] or s', parseChoice('--space', ['w', 'w+', 's'] as const), 'w+')
    .option(
      '--truncation <psi>',
      `truncation ψ around latent_avg: of --seed and --z (default: ${SAMPLE_TRUNCATION}, as the edit commands; 1 for a generator without latent_avg) and of a W --latent (default: 1, as given)`,
      parseFloatStrict('--truncation'),
    )
    .option('--truncation-cutoff <n>', 'truncate only the first n W+ rows (StyleGAN2-ADA truncation_cutoff; default: all)', parseIntStrict('--truncation-cutoff', {min: 0}))
    .option('--noise <mode>', 'noise: const (checkpoint buffers), random (seeded) or zero', parseChoice('--noise', ['const', 'random', 'zero'] as const), 'const')
    .option('--noise-seed <n>', 'seed for --noise random', parseIntStrict('--noise-seed', {min: 0}), 0)
    .option('--batch <n>', 'number of images when sampling from --seed', parseIntStrict('--batch', {min: 1}), 1)
    .requiredOption('--out <file.png>', 'output PNG; a batch of N > 1 becomes one grid of ⌈√N⌉ columns in batch order')
    .option('--save-latent <file>', 'write the W+ latent used, [N, n_latent, D] (.npy or .safetensors)')
    .option('--save-raw <file.safetensors>', "write the raw float32 image as tensor 'image' [N, 3, H, W], unclamped")
    .option('--save-styles <file.safetensors>', 'write the StyleSpace vectors s_00, s_01, … of the images (input for --space s and the edit commands)')
    .option('--json', 'print a JSON summary instead of text')
    .addOption(allowNonfiniteOption())
    .addHelpText(
      'after',
      `
Examples:
  styleclip generate --seed 7 --out demo.png                     (the shipped demo generator)
  styleclip generate --generator stylegan2-ffhq-config-f.pt --seed 42 --truncation 0.5 --out face.png
  styleclip generate --generator ffhq.pt --seed 1 --batch 4 --out grid.png --save-latent w.npy
  styleclip generate --generator ffhq.pt --latent w.npy --space w+ --out again.png
  styleclip generate --generator ffhq.pkl --seed 3 --truncation 0.7 --truncation-cutoff 8 --out face.png    (NVIDIA StyleGAN2-ADA)
  styleclip generate --generator cond.pkl --class 4 --seed 1 --out class4.png                           (a conditional one)
  styleclip generate --generator ffhq.pt --latent styles.safetensors --space s --out edited.png`,
    )
    .action(async (flags: GenerateFlags) => {
      await runGenerate(flags);
    });
}

async function runGenerate(flags: GenerateFlags): Promise<void> {
  const sources = [flags.seed !== undefined, flags.z !== undefined, flags.latent !== undefined].filter(Boolean).length;
  check(sources <= 1, 'give only one of --seed, --z and --latent');
  check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  if (flags.saveRaw) check(flags.saveRaw.toLowerCase().endsWith('.safetensors'), `--save-raw must be a .safetensors file, got '${flags.saveRaw}'`);
  if (flags.saveStyles) check(flags.saveStyles.toLowerCase().endsWith('.safetensors'), `--save-styles must be a .safetensors file, got '${flags.saveStyles}'`);
  const t0 = performance.now();
  const g = loadGeneratorFromFlags(flags);
  let latent: HostTensor | HostTensor[] | undefined;
  let space: LatentSpace = 'z';
  if (flags.z) {
    latent = loadLatentArg(flags.z, '--z');
    space = 'z';
  } else if (flags.latent) {
    space = flags.space;
    if (space === 's') {
      const bytes = readBytes(flags.latent, 'S latent file');
      latent = stylesFromTensors(g, parseSafetensors(bytes, {what: `S latent file '${flags.latent}'`}).tensors, `S latent file '${flags.latent}'`);
    } else {
      latent = loadLatentArg(flags.latent, '--latent');
    }
  }
  const res = await generate(g, {
    ...(latent ? {latent, space} : {seed: flags.seed ?? 0, batch: flags.batch}),
    // A face sampled from a seed or z gets the edit commands' ψ; a given W is used as it is unless --truncation says otherwise.
    truncation: space === 'z' ? sampleTruncation(g, flags.truncation) : (flags.truncation ?? 1),
    ...(flags.truncationCutoff !== undefined ? {truncationCutoff: flags.truncationCutoff} : {}),
    noise: flags.noise,
    noiseSeed: flags.noiseSeed,
    returnStyles: flags.saveStyles !== undefined,
  });
  checkFiniteImage(res.image, flags.allowNonfinite);
  writeFileAtomic(flags.out, await encodePng(res.image), 'output image');
  if (flags.saveLatent) {
    if (!res.wPlus) throw new StyleclipError('--save-latent writes W+, which an S input does not have');
    writeTensorFile(flags.saveLatent, new Map([['w_plus', res.wPlus]]), 'latent output');
  }
  if (flags.saveRaw) writeTensorFile(flags.saveRaw, new Map([['image', res.image]]), 'raw image output');
  if (flags.saveStyles) writeTensorFile(flags.saveStyles, stylesToTensors(res.styles!), 'StyleSpace output');
  const summary = {
    out: flags.out,
    images: res.image.shape[0],
    size: g.config.size,
    space,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    ...(flags.saveLatent ? {latent: flags.saveLatent} : {}),
    ...(flags.saveRaw ? {raw: flags.saveRaw} : {}),
    ...(flags.saveStyles ? {styles: flags.saveStyles} : {}),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out} (${summary.images} image${summary.images > 1 ? 's' : ''}, ${g.config.size}px) in ${summary.seconds}s`);
}

function loadLatentArg(file: string, flag: string): HostTensor {
  const t = loadLatent(readBytes(file, `${flag} file`), {what: `${flag} file '${file}'`});
  if (t.dtype !== 'float32') {
    throw new StyleclipError(`${flag} file '${file}' holds ${t.dtype} data; latents must be float32`);
  }
  return t;
}
