/**
 * A web-app model bundle made of the tiny fixture models (32 px generator, tiny CLIP), a relevance file computed
 * on the first 24 channels with small settings, and one random mapper: enough to exercise every route quickly.
 */
import path from 'node:path';
import {prepareRelevance} from '../../src/edit/global-prepare.js';
import {clipFromBytes} from '../../src/models/clip/load.js';
import {parseClipConfig} from '../../src/models/clip/model.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import {ALL_GROUPS, LevelsMapper} from '../../src/models/mapper.js';
import type {ModelBundle} from '../../src/server/bundle.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';

export async function tinyBundle(tmp: string): Promise<ModelBundle> {
  const g = generatorFromBytes(fixtureBytes('stylegan2_tiny_ckpt.pt'));
  const cfg = fixtureJson<{config: Record<string, number>}>('clip_tiny.json').config;
  const clip = clipFromBytes(fixtureBytes('clip_tiny_state_dict.pt'), {config: parseClipConfig({...cfg, vision_heads: 2})});
  const {relevance} = await prepareRelevance(g, clip, {samples: 200, images: 2, seed: 5, batch: 16, statsBatch: 64, chunkChannels: 8, channels: [0, 24], out: path.join(tmp, 'relevance.safetensors')});
  const mapper = LevelsMapper.random({styleDim: g.config.styleDim, nLatent: g.nLatent, groups: ALL_GROUPS, split: null, generatorSize: g.config.size}, 1);
  return {name: 'tiny fixtures', g, clip, tokenizer: loadDefaultTokenizer(), relevance, mappers: new Map([['tiny-random', mapper]])};
}
