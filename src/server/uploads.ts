/**
 * Uploads are parsed off the event loop: each in its own worker thread (upload-worker.ts for latents,
 * photo-worker.ts for photos: decoding and face alignment) with a time limit and a heap limit, a bounded number at
 * once, and a short queue behind them (more get 429), so a slow or hostile file never stalls the other requests.
 * A worker that runs out of time or memory is terminated and the upload refused with a named error.
 */
import {Worker} from 'node:worker_threads';
import type {ParsedPhoto, PhotoSpec} from './photo-worker.js';
import type {LatentSpec, UploadedFile} from './upload-worker.js';
import {tooLargeMessage} from './http.js';
import {HttpError} from './validate.js';
import type {WorkerAnswer} from './worker-protocol.js';

export interface UploadLimits {
  /** Uploads parsed at once (default 2). */
  parallel?: number;
  /** Uploads that may wait for a parser (default 2); more get 429. */
  queue?: number;
  /** Wall time one latent parse may take, in ms (default 10 000). */
  timeoutMs?: number;
  /** Wall time one photo may take to decode and align, in ms (default 60 000: the worker loads the face detector and landmark net first). */
  photoTimeoutMs?: number;
  /** The parser's JavaScript heap, in MB (default 512). */
  heapMb?: number;
}

export type ParsedLatent = UploadedFile;

/** The workers' modules: the .ts source when this file runs from source (tests, tsx), else the built .js. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const workerUrl = (name: string) => new URL(`./${name}${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
const WORKERS = {latent: workerUrl('upload-worker'), photo: workerUrl('photo-worker')};

export class UploadParser {
  private readonly parallel: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly photoTimeoutMs: number;
  private readonly heapMb: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor({parallel = 2, queue = 2, timeoutMs = 10_000, photoTimeoutMs = 60_000, heapMb = 512}: UploadLimits = {}) {
    this.parallel = parallel;
    this.maxQueue = queue;
    this.timeoutMs = timeoutMs;
    this.photoTimeoutMs = photoTimeoutMs;
    this.heapMb = heapMb;
  }

  /** Uploads being parsed or read now (for tests and /api/info-style diagnostics). */
  get busy(): number {
    return this.active;
  }

  /**
   * Run `fn` (read the body, then parse) while holding one of the parser slots: at once when one is free, after a
   * short wait in the queue otherwise, and 429 when the queue is full too.
   */
  async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.parallel) {
      if (this.waiting.length >= this.maxQueue) throw new HttpError(429, `${this.active} uploads are being parsed and ${this.waiting.length} are waiting; try again shortly`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Parse a multipart latent upload (file, space, index) in a fresh worker: the one latent it selects. */
  parse(body: ReadableStream<Uint8Array> | null, contentType: string, spec: LatentSpec, maxBytes: number): Promise<ParsedLatent> {
    return this.inWorker<UploadedFile>('latent', body, contentType, spec, maxBytes, this.timeoutMs);
  }

  /** Read a multipart photo upload (file, aligned, face) in a fresh worker: the aligned face, spec.side square. */
  parsePhoto(body: ReadableStream<Uint8Array> | null, contentType: string, spec: PhotoSpec, maxBytes: number): Promise<ParsedPhoto> {
    return this.inWorker<ParsedPhoto>('photo', body, contentType, spec, maxBytes, this.photoTimeoutMs);
  }

  /**
   * Run one upload in a fresh worker. The body streams to the worker chunk by chunk as it arrives (the event loop
   * never holds or copies it whole); the time limit counts from the end of the body. A bad file, a limit or a
   * crash is an HttpError (4xx); a client that disconnects ends the worker.
   */
  private async inWorker<R>(kind: keyof typeof WORKERS, body: ReadableStream<Uint8Array> | null, contentType: string, spec: object, maxBytes: number, timeoutMs: number): Promise<R> {
    const url = WORKERS[kind];
    // From source, the worker registers tsx's loader before importing the TypeScript module.
    const entry = FROM_SOURCE ? `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(url.href)}); })` : url;
    const worker = new Worker(entry, {
      eval: FROM_SOURCE,
      resourceLimits: {maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4},
      stdout: false,
      stderr: false,
    });
    let timer: NodeJS.Timeout | undefined;
    const result = new Promise<R>((resolve, reject) => {
      worker.once('message', (r: WorkerAnswer<R>) => {
        if (r.ok) resolve(r);
        else if (r.status === 500) reject(new Error(r.message.replace(/^internal error: /, '')));
        else reject(new HttpError(r.status, r.message));
      });
      worker.once('error', (err: Error & {code?: string}) =>
        reject(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new HttpError(413, `parsing the upload needs more than ${this.heapMb} MB of memory`) : err),
      );
      worker.once('exit', (code) => reject(new Error(`the upload parser stopped (exit code ${code})`)));
    });
    result.catch(() => undefined); // observed below; a failure while the body is still streaming must not go unhandled
    try {
      if (body) {
        const reader = body.getReader();
        let size = 0;
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch {
            throw new HttpError(400, 'the upload was interrupted before its end');
          }
          if (next.done) break;
          size += next.value.byteLength;
          if (size > maxBytes) {
            void reader.cancel();
            throw new HttpError(413, tooLargeMessage(maxBytes));
          }
          const v = next.value;
          const chunk = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice();
          worker.postMessage({chunk}, [chunk.buffer as ArrayBuffer]);
        }
      }
      worker.postMessage({end: true, contentType, spec});
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(400, `the upload could not be ${kind === 'photo' ? 'read and aligned' : 'parsed'} within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      return await Promise.race([result, limit]);
    } finally {
      clearTimeout(timer);
      void worker.terminate();
    }
  }
}
