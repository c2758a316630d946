/** The built browser UI: index.html (with a strict Content-Security-Policy) and the hashed files under assets/. */
import type {Context, Hono} from 'hono';
import type {AppContext} from '../context.js';
import {HttpError, badRequest} from '../validate.js';

const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

export function webRoutes(app: Hono, ctx: AppContext): void {
  const serveWeb = (c: Context, rel: string): Response => {
    if (!ctx.web) throw new HttpError(404, 'not found');
    const file = ctx.web.read(rel);
    if (!file) {
      if (rel === 'index.html') throw new HttpError(503, "the web UI is not built; run 'npm run build'");
      throw new HttpError(404, 'not found');
    }
    const headers: Record<string, string> = {'Content-Type': file.type};
    if (rel === 'index.html') {
      headers['Content-Security-Policy'] = CSP;
      headers['Cache-Control'] = 'no-cache';
    } else {
      headers['Cache-Control'] = 'public, max-age=31536000, immutable';
    }
    return c.body(file.bytes as Uint8Array<ArrayBuffer>, 200, headers);
  };

  app.get('/', (c) => serveWeb(c, 'index.html'));
  app.get('/index.html', (c) => serveWeb(c, 'index.html'));
  app.get('/assets/*', (c) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path.slice('/'.length));
    } catch {
      throw badRequest('malformed path');
    }
    return serveWeb(c, rel);
  });
}
