/**
 * Running CLIP: encode texts (with the tokenizer) and images to features, and the prompt-engineered text
 * embeddings and directions StyleCLIP uses. Programs are compiled once per (model, batch size) and cached.
 */
import {compile} from '../../engine/session.js';
import {input} from '../../engine/tensor.js';
import {check} from '../../errors.js';
import type {HostTensor} from '../../io/host-tensor.js';
import {type CLIP, eotSelector} from './model.js';
import {STYLECLIP_TEMPLATES, averageEmbedding, fillTemplates, textDirection} from './prompts.js';

/** What the encoders need from a tokenizer: [T, contextLength] ids with SOT/EOT, zero padded. */
export interface TextTokenizer {
  tokenize(texts: readonly string[]): Int32Array;
}

/** Unnormalised text features [T, E]. Texts are encoded in chunks of `chunk` to bound memory. */
export async function encodeTexts(clip: CLIP, tokenizer: TextTokenizer, texts: readonly string[], {chunk = 32} = {}): Promise<Float32Array> {
  check(texts.length > 0, 'no texts to encode');
  const L = clip.config.contextLength;
  const E = clip.config.embedDim;
  const out = new Float32Array(texts.length * E);
  for (let at = 0; at < texts.length; at += chunk) {
    const part = texts.slice(at, at + chunk);
    const T = part.length;
    const ids = tokenizer.tokenize(part);
    check(ids.length === T * L, `tokenizer produced ${ids.length / T} ids per text, the model's context is ${L}`);
    // Only positions up to the last EOT matter (causal attention): run the shortest multiple of 8 that keeps them.
    const sel = eotSelector(ids, T, L);
    let last = 0;
    for (let i = 0; i < sel.length; i++) if (sel[i]) last = Math.max(last, i % L);
    const Lr = Math.min(L, Math.ceil((last + 1) / 8) * 8);
    const idsR = new Int32Array(T * Lr);
    const selR = new Float32Array(T * Lr);
    for (let t = 0; t < T; t++) {
      idsR.set(ids.subarray(t * L, t * L + Lr), t * Lr);
      selR.set(sel.subarray(t * L, t * L + Lr), t * Lr);
    }
    const tok = input('tokens', [T, Lr], 'int32');
    const eot = input('eot', [T, Lr]);
    const prog = await compile([tok, eot], [clip.encodeText(tok, eot)]);
    const [f] = await prog.run([idsR, selR]);
    out.set(f!.data as Float32Array, at * E);
  }
  return out;
}

/** Unnormalised image features [N, E] for already-normalised images [N, 3, R, R]. */
export async function encodeImages(clip: CLIP, images: HostTensor): Promise<Float32Array> {
  const R = clip.config.imageResolution;
  check(images.shape.length === 4 && images.shape[1] === 3 && images.shape[2] === R && images.shape[3] === R, `CLIP images must be [N, 3, ${R}, ${R}], got [${images.shape.join(', ')}]`);
  const x = input('image', images.shape);
  const prog = await compile([x], [clip.encodeImage(x)]);
  const [f] = await prog.run([images.data as Float32Array]);
  return f!.data as Float32Array;
}

/** normalise(mean over templates of normalised features) for one text (StyleCLIP global directions, step 3). */
export async function templateEmbedding(clip: CLIP, tokenizer: TextTokenizer, text: string, templates: readonly string[] = STYLECLIP_TEMPLATES): Promise<Float32Array> {
  const f = await encodeTexts(clip, tokenizer, fillTemplates(text, templates));
  return averageEmbedding(f, templates.length, clip.config.embedDim);
}

/** Δt = normalise(t(target) − t(neutral)) with template-averaged embeddings. */
export async function promptDirection(clip: CLIP, tokenizer: TextTokenizer, neutral: string, target: string, templates?: readonly string[]): Promise<Float32Array> {
  const [t, n] = [await templateEmbedding(clip, tokenizer, target, templates), await templateEmbedding(clip, tokenizer, neutral, templates)];
  return textDirection(t, n);
}
