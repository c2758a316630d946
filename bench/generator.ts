/** Generator benchmark: rosinality-shaped G at 256 and 1024 (channel_multiplier 2, random weights), batch 1. */
import {grad} from '../src/engine/autodiff.js';
import * as F from '../src/engine/ops.js';
import {compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {StyleGAN2, randomStateDict, standardConfig} from '../src/models/stylegan2.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

export async function benchGenerator(sizes = [256, 1024]): Promise<BenchResult[]> {
  printHeader('StyleGAN2 generator, W+ → image, batch 1');
  const results: BenchResult[] = [];
  for (const size of sizes) {
    const g = StyleGAN2.fromStateDict(randomStateDict(standardConfig(size), 0, {noiseStrength: 0.1}));
    const wp = input('wplus', [1, g.nLatent, g.config.styleDim]);
    const noise = Array.from({length: g.numNoise}, (_, i) => input(`noise${i}`, [1, 1, g.noiseRes(i), g.noiseRes(i)]));
    const img = g.synthesis(g.styles(wp), noise);
    // Same objective as the baseline: backward of mean(img²) to W+ (generator weights frozen).
    const loss = F.mean(F.square(img));
    const [dw] = grad(loss, [wp]);
    const fwd = await compile([wp, ...noise], [img]);
    const fb = await compile([wp, ...noise], [loss, dw!]);
    const w = new Float32Array(g.nLatent * g.config.styleDim).map((_, i) => Math.sin(i));
    const feeds = [w, ...g.noiseArrays('const', 1)];
    const reps = size >= 1024 ? 5 : 7;
    results.push(await timeIt(`stylegan2_${size}_fwd`, () => fwd.run(feeds), {warmup: 1, reps}));
    results.push(await timeIt(`stylegan2_${size}_fwdbwd`, () => fb.run(feeds), {warmup: 1, reps}));
    await fwd.release();
    await fb.release();
  }
  return results;
}
