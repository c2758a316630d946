/** Latents and their images: sample from a seed, upload a file, read one, download it, serve rendered PNGs. */
import type {Hono} from 'hono';
import {generate, toWPlus} from '../../models/generate.js';
import {stylesToTensors} from '../../models/stylespace.js';
import {serializeNpy} from '../../io/npy.js';
import {serializeSafetensors} from '../../io/safetensors.js';
import type {LatentResult, SampleRequest} from '../api-types.js';
import {type AppContext, MAX_SEED, imageUrl} from '../context.js';
import {download, jsonBody, queryChoice, tooLargeMessage} from '../http.js';
import type {ParsedLatent} from '../uploads.js';
import {HttpError, badRequest} from '../validate.js';

const SAMPLE_FIELDS = ['seed', 'truncation'] as const satisfies readonly (keyof SampleRequest)[];

export function latentRoutes(app: Hono, ctx: AppContext): void {
  const {g} = ctx;

  app.post('/api/sample', async (c) => {
    const f = await jsonBody(c, SAMPLE_FIELDS);
    const seed = f.int('seed', 0, MAX_SEED);
    const truncation = f.number('truncation', 0, 1, ctx.defaults.truncation);
    if (truncation !== 1 && !g.latentAvg) throw badRequest('this generator has no latent_avg, so truncation must be 1');
    const r = await generate(g, {seed, truncation, returnStyles: true});
    return c.json(await ctx.addLatent(r.wPlus, r.styles, r.image, `seed ${seed} (ψ ${truncation})`));
  });

  // The body streams into a parser worker (counted against the limit there) while the request holds one of the
  // parser slots (a bounded number at once); a declared length over the limit is refused before reading.
  app.post('/api/latent', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(type)) throw new HttpError(415, "upload the latent as multipart/form-data with a 'file' field");
    if (Number(c.req.header('content-length') ?? 0) > ctx.maxUploadBytes) throw new HttpError(413, tooLargeMessage(ctx.maxUploadBytes));
    const spec = {nLatent: g.nLatent, styleDim: g.config.styleDim, size: g.config.size, styleLayers: g.layers.length};
    const parsed = await ctx.uploads.withSlot(() => ctx.uploads.parse(c.req.raw.body, type, spec, ctx.maxUploadBytes));
    return c.json(await uploadedLatent(ctx, parsed));
  });

  app.get('/api/latents/:id', async (c) => {
    const e = ctx.latentOf(c.req.param('id'));
    const res: LatentResult = {latentId: c.req.param('id'), image: imageUrl(await ctx.ensureImage(e)), label: e.label, wPlus: e.wPlus !== null};
    return c.json(res);
  });

  app.get('/api/latents/:id/download', (c) => {
    const id = c.req.param('id');
    const e = ctx.latentOf(id);
    const format = queryChoice(c, 'format', ['npy', 'safetensors'] as const, e.wPlus ? 'npy' : 'safetensors');
    let bytes: Uint8Array;
    if (format === 'npy') {
      if (!e.wPlus) throw badRequest('this latent is StyleSpace only (after a global edit); download it as safetensors');
      bytes = serializeNpy(e.wPlus);
    } else {
      bytes = serializeSafetensors(e.wPlus ? new Map([['w_plus', e.wPlus]]) : stylesToTensors(e.styles));
    }
    return download(c, bytes, `latent-${id}.${format}`);
  });

  app.get('/api/images/:file', (c) => {
    const m = /^([A-Za-z0-9_-]{1,64})\.png$/.exec(c.req.param('file'));
    const png = m ? ctx.stores.images.get(m[1]!) : undefined;
    if (!png) throw new HttpError(404, 'unknown image');
    return c.body(png as Uint8Array<ArrayBuffer>, 200, {'Content-Type': 'image/png', 'Cache-Control': 'private, max-age=3600, immutable'});
  });
}

/** A parsed latent upload (one latent, in the generator's shapes) as a stored latent. */
async function uploadedLatent(ctx: AppContext, {name, latent}: ParsedLatent): Promise<LatentResult> {
  const label = `upload ${name}`;
  if (latent.kind === 'styles') return ctx.addLatent(null, latent.styles, null, label);
  const wPlus = latent.kind === 'w+' ? latent.tensor : await toWPlus(ctx.g, latent.tensor, latent.kind);
  return ctx.addLatent(wPlus, null, null, label);
}
