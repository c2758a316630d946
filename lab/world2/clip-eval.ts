/**
 * ToonCLIP v2's held-out evaluation: zero-shot accuracy per attribute on renderer-v2 faces, counting only faces where
 * the attribute is visible and its value named (inside its region by the margin), as the captions do.
 */
import type {AttributeName} from '../../src/demo/attributes.js';
import {Rng} from '../../src/demo/rng.js';
import type {CLIP} from '../../src/models/clip/model.js';
import type {ClipTokenizer} from '../../src/models/clip/tokenizer.js';
import {attributeAccuracies, embedRenders, EVAL_SEED_BASE, type AttributeAccuracy} from '../demo/train-clip.js';
import {isVisible, namedValue, sampleFactors} from './factors.js';
import {renderFactorsTensor} from './render.js';

/** Zero-shot accuracy on `n` held-out v2 faces (`intermediate` of them between values per attribute). */
export async function zeroShotAccuracyV2(clip: CLIP, tok: ClipTokenizer, {n = 1000, intermediate = 0.4} = {}): Promise<Record<AttributeName, AttributeAccuracy>> {
  const R = clip.config.imageResolution;
  const rng = new Rng(EVAL_SEED_BASE + 2);
  const faces = Array.from({length: n}, () => sampleFactors(rng, intermediate).factors);
  const per = 3 * R * R;
  const images = new Float32Array(n * per);
  faces.forEach((f, i) => renderFactorsTensor(f, R, images, i * per));
  const img = await embedRenders(clip, images, n);
  return attributeAccuracies(clip, tok, img, n, (i, a) => (isVisible(faces[i]!, a) ? (namedValue(faces[i]!, a) ?? null) : null));
}
