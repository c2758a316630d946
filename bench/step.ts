/**
 * One StyleCLIP latent-optimisation step (G + StyleCLIP resize + CLIP ViT-B/32, backward to W+, text features
 * precomputed), random weights, batch 1, at 256 and 1024 — the baseline's styleclip_step_256/1024.
 */
import {grad} from '../src/engine/autodiff.js';
import * as F from '../src/engine/ops.js';
import {compile} from '../src/engine/session.js';
import {constant, input} from '../src/engine/tensor.js';
import {clipLoss, l2Loss} from '../src/edit/losses.js';
import {CLIP, VIT_B_32, randomClipStateDict} from '../src/models/clip/model.js';
import {StyleGAN2, randomStateDict, standardConfig} from '../src/models/stylegan2.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

export async function benchStep(sizes = [256, 1024]): Promise<BenchResult[]> {
  printHeader('StyleCLIP optimisation step (G → resize → CLIP ViT-B/32, backward to W+)');
  const clip = CLIP.fromStateDict(randomClipStateDict(VIT_B_32, 0), {config: VIT_B_32});
  const text = constant(new Float32Array(512).map((_, i) => Math.cos(i)), [1, 512]);
  const results: BenchResult[] = [];
  for (const size of sizes) {
    const g = StyleGAN2.fromStateDict(randomStateDict(standardConfig(size), 0, {noiseStrength: 0.1}));
    const w = input('wplus', [1, g.nLatent, 512]);
    const w0 = constant(new Float32Array(g.nLatent * 512), [1, g.nLatent, 512]);
    const nz = g.noiseInputs(1);
    const img = g.synthesis(g.styles(w), nz);
    const loss = F.add(F.sum(clipLoss(clip, img, text)), F.mul(l2Loss(w, w0), 0.008));
    const [gw] = grad(loss, [w]);
    const prog = await compile([w, ...nz], [loss, gw!]);
    const feeds = [new Float32Array(g.nLatent * 512).map((_, i) => Math.sin(i)), ...g.noiseArrays('const', 1)];
    results.push(await timeIt(`styleclip_step_${size}`, () => prog.run(feeds), {warmup: 1, reps: size >= 1024 ? 5 : 7}));
    await prog.release();
  }
  return results;
}
