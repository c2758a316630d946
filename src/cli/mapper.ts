/** `styleclip mapper train|apply`: train a StyleCLIP latent mapper for a prompt, and apply one to latents. */
import {existsSync, readdirSync} from 'node:fs';
import path from 'node:path';
import type {Command} from 'commander';
import {demoMapperDir, mapperSlug} from '../demo/assets.js';
import {StyleclipError, check} from '../errors.js';
import {generate, sampleZ, toWPlus} from '../models/generate.js';
import {DEMO_MAPPER_DEFAULTS, MAPPER_DEFAULTS} from '../edit/mapper-defaults.js';
import {type MapperTrainOptions, trainMapper} from '../edit/mapper-train.js';
import {checkWritable, readBytes, removeStaleTemps, writeFileAtomic} from '../io/files.js';
import {type HostTensor, toFloat32} from '../io/host-tensor.js';
import {encodePng} from '../io/image.js';
import {loadLatent} from '../io/weights.js';
import {encodeTexts} from '../models/clip/encode.js';
import {mapperFromBytes, runMapper, serializeMapper} from '../models/mapper.js';
import {addGeneratorOption, addIdentityOption, addModelOptions, idLossFromFlags, loadGeneratorFromFlags, loadIdentity, loadModelsFromFlags, type ModelFlags} from './load-models.js';
import {createProgress} from './progress.js';
import {allowNonfiniteOption, checkFiniteImage, parseChoice, parseFloatStrict, parseIntStrict, sampleTruncation, truncationOption} from './options.js';
import {writeTensorFile} from './tensor-files.js';

interface TrainFlags extends ModelFlags {
  prompt: string;
  latents?: string;
  samples?: number;
  seed: number;
  truncation?: number;
  steps?: number;
  batch?: number;
  lr?: number;
  optimizer: 'ranger' | 'adam';
  lambdaL2?: number;
  lambdaId?: number;
  identity?: string;
  coarse: boolean;
  medium: boolean;
  fine: boolean;
  clipInput: 'normalized' | 'legacy';
  checkpointEvery: number;
  checkpoint?: string;
  resume?: string;
  out: string;
  json?: boolean;
}

interface ApplyFlags extends ModelFlags {
  mapper: string;
  latent?: string;
  seed?: number;
  batch: number;
  truncation?: number;
  out: string;
  saveLatent?: string;
  json?: boolean;
  allowNonfinite?: boolean;
}

type DemoSetting = keyof typeof DEMO_MAPPER_DEFAULTS;

/** "(default: 50000; 800 on the demo generator)" for a setting the demo generator trains with its own value. */
function byGenerator(key: DemoSetting): string {
  return `(default: ${MAPPER_DEFAULTS[key]}; ${DEMO_MAPPER_DEFAULTS[key]} on the demo generator)`;
}

/** "steps 800, batch 8, …" for the settings the demo generator overrides. */
function listSettings(d: Readonly<Record<DemoSetting, number>>): string {
  const names: Record<DemoSetting, string> = {steps: 'steps', batch: 'batch', samples: 'samples', lr: 'lr', lambdaL2: 'λ_L2'};
  return (Object.keys(names) as DemoSetting[]).map((k) => `${names[k]} ${d[k]}`).join(', ');
}

