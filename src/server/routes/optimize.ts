/** Latent optimisation as a queued job: progress (loss terms, intermediate images) streams over the job's SSE. */
import type {Hono} from 'hono';
import {optimizeLatent, type StepInfo} from '../../edit/optimize.js';
import type {JobProgress, OptimizeRequest} from '../api-types.js';
import {type AppContext, MAX_PROMPT, imageUrl} from '../context.js';
import {clientOf, jobStarted, jsonBody} from '../http.js';
import {badRequest} from '../validate.js';

const OPTIMIZE_FIELDS = ['latentId', 'prompt', 'steps', 'lr', 'lambdaL2', 'lambdaId', 'space', 'saveEvery', 'client'] as const satisfies readonly (keyof OptimizeRequest)[];

export function optimizeRoutes(app: Hono, ctx: AppContext): void {
  const {g} = ctx;
  const {clip} = ctx.bundle;

  app.post('/api/optimize', async (c) => {
    const f = await jsonBody(c, OPTIMIZE_FIELDS);
    const entry = ctx.latentOf(f.id('latentId'));
    const prompt = f.text('prompt', MAX_PROMPT);
    const o = ctx.defaults.optimize;
    const steps = f.int('steps', 1, 2000, o.steps);
    const lr = f.number('lr', 1e-4, 1, o.lr);
    const lambdaL2 = f.number('lambdaL2', 0, 10, o.lambdaL2);
    // The identity loss uses face-api's FaceRecognitionNet (shipped with @vladmandic/face-api; StyleCLIP uses 0.005).
    const lambdaId = f.number('lambdaId', 0, 1, o.lambdaId);
    const space = f.choice('space', ['w+', 's'] as const, entry.wPlus ? 'w+' : 's');
    const saveEvery = f.int('saveEvery', 1, 1000, o.saveEvery);
    const client = clientOf(f);
    if (space === 'w+' && !entry.wPlus) throw badRequest("this latent is StyleSpace only (after a global edit); optimise it with space 's'");
    const job = ctx.runner.submit('optimize', client, async (j, signal) => {
      const text = await ctx.textFeatures(prompt);
      const onStep = async (s: StepInfo) => {
        const image = s.image ? imageUrl(await ctx.addImage(s.image)) : undefined;
        const p: JobProgress = {step: s.step + 1, steps: s.steps, loss: s.loss, clip: s.clip, l2: s.l2, ...(lambdaId > 0 ? {id: s.id} : {}), lr: s.lr, ...(image ? {image} : {})};
        j.progress({...p});
      };
      const start = entry.wPlus ? {latent: entry.wPlus, space} : {styles: entry.styles};
      const id = lambdaId > 0 ? {identity: ctx.identityNet(), lambdaId} : {lambdaId: 0};
      const r = await optimizeLatent(g, clip, {text, ...start, steps, lr, lambdaL2, ...id, saveEvery, onStep, signal});
      return {...(await ctx.addLatent(r.wPlus, r.styles, r.image, `optimize '${prompt}' (${steps} steps)`))};
    });
    return jobStarted(c, job);
  });
}
