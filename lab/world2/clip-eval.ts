/**
 * ToonCLIP v2's held-out evaluation: zero-shot accuracy per attribute on renderer-v2 faces, counting only faces where
 * the attribute is visible and its value named (inside its region by the margin), as the captions do.
 */
import {type AttributeName, attributeNames, attributeValues} from '../../src/demo/attributes.js';
import {promptFor} from '../../src/demo/captions.js';
import {Rng} from '../../src/demo/rng.js';
import type {CLIP} from '../../src/models/clip/model.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {embedRenders, embedTexts, EVAL_SEED_BASE, type AttributeAccuracy} from '../demo/train-clip.js';
import {isVisible, namedValue, sampleFactors} from './factors.js';
import {renderFactorsTensor} from './render.js';

/** Zero-shot accuracy on `n` held-out v2 faces (`intermediate` of them between values per attribute). */
export async function zeroShotAccuracyV2(clip: CLIP, tok: ClipTokenizer, {n = 1000, intermediate = 0.4} = {}): Promise<Record<AttributeName, AttributeAccuracy>> {
  const E = clip.config.embedDim;
  const R = clip.config.imageResolution;
  const rng = new Rng(EVAL_SEED_BASE + 2);
  const faces = Array.from({length: n}, () => sampleFactors(rng, intermediate).factors);
  const per = 3 * R * R;
  const images = new Float32Array(n * per);
  faces.forEach((f, i) => renderFactorsTensor(f, R, images, i * per));
  const img = await embedRenders(clip, images, n);
  const out = {} as Record<AttributeName, AttributeAccuracy>;
  for (const a of attributeNames) {
    const values = attributeValues(a) as readonly string[];
    const txt = await embedTexts(clip, tok, values.map((v) => promptFor(a, v as never)));
    const freq = new Array<number>(values.length).fill(0);
    let right = 0;
    let count = 0;
    faces.forEach((f, i) => {
      const truth = isVisible(f, a) ? values.indexOf(namedValue(f, a) ?? '') : -1;
      if (truth < 0) return;
      let best = -1;
      let bestS = -Infinity;
      for (let v = 0; v < values.length; v++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += img[i * E + e]! * txt[v * E + e]!;
        if (s > bestS) [best, bestS] = [v, s];
      }
      freq[truth]!++;
      count++;
      if (best === truth) right++;
    });
    out[a] = {accuracy: count > 0 ? right / count : 0, count, majority: count > 0 ? Math.max(...freq) / count : 0};
  }
  return out;
}