export function registerMapper(program: Command): void {
  const mapper = program.command('mapper').description('train a latent mapper for a text prompt, or apply one (StyleCLIP §5)');

  const train = mapper.command('train').description('train a levels mapper ŵ = w + 0.1·M(w) for a prompt');
  addIdentityOption(addModelOptions(train))
    .requiredOption('--prompt <text>', 'the text the edited images should match, e.g. "a face with purple hair"')
    .option('--latents <file>', 'training latents W+ [N, n_latent, D] (.pt, .npy, .safetensors); default: sample --samples of them')
    .option('--samples <n>', `latents to sample (z → W at --truncation → W+) when --latents is not given ${byGenerator('samples')}`, parseIntStrict('--samples', {min: 1}))
    .option('--seed <n>', 'seed of the sampled latents, the batch shuffle and the mapper initialisation', parseIntStrict('--seed', {min: 0}), MAPPER_DEFAULTS.seed)
    .addOption(truncationOption('the sampled training latents'))
    .option('--steps <n>', `training steps ${byGenerator('steps')}`, parseIntStrict('--steps', {min: 1}))
    .option('--batch <n>', `batch size ${byGenerator('batch')}`, parseIntStrict('--batch', {min: 1}))
    .option('--lr <lr>', `learning rate, constant ${byGenerator('lr')}`, parseFloatStrict('--lr'))
    .option('--optimizer <kind>', 'ranger (RAdam + Lookahead + GC, official) or adam', parseChoice('--optimizer', ['ranger', 'adam'] as const), MAPPER_DEFAULTS.optimizer)
    .option('--lambda-l2 <x>', `weight of MSE(ŵ, w) ${byGenerator('lambdaL2')}`, parseFloatStrict('--lambda-l2'))
    .option('--lambda-id <x>', `weight of the identity loss (default ${MAPPER_DEFAULTS.lambdaId}, the official faces setting, with --identity or on the demo generator, whose default identity network is the demo one; else 0)`, parseFloatStrict('--lambda-id'))
    .option('--no-coarse', 'do not train the coarse group (W+ rows 0–3 of 18); it outputs zeros')
    .option('--no-medium', 'do not train the medium group (rows 4–7 of 18)')
    .option('--no-fine', 'do not train the fine group (rows 8+ of 18)')
    .option('--clip-input <mode>', "normalized (CLIP's mean/std) or legacy (raw [-1, 1] as the official code)", parseChoice('--clip-input', ['normalized', 'legacy'] as const), MAPPER_DEFAULTS.clipInput)
    .option('--checkpoint-every <n>', 'write a resumable checkpoint every N steps (0 = never; also written on Ctrl-C)', parseIntStrict('--checkpoint-every', {min: 0}), 2000)
    .option('--checkpoint <file.safetensors>', 'checkpoint file (default: OUT with .ckpt.safetensors)')
    .option('--resume <ckpt>', 'continue from a checkpoint written by --checkpoint-every (same settings)')
    .requiredOption('--out <mapper.safetensors>', 'the trained mapper')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Defaults: with --generator the official settings (${listSettings(MAPPER_DEFAULTS)});
on the shipped demo generator (no --generator) the demo settings (${listSettings(DEMO_MAPPER_DEFAULTS)}),
with the ID loss of the demo identity network (λ_ID ${MAPPER_DEFAULTS.lambdaId}), which give a visible edit in about 2.5 min on 2 cores. A flag given overrides either.

Examples:
  styleclip mapper train --prompt "a face with purple hair" --out purple.safetensors        (demo generator, demo settings)
  styleclip mapper train --generator ffhq.pt --clip ViT-B-32.pt --prompt "a face with purple hair" --steps 10000 --out purple.safetensors
  styleclip mapper train --generator ffhq.pt --clip ViT-B-32.pt --prompt "a surprised face" --latents train_faces.pt --identity model_ir_se50.pth --no-fine --out surprised.safetensors
  styleclip mapper train --generator ffhq.pt --clip ViT-B-32.pt --prompt "a surprised face" --resume surprised.ckpt.safetensors --out surprised.safetensors`,
    )
    .action(async (flags: TrainFlags) => runTrain(flags));

  const apply = mapper.command('apply').description('edit latents with a trained mapper and render the result');
  addGeneratorOption(apply)
    .requiredOption('--mapper <file>', "mapper: .safetensors from `mapper train`, or an official StyleCLIP checkpoint .pt; on the demo generator also a demo mapper's name (grey-hair, mohawk, …)")
    .option('--latent <file>', 'W+ [N, n_latent, D] or W [N, D] latents (.npy, .safetensors, .pt)')
    .option('--seed <n>', 'otherwise sample z with this seed (default 0) at --truncation', parseIntStrict('--seed', {min: 0}))
    .option('--batch <n>', 'number of latents to sample with --seed', parseIntStrict('--batch', {min: 1}), 1)
    .addOption(truncationOption('latents sampled from --seed'))
    .requiredOption('--out <file.png>', 'the edited image (a grid for N > 1)')
    .option('--save-latent <file>', 'write the edited latent ŵ [N, n_latent, D] (.npy or .safetensors)')
    .option('--json', 'print a JSON summary')
    .addOption(allowNonfiniteOption())
    .addHelpText(
      'after',
      `
Examples:
  styleclip mapper apply --mapper grey-hair --seed 3 --batch 4 --out grey.png       (a shipped demo mapper)
  styleclip mapper apply --mapper purple.safetensors --generator ffhq.pt --seed 3 --out purple.png
  styleclip mapper apply --mapper mohawk.pt --generator ffhq.pt --latent w.npy --out mohawk.png --save-latent mohawk.npy`,
    )
    .action(async (flags: ApplyFlags) => runApply(flags));
}

function loadLatentArg(file: string, flag: string): HostTensor {
  const t = loadLatent(readBytes(file, `${flag} file`), {what: `${flag} file '${file}'`});
  check(t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16', `${flag} file '${file}' holds ${t.dtype} data; latents must be floating point`);
  return {dtype: 'float32', shape: t.shape, data: toFloat32(t)};
}

async function runTrain(flags: TrainFlags): Promise<void> {
  check(flags.prompt.trim() !== '', '--prompt is empty');
  check(flags.out.toLowerCase().endsWith('.safetensors'), `--out must be a .safetensors file, got '${flags.out}'`);
  checkWritable(flags.out, 'mapper output');
  const ckptFile = flags.checkpoint ?? flags.out.replace(/\.safetensors$/i, '.ckpt.safetensors');
  check(ckptFile.toLowerCase().endsWith('.safetensors'), `--checkpoint must be a .safetensors file, got '${ckptFile}'`);
  if (flags.checkpointEvery > 0) checkWritable(ckptFile, 'mapper checkpoint');
  // Temporary files a killed run left while writing the checkpoint or the output.
  for (const f of [flags.out, ckptFile]) removeStaleTemps(path.dirname(path.resolve(f)), path.basename(f));
  check(flags.coarse || flags.medium || flags.fine, '--no-coarse, --no-medium and --no-fine together leave nothing to train');
  // The official faces setting, λ_ID 0.1, with --identity and on the demo generator (with the demo identity network).
  const {lambdaId, spec: identitySpec} = idLossFromFlags(flags, {withIdentity: MAPPER_DEFAULTS.lambdaId, onDemo: MAPPER_DEFAULTS.lambdaId});
  const t0 = performance.now();
  const resume = flags.resume ? readBytes(flags.resume, 'resume checkpoint') : undefined;
  const latents = flags.latents ? loadLatentArg(flags.latents, '--latents') : undefined;
  const {g, clip, tokenizer} = loadModelsFromFlags(flags);
  const identity = identitySpec ? loadIdentity(identitySpec) : null;
  const text = await encodeTexts(clip, tokenizer, [flags.prompt]);

  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  // Official settings with --generator, the demo ones on the demo generator; flags given override either.
  const d = {...MAPPER_DEFAULTS, ...(flags.generator === undefined ? DEMO_MAPPER_DEFAULTS : {})};
  const steps = flags.steps ?? d.steps;
  const bar = createProgress('mapper', steps, {quiet: flags.json === true});
  let lastCkpt: number | null = null;
  const opts: MapperTrainOptions = {
    text,
    prompt: flags.prompt,
    samples: flags.samples ?? d.samples,
    seed: flags.seed,
    truncation: sampleTruncation(g, flags.truncation),
    steps,
    batch: flags.batch ?? d.batch,
    lr: flags.lr ?? d.lr,
    optimizer: flags.optimizer,
    lambdaL2: flags.lambdaL2 ?? d.lambdaL2,
    lambdaId,
    identity,
    groups: {coarse: flags.coarse, medium: flags.medium, fine: flags.fine},
    clipInput: flags.clipInput,
    checkpointEvery: flags.checkpointEvery,
    onCheckpoint: (bytes, step) => {
      writeFileAtomic(ckptFile, bytes, 'mapper checkpoint');
      lastCkpt = step;
    },
    onStep: (s) => bar.update(s.step + 1, {loss: s.loss, clip: s.clip, l2: s.l2, ...(lambdaId ? {id: s.id} : {})}),
    signal: ac.signal,
    ...(latents ? {latents} : {}),
    ...(resume ? {resume} : {}),
  };
  let r;
  try {
    r = await trainMapper(g, clip, opts);
  } catch (e) {
    if (ac.signal.aborted && lastCkpt !== null) throw new StyleclipError(`${(e as Error).message}; resume from '${ckptFile}' (step ${lastCkpt})`);
    throw e;
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
  }
  writeFileAtomic(flags.out, serializeMapper(r.mapper), 'mapper output');
  const first = r.history[0];
  const last = r.history.at(-1);
  const summary = {
    out: flags.out,
    prompt: flags.prompt,
    steps: r.step,
    stepsRun: r.history.length,
    loss: first && last ? {first: first.loss, last: last.loss} : null,
    clipLoss: first && last ? {first: first.clip, last: last.clip} : null,
    ...(lambdaId && first && last ? {idLoss: {first: first.id, last: last.id}} : {}),
    settings: {samples: opts.latents ? opts.latents.shape[0] : opts.samples, batch: opts.batch, lr: opts.lr, optimizer: opts.optimizer, lambdaL2: opts.lambdaL2, lambdaId},
    groups: r.mapper.config.groups,
    split: r.mapper.config.split,
    ...(lastCkpt !== null ? {checkpoint: ckptFile} : {}),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out}: ${summary.stepsRun} steps${first && last ? `, loss ${first.loss.toFixed(4)} → ${last.loss.toFixed(4)}` : ''} (${summary.seconds}s)`);
}

