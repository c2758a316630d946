/**
 * `styleclip global prepare|merge|edit`: StyleCLIP global directions. prepare computes the per-channel CLIP
 * relevance (resumable, shardable); merge joins shards; edit turns a prompt pair into a StyleSpace step.
 */
import type {Command} from 'commander';
import {demoAssetPath} from '../demo/assets.js';
import {StyleclipError, check} from '../errors.js';
import {AUTO_BETA_MIN_CHANNELS, GLOBAL_DEFAULTS} from '../edit/global-defaults.js';
import {GlobalEditor, checkBeta, editDefaultsOf} from '../edit/global-edit.js';
import {parseChannelRange, prepareRelevance} from '../edit/global-prepare.js';
import {defaultRelevanceLayers} from '../edit/global-relevance.js';
import {type Relevance, loadOfficialRelevance, loadRelevance, mergeRelevanceFiles, setEditDefaults, verifyGeneratorProbe} from '../edit/global-relevance-file.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {encodePng} from '../io/image.js';
import {parseSafetensors} from '../io/safetensors.js';
import {detectWeightsFormat, loadLatent} from '../io/weights.js';
import type {ClipInputMode} from '../models/clip/preprocess.js';
import {generate} from '../models/generate.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {holdsStyles, layerChannels, parseLayerList, stylesFromTensors, stylesToTensors} from '../models/stylespace.js';
import {addModelOptions, loadClipFromFlags, loadGeneratorFromFlags, type ModelFlags} from './load-models.js';
import {type Progress, createProgress} from './progress.js';
import {allowNonfiniteOption, checkFiniteImage, parseChoice, parseFloatStrict, parseIntStrict, sampleTruncation, truncationOption} from './options.js';
import {writeTensorFile} from './tensor-files.js';

interface PrepareFlags extends ModelFlags {
  samples: number;
  images: number;
  layers?: string;
  channels?: string;
  batch: number;
  chunk?: number;
  seed: number;
  truncation: number;
  alphaP: number;
  clipInput: ClipInputMode;
  out: string;
  json?: boolean;
}

interface MergeFlags {
  out: string;
  allowPartial?: boolean;
  json?: boolean;
}

interface DefaultsFlags {
  alpha?: number;
  beta?: number;
  minChannels?: number;
  official?: boolean;
  json?: boolean;
}

interface EditFlags extends ModelFlags {
  relevance?: string;
  fs3?: string;
  sMean?: string;
  sStd?: string;
  sMeanStd?: string;
  neutral: string;
  target: string;
  alpha?: number;
  beta?: number;
  minChannels?: number;
  latent?: string;
  seed?: number;
  truncation?: number;
  out: string;
  saveLatent?: string;
  json?: boolean;
  allowNonfinite?: boolean;
}

