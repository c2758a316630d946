/** CLIP benchmark: ViT-B/32 shapes (random weights), encode_image forward and forward+backward to the image. */
import {grad} from '../src/engine/autodiff.js';
import * as F from '../src/engine/ops.js';
import {compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {CLIP, VIT_B_32, randomClipStateDict} from '../src/models/clip/model.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

export async function benchClip(): Promise<BenchResult[]> {
  printHeader('CLIP ViT-B/32 encode_image');
  const clip = CLIP.fromStateDict(randomClipStateDict(VIT_B_32, 0), {config: VIT_B_32});
  const results: BenchResult[] = [];
  for (const batch of [1, 8]) {
    const x = input('image', [batch, 3, 224, 224]);
    const f = clip.encodeImage(x);
    // Same objective as the baseline: backward of sum(f²) to the input image (weights frozen).
    const [gx] = grad(F.sum(F.square(f)), [x]);
    const fwd = await compile([x], [f]);
    const fb = await compile([x], [f, gx!]);
    const img = new Float32Array(batch * 3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
    results.push(await timeIt(`clip_vitb32_encode_image_b${batch}_fwd`, () => fwd.run([img]), {warmup: 2, reps: 9}));
    results.push(await timeIt(`clip_vitb32_encode_image_b${batch}_fwdbwd`, () => fb.run([img]), {warmup: 2, reps: 9}));
    await fwd.release();
    await fb.release();
  }
  return results;
}