/**
 * --mapper is a file, or on the demo generator (no --generator) the name of a shipped demo mapper
 * ('grey-hair', 'mohawk', …; see assets/demo/mappers).
 */
function resolveMapperArg(flags: ApplyFlags): string {
  if (existsSync(flags.mapper) || flags.generator !== undefined || /[/\\.]/.test(flags.mapper)) return flags.mapper;
  const dir = demoMapperDir();
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => f.slice(0, -'.safetensors'.length)) : [];
  const slug = mapperSlug(flags.mapper);
  if (names.includes(slug)) return path.join(dir, `${slug}.safetensors`);
  throw new StyleclipError(`mapper '${flags.mapper}' is neither a file nor a demo mapper (demo mappers: ${names.join(', ') || 'none shipped'})`);
}

async function runApply(flags: ApplyFlags): Promise<void> {
  check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  check(!(flags.latent && flags.seed !== undefined), 'give only one of --latent and --seed');
  const t0 = performance.now();
  const file = resolveMapperArg(flags);
  const m = mapperFromBytes(readBytes(file, 'mapper file'), `mapper file '${file}'`);
  const g = loadGeneratorFromFlags(flags);
  const [L, D] = [g.nLatent, g.config.styleDim];
  m.checkGenerator({nLatent: L, styleDim: D, size: g.config.size});
  let w: HostTensor;
  if (flags.latent) {
    const t = loadLatentArg(flags.latent, '--latent');
    if (t.shape.length === 2) w = await toWPlus(g, t, 'w', 1);
    else {
      check(t.shape.length === 3 && t.shape[1] === L && t.shape[2] === D, `--latent file '${flags.latent}' must be W+ [N, ${L}, ${D}] or W [N, ${D}], got [${t.shape.join(', ')}]`);
      w = t;
    }
  } else {
    w = await toWPlus(g, sampleZ(g, flags.batch, flags.seed ?? 0), 'z', sampleTruncation(g, flags.truncation));
  }
  const {wHat} = await runMapper(m, w);
  const res = await generate(g, {latent: wHat, space: 'w+', noise: 'const'});
  checkFiniteImage(res.image, flags.allowNonfinite);
  writeFileAtomic(flags.out, await encodePng(res.image), 'output image');
  if (flags.saveLatent) writeTensorFile(flags.saveLatent, new Map([['w_plus', wHat]]), 'latent output');
  const summary = {
    out: flags.out,
    images: res.image.shape[0],
    size: g.config.size,
    prompt: m.prompt,
    groups: m.config.groups,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    ...(flags.saveLatent ? {latent: flags.saveLatent} : {}),
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out} (${summary.images} image${summary.images > 1 ? 's' : ''}${m.prompt ? `, mapper for "${m.prompt}"` : ''}) in ${summary.seconds}s`);
}
