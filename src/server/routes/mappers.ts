/** Latent mappers: apply one to a W+ latent, train one as a queued job (it joins the list), download one. */
import type {Hono} from 'hono';
import {MAPPER_DEFAULTS} from '../../edit/mapper-defaults.js';
import {trainMapper} from '../../edit/mapper-train.js';
import {runMapper, serializeMapper} from '../../models/mapper.js';
import type {JobProgress, MapperApplyRequest, MapperTrainRequest, MapperTrained} from '../api-types.js';
import {type AppContext, MAX_PROMPT, MAX_SEED} from '../context.js';
import {clientOf, download, jobStarted, jsonBody} from '../http.js';
import {HttpError, badRequest} from '../validate.js';

const APPLY_FIELDS = ['latentId', 'mapper'] as const satisfies readonly (keyof MapperApplyRequest)[];
const TRAIN_FIELDS = ['prompt', 'steps', 'batch', 'samples', 'lr', 'lambdaL2', 'seed', 'client'] as const satisfies readonly (keyof MapperTrainRequest)[];

export function mapperRoutes(app: Hono, ctx: AppContext): void {
  const {bundle, g} = ctx;

  app.post('/api/mapper/apply', async (c) => {
    const f = await jsonBody(c, APPLY_FIELDS);
    const entry = ctx.latentOf(f.id('latentId'));
    const name = f.text('mapper', 64);
    const m = bundle.mappers.get(name);
    if (!m) throw new HttpError(404, `unknown mapper '${name.slice(0, 64)}' (GET /api/info lists them)`);
    if (!entry.wPlus) throw badRequest('mappers act on W+, and this latent is StyleSpace only (after a global edit); apply the mapper before the global edit');
    const {wHat} = await runMapper(m, entry.wPlus);
    return c.json(await ctx.addLatent(wHat, null, null, `mapper ${name}${m.prompt ? ` ('${m.prompt}')` : ''}`));
  });

  app.post('/api/mapper/train', async (c) => {
    const f = await jsonBody(c, TRAIN_FIELDS);
    const d = ctx.defaults.mapperTrain;
    const prompt = f.text('prompt', MAX_PROMPT);
    const steps = f.int('steps', 1, 50_000, d.steps);
    const batch = f.int('batch', 1, 16, d.batch);
    const samples = f.int('samples', 1, 10_000, d.samples);
    const lr = f.number('lr', 1e-5, 5, d.lr);
    const lambdaL2 = f.number('lambdaL2', 0, 10, d.lambdaL2);
    const seed = f.int('seed', 0, MAX_SEED, 0);
    if (samples < batch) throw badRequest(`'samples' (${samples}) must be at least 'batch' (${batch})`);
    const client = clientOf(f);
    const truncation = ctx.defaults.truncation;
    const job = ctx.runner.submit('mapper-train', client, async (j, signal) => {
      const text = await ctx.textFeatures(prompt);
      // With the bundle's identity network (the demo's), the official faces ID loss, as `mapper train` on the demo.
      const id = bundle.identity ? {identity: bundle.identity.net, lambdaId: MAPPER_DEFAULTS.lambdaId} : {};
      const r = await trainMapper(g, bundle.clip, {
        text, prompt, samples, steps, batch, lr, lambdaL2, seed, truncation, signal, ...id,
        onStep: (s) => {
          const p: JobProgress = {step: s.step + 1, steps: s.steps, loss: s.loss, clip: s.clip, l2: s.l2, ...(bundle.identity ? {id: s.id} : {})};
          j.progress({...p});
        },
      });
      const name = ctx.addTrainedMapper(prompt, r.mapper);
      const done: MapperTrained = {mapper: name, prompt, steps: r.step};
      return {...done};
    });
    return jobStarted(c, job);
  });

  app.get('/api/mappers/:name/download', (c) => {
    const name = c.req.param('name');
    const m = bundle.mappers.get(name);
    if (!m) throw new HttpError(404, `unknown mapper '${name.slice(0, 64)}'`);
    return download(c, serializeMapper(m), `${name}.safetensors`);
  });
}
