/**
 * Train a ToonCLIP from scratch (resumable), export it as fp16 safetensors and evaluate it zero-shot.
 *
 *   node --import tsx lab/scripts/train-clip.ts --seed 1 --out assets/demo/toonclip.safetensors
 *   node --import tsx lab/scripts/train-clip.ts --seed 2 --out assets/demo/toonclip-eval.safetensors
 *   node --import tsx lab/scripts/train-clip.ts --eval assets/demo/toonclip.safetensors      (evaluate only)
 *
 * Options: --steps N --batch B --lr X --threads T (default 1) --checkpoint FILE (default
 * .train/toonclip-<seed>.ckpt.safetensors) --checkpoint-every N (steps, default 25) --eval-n N (default 1000).
 * Rerunning the same command resumes from the checkpoint; once all steps are done it only exports and evaluates.
 * Phases: --stop-at N ends a run at step N of its --steps schedule (no export); --init-from FILE starts a new run
 * (own schedule, fresh optimizer) from another run's checkpoint or from a ToonCLIP asset; --counterfactual 0.5 trains on hard-negative
 * pairs (see ToonClipTrainOptions); --warmup N sets the warmup steps; --counterfactual-weights beard=3,mouth=3
 * weights the attribute changed in a pair (unlisted attributes weigh 1; default uniform); --focus-prob P (default 0.5)
 * captions a pair member by the changed attribute's prompt with probability P (where the value is named).
 * The world (--world, default v2, the shipped demo world; lab/world2/clip-data.ts): [--intermediate 0.4]
 * [--counterfactual 0.5 (share of the batch in pairs)] [--counterfactual-blend 0.5] [--embed 128] [--width 128]
 * [--direction-weight W (0; the pairs' image change along their text change, see ToonClipTrainOptions)];
 * evaluation is zero-shot on v2 renders. --world v1 trains the first, categorical world's ToonCLIP.
 */
