/** `styleclip optimize`: StyleCLIP latent optimisation from a text prompt. */
import path from 'node:path';
import type {Command} from 'commander';
import {check} from '../errors.js';
import {type OptimizeOptions, optimizeLatent} from '../edit/optimize.js';
import {DEMO_OPTIMIZE_DEFAULTS, OPTIMIZE_DEFAULTS as D} from '../edit/optimize-defaults.js';
import {checkWritable, writeFileAtomic} from '../io/files.js';
import {encodePng} from '../io/image.js';
import {readBytes} from '../io/files.js';
import {loadLatent} from '../io/weights.js';
import {encodeTexts} from '../models/clip/encode.js';
import {stylesToTensors} from '../models/stylespace.js';
import {addIdentityOption, addModelOptions, idLossFromFlags, loadIdentity, loadModelsFromFlags, type ModelFlags} from './load-models.js';
import {createProgress} from './progress.js';
import {allowNonfiniteOption, checkFiniteImage, parseChoice, parseFloatStrict, parseIntStrict, sampleTruncation, truncationOption} from './options.js';
import {writeTensorFile} from './tensor-files.js';

interface OptimizeFlags extends ModelFlags {
  prompt: string;
  latent?: string;
  seed?: number;
  mode: 'edit' | 'free_generation';
  space: 'w+' | 's';
  steps: number;
  lr: number;
  lambdaL2: number;
  lambdaId?: number;
  identity?: string;
  truncation?: number;
  clipInput: 'normalized' | 'legacy';
  optimizer: 'adam' | 'sgd';
  lrSchedule: 'rampdown' | 'constant';
  saveEvery?: number;
  out: string;
  saveLatent?: string;
  json?: boolean;
  allowNonfinite?: boolean;
}

export function registerOptimize(program: Command): void {
  const cmd = program.command('optimize').description('edit (or generate) an image by optimising its latent against a text prompt');
  addIdentityOption(addModelOptions(cmd))
    .requiredOption('--prompt <text>', 'the text the image should match, e.g. "a face with grey hair"')
    .option('--latent <file>', 'start from this W+ latent [N, n_latent, D] (.npy, .safetensors, .pt); N latents are optimised together')
    .option('--seed <n>', 'otherwise start from z sampled with this seed (default 0) at --truncation', parseIntStrict('--seed', {min: 0}))
    .option('--mode <mode>', 'edit (CLIP + L2 + ID) or free_generation (CLIP only, from the mean latent)', parseChoice('--mode', ['edit', 'free_generation'] as const), D.mode)
    .option('--space <space>', 'optimise W+ or S (StyleSpace without ToRGB layers)', parseChoice('--space', ['w+', 's'] as const), D.space)
    .option('--steps <n>', 'optimisation steps', parseIntStrict('--steps', {min: 1}), D.steps)
    .option('--lr <lr>', 'learning rate', parseFloatStrict('--lr'), D.lr)
    .option('--lambda-l2 <x>', 'weight of Σ(w − w_s)²', parseFloatStrict('--lambda-l2'), D.lambdaL2)
    .option('--lambda-id <x>', `weight of the identity loss (default ${D.lambdaId} with --identity; ${DEMO_OPTIMIZE_DEFAULTS.lambdaId} on the demo generator, with the demo identity network; 0 turns it off)`, parseFloatStrict('--lambda-id'))
    .addOption(truncationOption('the start latent sampled from --seed'))
    .option('--clip-input <mode>', "normalized (CLIP's mean/std) or legacy (raw [-1, 1] as the official code)", parseChoice('--clip-input', ['normalized', 'legacy'] as const), D.clipInput)
    .option('--optimizer <kind>', 'adam or sgd', parseChoice('--optimizer', ['adam', 'sgd'] as const), D.optimizer)
    .option(
      '--lr-schedule <kind>',
      `rampdown (official: linear ramp-up over the first ${D.lrRampUp * 100} % of steps, cosine ramp-down over the last ${D.lrRampDown * 100} %) or constant`,
      parseChoice('--lr-schedule', ['rampdown', 'constant'] as const),
      D.lrSchedule,
    )
    .option('--save-every <n>', 'also write an intermediate image OUT-stepNNNNN.png every N steps (default, or 0: only the final image)', parseIntStrict('--save-every', {min: 0}))
    .requiredOption('--out <file.png>', 'the edited image (a grid for N > 1)')
    .option('--save-latent <file>', 'write the final latent: W+ (.npy/.safetensors), or S as .safetensors s_00, s_01, … with --space s')
    .option('--json', 'print a JSON summary')
    .addOption(allowNonfiniteOption())
    .addHelpText(
      'after',
      `
Examples:
  styleclip optimize --generator ffhq.pt --clip ViT-B-32.pt --prompt "a face with grey hair" --seed 1 --out grey.png
  styleclip optimize --generator ffhq.pt --clip ViT-B-32.pt --prompt "a smiling face" --latent w.npy --steps 100 --out smile.png --save-latent smile.npy
  styleclip optimize --generator ffhq.pt --clip ViT-B-32.pt --prompt "a man with a beard" --space s --out beard.png
  styleclip optimize --generator ffhq.pt --clip ViT-B-32.pt --identity model_ir_se50.pth --prompt "a face with blue eyes" --seed 3 --out eyes.png`,
    )
    .action(async (flags: OptimizeFlags) => runOptimize(flags));
}

