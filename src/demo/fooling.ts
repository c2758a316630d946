/**
 * Fooling pools for ToonCLIP's adversarial fine-tune (SPEC.md §6).
 *
 * Latent optimisation with a small CLIP finds cheap W+ moves that raise the image–text cosine more than a genuine
 * edit does (muddy hair blends score higher for "a face with a mohawk" than the generator's own mohawks; see `npm
 * run bench:diagnose`). A pool holds such moves next to genuine edits of the same faces:
 *   - a round picks a target (attribute, value) and 16 latents z whose decoding lacks it; z' is z with that
 *     attribute's coordinate redrawn until the decoding shows the target and nothing else changes, so G(z') is the
 *     generator's genuine edit of the face (the decoding is what ToonGAN was trained to draw);
 *   - the fooling image is latent optimisation of W(z) toward the target prompt with the CLIP under training
 *     (official settings, `attackSteps` steps).
 * ToonCLIP then trains to rank the genuine edit above the fooling one for the prompt (train-clip.ts, ranking term).
 * No classifier is involved: the labels come from the generator's latent decoding.
 */
import {StyleclipError, check} from '../errors.js';
import type {HostTensor} from '../io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {encodeTexts} from '../models/clip/encode.js';
import type {CLIP} from '../models/clip/model.js';
import type {ClipTokenizer} from '../models/clip/tokenizer.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {generate, toWPlus} from '../models/generate.js';
import {optimizeLatent} from '../edit/optimize.js';
import {type AttributeName, attributeNames, attributeValues, isAttributeVisible} from './attributes.js';
import {promptFor} from './captions.js';
import {Rng, hashSeed} from './rng.js';
import {ATTRIBUTE_DIMS, decodeLatent} from './toon-gan.js';

export interface FoolingPool {
  /** [N, 3, S, S] optimised (fooling) images. */
  fool: Float32Array;
  /** [N, 3, S, S] genuine edits G(z') of the same faces. */
  genuine: Float32Array;
  /** The target prompt of each unit. */
  prompts: string[];
  size: number;
}

/** Targets a round can draw: every value of every attribute ToonCLIP reads (not lipstick or eye colour, a few pixels). */
export const FOOLING_TARGETS: readonly {attribute: AttributeName; value: string}[] = attributeNames
  .filter((a) => a !== 'eyeColor' && a !== 'lipstick')
  .flatMap((a) => (attributeValues(a) as readonly string[]).map((value) => ({attribute: a, value})));

export interface FoolingPoolOptions {
  rounds: number;
  /** Index of the first round (rounds are seeded by index, so pools from disjoint ranges never share a round). */
  firstRound?: number;
  perRound?: number;
  attackSteps?: number;
  onRound?: (round: number, prompt: string) => void;
}

/**
 * The faces of round `round`: its target, latents z [perRound·D] whose decoding lacks the target (and can show it),
 * and z' [perRound·D], z with the target attribute's coordinate redrawn so that the decoding shows the target and
 * every other attribute is unchanged.
 */
export function roundLatents(round: number, perRound: number, D: number): {target: (typeof FOOLING_TARGETS)[number]; z: Float32Array; edited: Float32Array} {
  const rng = new Rng(hashSeed(0xadf, round));
  const t = FOOLING_TARGETS[Math.floor(rng.next() * FOOLING_TARGETS.length)]!;
  const z = new Float32Array(perRound * D);
  const edited = new Float32Array(perRound * D);
  for (let k = 0; k < perRound; ) {
    const z1 = Float32Array.from({length: D}, () => rng.normal());
    const attrs = decodeLatent(z1, D).attributes;
    if (attrs[t.attribute] === t.value || !isAttributeVisible({...attrs, [t.attribute]: t.value}, t.attribute)) continue;
    const z2 = Float32Array.from(z1);
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      z2[ATTRIBUTE_DIMS[t.attribute]] = rng.normal();
      const b = decodeLatent(z2, D).attributes;
      ok = b[t.attribute] === t.value && attributeNames.every((n) => n === t.attribute || b[n] === attrs[n]);
    }
    if (!ok) continue;
    z.set(z1, k * D);
    edited.set(z2, k * D);
    k++;
  }
  return {target: t, z, edited};
}

