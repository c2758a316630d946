/**
 * The checks every request passes before a route sees it: the Host header (DNS rebinding), the Origin of
 * non-GET requests (cross-site posts), the JSON body size; and the error answers (HttpError → its status, library
 * errors → 400, anything else → 500, always one line of JSON).
 */
import type {Hono} from 'hono';
import {bodyLimit} from 'hono/body-limit';
import {StyleclipError} from '../errors.js';
import {type AppContext, MAX_JSON_BYTES} from './context.js';
import {tooLarge} from './http.js';
import {oneLine} from './jobs.js';
import {HttpError} from './validate.js';

export function guards(app: Hono, ctx: AppContext): void {
  const {allowedHosts} = ctx.options;
  app.use('*', async (c, next) => {
    if (allowedHosts) {
      const host = (c.req.header('host') ?? '').toLowerCase().replace(/:\d+$/, '');
      if (!allowedHosts.includes(host)) throw new HttpError(403, `host '${host.slice(0, 60)}' is not served here`);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // A request without Origin is not from a browser page; 'null' (sandboxed frames, file: pages) is foreign.
      const origin = c.req.header('origin');
      if (origin !== undefined) {
        let ok = false;
        try {
          ok = new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host);
        } catch {
          ok = false;
        }
        if (!ok) throw new HttpError(403, 'cross-origin requests are refused');
      }
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
  });

  // JSON posts are small; the latent and photo uploads have their own (larger) limit on their routes.
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'POST' && c.req.path !== '/api/latent' && c.req.path !== '/api/photo') return bodyLimit({maxSize: MAX_JSON_BYTES, onError: tooLarge(MAX_JSON_BYTES)})(c, next);
    await next();
  });
}

export function errorAnswers(app: Hono): void {
  app.notFound((c) => c.json({error: `no route ${c.req.method} ${c.req.path.slice(0, 100)}`}, 404));
  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({error: err.message}, err.status);
    if (err instanceof StyleclipError) return c.json({error: oneLine(err)}, 400);
    const status = (err as {status?: unknown}).status;
    if (status === 413) return c.json({error: 'the request body is too large'}, 413);
    console.error(err);
    return c.json({error: `internal error: ${oneLine(err)}`}, 500);
  });
}
