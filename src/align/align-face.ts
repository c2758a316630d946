/**
 * alignFace: photo → detected faces (SSD MobileNet v1 on our engine) → 68 landmarks of the chosen face
 * (FaceLandmark68Net on face-api's tfjs) → the FFHQ alignment (ffhq-align.ts). Given landmarks skip detection.
 */
import {StyleclipError, check} from '../errors.js';
import {type DetectOptions, type FaceBox, loadFaceDetector} from './detect.js';
import {type AlignResult, type Point, type RgbImage, alignWithLandmarks} from './ffhq-align.js';
import {faceLandmarks} from './landmarks.js';
import {decodePhoto} from './photo.js';

/** No face was detected in the photo. */
export class NoFaceError extends StyleclipError {
  override name = 'NoFaceError';
}

export type AlignStage = 'decode' | 'detect' | 'landmarks' | 'align';

export interface AlignFaceOptions extends DetectOptions {
  /** Output side (256, as e4e's alignment). */
  size?: number;
  /** 68 [x, y] landmarks in iBUG order (photo pixels); skips detection. */
  landmarks?: readonly Point[];
  /** Which detected face: 0 = the largest (default), 1 = the next largest, … */
  face?: number;
  /** Name of the photo in errors. */
  what?: string;
  onProgress?: (stage: AlignStage) => void;
  signal?: AbortSignal;
}

export interface AlignedFace extends AlignResult {
  /** The landmarks used. */
  landmarks: Point[];
  /** Every detected face, largest first (empty when landmarks were given). */
  faces: FaceBox[];
  /** Index of the aligned face in `faces` (-1 when landmarks were given). */
  face: number;
}

/** Parse a landmarks JSON file's text: an array of 68 [x, y] pairs. */
export function parseLandmarks(text: string, what = 'landmarks file'): Point[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StyleclipError(`${what} is not JSON (${(e as Error).message})`);
  }
  check(Array.isArray(v) && v.length === 68, `${what} must be a JSON array of 68 [x, y] pairs (iBUG order)`);
  return v.map((p: unknown, i) => {
    check(Array.isArray(p) && p.length === 2 && p.every((c) => typeof c === 'number' && Number.isFinite(c)), `${what}: landmark ${i} is not a pair of finite numbers [x, y]`);
    return [p[0], p[1]] as Point;
  });
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StyleclipError('face alignment cancelled');
}

/** Align the (largest, or `face`-th) face of a photo (encoded bytes or decoded RGB) to size × size. */
export async function alignFace(photo: Uint8Array | RgbImage, opts: AlignFaceOptions = {}): Promise<AlignedFace> {
  const {size = 256, what = 'photo', face = 0} = opts;
  check(Number.isInteger(face) && face >= 0, `the face index must be a non-negative integer, got ${face}`);
  opts.onProgress?.('decode');
  const img = photo instanceof Uint8Array ? await decodePhoto(photo, what) : photo;
  aborted(opts.signal);
  if (opts.landmarks) {
    opts.onProgress?.('align');
    return {...alignWithLandmarks(img, opts.landmarks, size), landmarks: opts.landmarks.map((p) => [p[0], p[1]]), faces: [], face: -1};
  }
  opts.onProgress?.('detect');
  const det: DetectOptions = {};
  if (opts.minConfidence !== undefined) det.minConfidence = opts.minConfidence;
  if (opts.maxResults !== undefined) det.maxResults = opts.maxResults;
  const faces = (await loadFaceDetector().detect(img, det)).sort((a, b) => b.width * b.height - a.width * a.height);
  aborted(opts.signal);
  if (faces.length === 0) throw new NoFaceError(`no face found in ${what} (face detector: SSD MobileNet v1, minimum confidence ${opts.minConfidence ?? 0.5}); give the landmarks with --landmarks if you have them`);
  if (face >= faces.length) throw new StyleclipError(`${what} has ${faces.length} face${faces.length === 1 ? '' : 's'}; face index ${face} is out of range (0 = the largest)`);
  opts.onProgress?.('landmarks');
  const landmarks = await faceLandmarks(img, faces[face]!);
  aborted(opts.signal);
  opts.onProgress?.('align');
  return {...alignWithLandmarks(img, landmarks, size), landmarks, faces, face};
}
