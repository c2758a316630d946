/**
 * Mapper benchmark: one StyleCLIP mapper training step at FFHQ-1024 shapes (G 1024 + CLIP ViT-B/32, random
 * weights, batch 2 as the official default; forward + backward to the mapper weights, optimizer excluded), and the
 * LevelsMapper alone at batch 8 on W+ (8, 18, 512) as in the PyTorch baseline (levels_mapper_fwd / _fwdbwd:
 * backward of mean(ŵ²) to all mapper parameters).
 */
import {grad} from '../src/engine/autodiff.js';
import * as F from '../src/engine/ops.js';
import {compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {mapperTrainingGraph} from '../src/edit/mapper-train.js';
import {toFloat32} from '../src/io/host-tensor.js';
import {Params, compileStep} from '../src/train/loop.js';
import {CLIP, VIT_B_32, randomClipStateDict} from '../src/models/clip/model.js';
import {ALL_GROUPS, LevelsMapper, type MapperConfig, expectedMapperStateDict, levelsMapper, mapLatent} from '../src/models/mapper.js';
import {StyleGAN2, randomStateDict, standardConfig} from '../src/models/stylegan2.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

export async function benchMapper({trainStep = true} = {}): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const cfg: MapperConfig = {styleDim: 512, nLatent: 18, groups: ALL_GROUPS, split: [4, 8], generatorSize: 1024};
  const mapper = LevelsMapper.random(cfg, 0);
  const keyed = expectedMapperStateDict(cfg);
  const params = keyed.map(([k]) => toFloat32(mapper.weights.get(k)!));

  printHeader('StyleCLIP LevelsMapper, W+ (8, 18, 512)');
  {
    const pIn = keyed.map(([, shape], j) => input(`p${j}`, shape));
    const byKey = new Map(keyed.map(([k], j) => [k, pIn[j]!]));
    const w = input('w', [8, 18, 512]);
    const wHat = mapLatent(w, levelsMapper(w, (k) => byKey.get(k)!, cfg));
    const loss = F.mean(F.square(wHat));
    const fwd = await compile([...pIn, w], [wHat]);
    const fb = await compile([...pIn, w], [loss, ...grad(loss, pIn)]);
    const feeds = [...params, new Float32Array(8 * 18 * 512).map((_, i) => Math.sin(i))];
    results.push(await timeIt('levels_mapper_fwd', () => fwd.run(feeds), {warmup: 2, reps: 15}));
    results.push(await timeIt('levels_mapper_fwdbwd', () => fb.run(feeds), {warmup: 2, reps: 15}));
    await fwd.release();
    await fb.release();
  }

  if (trainStep) {
    printHeader('StyleCLIP mapper training step, FFHQ-1024 G + ViT-B/32, batch 2 (fwd + bwd to the mapper weights)');
    const g = StyleGAN2.fromStateDict(randomStateDict(standardConfig(1024), 0, {noiseStrength: 0.1}));
    const clip = CLIP.fromStateDict(randomClipStateDict(VIT_B_32, 0), {config: VIT_B_32});
    const text = new Float32Array(VIT_B_32.embedDim).map((_, i) => Math.cos(i));
    const trainParams = new Params(keyed.map(([k, shape], j) => [k, {shape, data: params[j]!}]));
    const {program: prog, runFeeds} = await compileStep(trainParams, () => mapperTrainingGraph(g, clip, cfg, (k) => trainParams.get(k), {text, batch: 2, lambdaClip: 1, lambdaL2: 0.8, lambdaId: 0, identity: null, clipInput: 'normalized'}));
    const feeds = [...params, ...runFeeds, new Float32Array(2 * 18 * 512).map((_, i) => 0.5 * Math.sin(i)), ...g.noiseArrays('const', 2)];
    results.push(await timeIt('mapper_train_step_1024_b2', () => prog.run(feeds), {warmup: 1, reps: 3}));
    await prog.release();
  }
  return results;
}
