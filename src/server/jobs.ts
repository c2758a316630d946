/**
 * The job runner of the web app: long jobs (latent optimisation, mapper training) run one at a time per model;
 * further jobs wait in a FIFO queue and are told their position. Each client (a browser tab, identified by the
 * `client` field of its requests) may have one job waiting or running: a second concurrent job from the same
 * client is refused with 409, and a full queue with 429. Every job keeps its event log, so an SSE subscriber
 * that connects late still sees everything from the start.
 */
import type {JobEventName, JobKind, JobState, JobSummary} from './api-types.js';
import {HttpError} from './validate.js';
import {newId} from './store.js';


export interface JobEvent {
  /** 0, 1, 2, … within the job (the SSE event id). */
  seq: number;
  event: JobEventName;
  data: Record<string, unknown>;
}

/** The work of a job: emits progress through `job.progress`, returns the data of its 'done' event. */
export type JobWork = (job: Job, signal: AbortSignal) => Promise<Record<string, unknown>>;

const TERMINAL: readonly JobState[] = ['done', 'failed', 'cancelled'];

export class Job {
  readonly id = newId();
  readonly kind: JobKind;
  readonly client: string;
  state: JobState = 'queued';
  readonly events: JobEvent[] = [];
  readonly controller = new AbortController();
  readonly work: JobWork;
  private readonly listeners = new Set<(e: JobEvent) => void>();

  constructor(kind: JobKind, client: string, work: JobWork) {
    this.kind = kind;
    this.client = client;
    this.work = work;
  }

  get finished(): boolean {
    return TERMINAL.includes(this.state);
  }

  emit(event: JobEventName, data: Record<string, unknown> = {}): void {
    const e: JobEvent = {seq: this.events.length, event, data: {job: this.id, ...data}};
    this.events.push(e);
    for (const l of this.listeners) l(e);
  }

  progress(data: Record<string, unknown>): void {
    if (!this.finished) this.emit('progress', data);
  }

  /** Call `fn` for every future event; returns the unsubscribe function. */
  subscribe(fn: (e: JobEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  summary(): JobSummary {
    return {id: this.id, kind: this.kind, state: this.state, events: this.events.length};
  }
}

export interface JobRunnerOptions {
  /** Jobs that may wait behind the running one (default 4); more get 429. */
  maxQueued?: number;
  /** Finished jobs kept for late subscribers (default 100). */
  keepFinished?: number;
}

export class JobRunner {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private readonly jobs = new Map<string, Job>();
  private readonly finished: string[] = [];
  private readonly maxQueued: number;
  private readonly keepFinished: number;

  constructor({maxQueued = 4, keepFinished = 100}: JobRunnerOptions = {}) {
    this.maxQueued = maxQueued;
    this.keepFinished = keepFinished;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** The job a client has waiting or running, if any. */
  activeFor(client: string): Job | undefined {
    return [this.running, ...this.queue].find((j) => j !== null && j.client === client) ?? undefined;
  }

  /** Queue a job; it starts when the runner is free. */
  submit(kind: JobKind, client: string, work: JobWork): Job {
    const active = this.activeFor(client);
    if (active) throw new HttpError(409, `this client already has a ${active.state} ${active.kind} job (${active.id}); cancel it or wait for it to finish`);
    if (this.waiting() >= this.maxQueued) throw new HttpError(429, `the job queue is full (${this.maxQueued} waiting); try again later`);
    const job = new Job(kind, client, work);
    this.jobs.set(job.id, job);
    this.queue.push(job);
    job.emit('queued', {position: this.waiting()});
    queueMicrotask(() => this.pump());
    return job;
  }

  /** Cancel a waiting job at once, or abort a running one (it ends with a 'cancelled' event). */
  cancel(job: Job): void {
    if (job.finished) return;
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.finish(job, 'cancelled', {});
      this.announcePositions();
      return;
    }
    job.controller.abort();
  }

  /** Abort everything (server shutdown). */
  cancelAll(): void {
    for (const j of [...this.queue]) this.cancel(j);
    if (this.running) this.cancel(this.running);
  }

  /** Jobs waiting behind another (a job queued while the runner is idle starts at once and does not count). */
  private waiting(): number {
    return this.queue.length - (this.running ? 0 : Math.min(1, this.queue.length));
  }

  /** Position of each waiting job (1 = next). */
  private announcePositions(): void {
    this.queue.forEach((j, k) => j.emit('queued', {position: k + 1}));
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    this.running = job;
    if (this.queue.length) this.announcePositions();
    job.state = 'running';
    job.emit('started', {kind: job.kind});
    const signal = job.controller.signal;
    job
      .work(job, signal)
      .then(
        (data) => this.finish(job, signal.aborted ? 'cancelled' : 'done', data),
        (err: unknown) => this.finish(job, signal.aborted ? 'cancelled' : 'failed', signal.aborted ? {} : {message: oneLine(err)}),
      )
      .finally(() => {
        this.running = null;
        this.pump();
      });
  }

  private finish(job: Job, state: 'done' | 'failed' | 'cancelled', data: Record<string, unknown>): void {
    job.state = state;
    job.emit(state, data);
    this.finished.push(job.id);
    while (this.finished.length > this.keepFinished) this.jobs.delete(this.finished.shift()!);
  }
}

export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!;
}
