/**
 * The parsing of a latent upload, run in a worker thread (uploads.ts starts one per upload with a time and a
 * memory limit): the multipart body, its fields and the latent file's contents are read here, never on the
 * server's event loop. The answer is the latent's tensors (or a 4xx error); the main thread fits them to the
 * generator.
 */
import {parentPort} from 'node:worker_threads';
import {StyleclipError} from '../errors.js';
import type {HostTensor} from '../io/host-tensor.js';
import {parseSafetensors} from '../io/safetensors.js';
import {detectWeightsFormat, loadLatent} from '../io/weights.js';
import {holdsStyles} from '../models/stylespace.js';
import {formChoice} from './http.js';
import {HttpError, badRequest, checkUploadName} from './validate.js';

const LATENT_EXTS = ['.npy', '.pt', '.safetensors'] as const;
export type UploadSpace = 'auto' | 'z' | 'w' | 'w+' | 's';

/** What the worker answers: the parsed latent, or an error to send to the client. */
export type ParsedUpload =
  | {ok: true; name: string; space: UploadSpace; index: number; latent: {kind: 'styles'; tensors: [string, HostTensor][]} | {kind: 'tensor'; tensor: HostTensor}}
  | {ok: false; status: HttpError['status'] | 500; message: string};

/** Read a latent upload: the multipart form (file, space, index) and the latent file (W+, W, z or S). */
export async function parseUpload(body: Uint8Array, contentType: string): Promise<ParsedUpload> {
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, {headers: {'content-type': contentType}}).formData();
  } catch {
    throw badRequest('the multipart body could not be parsed');
  }
  for (const [k] of form as unknown as Iterable<[string, unknown]>) if (!['file', 'space', 'index'].includes(k)) throw badRequest(`unknown form field '${k.slice(0, 40)}' (allowed: file, space, index)`);
  const file = form.get('file');
  if (!(file instanceof File)) throw badRequest("the upload needs a 'file' field holding the latent file");
  checkUploadName(file.name, LATENT_EXTS);
  const space = formChoice(form, 'space', ['auto', 'z', 'w', 'w+', 's'] as const, 'auto');
  const indexRaw = form.get('index');
  const index = indexRaw === null ? 0 : typeof indexRaw === 'string' && /^\d{1,6}$/.test(indexRaw) ? Number(indexRaw) : -1;
  if (index < 0) throw badRequest("'index' must be a non-negative integer");
  const bytes = new Uint8Array(await file.arrayBuffer());
  const what = `uploaded latent '${file.name}'`;
  const head = {ok: true as const, name: file.name, space, index};
  if (detectWeightsFormat(bytes) === 'safetensors') {
    const {tensors} = parseSafetensors(bytes, {what});
    if (space === 's' || (space === 'auto' && holdsStyles(tensors))) return {...head, latent: {kind: 'styles', tensors: [...tensors]}};
  } else if (space === 's') {
    throw badRequest('an S latent is a .safetensors of s_00, s_01, … (one tensor per StyleSpace layer)');
  }
  return {...head, latent: {kind: 'tensor', tensor: loadLatent(bytes, {what})}};
}

/** The error answer of a failed parse: 4xx for bad input, 500 for anything unexpected. */
function errorOf(err: unknown): ParsedUpload {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (err instanceof HttpError) return {ok: false, status: err.status, message};
  if (err instanceof StyleclipError) return {ok: false, status: 400, message};
  return {ok: false, status: 500, message: `internal error: ${message}`};
}

/** The typed arrays' buffers of a result, to transfer instead of copying. */
function buffersOf(r: ParsedUpload): ArrayBuffer[] {
  if (!r.ok) return [];
  const ts = r.latent.kind === 'styles' ? r.latent.tensors.map(([, t]) => t) : [r.latent.tensor];
  return [...new Set(ts.map((t) => t.data.buffer as ArrayBuffer))];
}

parentPort?.once('message', (msg: {body: Uint8Array; contentType: string}) => {
  parseUpload(msg.body, msg.contentType).then(
    (r) => parentPort!.postMessage(r, buffersOf(r)),
    (err: unknown) => parentPort!.postMessage(errorOf(err)),
  );
});