export function registerGlobal(program: Command): void {
  const global = program.command('global').description('StyleCLIP global directions: channel relevance (prepare, merge) and text-driven StyleSpace edits');

  addModelOptions(global.command('prepare').description('compute the per-channel CLIP relevance (fs3) for a generator; resumable and shardable'))
    .option('--samples <n>', 'z samples for the S mean/std', parseIntStrict('--samples', {min: 2}), GLOBAL_DEFAULTS.samples)
    .option('--images <k>', 'images averaged per channel (the first K samples)', parseIntStrict('--images', {min: 1}), GLOBAL_DEFAULTS.images)
    .option('--layers <list>', 'S layers to select: indices or names, e.g. 0,2,3 or conv1,convs.0 (default: non-ToRGB layers at ≤ 128 px)')
    .option('--channels <A:B>', 'compute only selected channels A…B−1 (a shard; merge shards with `global merge`)')
    .option('--batch <n>', 'generator passes per run (memory grows with it)', parseIntStrict('--batch', {min: 1}), 8)
    .option('--chunk <n>', 'channels per journal chunk, the unit of resumption (default ≈ 256 passes)', parseIntStrict('--chunk', {min: 1}))
    .option('--seed <n>', 'seed of the z samples (our RNG, not NumPy RandomState)', parseIntStrict('--seed', {min: 0}), GLOBAL_DEFAULTS.seed)
    .option('--truncation <psi>', 'truncation ψ of the samples', parseFloatStrict('--truncation'), GLOBAL_DEFAULTS.truncation)
    .option('--alpha-p <a>', 'probe step ±a·σ per channel', parseFloatStrict('--alpha-p'), GLOBAL_DEFAULTS.alphaP)
    .option('--clip-input <mode>', 'CLIP input: normalized (mean/std) or legacy (raw [-1, 1], as the official code)', parseChoice('--clip-input', ['normalized', 'legacy'] as const), 'normalized')
    .requiredOption('--out <file.safetensors>', 'relevance file; the journal of an unfinished run is <out>.parts/ (rerun the same command to resume)')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Examples:
  styleclip global prepare --generator ffhq.pt --clip ViT-B-32.pt --out ffhq-relevance.safetensors
  styleclip global prepare --generator ffhq.pt --clip ViT-B-32.pt --channels 0:2688 --out shard1.safetensors
  styleclip global prepare --generator ffhq.pt --clip ViT-B-32.pt --channels 2688:5376 --out shard2.safetensors
  styleclip global merge shard1.safetensors shard2.safetensors --out ffhq-relevance.safetensors`,
    )
    .action(async (flags: PrepareFlags) => runPrepare(flags));

  global
    .command('merge')
    .description('merge relevance shards (from prepare --channels) into one file')
    .argument('<shards...>', 'shard files')
    .requiredOption('--out <file.safetensors>', 'merged relevance file')
    .option('--allow-partial', 'accept shards that cover only part of the selected channels (still contiguous)')
    .option('--json', 'print a JSON summary')
    .action(async (shards: string[], flags: MergeFlags) => runMerge(shards, flags));

  global
    .command('defaults')
    .description("show or set a relevance file's recommended edit settings (used when an edit gives no α/β)")
    .argument('<relevance>', 'relevance file from `global prepare`')
    .option('--alpha <a>', 'recommended α', parseFloatStrict('--alpha'))
    .option('--beta <b>', 'recommended fixed β', parseFloatStrict('--beta'))
    .option('--min-channels <k>', 'recommend auto β: the largest β that moves ≥ k channels', parseIntStrict('--min-channels', {min: 1}))
    .option('--official', `remove the recommendation (edits use the official α ${GLOBAL_DEFAULTS.alpha}, β ${GLOBAL_DEFAULTS.beta})`)
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
The official β 0.15 suits ViT-B/32 (512-d). A CLIP with a small embedding gives larger cosines |R|, so the same
β moves hundreds of channels; recommend auto β there instead.

Examples:
  styleclip global defaults my-relevance.safetensors
  styleclip global defaults my-relevance.safetensors --min-channels 20 --alpha 4.1
  styleclip global defaults my-relevance.safetensors --official`,
    )
    .action(async (file: string, flags: DefaultsFlags) => runDefaults(file, flags));

  addModelOptions(global.command('edit').description('edit an image along the StyleSpace direction of a text prompt pair'))
    .option('--relevance <file>', 'relevance file from `global prepare`')
    .option('--fs3 <fs3.npy>', "official StyleCLIP fs3.npy (with --s-mean-std, or --s-mean and --s-std) instead of --relevance")
    .option('--s-mean-std <file>', "official StyleCLIP S_mean_std pickle (the file as distributed, beside fs3.npy)")
    .option('--s-mean <file.npy>', 'S means as .npy (np.concatenate(m) of S_mean_std), instead of --s-mean-std')
    .option('--s-std <file.npy>', 'S stds as .npy (np.concatenate(std) of S_mean_std), instead of --s-mean-std')
    .requiredOption('--neutral <text>', 'neutral prompt, e.g. "face"')
    .requiredOption('--target <text>', 'target prompt, e.g. "face with glasses"')
    .option('--alpha <a>', `edit strength α (official slider −10…10; default: the relevance file's recommendation, else ${GLOBAL_DEFAULTS.alpha})`, parseFloatStrict('--alpha'))
    .option('--beta <b>', `threshold β on |relevance| (0…1; official slider 0.08…0.4; default: the relevance file's recommendation, else ${GLOBAL_DEFAULTS.beta})`, parseFloatStrict('--beta'))
    .option('--min-channels <k>', `auto β: the largest β that moves ≥ k channels (official k: ${AUTO_BETA_MIN_CHANNELS.faces} faces, ${AUTO_BETA_MIN_CHANNELS.other} otherwise)`, parseIntStrict('--min-channels', {min: 1}))
    .option('--latent <file>', 'start latent: W [N, D] or W+ [N, n_latent, D] (.npy/.safetensors/.pt, used as is), or S (.safetensors of s_00…, e.g. a previous edit)')
    .option('--seed <n>', 'sample z from this seed instead (default 0)', parseIntStrict('--seed', {min: 0}))
    .addOption(truncationOption())
    .requiredOption('--out <file.png>', 'edited image (PNG)')
    .option('--save-latent <file.safetensors>', 'write the edited S (s_00, s_01, …) to chain further edits')
    .option('--json', 'print a JSON summary')
    .addOption(allowNonfiniteOption())
    .addHelpText(
      'after',
      `
Examples:
  styleclip global edit --generator ffhq.pt --clip ViT-B-32.pt --relevance ffhq-relevance.safetensors \\
      --neutral "face" --target "face with glasses" --seed 3 --out glasses.png --save-latent glasses.safetensors
  styleclip global edit --generator ffhq.pt --clip ViT-B-32.pt --relevance ffhq-relevance.safetensors \\
      --neutral "face" --target "smiling face" --min-channels 20 --latent glasses.safetensors --out both.png
  styleclip global edit --generator ffhq.pt --clip ViT-B-32.pt --fs3 npy/ffhq/fs3.npy --s-mean-std npy/ffhq/S_mean_std \\
      --neutral "face" --target "face with bangs" --out bangs.png`,
    )
    .action(async (flags: EditFlags) => runEdit(flags));
}

