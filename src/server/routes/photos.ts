/**
 * Photos: upload one (decoded and aligned in a worker thread, or used as it is when it is already an aligned face)
 * and invert it as a job — with the server's e4e / pSp encoder (optionally refined by projection), or without one by
 * projection from the mean latent — into a W+ latent that every edit route takes like a sampled one.
 */
import type {Hono} from 'hono';
import {encodeRgbPng} from '../../align/photo.js';
import {encoderInput, invert} from '../../edit/invert.js';
import {type ProjectStep, project} from '../../edit/project.js';
import {type HostTensor, toFloat32} from '../../io/host-tensor.js';
import {generate} from '../../models/generate.js';
import type {InvertProgress, InvertRequest, Inverted, PhotoResult} from '../api-types.js';
import {type AppContext, imageUrl} from '../context.js';
import {clientOf, jobStarted, jsonBody, tooLargeMessage} from '../http.js';
import {HttpError, checkId} from '../validate.js';

const INVERT_FIELDS = ['photoId', 'steps', 'client'] as const satisfies readonly (keyof InvertRequest)[];

export function photoRoutes(app: Hono, ctx: AppContext): void {
  const {g} = ctx;

  // As a latent upload: the body streams into a worker (decoding, face detection, landmarks, alignment happen
  // there) while the request holds one of the upload slots.
  app.post('/api/photo', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(type)) throw new HttpError(415, "upload the photo as multipart/form-data with a 'file' field");
    if (Number(c.req.header('content-length') ?? 0) > ctx.maxUploadBytes) throw new HttpError(413, tooLargeMessage(ctx.maxUploadBytes));
    const spec = {side: ctx.photo.side, maxPixels: ctx.photo.maxPixels};
    const p = await ctx.uploads.withSlot(() => ctx.uploads.parsePhoto(c.req.raw.body, type, spec, ctx.maxUploadBytes));
    const imageId = ctx.stores.images.add(await encodeRgbPng(p.image));
    const photoId = ctx.stores.photos.add({name: p.name, image: p.image, mode: p.mode});
    const res: PhotoResult = {photoId, image: imageUrl(imageId), name: p.name, mode: p.mode, faces: p.faces, face: p.face, side: ctx.photo.side};
    return c.json(res);
  });

  app.post('/api/invert', async (c) => {
    const f = await jsonBody(c, INVERT_FIELDS);
    const photoId = checkId(f.id('photoId'), 'photoId');
    const photo = ctx.stores.photos.get(photoId);
    if (!photo) throw new HttpError(404, `unknown photo '${photoId}' (it may have expired; upload it again)`);
    const steps = f.int('steps', 0, ctx.photo.maxSteps, ctx.photo.steps);
    const client = clientOf(f);
    const encoder = ctx.bundle.encoder ?? null;
    if (!encoder && steps < 1) throw new HttpError(400, "'steps' must be at least 1: without an encoder the photo is inverted by projection");
    const job = ctx.runner.submit('invert', client, async (j, signal) => {
      const t0 = performance.now();
      const perceptual = ctx.photo.identity && steps > 0 ? {perceptual: ctx.identityNet()} : {};
      const onStep = (s: ProjectStep) => {
        const p: InvertProgress = {step: s.step + 1, steps: s.steps, loss: s.loss, pixel: s.pixel, ...(perceptual.perceptual ? {perceptual: s.perceptual} : {}), lr: s.lr};
        j.progress({...p});
      };
      const target = encoderInput(photo.image, g.config.size);
      const wPlus: HostTensor = encoder
        ? (await invert(encoder.encoder, g, photo.image, {refine: steps, ...perceptual, onStep, signal})).wPlus
        : (await project(g, target, {steps, ...perceptual, onStep, signal})).wPlus;
      const r = await generate(g, {latent: wPlus, space: 'w+', returnStyles: true});
      const how = encoder ? `${encoder.name}${steps ? ` + ${steps} steps` : ''}` : `projection, ${steps} steps`;
      const latent = await ctx.addLatent(wPlus, r.styles, r.image, `photo '${photo.name}' (${how})`);
      const done: Inverted = {...latent, method: encoder ? 'encoder' : 'projection', steps, pixel: mse(r.image, target), seconds: (performance.now() - t0) / 1000};
      return {...done};
    });
    return jobStarted(c, job);
  });
}

function mse(a: HostTensor, b: HostTensor): number {
  const [x, y] = [toFloat32(a), toFloat32(b)];
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i]! - y[i]!) ** 2;
  return s / x.length;
}