async function runOptimize(flags: OptimizeFlags): Promise<void> {
  check(flags.prompt.trim() !== '', '--prompt is empty');
  check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  checkWritable(flags.out, 'output image');
  check(!(flags.latent && flags.seed !== undefined), 'give only one of --latent and --seed');
  if (flags.saveLatent && flags.space === 's') check(flags.saveLatent.endsWith('.safetensors'), '--save-latent with --space s writes S layers: use a .safetensors file');
  const t0 = performance.now();
  const {g, clip, tokenizer} = loadModelsFromFlags(flags);
  const text = await encodeTexts(clip, tokenizer, [flags.prompt]);
  // The demo generator optimises with the demo identity network by default (DEMO_OPTIMIZE_DEFAULTS).
  const {lambdaId, spec: identitySpec} = idLossFromFlags(flags, {withIdentity: D.lambdaId, onDemo: DEMO_OPTIMIZE_DEFAULTS.lambdaId});
  const identity = identitySpec ? loadIdentity(identitySpec) : null;
  const opts: OptimizeOptions = {
    text,
    mode: flags.mode,
    space: flags.space,
    steps: flags.steps,
    lr: flags.lr,
    lambdaL2: flags.lambdaL2,
    lambdaId,
    identity,
    truncation: sampleTruncation(g, flags.truncation),
    clipInput: flags.clipInput,
    optimizer: flags.optimizer,
    lrSchedule: flags.lrSchedule,
    saveEvery: flags.saveEvery ?? 0,
  };
  if (flags.latent) {
    const t = loadLatent(readBytes(flags.latent, 'latent file'), {what: `latent file '${flags.latent}'`});
    check(t.dtype === 'float32', `latent file '${flags.latent}' holds ${t.dtype} data; latents must be float32`);
    opts.latent = t;
  } else {
    opts.seed = flags.seed ?? 0;
  }
  const bar = createProgress('optimize', flags.steps, {quiet: flags.json === true});
  const stem = flags.out.replace(/\.png$/i, '');
  opts.onStep = async (s) => {
    bar.update(s.step + 1, {loss: s.loss, clip: s.clip, l2: s.l2, ...(opts.lambdaId ? {id: s.id} : {}), lr: s.lr});
    if (s.image && s.step > 0) writeFileAtomic(`${stem}-step${String(s.step).padStart(5, '0')}.png`, await encodePng(s.image), 'intermediate image');
  };
  const r = await optimizeLatent(g, clip, opts);
  bar.stop();
  checkFiniteImage(r.image, flags.allowNonfinite);
  writeFileAtomic(flags.out, await encodePng(r.image), 'output image');
  if (flags.saveLatent) {
    if (r.styles) writeTensorFile(flags.saveLatent, stylesToTensors(r.styles), 'latent output');
    else writeTensorFile(flags.saveLatent, new Map([['w_plus', r.wPlus!]]), 'latent output');
  }
  const first = r.history[0]!;
  const last = r.history.at(-1)!;
  const summary = {
    out: flags.out,
    prompt: flags.prompt,
    steps: flags.steps,
    // The ID loss's weight and network (the demo identity network by default on the demo generator).
    lambdaId,
    identity: identitySpec,
    clipLoss: {first: first.clip, last: last.clip},
    loss: {first: first.loss, last: last.loss},
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    ...(flags.saveLatent ? {latent: path.normalize(flags.saveLatent)} : {}),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out}: CLIP loss ${first.clip.toFixed(4)} → ${last.clip.toFixed(4)} in ${flags.steps} steps (${summary.seconds}s)`);
}
