/** The server's JSON/SSE API as typed functions (the browser app does no model work itself). */

export interface Info {
  model: {name: string; size: number; styleDim: number; nLatent: number; styleLayers: number; hasLatentAvg: boolean};
  clip: {embedDim: number; imageResolution: number};
  global: {channels: number} | null;
  mappers: {name: string; prompt: string | null}[];
  defaults: {
    truncation: number;
    alpha: number;
    /** Fixed β, or null when the default is auto β (minChannels). */
    beta: number | null;
    minChannels: number | null;
    neutral: string;
    optimize: {steps: number; lr: number; lambdaL2: number; lambdaId: number; saveEvery: number};
    mapperTrain: {steps: number; batch: number; samples: number; lr: number; lambdaL2: number};
  };
  limits: {alpha: [number, number]; beta: [number, number]; maxUploadBytes: number; maxPrompt: number};
}

export interface LatentResult {
  latentId: string;
  image: string;
  label: string;
  wPlus: boolean;
}

export interface PreviewResult {
  image: string;
  channelsMoved: number;
  beta: number;
  maxScore: number;
  alpha: number;
}

export interface JobStarted {
  job: string;
  position: number;
}

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
    const msg = body && typeof body === 'object' && 'error' in body ? String((body as {error: unknown}).error) : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body as T;
}

export async function getJson<T>(url: string): Promise<T> {
  return parse<T>(await fetch(url));
}

export async function postJson<T>(url: string, body: Record<string, unknown>): Promise<T> {
  return parse<T>(await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)}));
}

export async function uploadLatent(file: File): Promise<LatentResult> {
  const form = new FormData();
  form.append('file', file, file.name);
  return parse<LatentResult>(await fetch('/api/latent', {method: 'POST', body: form}));
}

export type JobEventName = 'queued' | 'started' | 'progress' | 'done' | 'failed' | 'cancelled';

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
