/**
 * Train ToonGAN (the demo StyleGAN2) by distillation from the renderer, export it, evaluate it (one step of
 * `npm run train:demo`):
 *
 *   node --import tsx lab/scripts/train-gan.ts [--out assets/demo/generator.safetensors] [--steps N] [--batch N]
 *        [--checkpoint .train/toongan.ckpt.safetensors] [--threads N] [--max-minutes M] [--eval N]
 *        [--attribute-weight K] [--init-from ASSET]   (fine-tuning with more weight on beard/mouth/lipstick/glasses)
 *        [--aux W]    (keep every attribute linearly readable from W: softmax heads on W, cross-entropy weight W)
 *        [--mixing P] (style mixing on a share P of the faces, targets from decodeMixed)
 *        [--jitter S] [--jitter-variance V] (with --init-from: noise of σ S on each W+ row along the init generator's
 *        W directions of variance < V, default 3e-3, target unchanged; lab/demo/w-basis.ts)
 *        [--interpolate P] (v2: a share P of the unmixed faces on the straight W line between two latents, targets
 *        the factors the same share of the way)
 *   node --import tsx lab/scripts/train-gan.ts --export-only      (write the asset from the current checkpoint)
 *   node --import tsx lab/scripts/train-gan.ts --eval-only        (evaluate the asset at --out)
 *
 * The default world v2 (the shipped demo world, lab/world2/toon-gan.ts: continuous factors, no thresholds; --aux is a
 * regression from W to the factors, and --mixing mixes factor groups) uses --checkpoint
 * .train/toongan-v2.ckpt.safetensors; --world v2-polar the same world with the polar colour code (an experiment,
 * lab/world2/toon-gan.ts ColourCode); --world v1 (the first, categorical world) writes lab/runs/v1/generator.safetensors. --sample-every N sets the
 * steps between sample grids, --checkpoint-minutes M the time between checkpoints.
 *
 * Rerunning the same command resumes from the checkpoint (delete it to start over). Progress lines go to
 * stdout; sample grids (generated row above its render) go next to the checkpoint (toongan-samples*.png).
 */
import {existsSync, statSync} from 'node:fs';
import {parseArgs} from 'node:util';
import {type GanWorld, loadToonGan, toonGanConfig, toonGanV1World} from '../demo/toon-gan.js';
import {toonGanV2PolarWorld, toonGanV2World} from '../world2/toon-gan.js';
import {evaluateToonGan, exportFromCheckpoint, formatEvaluation, trainToonGan} from '../demo/train-gan.js';
import {configureEngine} from '../../src/engine/session.js';

const {values} = parseArgs({
  options: {
    out: {type: 'string'},
    world: {type: 'string', default: 'v2'},
    'sample-every': {type: 'string', default: '250'},
    'checkpoint-minutes': {type: 'string', default: '3'},
    steps: {type: 'string', default: '4000'},
    batch: {type: 'string', default: '16'},
    lr: {type: 'string', default: '0.005'},
    'rgb-init': {type: 'string', default: '0.1'},
    seed: {type: 'string', default: '1'},
    checkpoint: {type: 'string'},
    threads: {type: 'string', default: '1'},
    'mapping-lr-mul': {type: 'string', default: '100'},
    mse: {type: 'string', default: '1'},
    'attribute-weight': {type: 'string', default: '0'},
    'init-from': {type: 'string'},
    aux: {type: 'string', default: '0'},
    mixing: {type: 'string', default: '0'},
    interpolate: {type: 'string', default: '0'},
    jitter: {type: 'string', default: '0'},
    'jitter-variance': {type: 'string', default: '3e-3'},
    'max-minutes': {type: 'string'},
    eval: {type: 'string', default: '1000'},
    'export-only': {type: 'boolean', default: false},
    'eval-only': {type: 'boolean', default: false},
  },
});

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`error: --${name} must be a non-negative number, got '${v}'`);
    process.exit(1);
  }
  return n;
}

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
configureEngine({threads: num('threads', values.threads)!});
if (values.world !== 'v1' && values.world !== 'v2' && values.world !== 'v2-polar') {
  console.error(`error: --world must be v1, v2 or v2-polar, got '${values.world}'`);
  process.exit(1);
}
const v2 = values.world !== 'v1';
const world: GanWorld<any> = values.world === 'v2-polar' ? toonGanV2PolarWorld : v2 ? toonGanV2World : toonGanV1World;
const out = values.out ?? (v2 ? 'assets/demo/generator.safetensors' : 'lab/runs/v1/generator.safetensors');
const checkpoint = values.checkpoint ?? (v2 ? '.train/toongan-v2.ckpt.safetensors' : '.train/toongan.ckpt.safetensors');

if (values['export-only']) {
  const {bytes, step} = await exportFromCheckpoint(checkpoint, out, {world});
  console.log(`exported step ${step} of ${checkpoint} to ${out} (${(bytes / 1e6).toFixed(2)} MB)`);
} else if (!values['eval-only']) {
  const maxMin = num('max-minutes', values['max-minutes']);
  const r = await trainToonGan({
    out,
    steps: num('steps', values.steps)!,
    batch: num('batch', values.batch)!,
    lr: num('lr', values.lr)!,
    seed: num('seed', values.seed)!,
    checkpoint,
    config: toonGanConfig,
    world,
    sampleEvery: num('sample-every', values['sample-every'])!,
    checkpointSeconds: num('checkpoint-minutes', values['checkpoint-minutes'])! * 60,
    mappingLrMul: num('mapping-lr-mul', values['mapping-lr-mul'])!,
    mseWeight: num('mse', values.mse)!,
    rgbInit: num('rgb-init', values['rgb-init'])!,
    attributeWeight: num('attribute-weight', values['attribute-weight'])!,
    initFrom: values['init-from'],
    auxWeight: num('aux', values.aux)!,
    mixing: num('mixing', values.mixing)!,
    interpolate: num('interpolate', values.interpolate)!,
    jitter: num('jitter', values.jitter)!,
    jitterVariance: num('jitter-variance', values['jitter-variance'])!,
    maxSeconds: maxMin === undefined ? undefined : maxMin * 60,
  });
  console.log(`training ${r.finished ? 'finished' : 'paused'} at step ${r.step} after ${secs()} s`);
  if (!r.finished) process.exit(0);
}

const n = num('eval', values.eval)!;
if (n > 0 && existsSync(out)) {
  const te = performance.now();
  const g = loadToonGan(out);
  console.log(`evaluating ${out} (${(statSync(out).size / 1e6).toFixed(2)} MB) on ${n} held-out latents…`);
  const e = await evaluateToonGan(g, {n, world});
  console.log(formatEvaluation(e));
  console.log(`evaluation took ${((performance.now() - te) / 1000).toFixed(0)} s; total ${secs()} s`);
}
