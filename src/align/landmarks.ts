/**
 * The 68 iBUG landmarks of a detected face from face-api's FaceLandmark68Net (weights in @vladmandic/face-api),
 * run on the TensorFlow.js bundled in the package (its pure-JS CPU backend: about a second per face). face-api
 * crops the box, pads it to a centred square, resizes to 112² and maps the net's 136 outputs back to pixels.
 *
 * Loading the bundle in Node: face-api's Node entries need @tensorflow/tfjs-node (a native addon that downloads
 * libtensorflow), so we import the browser ESM bundle dist/face-api.esm.js. On import its tfjs would detect Node
 * and build its Node platform from a `util` module the bundle stubs out; defining `WorkerGlobalScope` during the
 * import makes it pick its browser platform (fetch and TextEncoder exist in Node 20). With tensor inputs nothing
 * needs a DOM.
 */
import path from 'node:path';
import {StyleclipError} from '../errors.js';
import {parseTfjsManifest} from '../io/tfjs-weights.js';
import {faceApiModelDir, readTfjsModelFiles} from '../models/identity/face-api.js';
import type {FaceBox} from './detect.js';
import type {Point, RgbImage} from './ffhq-align.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- face-api's bundle ships no usable typings */
type FaceApi = any;

let loading: Promise<{faceapi: FaceApi; net: FaceApi}> | null = null;

async function loadLandmarkNet(): Promise<{faceapi: FaceApi; net: FaceApi}> {
  const g = globalThis as {WorkerGlobalScope?: unknown};
  const had = 'WorkerGlobalScope' in g;
  if (!had) g.WorkerGlobalScope = class {};
  let faceapi: FaceApi;
  try {
    faceapi = await import('@vladmandic/face-api/dist/face-api.esm.js');
  } catch (e) {
    throw new StyleclipError(`cannot load @vladmandic/face-api: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    if (!had) delete g.WorkerGlobalScope;
  }
  const tf = faceapi.tf;
  // tfjs greets Node users with a banner recommending tfjs-node on the CPU backend's first tensor; keep output clean.
  const warn = console.warn;
  console.warn = () => {};
  try {
    if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
    await tf.ready();
    tf.tensor1d([0]).dispose(); // the first write prints the banner
  } finally {
    console.warn = warn;
  }
  const dir = faceApiModelDir();
  const name = 'face_landmark_68_model-weights_manifest.json';
  const {manifest, shards} = readTfjsModelFiles(dir, name);
  const map: Record<string, unknown> = {};
  for (const group of parseTfjsManifest(manifest, path.join(dir, name))) {
    const bytes = Buffer.concat(group.paths.map((p) => shards.get(p)!));
    Object.assign(map, tf.io.decodeWeights(new Uint8Array(bytes).buffer, group.weights));
  }
  const net = new faceapi.FaceLandmark68Net();
  net.loadFromWeightMap(map);
  return {faceapi, net};
}

/** The 68 landmarks [x, y] (photo pixels, iBUG order) of the face in `box`. */
export async function faceLandmarks(photo: RgbImage, box: FaceBox): Promise<Point[]> {
  loading ??= loadLandmarkNet();
  loading.catch(() => (loading = null));
  const {faceapi, net} = await loading;
  const tf = faceapi.tf;
  const img = tf.tensor3d(photo.data, [photo.height, photo.width, 3], 'int32');
  try {
    const [face] = await faceapi.extractFaceTensors(img, [new faceapi.Rect(box.x, box.y, box.width, box.height)]);
    if (!face) throw new StyleclipError('the detected face box is empty');
    try {
      const lm = await net.detectLandmarks(face);
      return lm.shiftBy(box.x, box.y).positions.map((p: {x: number; y: number}) => [p.x, p.y] as Point);
    } finally {
      face.dispose();
    }
  } finally {
    img.dispose();
  }
}