function phaseBars(quiet: boolean) {
  const bars = new Map<string, Progress>();
  return {
    update(phase: string, label: string, done: number, total: number, fields: Record<string, number | string> = {}) {
      let bar = bars.get(phase);
      if (!bar) {
        for (const b of bars.values()) b.stop();
        bar = createProgress(label, total, {quiet});
        bars.set(phase, bar);
      }
      bar.update(done, fields);
    },
    stop() {
      for (const b of bars.values()) b.stop();
    },
  };
}

async function runPrepare(flags: PrepareFlags): Promise<void> {
  check(flags.out.toLowerCase().endsWith('.safetensors'), `--out must be a .safetensors file, got '${flags.out}'`);
  check(Number.isFinite(flags.alphaP) && flags.alphaP > 0, `--alpha-p must be positive, got ${flags.alphaP}`);
  check(flags.images <= flags.samples, `--images (${flags.images}) cannot exceed --samples (${flags.samples})`);
  const t0 = performance.now();
  const g = loadGeneratorFromFlags(flags);
  const layers = flags.layers !== undefined ? parseLayerList(g, flags.layers) : defaultRelevanceLayers(g);
  const total = layerChannels(g, layers).length;
  const channels = flags.channels !== undefined ? parseChannelRange(flags.channels, total) : undefined;
  const {clip} = loadClipFromFlags(flags);
  const bars = phaseBars(flags.json === true);
  let res;
  try {
    res = await prepareRelevance(g, clip, {
      out: flags.out,
      samples: flags.samples,
      images: flags.images,
      seed: flags.seed,
      truncation: flags.truncation,
      alphaP: flags.alphaP,
      layers,
      batch: flags.batch,
      clipInput: flags.clipInput,
      ...(channels ? {channels} : {}),
      ...(flags.chunk !== undefined ? {chunkChannels: flags.chunk} : {}),
      onProgress: (p) =>
        p.phase === 'stats'
          ? bars.update('stats', 'S statistics (samples)', p.done, p.total)
          : bars.update('relevance', 'relevance (generator passes)', p.done, p.total, {channels: `${p.channelsDone}/${p.channelsTotal}`}),
    });
  } finally {
    bars.stop();
  }
  const m = res.relevance.meta;
  const summary = {
    out: res.out,
    channels: res.relevance.channels.length,
    range: `${m.rangeStart}:${m.rangeEnd}`,
    selectedTotal: m.selectedTotal,
    computedChannels: res.computedChannels,
    resumedChannels: res.resumedChannels,
    alreadyComplete: res.alreadyComplete,
    discarded: res.discarded,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else if (res.alreadyComplete) console.log(`${res.out} is already complete (channels ${summary.range} of ${m.selectedTotal}); nothing to do`);
  else {
    if (res.discarded.length) console.log(`recomputed ${res.discarded.join(', ')} of the interrupted run: not matching its checksum`);
    console.log(`wrote ${res.out}: relevance of channels ${summary.range} of ${m.selectedTotal} (${res.computedChannels} computed, ${res.resumedChannels} resumed) in ${summary.seconds}s`);
  }
}

async function runDefaults(file: string, flags: DefaultsFlags): Promise<void> {
  const setting = flags.alpha !== undefined || flags.beta !== undefined || flags.minChannels !== undefined;
  check(!(flags.official && setting), 'give either --official or new settings, not both');
  check(flags.beta === undefined || flags.minChannels === undefined, 'give either --beta or --min-channels, not both');
  if (flags.beta !== undefined) checkBeta(flags.beta);
  const rel = flags.official ? setEditDefaults(file, null) : setting ? setEditDefaults(file, {...(flags.alpha !== undefined ? {alpha: flags.alpha} : {}), ...(flags.beta !== undefined ? {beta: flags.beta} : {}), ...(flags.minChannels !== undefined ? {minChannels: flags.minChannels} : {})}) : loadRelevance(file);
  const d = editDefaultsOf(rel);
  const summary = {file, recommended: rel.meta.editDefaults ?? null, effective: d};
  if (flags.json) console.log(JSON.stringify(summary));
  else {
    const how = d.minChannels !== undefined ? `auto β (≥ ${d.minChannels} channels)` : `β ${d.beta}`;
    console.log(`${file}: edits without α/β use α ${d.alpha}, ${how}${rel.meta.editDefaults ? ' (recommended by the file)' : ' (official defaults)'}`);
  }
}

async function runMerge(shards: string[], flags: MergeFlags): Promise<void> {
  check(flags.out.toLowerCase().endsWith('.safetensors'), `--out must be a .safetensors file, got '${flags.out}'`);
  const merged = mergeRelevanceFiles(shards, flags.out, {requireComplete: !flags.allowPartial});
  const m = merged.meta;
  const summary = {out: flags.out, shards: shards.length, channels: merged.channels.length, range: `${m.rangeStart}:${m.rangeEnd}`, selectedTotal: m.selectedTotal};
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out}: ${shards.length} shards, channels ${summary.range} of ${m.selectedTotal}`);
}

function loadRelevanceFromFlags(g: StyleGAN2, flags: EditFlags): Relevance {
  const official = [flags.fs3, flags.sMeanStd, flags.sMean, flags.sStd].filter((x) => x !== undefined).length;
  if (flags.relevance !== undefined) {
    check(official === 0, 'give either --relevance or --fs3 with its S statistics, not both');
    return loadRelevance(flags.relevance);
  }
  // On the demo generator (no --generator), the shipped demo relevance is the default.
  if (official === 0 && flags.generator === undefined) return loadRelevance(demoAssetPath('relevance'));
  check(official > 0, 'no relevance given: pass --relevance FILE (from `global prepare`) or --fs3 with --s-mean-std');
  check(flags.sMeanStd === undefined || (flags.sMean === undefined && flags.sStd === undefined), 'give either --s-mean-std or --s-mean/--s-std, not both');
  const stats = flags.sMeanStd !== undefined || (flags.sMean !== undefined && flags.sStd !== undefined);
  check(flags.fs3 !== undefined && stats, flags.fs3 === undefined ? 'the S statistics need --fs3 (the official relevance) beside them' : '--fs3 needs the S statistics: --s-mean-std FILE (or --s-mean and --s-std)');
  return loadOfficialRelevance(g, {fs3: flags.fs3!, ...(flags.sMeanStd !== undefined ? {meanStd: flags.sMeanStd} : {mean: flags.sMean!, std: flags.sStd!})});
}

async function startStyles(g: StyleGAN2, flags: EditFlags): Promise<HostTensor[]> {
  if (flags.latent === undefined) return (await generate(g, {seed: flags.seed ?? 0, truncation: sampleTruncation(g, flags.truncation), returnStyles: true})).styles!;
  const bytes = readBytes(flags.latent, 'latent file');
  const what = `latent file '${flags.latent}'`;
  if (detectWeightsFormat(bytes) === 'safetensors') {
    const tensors = parseSafetensors(bytes, {what}).tensors;
    if (holdsStyles(tensors)) return stylesFromTensors(g, tensors, what);
  }
  const t = loadLatent(bytes, {what});
  if (t.dtype !== 'float32') throw new StyleclipError(`${what} holds ${t.dtype} data; latents must be float32`);
  const space = t.shape.length === 3 ? 'w+' : 'w';
  return (await generate(g, {latent: t, space, returnStyles: true})).styles!;
}

async function runEdit(flags: EditFlags): Promise<void> {
  check(flags.neutral.trim() !== '', 'the neutral prompt is empty (--neutral)');
  check(flags.target.trim() !== '', 'the target prompt is empty (--target)');
  check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  if (flags.saveLatent) check(flags.saveLatent.toLowerCase().endsWith('.safetensors'), `--save-latent writes S as .safetensors, got '${flags.saveLatent}'`);
  check(flags.beta === undefined || flags.minChannels === undefined, 'give either --beta or --min-channels, not both');
  if (flags.beta !== undefined) checkBeta(flags.beta);
  check(flags.latent === undefined || flags.seed === undefined, 'give either --latent or --seed, not both');
  const t0 = performance.now();
  const g = loadGeneratorFromFlags(flags);
  const rel = loadRelevanceFromFlags(g, flags);
  await verifyGeneratorProbe(g, rel, flags.relevance !== undefined ? `relevance file '${flags.relevance}'` : `fs3 file '${flags.fs3}'`);
  const {clip, tokenizer} = loadClipFromFlags(flags);
  const editor = new GlobalEditor(g, clip, tokenizer, rel);
  const styles = await startStyles(g, flags);
  const res = await editor.edit({
    neutral: flags.neutral,
    target: flags.target,
    styles,
    ...(flags.alpha !== undefined ? {alpha: flags.alpha} : {}),
    ...(flags.minChannels !== undefined ? {minChannels: flags.minChannels} : {}),
    ...(flags.beta !== undefined ? {beta: flags.beta} : {}),
  });
  checkFiniteImage(res.image, flags.allowNonfinite);
  writeFileAtomic(flags.out, await encodePng(res.image), 'output image');
  if (flags.saveLatent) writeTensorFile(flags.saveLatent, stylesToTensors(res.styles), 'edited S latent');
  const summary = {
    out: flags.out,
    channelsMoved: res.channelsMoved,
    beta: Number(res.beta.toFixed(6)),
    maxRelevance: Number(res.maxScore.toFixed(6)),
    alpha: res.alpha,
    images: res.image.shape[0],
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    ...(flags.saveLatent ? {latent: flags.saveLatent} : {}),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else {
    const none = res.channelsMoved === 0 ? ` (β is above the largest |relevance| ${summary.maxRelevance}; lower --beta)` : '';
    console.log(`moved ${res.channelsMoved} channel${res.channelsMoved === 1 ? '' : 's'} (α ${res.alpha}, β ${summary.beta})${none}; wrote ${flags.out} in ${summary.seconds}s`);
  }
}
