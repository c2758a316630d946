/** GET /api/info: the models, their defaults (panel settings and the official ones), example prompts and limits. */
import type {Hono} from 'hono';
import {GLOBAL_DEFAULTS} from '../../edit/global-defaults.js';
import {MAPPER_DEFAULTS} from '../../edit/mapper-defaults.js';
import {OPTIMIZE_DEFAULTS} from '../../edit/optimize-defaults.js';
import type {InfoResponse} from '../api-types.js';
import {ALPHA_RANGE, type AppContext, BETA_RANGE, MAX_PROMPT} from '../context.js';
import {OFFICIAL_EXAMPLES, examplePrompts} from '../examples.js';

const NEUTRAL = 'a face';

export function infoRoutes(app: Hono, ctx: AppContext): void {
  const {bundle, g} = ctx;
  const {clip} = bundle;
  app.get('/api/info', (c) => {
    const mappers = [...bundle.mappers].map(([name, m]) => ({name, prompt: m.prompt}));
    const info: InfoResponse = {
      model: {
        name: bundle.name,
        size: g.config.size,
        styleDim: g.config.styleDim,
        nLatent: g.nLatent,
        styleLayers: g.layers.length,
        hasLatentAvg: g.latentAvg !== null && g.latentAvg !== undefined,
      },
      clip: {embedDim: clip.config.embedDim, imageResolution: clip.config.imageResolution},
      global: bundle.relevance ? {channels: bundle.relevance.channels.length} : null,
      mappers,
      examples: examplePrompts(mappers.map((m) => m.prompt), bundle.examples ?? OFFICIAL_EXAMPLES, NEUTRAL),
      defaults: {
        truncation: ctx.defaults.truncation,
        // The relevance file's recommended settings (auto β on the demo models), else the official ones.
        ...ctx.globalDefaults(),
        neutral: NEUTRAL,
        optimize: ctx.defaults.optimize,
        identity: ctx.identityName(),
        mapperTrain: ctx.defaults.mapperTrain,
        official: {
          global: {alpha: GLOBAL_DEFAULTS.alpha, beta: GLOBAL_DEFAULTS.beta},
          optimize: {steps: OPTIMIZE_DEFAULTS.steps, lr: OPTIMIZE_DEFAULTS.lr, lambdaL2: OPTIMIZE_DEFAULTS.lambdaL2, lambdaId: OPTIMIZE_DEFAULTS.lambdaId},
          mapper: {steps: MAPPER_DEFAULTS.steps, batch: MAPPER_DEFAULTS.batch, samples: MAPPER_DEFAULTS.samples, lr: MAPPER_DEFAULTS.lr, lambdaL2: MAPPER_DEFAULTS.lambdaL2, lambdaId: MAPPER_DEFAULTS.lambdaId},
        },
      },
      photo: (({identity: _identity, ...photo}) => photo)(ctx.photo),
      limits: {alpha: ALPHA_RANGE, beta: BETA_RANGE, maxUploadBytes: ctx.maxUploadBytes, maxPrompt: MAX_PROMPT, maxTrainedMappers: ctx.maxTrainedMappers},
    };
    return c.json(info);
  });
}
