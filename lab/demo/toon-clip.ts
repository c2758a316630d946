/**
 * ToonCLIP: the demo world's CLIP. Same architecture class as openai CLIP (ViT image tower, causal
 * text transformer, real BPE tokenizer and 49408-token vocabulary, context 77), sized for the 64×64 renders and
 * a CPU budget, trained contrastively on render/caption pairs by lab/demo/train-clip.ts.
 *
 * Two models ship under assets/demo/: `toonclip.safetensors` (seed 1) is the one StyleCLIP edits with;
 * `toonclip-eval.safetensors` (seed 2) is a second, independently trained model for evaluation. Both are fp16
 * safetensors in openai's state-dict layout with the config in `__metadata__.config`, so the generic loaders
 * (`loadClip`, `clipFromBytes`) read them with no extra options.
 *
 * Images enter ToonCLIP exactly as StyleCLIP's CLIP losses feed generator output: `clipInputFromGenerated(x,
 * 64, 'normalized')` of a [-1, 1] image, i.e. ((x + 1)/2 − mean)/std with CLIP's mean/std, no resize at 64×64.
 */
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {StyleclipError} from '../../src/errors.js';
import {loadClip} from '../../src/models/clip/load.js';
import type {ClipConfig, CLIP} from '../../src/models/clip/model.js';

/**
 * ToonCLIP's hyperparameters. Head counts are width/64, as openai build_model infers them, so the config is
 * also inferable from the weights alone. The 49408×64 token embedding (6.3 MB in fp16) dominates the size.
 */
export const TOONCLIP_CONFIG: Readonly<ClipConfig> = Object.freeze({
  embedDim: 64,
  imageResolution: 64,
  visionLayers: 4,
  visionWidth: 128,
  visionPatchSize: 8,
  visionHeads: 2,
  contextLength: 77,
  vocabSize: 49408,
  transformerWidth: 64,
  transformerHeads: 1,
  transformerLayers: 4,
});

/**
 * A wider ToonCLIP (the v2 world's): embedding `embed` and text width `width` (heads width/64, as openai infers them);
 * the image tower keeps its width unless it is narrower than the text's.
 */
export function toonClipConfig({embed = TOONCLIP_CONFIG.embedDim, width = TOONCLIP_CONFIG.transformerWidth}: {embed?: number; width?: number} = {}): ClipConfig {
  if (!(Number.isInteger(embed) && embed > 0 && Number.isInteger(width) && width % 64 === 0 && width > 0)) {
    throw new StyleclipError(`ToonCLIP: embedding must be a positive integer and width a positive multiple of 64, got ${embed} and ${width}`);
  }
  const visionWidth = Math.max(TOONCLIP_CONFIG.visionWidth, width);
  return {...TOONCLIP_CONFIG, embedDim: embed, transformerWidth: width, transformerHeads: width / 64, visionWidth, visionHeads: visionWidth / 64};
}

/** The config with openai's snake_case names, as stored in `__metadata__.config` (see parseClipConfig). */
export function toonClipConfigJson(c: ClipConfig = TOONCLIP_CONFIG): Record<string, number> {
  return {
    embed_dim: c.embedDim,
    image_resolution: c.imageResolution,
    vision_layers: c.visionLayers,
    vision_width: c.visionWidth,
    vision_patch_size: c.visionPatchSize,
    vision_heads: c.visionHeads,
    context_length: c.contextLength,
    vocab_size: c.vocabSize,
    transformer_width: c.transformerWidth,
    transformer_heads: c.transformerHeads,
    transformer_layers: c.transformerLayers,
  };
}

export type ToonClipRole = 'edit' | 'eval';

/** Where the shipped weights are: <package root>/assets/demo, from src/demo (tsx, vitest) or dist/demo. */
export const TOONCLIP_URL = new URL('../../assets/demo/toonclip.safetensors', import.meta.url);
export const TOONCLIP_EVAL_URL = new URL('../../assets/demo/toonclip-eval.safetensors', import.meta.url);

/** The path of a shipped ToonCLIP: 'edit' (seed 1, used by the editing methods) or 'eval' (seed 2). */
export function toonClipPath(role: ToonClipRole = 'edit'): string {
  return fileURLToPath(role === 'edit' ? TOONCLIP_URL : TOONCLIP_EVAL_URL);
}

const cache = new Map<ToonClipRole, CLIP>();

/** Load a shipped ToonCLIP (cached per role). */
export function loadToonClip(role: ToonClipRole = 'edit'): CLIP {
  const hit = cache.get(role);
  if (hit) return hit;
  const file = toonClipPath(role);
  if (!existsSync(file)) {
    throw new StyleclipError(`the demo CLIP '${file}' is missing; train it with: node --import tsx lab/scripts/train-clip.ts --seed ${role === 'edit' ? 1 : 2} --out ${file}`);
  }
  const clip = loadClip(file);
  cache.set(role, clip);
  return clip;
}