/** Build a pool against `clip` (see the file header). Deterministic given the models. */
export async function makeFoolingPool(g: StyleGAN2, clip: CLIP, tok: ClipTokenizer, opts: FoolingPoolOptions): Promise<FoolingPool> {
  const {rounds, firstRound = 0, perRound = 16, attackSteps = 150} = opts;
  const D = g.config.styleDim;
  const plane = 3 * g.config.size ** 2;
  const N = rounds * perRound;
  const pool: FoolingPool = {fool: new Float32Array(N * plane), genuine: new Float32Array(N * plane), prompts: [], size: N};
  for (let r = 0; r < rounds; r++) {
    const {target: t, z, edited} = roundLatents(firstRound + r, perRound, D);
    const prompt = promptFor(t.attribute, t.value as never);
    const w0 = await toWPlus(g, {dtype: 'float32', shape: [perRound, D], data: z}, 'z', 1);
    const genuine = await generate(g, {latent: {dtype: 'float32', shape: [perRound, D], data: edited}, space: 'z'});
    const [text] = [await encodeTexts(clip, tok, [prompt])];
    const attacked = await optimizeLatent(g, clip, {text: text!, latent: w0, steps: attackSteps});
    pool.fool.set(attacked.image.data as Float32Array, r * perRound * plane);
    pool.genuine.set(genuine.image.data as Float32Array, r * perRound * plane);
    for (let k = 0; k < perRound; k++) pool.prompts.push(prompt);
    opts.onRound?.(r, prompt);
  }
  return pool;
}

/** Write a pool (float32 safetensors, prompts in the metadata) atomically. */
export function writeFoolingPool(file: string, pool: FoolingPool, size: number, meta: Record<string, string> = {}): void {
  const shape = [pool.size, 3, size, size];
  const t = new Map<string, HostTensor>([
    ['fool', {dtype: 'float32', shape, data: pool.fool}],
    ['genuine', {dtype: 'float32', shape, data: pool.genuine}],
  ]);
  writeFileAtomic(file, serializeSafetensors(t, {...meta, format: 'toonclip-fooling-pool', prompts: JSON.stringify(pool.prompts)}), 'fooling pool');
}

/** Read one or more pools into one. */
export function readFoolingPools(files: readonly string[]): FoolingPool {
  const parts = files.map((f) => {
    const {tensors, metadata} = parseSafetensors(readBytes(f, 'fooling pool'), {what: `'${f}'`});
    if (metadata.format !== 'toonclip-fooling-pool') throw new StyleclipError(`'${f}' is not a fooling pool`);
    const fool = tensors.get('fool');
    const genuine = tensors.get('genuine');
    const prompts = JSON.parse(metadata.prompts ?? '[]') as unknown;
    check(fool && genuine && fool.dtype === 'float32' && genuine.dtype === 'float32' && fool.shape.join() === genuine.shape.join(), `'${f}': a fooling pool holds float32 'fool' and 'genuine' of one shape`);
    check(Array.isArray(prompts) && prompts.length === fool.shape[0] && prompts.every((p) => typeof p === 'string'), `'${f}': the prompts do not match the images`);
    return {fool: fool.data as Float32Array, genuine: genuine.data as Float32Array, prompts: prompts as string[]};
  });
  const size = parts.reduce((n, p) => n + p.prompts.length, 0);
  const fool = new Float32Array(parts.reduce((n, p) => n + p.fool.length, 0));
  const genuine = new Float32Array(fool.length);
  let off = 0;
  for (const p of parts) {
    fool.set(p.fool, off);
    genuine.set(p.genuine, off);
    off += p.fool.length;
  }
  return {fool, genuine, prompts: parts.flatMap((p) => p.prompts), size};
}
