/**
 * The server's JSON/SSE API as typed functions (the browser app does no model work itself). The request and
 * response types are the server's own (src/server/api-types.ts), so both sides change together.
 */
import type {
  AcceptResult,
  ErrorBody,
  GlobalEditRequest,
  InfoResponse,
  InvertRequest,
  JobEventName,
  JobStarted,
  LatentResult,
  MapperApplyRequest,
  MapperTrainRequest,
  OptimizeRequest,
  PhotoResult,
  PreviewResult,
  SampleRequest,
} from '../server/api-types.js';

export type * from '../server/api-types.js';

/** A refused request: the HTTP status (0 for a check made in the page) and the server's one-line message. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function parse<T>(res: Response): Promise<T> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg = body && typeof body === 'object' && 'error' in body ? String((body as ErrorBody).error) : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body as T;
}

async function getJson<T>(url: string): Promise<T> {
  return parse<T>(await fetch(url));
}

async function postJson<T>(url: string, body: object): Promise<T> {
  return parse<T>(await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)}));
}

export const api = {
  info: () => getJson<InfoResponse>('/api/info'),
  sample: (req: SampleRequest) => postJson<LatentResult>('/api/sample', req),
  preview: (req: GlobalEditRequest) => postJson<PreviewResult>('/api/global/preview', req),
  accept: (req: GlobalEditRequest) => postJson<AcceptResult>('/api/global/accept', req),
  optimize: (req: OptimizeRequest) => postJson<JobStarted>('/api/optimize', req),
  applyMapper: (req: MapperApplyRequest) => postJson<LatentResult>('/api/mapper/apply', req),
  trainMapper: (req: MapperTrainRequest) => postJson<JobStarted>('/api/mapper/train', req),
  invert: (req: InvertRequest) => postJson<JobStarted>('/api/invert', req),
  cancelJob: (id: string) => postJson<unknown>(`/api/jobs/${encodeURIComponent(id)}/cancel`, {}),
  async uploadLatent(file: File): Promise<LatentResult> {
    const form = new FormData();
    form.append('file', file, file.name);
    return parse<LatentResult>(await fetch('/api/latent', {method: 'POST', body: form}));
  },
  /** A photo: its face aligned on the server (or the image used as it is when `aligned`). */
  async uploadPhoto(file: File, opts: {aligned: boolean; face: number}): Promise<PhotoResult> {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('aligned', String(opts.aligned));
    form.append('face', String(opts.face));
    return parse<PhotoResult>(await fetch('/api/photo', {method: 'POST', body: form}));
  },
};

/** Follow a job's SSE stream until it ends; `on` gets every event's name and data. */
export function followJob(id: string, on: (event: JobEventName, data: Record<string, unknown>) => void): () => void {
  const es = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
  const names: JobEventName[] = ['queued', 'started', 'progress', 'done', 'failed', 'cancelled'];
  for (const name of names) {
    es.addEventListener(name, (ev) => {
      const data = JSON.parse((ev as MessageEvent<string>).data) as Record<string, unknown>;
      if (name === 'done' || name === 'failed' || name === 'cancelled') es.close();
      on(name, data);
    });
  }
  return () => es.close();
}
