/** Latents and their images: sample from a seed, upload a file, read one, download it, serve rendered PNGs. */
import type {Hono} from 'hono';
import {bodyLimit} from 'hono/body-limit';
import {generate, toWPlus} from '../../models/generate.js';
import {stylesFromTensors, stylesToTensors} from '../../models/stylespace.js';
import {type HostTensor, toFloat32} from '../../io/host-tensor.js';
import {serializeNpy} from '../../io/npy.js';
import {serializeSafetensors} from '../../io/safetensors.js';
import type {LatentResult, SampleRequest} from '../api-types.js';
import {type AppContext, MAX_SEED, imageUrl} from '../context.js';
import {download, jsonBody, queryChoice, tooLarge} from '../http.js';
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

  // The body is read and parsed while holding a parser slot (a bounded number at once); parsing runs in a worker.
  app.post('/api/latent', bodyLimit({maxSize: ctx.maxUploadBytes, onError: tooLarge(ctx.maxUploadBytes)}), async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(type)) throw new HttpError(415, "upload the latent as multipart/form-data with a 'file' field");
    const parsed = await ctx.uploads.withSlot(async () => ctx.uploads.parse(new Uint8Array(await c.req.arrayBuffer()), type));
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

/** A parsed latent upload as a stored latent: S (.safetensors of s_00 …), W+ [N, L, D], or W / z [N, D]. */
async function uploadedLatent(ctx: AppContext, {name, space, index, latent}: ParsedLatent): Promise<LatentResult> {
  const {g} = ctx;
  const what = `uploaded latent '${name}'`;
  const label = `upload ${name}`;
  if (latent.kind === 'styles') {
    const styles = stylesFromTensors(g, new Map(latent.tensors), what).map((t) => pickRow(t, index, 2, what));
    return ctx.addLatent(null, styles, null, label);
  }
  const t = latent.tensor;
  const [L, D] = [g.nLatent, g.config.styleDim];
  const data = toFloat32(t);
  const shape = t.shape;
  let wPlus: HostTensor;
  if ((space === 'auto' || space === 'w+') && shape.length >= 2 && shape.at(-2) === L && shape.at(-1) === D && shape.length <= 3) {
    const full: HostTensor = {dtype: 'float32', shape: shape.length === 2 ? [1, L, D] : [...shape], data};
    wPlus = pickRow(full, index, 3, what);
  } else if (space !== 'w+' && shape.at(-1) === D && shape.length <= 2) {
    const full: HostTensor = {dtype: 'float32', shape: shape.length === 1 ? [1, D] : [...shape], data};
    wPlus = await toWPlus(g, pickRow(full, index, 2, what), space === 'z' ? 'z' : 'w');
  } else {
    throw badRequest(`${what} has shape [${shape.join(', ')}]; this generator takes W+ [N, ${L}, ${D}], W or z [N, ${D}], or S as .safetensors of s_00 …`);
  }
  return ctx.addLatent(wPlus, null, null, label);
}

/** Row `index` of a batched tensor as a batch of one (rank `rank`, leading batch dimension). */
function pickRow(t: HostTensor, index: number, rank: number, what: string): HostTensor {
  const data = toFloat32(t);
  const shape = t.shape.length === rank - 1 ? [1, ...t.shape] : t.shape;
  if (shape.length !== rank) throw badRequest(`${what}: expected a ${rank}-d tensor, got [${t.shape.join(', ')}]`);
  const N = shape[0]!;
  if (index >= N) throw badRequest(`${what} holds ${N} latent${N === 1 ? '' : 's'}; 'index' ${index} is out of range`);
  const row = data.length / N;
  return {dtype: 'float32', shape: [1, ...shape.slice(1)], data: data.slice(index * row, (index + 1) * row)};
}
