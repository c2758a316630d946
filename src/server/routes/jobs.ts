/** Job state, cancel, and the job's events as Server-Sent Events (the whole log, or after Last-Event-ID). */
import type {Hono} from 'hono';
import {streamSSE} from 'hono/streaming';
import type {AppContext} from '../context.js';
import type {Job, JobEvent} from '../jobs.js';
import {HttpError, checkId} from '../validate.js';

export function jobRoutes(app: Hono, ctx: AppContext): void {
  const {runner} = ctx;
  const jobOf = (id: string): Job => {
    const j = runner.get(checkId(id, 'job id'));
    if (!j) throw new HttpError(404, `unknown job '${id}'`);
    return j;
  };

  app.get('/api/jobs/:id', (c) => c.json(jobOf(c.req.param('id')).summary()));

  app.post('/api/jobs/:id/cancel', (c) => {
    const j = jobOf(c.req.param('id'));
    runner.cancel(j);
    return c.json(j.summary());
  });

  app.get('/api/jobs/:id/events', (c) => {
    const job = jobOf(c.req.param('id'));
    const lastRaw = c.req.header('last-event-id');
    const after = lastRaw !== undefined && /^\d{1,9}$/.test(lastRaw) ? Number(lastRaw) : -1;
    c.header('Cache-Control', 'no-store');
    return streamSSE(c, async (stream) => {
      const pending: JobEvent[] = job.events.filter((e) => e.seq > after);
      let wake: (() => void) | null = null;
      const unsubscribe = job.subscribe((e) => {
        pending.push(e);
        wake?.();
      });
      let closed = false;
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        for (;;) {
          while (pending.length && !closed) {
            const e = pending.shift()!;
            await stream.writeSSE({event: e.event, id: String(e.seq), data: JSON.stringify(e.data)});
            if (e.event === 'done' || e.event === 'failed' || e.event === 'cancelled') return;
          }
          if (closed) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      } finally {
        unsubscribe();
      }
    });
  });
}
