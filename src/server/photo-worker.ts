/**
 * The reading of a photo upload, run in a worker thread (uploads.ts starts one per upload with a time and a memory
 * limit): the multipart body, the image decoding (sharp) and the FFHQ alignment (face detection on ONNX Runtime,
 * landmarks on face-api's tfjs, the quad warp) happen here, never on the server's event loop. The answer is the
 * aligned face, side × side RGB, or a 4xx error; the main thread stores it and inverts it as a job.
 */
import {NoFaceError, alignFace} from '../align/align-face.js';
import {type RgbImage, resizeLanczos} from '../align/ffhq-align.js';
import {decodePhoto} from '../align/photo.js';
import {StyleclipError} from '../errors.js';
import {formChoice} from './http.js';
import {badRequest, checkUploadName} from './validate.js';
import {type WorkerAnswer, serveUpload, uploadForm} from './worker-protocol.js';

export const PHOTO_EXTS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'] as const;

/** What the worker needs to know: the side of the aligned face (the encoder's input, else the generator's size). */
export interface PhotoSpec {
  side: number;
  /** Largest photo accepted, width × height. */
  maxPixels: number;
}

/** How the face was obtained: aligned from detected landmarks, or the upload used as it is ("already aligned"). */
export type PhotoMode = 'detected' | 'as-is';

export interface ParsedPhoto {
  name: string;
  /** The aligned face, side × side. */
  image: RgbImage;
  mode: PhotoMode;
  /** Faces detected (0 for an image used as it is). */
  faces: number;
  /** The face aligned (0 = the largest; -1 for an image used as it is). */
  face: number;
}

export type PhotoAnswer = WorkerAnswer<ParsedPhoto>;

/** Read a photo upload: the form (file, aligned, face), the image, and the face (aligned, or resized as it is). */
export async function parsePhoto(body: Uint8Array, contentType: string, spec: PhotoSpec): Promise<ParsedPhoto> {
  const form = await uploadForm(body, contentType, ['file', 'aligned', 'face']);
  const file = form.get('file');
  if (!(file instanceof File)) throw badRequest("the upload needs a 'file' field holding the photo");
  checkUploadName(file.name, PHOTO_EXTS);
  const asIs = formChoice(form, 'aligned', ['true', 'false'] as const, 'false') === 'true';
  const faceRaw = form.get('face');
  const face = faceRaw === null ? 0 : typeof faceRaw === 'string' && /^\d{1,3}$/.test(faceRaw) ? Number(faceRaw) : -1;
  if (face < 0) throw badRequest("'face' must be a non-negative integer (0 = the largest face)");
  const what = `'${file.name}'`;
  const img = await decodePhoto(new Uint8Array(await file.arrayBuffer()), what, spec.maxPixels);
  if (asIs) {
    const image = img.width === spec.side && img.height === spec.side ? img : resizeLanczos(img, spec.side, spec.side);
    return {name: file.name, image, mode: 'as-is', faces: 0, face: -1};
  }
  try {
    const r = await alignFace(img, {size: spec.side, face, what});
    return {name: file.name, image: r.image, mode: 'detected', faces: r.faces.length, face: r.face};
  } catch (e) {
    if (e instanceof NoFaceError) {
      throw new StyleclipError(`no face found in ${what}: the detector finds human faces; for a face that is already aligned (a generated image, a cartoon face) tick 'already aligned'`);
    }
    throw e;
  }
}

/** The image's buffer to transfer: its own (a view into a shared pool, as sharp's small outputs may be, is copied first). */
function ownBuffer(r: ParsedPhoto): ArrayBuffer[] {
  const d = r.image.data;
  if (d.byteOffset !== 0 || d.byteLength !== d.buffer.byteLength) r.image = {...r.image, data: d.slice()};
  return [r.image.data.buffer as ArrayBuffer];
}

serveUpload(parsePhoto, ownBuffer);
