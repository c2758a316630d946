/**
 * The web app's HTTP API (Hono), assembled from the route files around one shared context: latents from a seed or
 * an upload (routes/latents), photos aligned and inverted into latents (routes/photos), global-direction previews
 * (routes/global: the fast path, never queued behind long jobs), latent optimisation and mapper training as queued jobs with SSE progress (routes/optimize,
 * routes/mappers, routes/jobs), model info (routes/info) and the built browser UI (routes/web). Every parameter is
 * validated (400 + {error}); unknown routes are 404; the handlers hold no math, they call the library.
 */
import {Hono} from 'hono';
import type {ModelBundle} from './bundle.js';
import {AppContext, type AppOptions} from './context.js';
import {errorAnswers, guards} from './guards.js';
import type {JobRunner} from './jobs.js';
import {globalRoutes} from './routes/global.js';
import {infoRoutes} from './routes/info.js';
import {jobRoutes} from './routes/jobs.js';
import {latentRoutes} from './routes/latents.js';
import {mapperRoutes} from './routes/mappers.js';
import {optimizeRoutes} from './routes/optimize.js';
import {photoRoutes} from './routes/photos.js';
import {webRoutes} from './routes/web.js';
import type {Stores} from './store.js';
import type {UploadParser} from './uploads.js';

export {MAX_UPLOAD_BYTES, type AppOptions} from './context.js';

export interface WebApp {
  app: Hono;
  runner: JobRunner;
  stores: Stores;
  /** The latent-upload parsers (how many are busy). */
  uploads: UploadParser;
  /** Cancel running and queued jobs. */
  close(): void;
}

/** Hostnames that always mean this machine. */
export const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

export function createApp(bundle: ModelBundle, opts: AppOptions = {}): WebApp {
  const ctx = new AppContext(bundle, opts);
  const app = new Hono();
  guards(app, ctx);
  for (const routes of [infoRoutes, latentRoutes, photoRoutes, globalRoutes, optimizeRoutes, mapperRoutes, jobRoutes, webRoutes]) routes(app, ctx);
  errorAnswers(app);
  return {app, runner: ctx.runner, stores: ctx.stores, uploads: ctx.uploads, close: () => ctx.runner.cancelAll()};
}
