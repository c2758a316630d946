/**
 * The message protocol of the upload workers (upload-worker.ts for latents, photo-worker.ts for photos): the body
 * arrives in chunks ({chunk}), then {end, contentType, spec}; the worker answers with one message, the parsed
 * result or a 4xx/500 error. uploads.ts is the other side.
 */
import {parentPort} from 'node:worker_threads';
import {StyleclipError} from '../errors.js';
import {HttpError} from './validate.js';

/** A worker's answer: the result, or an error to send to the client. */
export type WorkerAnswer<R> = ({ok: true} & R) | {ok: false; status: HttpError['status'] | 500; message: string};

/** The error answer of a failed parse: 4xx for bad input, 500 for anything unexpected. */
function errorOf(err: unknown): WorkerAnswer<never> {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (err instanceof HttpError) return {ok: false, status: err.status, message};
  if (err instanceof StyleclipError) return {ok: false, status: 400, message};
  return {ok: false, status: 500, message: `internal error: ${message}`};
}

/**
 * Run in a worker: collect the body, call `parse` with it once it is complete, answer with its result (transferring
 * the buffers `transfer` names instead of copying them) or with the error.
 */
export function serveUpload<S, R>(parse: (body: Uint8Array, contentType: string, spec: S) => Promise<R>, transfer: (r: R) => ArrayBuffer[]): void {
  const chunks: Uint8Array[] = [];
  parentPort?.on('message', (msg: {chunk: Uint8Array} | {end: true; contentType: string; spec: S}) => {
    if ('chunk' in msg) {
      chunks.push(msg.chunk);
      return;
    }
    const body = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of chunks.splice(0)) {
      body.set(c, at);
      at += c.byteLength;
    }
    parse(body, msg.contentType, msg.spec).then(
      (r) => {
        const buffers = transfer(r); // may replace a buffer of r by its own copy, so before the message is made
        parentPort!.postMessage({ok: true, ...r}, buffers);
      },
      (err: unknown) => parentPort!.postMessage(errorOf(err)),
    );
  });
}

/** The multipart form of an upload body (400 when it does not parse), with only the `allowed` fields. */
export async function uploadForm(body: Uint8Array, contentType: string, allowed: readonly string[]): Promise<FormData> {
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, {headers: {'content-type': contentType}}).formData();
  } catch {
    throw new HttpError(400, 'the multipart body could not be parsed');
  }
  for (const [k] of form as unknown as Iterable<[string, unknown]>) if (!allowed.includes(k)) throw new HttpError(400, `unknown form field '${k.slice(0, 40)}' (allowed: ${allowed.join(', ')})`);
  return form;
}
