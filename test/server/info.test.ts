/**
 * GET /api/info beyond the model sizes: the official method defaults come from the library's defaults modules,
 * the panel defaults derive from them, and the example prompts are the mapper prompts first, then the bundle's
 * list (the demo's benchmark prompts) or the official StyleCLIP examples.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {GLOBAL_DEFAULTS} from '../../src/edit/global-defaults.js';
import {MAPPER_DEFAULTS} from '../../src/edit/mapper-defaults.js';
import {OPTIMIZE_DEFAULTS} from '../../src/edit/optimize-defaults.js';
import {ALL_GROUPS, LevelsMapper} from '../../src/models/mapper.js';
import type {InfoResponse} from '../../src/server/api-types.js';
import {createApp} from '../../src/server/app.js';
import type {ModelBundle} from '../../src/server/bundle.js';
import {OFFICIAL_EXAMPLES, demoExamples} from '../../src/server/examples.js';
import {tinyBundle} from './tiny-bundle.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-info-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

let bundle: ModelBundle;
beforeAll(async () => {
  bundle = await tinyBundle(tmp);
});

async function info(b: ModelBundle): Promise<InfoResponse> {
  const web = createApp(b, {webRoot: null});
  const res = await web.app.request('/api/info');
  expect(res.status).toBe(200);
  return (await res.json()) as InfoResponse;
}

/** A random mapper recorded as trained for `prompt`. */
function mapperFor(prompt: string): LevelsMapper {
  const m = LevelsMapper.random({styleDim: bundle.g.config.styleDim, nLatent: bundle.g.nLatent, groups: ALL_GROUPS, split: null, generatorSize: bundle.g.config.size}, 2);
  return new LevelsMapper(m.config, m.weights, prompt);
}

describe('GET /api/info', () => {
  it('states the official settings of each method and the panel defaults built on them', async () => {
    const i = await info(bundle);
    expect(i.defaults.official.global).toEqual({alpha: GLOBAL_DEFAULTS.alpha, beta: GLOBAL_DEFAULTS.beta});
    expect(i.defaults.official.optimize).toEqual({steps: OPTIMIZE_DEFAULTS.steps, lr: OPTIMIZE_DEFAULTS.lr, lambdaL2: OPTIMIZE_DEFAULTS.lambdaL2, lambdaId: OPTIMIZE_DEFAULTS.lambdaId});
    expect(i.defaults.official.mapper.lr).toBe(MAPPER_DEFAULTS.lr);
    expect(i.defaults.official.mapper.steps).toBe(MAPPER_DEFAULTS.steps);
    // The optimisation panel runs shorter than the official 300 steps, at the official lr and λ_L2, without λ_ID.
    expect(i.defaults.optimize.steps).toBeLessThan(OPTIMIZE_DEFAULTS.steps);
    expect([i.defaults.optimize.lr, i.defaults.optimize.lambdaL2, i.defaults.optimize.lambdaId]).toEqual([OPTIMIZE_DEFAULTS.lr, OPTIMIZE_DEFAULTS.lambdaL2, 0]);
    // No mapper-training settings in the bundle: the official lr, λ_L2 and batch.
    expect(i.defaults.mapperTrain).toMatchObject({batch: MAPPER_DEFAULTS.batch, lr: MAPPER_DEFAULTS.lr, lambdaL2: MAPPER_DEFAULTS.lambdaL2});
    expect(i.limits.alpha[0]).toBeLessThan(i.defaults.alpha);
    expect(i.limits.alpha[1]).toBeGreaterThan(i.defaults.alpha);
  });

  it('offers the official StyleCLIP examples for models that name none, after the mappers’ prompts', async () => {
    expect((await info(bundle)).examples).toEqual(OFFICIAL_EXAMPLES);
    const mapper = mapperFor('a face with purple hair');
    const withMapper: ModelBundle = {...bundle, mappers: new Map([['purple', mapper]])};
    expect((await info(withMapper)).examples[0]).toEqual({neutral: 'a face', target: 'a face with purple hair'});
  });

  it('offers the bundle’s own examples (the demo’s benchmark prompts) without repeating a mapper prompt', async () => {
    const demo = demoExamples();
    expect(demo.map((e) => e.target)).toContain('a face with grey hair');
    expect(demo.map((e) => e.target)).toContain('a smiling face');
    const mapper = mapperFor('a face with grey hair');
    const i = await info({...bundle, mappers: new Map([['grey-hair', mapper]]), examples: demo});
    expect(i.examples[0]!.target).toBe('a face with grey hair');
    expect(i.examples.filter((e) => e.target === 'a face with grey hair')).toHaveLength(1);
    expect(i.examples).toHaveLength(demo.length);
  });
});
