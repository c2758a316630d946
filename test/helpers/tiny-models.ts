/**
 * The tiny fixture models most tests run on, loaded once per test file: G from stylegan2_tiny_ckpt.pt, CLIP from
 * clip_tiny_state_dict.pt with clip_tiny.json's config plus vision_heads 2, and the CLIP text features of the
 * gradcheck fixture's tokens ("a face with grey hair").
 */
import {writeFileSync} from 'node:fs';
import path from 'node:path';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {clipFromBytes} from '../../src/models/clip/load.js';
import {type CLIP, type ClipConfig, eotSelector, parseClipConfig} from '../../src/models/clip/model.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {fixtureBytes, fixtureJson, fixturePath} from './fixtures.js';

/** Path of the tiny StyleGAN2 checkpoint (rosinality layout, `g_ema`). */
export const TINY_G_PATH: string = fixturePath('stylegan2_tiny_ckpt.pt');
/** Path of the tiny CLIP state dict (openai layout; its head counts cannot be inferred, so it needs the config). */
export const TINY_CLIP_PATH: string = fixturePath('clip_tiny_state_dict.pt');

/** The tiny CLIP's config with openai's names: clip_tiny.json's `config` plus `vision_heads: 2`. */
export function tinyClipConfigJson(): Record<string, number> {
  return {...fixtureJson<{config: Record<string, number>}>('clip_tiny.json').config, vision_heads: 2};
}

/** The tiny CLIP's config, parsed. */
export function tinyClipConfig(): Partial<ClipConfig> {
  return parseClipConfig(tinyClipConfigJson());
}

/** Write the tiny CLIP's config JSON into `dir` (for `--clip-config`) and return its path. */
export function writeTinyClipConfig(dir: string, name = 'clip_tiny_config.json'): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(tinyClipConfigJson()));
  return file;
}

let g: StyleGAN2 | undefined;
let clip: CLIP | undefined;
let greyHair: Promise<Float32Array> | undefined;

/** The tiny generator (loaded on first use, then shared within the test file). */
export function tinyG(): StyleGAN2 {
  return (g ??= generatorFromBytes(fixtureBytes('stylegan2_tiny_ckpt.pt')));
}

/** The tiny CLIP (loaded on first use, then shared within the test file). */
export function tinyClip(): CLIP {
  return (clip ??= clipFromBytes(fixtureBytes('clip_tiny_state_dict.pt'), {config: tinyClipConfig()}));
}

/** The tiny CLIP's text features [1, embedDim] of the gradcheck fixture's tokens, "a face with grey hair". */
export function greyHairTextFeatures(): Promise<Float32Array> {
  return (greyHair ??= (async () => {
    const c = tinyClip();
    const ids = parseSafetensors(fixtureBytes('gradcheck_tiny.safetensors')).tensors.get('tokens')!.data as Int32Array;
    const tok = input('tokens', [1, 77], 'int32');
    const eot = input('eot', [1, 77]);
    const [t] = await (await compile([tok, eot], [c.encodeText(tok, eot)])).run([ids, eotSelector(ids, 1, 77)]);
    return t!.data as Float32Array;
  })());
}