import {existsSync, mkdirSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {
  DEFAULT_TRAIN_OPTIONS, type ToonClipTrainOptions, V2_TRAIN_OPTIONS, compileToonClipStep, editDirectionAgreement, fullStateDict, initToonClipStateDict,
  serializeToonClip, toonClipOptimizer, trainingBatch, trainingParams, trainingVocabulary, zeroShotAccuracy,
} from '../demo/train-clip.js';
import {type AttributeName, attributeNames} from '../../src/demo/attributes.js';
import {TOONCLIP_CONFIG, toonClipConfig} from '../demo/toon-clip.js';
import {zeroShotAccuracyV2} from '../world2/clip-eval.js';
import {counterfactualPairs} from '../world2/clip-data.js';
import {configureEngine} from '../../src/engine/session.js';
import {readBytes, writeFileAtomic} from '../../src/io/files.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {clipFromBytes} from '../../src/models/clip/load.js';
import type {CLIP} from '../../src/models/clip/model.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadCheckpoint, restore, writeTo} from '../../src/train/checkpoint.js';
import {trainLoop} from '../../src/train/loop.js';

const {values: args} = parseArgs({
  options: {
    seed: {type: 'string', default: '1'},
    out: {type: 'string'},
    steps: {type: 'string'},
    batch: {type: 'string'},
    lr: {type: 'string'},
    warmup: {type: 'string'},
    counterfactual: {type: 'string'},
    'counterfactual-weights': {type: 'string'},
    'focus-prob': {type: 'string'},
    'init-from': {type: 'string'},
    'stop-at': {type: 'string'},
    threads: {type: 'string', default: '1'},
    checkpoint: {type: 'string'},
    'checkpoint-every': {type: 'string', default: '25'},
    'eval-n': {type: 'string', default: '1000'},
    eval: {type: 'string'},
    'no-eval': {type: 'boolean', default: false},
    world: {type: 'string', default: 'v2'},
    intermediate: {type: 'string'},
    'counterfactual-blend': {type: 'string'},
    'direction-weight': {type: 'string'},
    embed: {type: 'string'},
    width: {type: 'string'},
  },
});

if (args.world !== 'v1' && args.world !== 'v2') {
  console.error(`error: --world must be v1 or v2, got '${args.world}'`);
  process.exit(1);
}
const v2 = args.world === 'v2';
const int = (s: string | undefined, d: number): number => (s === undefined ? d : Number.parseInt(s, 10));
const fmt = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(0)}s`);
const log = (msg: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** 'beard=3,mouth=3' → {beard: 3, mouth: 3} (attribute names checked). */
function parseWeights(spec: string): Partial<Record<AttributeName, number>> {
  const out: Partial<Record<AttributeName, number>> = {};
  for (const part of spec.split(',')) {
    const [name, w] = part.split('=');
    if (!(attributeNames as readonly string[]).includes(name!.trim()) || w === undefined || !(Number(w) >= 0)) {
      throw new Error(`--counterfactual-weights: bad entry '${part}' (want attribute=weight, attributes: ${attributeNames.join(', ')})`);
    }
    out[name!.trim() as AttributeName] = Number(w);
  }
  // A face can rule out two attributes (hair colour when bald, eye colour behind sunglasses): three must weigh > 0.
  const positive = attributeNames.filter((a) => (out[a] ?? 1) > 0).length;
  if (positive < 3) throw new Error(`--counterfactual-weights: at least three attributes must weigh more than 0 ('${spec}')`);
  return out;
}

async function evaluate(clip: CLIP, n: number): Promise<void> {
  const tok = loadDefaultTokenizer();
  const t0 = performance.now();
  if (v2) {
    log(`zero-shot accuracy on ${n} held-out v2 renders (promptFor prompts, faces where the value is named):`);
    for (const [a, r] of Object.entries(await zeroShotAccuracyV2(clip, tok, {n}))) console.log(`  ${a.padEnd(10)} ${(100 * r.accuracy).toFixed(1).padStart(5)} %  (n=${r.count}, majority baseline ${(100 * r.majority).toFixed(1)} %)`);
    log(`evaluation took ${fmt((performance.now() - t0) / 1000)}`);
    return;
  }
  const acc = await zeroShotAccuracy(clip, tok, {n});
  log(`zero-shot accuracy on ${n} held-out renders (promptFor prompts):`);
  for (const [a, r] of Object.entries(acc)) console.log(`  ${a.padEnd(10)} ${(100 * r.accuracy).toFixed(1).padStart(5)} %  (n=${r.count}, majority baseline ${(100 * r.majority).toFixed(1)} %)`);
  const dirs = await editDirectionAgreement(clip, tok);
  log('edit directions: cos(Δt template-averaged, mean normalised image difference with/without the attribute):');
  for (const d of dirs) {
    console.log(`  ${d.edit.padEnd(12)} cos ${d.cosine.toFixed(3)}  pairs along Δt ${(100 * d.positiveFraction).toFixed(0)} %  (best other edit: ${d.bestOther} ${d.bestOtherCosine.toFixed(3)})`);
  }
  log(`evaluation took ${fmt((performance.now() - t0) / 1000)}`);
}

async function main(): Promise<void> {
  configureEngine({threads: int(args.threads, 1)});
  const evalN = int(args['eval-n'], 1000);
  if (args.eval) {
    await evaluate(clipFromBytes(readBytes(args.eval, 'CLIP checkpoint'), {what: args.eval}), evalN);
    return;
  }
  if (!args.out) throw new Error('--out is required (or --eval FILE)');
  const num = (s: string | undefined, d: number | undefined): number | undefined => (s === undefined ? d : Number(s));
  const opts: ToonClipTrainOptions = {
    ...DEFAULT_TRAIN_OPTIONS,
    ...(v2 ? V2_TRAIN_OPTIONS : {}),
    seed: int(args.seed, 1),
    steps: int(args.steps, DEFAULT_TRAIN_OPTIONS.steps),
    batch: int(args.batch, DEFAULT_TRAIN_OPTIONS.batch),
    lr: args.lr ? Number(args.lr) : DEFAULT_TRAIN_OPTIONS.lr,
    warmup: int(args.warmup, DEFAULT_TRAIN_OPTIONS.warmup),
    counterfactual: num(args.counterfactual, v2 ? V2_TRAIN_OPTIONS.counterfactual : DEFAULT_TRAIN_OPTIONS.counterfactual)!,
    ...(v2 ? {intermediate: num(args.intermediate, V2_TRAIN_OPTIONS.intermediate)!, counterfactualBlend: num(args['counterfactual-blend'], V2_TRAIN_OPTIONS.counterfactualBlend)!} : {}),
    ...(args['counterfactual-weights'] ? {counterfactualWeights: parseWeights(args['counterfactual-weights'])} : {}),
    ...(args['focus-prob'] !== undefined ? {focusProb: Number(args['focus-prob'])} : {}),
    ...(v2 && args['direction-weight'] !== undefined ? {directionWeight: num(args['direction-weight'], 0)!} : {}),
  };
  // --stop-at: end this run early (the schedule still spans --steps); a later run with the same flags can go on.
  const stopAt = Math.min(opts.steps, int(args['stop-at'], opts.steps));
  const cfg = v2 ? toonClipConfig({embed: int(args.embed, 128), width: int(args.width, 128)}) : TOONCLIP_CONFIG;
  if (!v2 && (args.embed || args.width)) throw new Error('--embed and --width are for --world v2 (v1 keeps its original config)');
  const ckFile = args.checkpoint ?? `.train/toonclip-${v2 ? 'v2-' : ''}${opts.seed}.ckpt.safetensors`;
  mkdirSync(path.dirname(ckFile), {recursive: true});
  const tok = loadDefaultTokenizer();
  const vocab = trainingVocabulary(tok, v2 ? 'v2' : 'v1');
  const compact = new Map([...vocab].map((id, r) => [id, r]));
  const initFrom = args['init-from'];
  const meta: Record<string, string> = {options: JSON.stringify(opts), vocab: JSON.stringify([...vocab]), init_from: initFrom ?? '', ...(v2 ? {config: JSON.stringify(cfg)} : {})};
  const resume = existsSync(ckFile) ? loadCheckpoint(ckFile) : null;
  if (resume) {
    const ck = resume;
    if (ck.meta.options !== meta.options || ck.meta.vocab !== meta.vocab || (ck.meta.init_from ?? '') !== meta.init_from || (ck.meta.config ?? '') !== (meta.config ?? '')) {
      throw new Error(`checkpoint '${ckFile}' was made with other options (${ck.meta.options}); use the same flags or another --checkpoint`);
    }
    log(`resuming from ${ckFile} at step ${ck.step}/${opts.steps}`);
  }
  const init = initToonClipStateDict(cfg, opts.seed);
  const params = trainingParams(init, vocab);
  if (initFrom) {
    // Start from the weights of an earlier run's checkpoint (a previous phase) or of a ToonCLIP asset (its full
    // token table is cut down to the training vocabulary's rows); the optimizer starts fresh.
    const {tensors} = parseSafetensors(readBytes(initFrom, 'ToonCLIP weights'), {what: `'${initFrom}'`});
    const isAsset = tensors.has('token_embedding.weight');
    const ck = isAsset ? {params: trainingParams(tensors, vocab).toStateDict(), optimizer: null, step: 0, meta: {}} : loadCheckpoint(initFrom);
    restore(ck, params.all, null);
    log(`initialised from ${isAsset ? 'the asset ' : ''}${initFrom}${isAsset ? '' : ` (step ${ck.step})`}`);
  }
  log(`ToonCLIP seed ${opts.seed}: ${params.count.toLocaleString()} trained parameters (${vocab.length} of ${cfg.vocabSize} token rows), batch ${opts.batch}, ${opts.steps} steps, options ${JSON.stringify(opts)}`);
  const tc = performance.now();
  const direction = opts.directionWeight ? {pairs: counterfactualPairs(opts), weight: opts.directionWeight} : undefined;
  const step = await compileToonClipStep(cfg, params, opts.batch, opts.textLength, direction);
  log(`compiled the training step in ${fmt((performance.now() - tc) / 1000)}`);
  const adam = toonClipOptimizer(params, opts);

  const t0 = performance.now();
  let first = -1;
  let ema: {loss: number; acc: number} | null = null;
  let lastLog = 0;
  let dataSeconds = 0;
  const every = int(args['checkpoint-every'], 25);
  await trainLoop(step, adam, {
    steps: stopAt,
    batch: (s) => {
      const td = performance.now();
      const b = trainingBatch(s, opts, tok, compact);
      dataSeconds += (performance.now() - td) / 1000;
      return [b.images, b.tokens as unknown as Float32Array, b.eot, b.imageTargets, b.textTargets, ...(direction ? [b.pairMask!] : [])];
    },
    resume,
    checkpoint: {every, meta, write: writeTo(ckFile)},
    onStep: ({step: s, loss, metrics, lr}) => {
      if (first < 0) first = s;
      const acc = (metrics.acc_i2t! + metrics.acc_t2i!) / 2;
      ema = ema ? {loss: 0.95 * ema.loss + 0.05 * loss, acc: 0.95 * ema.acc + 0.05 * acc} : {loss, acc};
      const now = performance.now();
      const done = s + 1 - first;
      if (now - lastLog > 30_000 || s + 1 === stopAt || done <= 3) {
        lastLog = now;
        const sps = done / ((now - t0) / 1000);
        console.log(
          `[${new Date().toISOString().slice(11, 19)}] step ${s + 1}/${opts.steps} loss ${loss.toFixed(3)} (ema ${ema.loss.toFixed(3)}) ` +
            `acc ${(100 * acc).toFixed(0)}% (ema ${(100 * ema.acc).toFixed(1)}%) ${metrics.dir_cos !== undefined ? `dir cos ${metrics.dir_cos.toFixed(3)} ` : ''}scale ${metrics.scale!.toFixed(1)} lr ${lr.toExponential(2)} ` +
            `${sps.toFixed(3)} steps/s (data ${((100 * dataSeconds) / ((now - t0) / 1000)).toFixed(0)}%) ETA ${fmt((stopAt - s - 1) / sps)}`,
        );
      }
    },
  });
  const wall = (performance.now() - t0) / 1000;
  if (first >= 0) log(`trained steps ${first + 1}..${stopAt} in ${fmt(wall)} (${((stopAt - first) / wall).toFixed(3)} steps/s)`);
  if (stopAt < opts.steps) {
    log(`stopped at step ${stopAt} of ${opts.steps} (--stop-at); checkpoint ${ckFile}`);
    return;
  }

  const sd = fullStateDict(params, vocab, init);
  const bytes = serializeToonClip(sd, cfg, {format: 'toonclip', seed: String(opts.seed), steps: String(opts.steps), options: JSON.stringify(opts)});
  mkdirSync(path.dirname(args.out), {recursive: true});
  writeFileAtomic(args.out, bytes, 'ToonCLIP weights');
  log(`wrote ${args.out} (${(bytes.byteLength / 1e6).toFixed(2)} MB, fp16)`);
  if (!args['no-eval']) await evaluate(clipFromBytes(bytes, {what: args.out}), evalN);
}

main().catch((e: unknown) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
