/**
 * Global directions, the fast path: a preview is one matvec and one generator pass, serialised with the other
 * previews but never queued behind long jobs; accept stores the edited StyleSpace latent.
 */
import type {Context, Hono} from 'hono';
import type {AcceptResult, GlobalEditRequest, PreviewResult} from '../api-types.js';
import {ALPHA_RANGE, type AppContext, MAX_PROMPT, imageUrl} from '../context.js';
import {jsonBody} from '../http.js';
import {badRequest} from '../validate.js';

const GLOBAL_FIELDS = ['latentId', 'neutral', 'target', 'alpha', 'beta', 'minChannels'] as const satisfies readonly (keyof GlobalEditRequest)[];

export function globalRoutes(app: Hono, ctx: AppContext): void {
  const globalEdit = async (c: Context) => {
    const f = await jsonBody(c, GLOBAL_FIELDS);
    const ed = ctx.needEditor();
    const entry = ctx.latentOf(f.id('latentId'));
    const neutral = f.text('neutral', MAX_PROMPT);
    const target = f.text('target', MAX_PROMPT);
    const alpha = f.number('alpha', ...ALPHA_RANGE);
    if (f.has('beta') && f.has('minChannels')) throw badRequest("give either 'beta' or 'minChannels', not both");
    // Neither: the editor's default (the relevance file's recommendation, else the official β).
    const threshold = f.has('beta') ? {beta: f.number('beta', 0, 1)} : f.has('minChannels') ? {minChannels: f.int('minChannels', 1, 100_000)} : {};
    const r = await ctx.inPreviewQueue(() => ed.edit({styles: entry.styles, neutral, target, alpha, ...threshold}));
    return {r, neutral, target, alpha, beta: r.beta};
  };

  app.post('/api/global/preview', async (c) => {
    const {r, alpha} = await globalEdit(c);
    const imageId = await ctx.addImage(r.image);
    const res: PreviewResult = {image: imageUrl(imageId), channelsMoved: r.channelsMoved, beta: r.beta, maxScore: r.maxScore, alpha};
    return c.json(res);
  });

  app.post('/api/global/accept', async (c) => {
    const {r, neutral, target, alpha, beta} = await globalEdit(c);
    const latent = await ctx.addLatent(null, r.styles, r.image, `global '${neutral}' → '${target}' (α ${alpha}, β ${beta.toFixed(3)})`);
    const res: AcceptResult = {...latent, channelsMoved: r.channelsMoved};
    return c.json(res);
  });
}
