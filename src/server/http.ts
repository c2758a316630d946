/** Small request/response helpers the routes share: JSON bodies, query and form choices, downloads, 413 answers. */
import type {Context} from 'hono';
import type {JobStarted} from './api-types.js';
import type {Job} from './jobs.js';
import {Fields, HttpError, badRequest} from './validate.js';

/** The JSON object body of a request, with only the `allowed` keys (415 when it is not JSON, 400 when malformed). */
export async function jsonBody(c: Context, allowed: readonly string[]): Promise<Fields> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "send the parameters as JSON (Content-Type: application/json)");
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw badRequest('the request body is not valid JSON');
  }
  return new Fields(body, allowed);
}

/** The per-tab id of the job rules (`client`), 'anonymous' when absent. */
export function clientOf(f: Fields): string {
  return f.id('client', 'anonymous');
}

/** The 202 answer of a route that queued a job. */
export function jobStarted(c: Context, job: Job): Response {
  const res: JobStarted = {job: job.id, position: job.events[0]!.data.position as number};
  return c.json(res, 202);
}

/** The 413 answer of a body-limit middleware. */
export const tooLarge = (limit: number) => (c: Context) => c.json({error: tooLargeMessage(limit)}, 413);

export function tooLargeMessage(limit: number): string {
  return `the request body is larger than ${formatBytes(limit)}`;
}

export function formChoice<T extends string>(form: FormData, key: string, choices: readonly T[], def: T): T {
  const v = form.get(key);
  if (v === null) return def;
  if (typeof v !== 'string' || !choices.includes(v as T)) throw badRequest(`'${key}' must be one of ${choices.join(', ')}`);
  return v as T;
}

/** The only query parameter allowed, one of `choices`. */
export function queryChoice<T extends string>(c: Context, key: string, choices: readonly T[], def: T): T {
  for (const k of Object.keys(c.req.queries())) if (k !== key) throw badRequest(`unknown query parameter '${k.slice(0, 40)}'`);
  const v = c.req.query(key);
  if (v === undefined) return def;
  if (!choices.includes(v as T)) throw badRequest(`'${key}' must be one of ${choices.join(', ')}`);
  return v as T;
}

export function download(c: Context, bytes: Uint8Array, name: string): Response {
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${name}"`});
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${n / 2 ** 20} MB` : `${n / 1024} KB`;
}
