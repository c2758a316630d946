/**
 * Prompt engineering (Radford et al. 2021 §3.1.4; StyleCLIP global_directions): CLIP's 80 ImageNet templates,
 * the averaged text embedding over templates, and the text direction Δt = normalise(t_target − t_neutral).
 */
import {check} from '../../errors.js';

/** CLIP's 80 ImageNet prompt templates, in CLIP's order. */
export const IMAGENET_TEMPLATES: readonly string[] = [
  "a bad photo of a {}.",
  "a photo of many {}.",
  "a sculpture of a {}.",
  "a photo of the hard to see {}.",
  "a low resolution photo of the {}.",
  "a rendering of a {}.",
  "graffiti of a {}.",
  "a bad photo of the {}.",
  "a cropped photo of the {}.",
  "a tattoo of a {}.",
  "the embroidered {}.",
  "a photo of a hard to see {}.",
  "a bright photo of a {}.",
  "a photo of a clean {}.",
  "a photo of a dirty {}.",
  "a dark photo of the {}.",
  "a drawing of a {}.",
  "a photo of my {}.",
  "the plastic {}.",
  "a photo of the cool {}.",
  "a close-up photo of a {}.",
  "a black and white photo of the {}.",
  "a painting of the {}.",
  "a painting of a {}.",
  "a pixelated photo of the {}.",
  "a sculpture of the {}.",
  "a bright photo of the {}.",
  "a cropped photo of a {}.",
  "a plastic {}.",
  "a photo of the dirty {}.",
  "a jpeg corrupted photo of a {}.",
  "a blurry photo of the {}.",
  "a photo of the {}.",
  "a good photo of the {}.",
  "a rendering of the {}.",
  "a {} in a video game.",
  "a photo of one {}.",
  "a doodle of a {}.",
  "a close-up photo of the {}.",
  "a photo of a {}.",
  "the origami {}.",
  "the {} in a video game.",
  "a sketch of a {}.",
  "a doodle of the {}.",
  "a origami {}.",
  "a low resolution photo of a {}.",
  "the toy {}.",
  "a rendition of the {}.",
  "a photo of the clean {}.",
  "a photo of a large {}.",
  "a rendition of a {}.",
  "a photo of a nice {}.",
  "a photo of a weird {}.",
  "a blurry photo of a {}.",
  "a cartoon {}.",
  "art of a {}.",
  "a sketch of the {}.",
  "a embroidered {}.",
  "a pixelated photo of a {}.",
  "itap of the {}.",
  "a jpeg corrupted photo of the {}.",
  "a good photo of a {}.",
  "a plushie {}.",
  "a photo of the nice {}.",
  "a photo of the small {}.",
  "a photo of the weird {}.",
  "the cartoon {}.",
  "art of the {}.",
  "a drawing of the {}.",
  "a photo of the large {}.",
  "a black and white photo of a {}.",
  "the plushie {}.",
  "a dark photo of a {}.",
  "itap of a {}.",
  "graffiti of the {}.",
  "a toy {}.",
  "itap of my {}.",
  "a photo of a cool {}.",
  "a photo of a small {}.",
  "a tattoo of the {}.",
];

/** StyleCLIP's 79 templates: CLIP's list without "a photo of many {}.". */
export const STYLECLIP_TEMPLATES: readonly string[] = IMAGENET_TEMPLATES.filter((t) => t !== 'a photo of many {}.');

export function fillTemplates(text: string, templates: readonly string[] = STYLECLIP_TEMPLATES): string[] {
  return templates.map((t) => t.replace('{}', text));
}

/** x / ‖x‖ for one vector (float64 accumulation). */
export function normalizeVec(x: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(s);
  return Float32Array.from(x, (v) => v * inv);
}

/** normalise(mean_k normalise(f_k)) over the rows of f [K, E]. */
export function averageEmbedding(features: Float32Array, K: number, E: number): Float32Array {
  check(features.length === K * E, 'averageEmbedding: features do not match [K, E]');
  const acc = new Float64Array(E);
  for (let k = 0; k < K; k++) {
    const row = normalizeVec(features.subarray(k * E, (k + 1) * E));
    for (let e = 0; e < E; e++) acc[e]! += row[e]!;
  }
  return normalizeVec(acc);
}

/** Δt = normalise(t_target − t_neutral) for two (averaged, normalised) text embeddings. */
export function textDirection(target: ArrayLike<number>, neutral: ArrayLike<number>): Float32Array {
  check(target.length === neutral.length, 'textDirection: embeddings differ in width');
  return normalizeVec(Float64Array.from(target, (v, i) => v - neutral[i]!));
}
