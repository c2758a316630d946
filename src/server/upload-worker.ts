/**
 * The parsing of a latent upload, run in a worker thread (uploads.ts starts one per upload with a time and a
 * memory limit): the multipart body, its fields and the latent file's contents are read here, never on the
 * server's event loop. The answer is the one latent the upload selects, fitted to the generator's shapes (or a
 * 4xx error); the main thread renders it.
 */
import {type HostTensor, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors} from '../io/safetensors.js';
import {detectWeightsFormat, loadLatent} from '../io/weights.js';
import {holdsStyles, stylesFromTensors} from '../models/stylespace.js';
import {formChoice} from './http.js';
import {badRequest, checkUploadName} from './validate.js';
import {type WorkerAnswer, serveUpload, uploadForm} from './worker-protocol.js';

const LATENT_EXTS = ['.npy', '.pt', '.safetensors'] as const;
export type UploadSpace = 'auto' | 'z' | 'w' | 'w+' | 's';

/** What the worker needs to know of the generator to fit an upload to it. */
export interface LatentSpec {
  nLatent: number;
  styleDim: number;
  size: number;
  styleLayers: number;
}

/**
 * One latent of the upload (row `index` of a batch), as the generator takes it: S (one [1, C_k] per layer), W+
 * [1, L, D], or W / z [1, D] for the main thread to map to W+. Only this row goes back to the main thread.
 */
export type UploadedLatent = {kind: 'styles'; styles: HostTensor[]} | {kind: 'w+'; tensor: HostTensor} | {kind: 'w' | 'z'; tensor: HostTensor};

/** What the worker answers: the latent, or an error to send to the client. */
export type ParsedUpload = WorkerAnswer<UploadedFile>;
export interface UploadedFile {
  name: string;
  latent: UploadedLatent;
}

/** Read a latent upload: the multipart form (file, space, index) and the latent file (W+, W, z or S). */
export async function parseUpload(body: Uint8Array, contentType: string, spec: LatentSpec): Promise<UploadedFile> {
  const form = await uploadForm(body, contentType, ['file', 'space', 'index']);
  const file = form.get('file');
  if (!(file instanceof File)) throw badRequest("the upload needs a 'file' field holding the latent file");
  checkUploadName(file.name, LATENT_EXTS);
  const space = formChoice(form, 'space', ['auto', 'z', 'w', 'w+', 's'] as const, 'auto');
  const indexRaw = form.get('index');
  const index = indexRaw === null ? 0 : typeof indexRaw === 'string' && /^\d{1,6}$/.test(indexRaw) ? Number(indexRaw) : -1;
  if (index < 0) throw badRequest("'index' must be a non-negative integer");
  const bytes = new Uint8Array(await file.arrayBuffer());
  return {name: file.name, latent: fitLatent(bytes, `uploaded latent '${file.name}'`, space, index, spec)};
}

/** Row `index` of the file's latent: S (.safetensors of s_00 …), W+ [N, L, D], or W / z [N, D]. */
function fitLatent(bytes: Uint8Array, what: string, space: UploadSpace, index: number, spec: LatentSpec): UploadedLatent {
  const [L, D] = [spec.nLatent, spec.styleDim];
  if (detectWeightsFormat(bytes) === 'safetensors') {
    const {tensors} = parseSafetensors(bytes, {what});
    if (space === 's' || (space === 'auto' && holdsStyles(tensors))) {
      const layout = {layers: Array.from({length: spec.styleLayers}), config: {size: spec.size}};
      return {kind: 'styles', styles: stylesFromTensors(layout, tensors, what).map((t) => pickRow(t, index, 2, what))};
    }
  } else if (space === 's') {
    throw badRequest('an S latent is a .safetensors of s_00, s_01, … (one tensor per StyleSpace layer)');
  }
  const t = loadLatent(bytes, {what});
  const shape = t.shape;
  if ((space === 'auto' || space === 'w+') && shape.length >= 2 && shape.at(-2) === L && shape.at(-1) === D && shape.length <= 3) {
    return {kind: 'w+', tensor: pickRow(shape.length === 2 ? {...t, shape: [1, L, D]} : t, index, 3, what)};
  }
  if (space !== 'w+' && shape.at(-1) === D && shape.length <= 2) {
    return {kind: space === 'z' ? 'z' : 'w', tensor: pickRow(shape.length === 1 ? {...t, shape: [1, D]} : t, index, 2, what)};
  }
  throw badRequest(`${what} has shape [${shape.join(', ')}]; this generator takes W+ [N, ${L}, ${D}], W or z [N, ${D}], or S as .safetensors of s_00 …`);
}

/** Row `index` of a batched tensor as a float32 batch of one (rank `rank`, leading batch dimension). */
function pickRow(t: HostTensor, index: number, rank: number, what: string): HostTensor {
  const shape = t.shape.length === rank - 1 ? [1, ...t.shape] : t.shape;
  if (shape.length !== rank) throw badRequest(`${what}: expected a ${rank}-d tensor, got [${t.shape.join(', ')}]`);
  const N = shape[0]!;
  if (index >= N) throw badRequest(`${what} holds ${N} latent${N === 1 ? '' : 's'}; 'index' ${index} is out of range`);
  const data = toFloat32(t);
  const row = data.length / N;
  return {dtype: 'float32', shape: [1, ...shape.slice(1)], data: data.slice(index * row, (index + 1) * row)};
}

/** The typed arrays' buffers of a result, to transfer instead of copying. */
function buffersOf(r: UploadedFile): ArrayBuffer[] {
  const ts = r.latent.kind === 'styles' ? r.latent.styles : [r.latent.tensor];
  return [...new Set(ts.map((t) => t.data.buffer as ArrayBuffer))];
}

serveUpload(parseUpload, buffersOf);
