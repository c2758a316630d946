/**
 * face-api.js FaceRecognitionNet: a ResNet-34-like face descriptor network (a port of dlib's
 * `dlib_face_recognition_resnet_model_v1`, 150×150 RGB in, 128-d descriptor out), matching
 * @vladmandic/face-api 1.7.15 src/faceRecognitionNet/{FaceRecognitionNet,convLayer,residualLayer,scaleLayer}.ts.
 * Its weights ship inside the npm package (model/face_recognition_model-weights_manifest.json + .bin), so this
 * identity network works offline. We run it NCHW on our engine; tfjs runs NHWC with HWIO filters.
 *
 * Legend: N batch, C channels, H/W spatial, D descriptor width (128).
 */
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import * as F from '../../engine/ops.js';
import {type Tensor, assertShape, constant} from '../../engine/tensor.js';
import {StyleclipError} from '../../errors.js';
import {type StateDict, toFloat32} from '../../io/host-tensor.js';
import {checkStateDict} from '../../io/state-dict.js';
import {avgPool2d} from '../../nn/functional.js';
import {styleclipResize} from '../clip/preprocess.js';
import {l2Norm} from './irse.js';
import {decodeTfjsWeights, parseTfjsManifest} from '../../io/tfjs-weights.js';
import type {IdentityNet} from './types.js';

/** Input resolution: face-api's `toBatchTensor(150, true)`. */
const FACE_API_INPUT_SIZE = 150;
/** Mean RGB subtracted from 0…255 pixels before dividing by 255 (FaceRecognitionNet.forwardInput). */
const FACE_API_MEAN_RGB = [122.782, 117.001, 104.298] as const;
/** Descriptor width D. */
const FACE_API_DESCRIPTOR_DIM = 128;

/** Residual blocks after the stem, in forward order: [name, in channels, out channels, downsampling]. */
const BLOCKS: readonly [string, number, number, boolean][] = [
  ['conv32_1', 32, 32, false],
  ['conv32_2', 32, 32, false],
  ['conv32_3', 32, 32, false],
  ['conv64_down', 32, 64, true],
  ['conv64_1', 64, 64, false],
  ['conv64_2', 64, 64, false],
  ['conv64_3', 64, 64, false],
  ['conv128_down', 64, 128, true],
  ['conv128_1', 128, 128, false],
  ['conv128_2', 128, 128, false],
  ['conv256_down', 128, 256, true],
  ['conv256_1', 256, 256, false],
  ['conv256_2', 256, 256, false],
  ['conv256_down_out', 256, 256, true],
];

/** Every weight name and shape (tfjs layout: filters [kh,kw,I,O]) in the manifest's order. */
export function expectedFaceRecognitionWeights(): [string, number[]][] {
  const out: [string, number[]][] = [];
  const convLayer = (prefix: string, k: number, i: number, o: number) =>
    out.push([`${prefix}/conv/filters`, [k, k, i, o]], [`${prefix}/conv/bias`, [o]], [`${prefix}/scale/weights`, [o]], [`${prefix}/scale/biases`, [o]]);
  convLayer('conv32_down', 7, 3, 32);
  for (const [name, i, o] of BLOCKS) {
    convLayer(`${name}/conv1`, 3, i, o);
    convLayer(`${name}/conv2`, 3, o, o);
  }
  out.push(['fc', [256, FACE_API_DESCRIPTOR_DIM]]);
  return out;
}

/** tfjs HWIO filters [kh,kw,I,O] -> OIHW [O,I,kh,kw]. */
export function hwioToOihw(w: Float32Array, [kh, kw, I, O]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh!; y++) {
    for (let x = 0; x < kw!; x++) {
      for (let i = 0; i < I!; i++) {
        for (let o = 0; o < O!; o++) out[((o * I! + i) * kh! + y) * kw! + x] = w[((y * kw! + x) * I! + i) * O! + o]!;
      }
    }
  }
  return out;
}

/** Max pooling, kernel k, stride s, no padding ('valid'), as the max of k² strided slices. [N,C,H,W] -> [N,C,⌊(H−k)/s⌋+1,…] */
export function maxPool2dStrided(x: Tensor, k: number, s: number): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const Ho = Math.floor((H - k) / s) + 1;
  const Wo = Math.floor((W - k) / s) + 1;
  let m: Tensor | null = null;
  for (let dy = 0; dy < k; dy++) {
    for (let dx = 0; dx < k; dx++) {
      const v = F.slice(x, {2: [dy, dy + (Ho - 1) * s + 1, s], 3: [dx, dx + (Wo - 1) * s + 1, s]}); // [N,C,Ho,Wo]
      m = m ? F.maximum(m, v) : v;
    }
  }
  return m!;
}

export class FaceRecognitionNet implements IdentityNet {
  readonly name = 'face-api FaceRecognitionNet';
  readonly embedDim = FACE_API_DESCRIPTOR_DIM;
  private readonly params: Map<string, Tensor>;

  private constructor(params: Map<string, Tensor>) {
    this.params = params;
  }

  /** Build from decoded face-api weights (tfjs names and layouts), strictly checked. */
  static fromWeights(weights: StateDict, {what = 'face-api FaceRecognitionNet weights'}: {what?: string} = {}): FaceRecognitionNet {
    const expected = expectedFaceRecognitionWeights();
    checkStateDict(expected, weights, {what});
    const params = new Map<string, Tensor>();
    for (const [k, shape] of expected) {
      const data = toFloat32(weights.get(k)!);
      if (k.endsWith('/filters')) params.set(k, constant(hwioToOihw(data, shape), [shape[3]!, shape[2]!, shape[0]!, shape[1]!]));
      else if (k === 'fc') params.set(k, constant(data, shape));
      else params.set(k, constant(data, [1, shape[0]!, 1, 1])); // per-channel bias/scale, broadcast over NCHW
    }
    return new FaceRecognitionNet(params);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new Error(`internal: no FaceRecognitionNet parameter ${key}`);
    return t;
  }

  /** convLayer: conv (+bias) -> scale layer (x·weights + biases) -> optional ReLU. 'same' padding at stride 1, 'valid' at stride 2. */
  private convLayer(x: Tensor, prefix: string, stride: 1 | 2, relu: boolean): Tensor {
    const w = this.p(`${prefix}/conv/filters`);
    const k = w.shape[2]!;
    let h = F.conv2d(x, w, {stride, padding: stride === 1 ? (k - 1) / 2 : 0});
    h = F.add(h, this.p(`${prefix}/conv/bias`));
    h = F.add(F.mul(h, this.p(`${prefix}/scale/weights`)), this.p(`${prefix}/scale/biases`));
    return relu ? F.relu(h) : h;
  }

  /** residual: relu(convNoRelu(conv(x)) + x). */
  private residual(x: Tensor, name: string): Tensor {
    const h = this.convLayer(this.convLayer(x, `${name}/conv1`, 1, true), `${name}/conv2`, 1, false);
    return F.relu(F.add(h, x));
  }

  /**
   * residualDown: the main path downsamples with a stride-2 'valid' conv, the shortcut with AvgPool(2, 2); when
   * the main path comes out one row/column short it is zero-padded at the bottom/right, and the shortcut's extra
   * channels are zeros (face-api concatenates a zero tensor).
   */
  private residualDown(x: Tensor, name: string): Tensor {
    let h = this.convLayer(this.convLayer(x, `${name}/conv1`, 2, true), `${name}/conv2`, 1, false); // [N,O,h,w]
    let pooled = avgPool2d(x, 2); // [N,I,H/2,W/2]
    const [, O, hh, ww] = h.shape as [number, number, number, number];
    const [, I, ph, pw] = pooled.shape as [number, number, number, number];
    if (hh !== ph || ww !== pw) h = F.pad(h, [0, 0, 0, 0, 0, 0, ph - hh, pw - ww]);
    if (I !== O) pooled = F.pad(pooled, [0, 0, 0, 0, 0, O - I, 0, 0]);
    return F.relu(F.add(pooled, h));
  }

  /**
   * FaceRecognitionNet.forwardInput after `toBatchTensor`: RGB images [N,3,150,150] with values in 0…255 ->
   * the raw descriptor [N,128] (face-api's `computeFaceDescriptor` output; not normalised).
   */
  descriptor(x255: Tensor): Tensor {
    const S = FACE_API_INPUT_SIZE;
    assertShape(x255, [null, 3, S, S], 'FaceRecognitionNet input');
    const mean = constant(Float32Array.from(FACE_API_MEAN_RGB), [1, 3, 1, 1]);
    let h = F.div(F.sub(x255, mean), 255); // face-api normalize(x, meanRgb).div(255)
    h = this.convLayer(h, 'conv32_down', 2, true); // 7×7 stride 2 valid [N,32,72,72]
    h = maxPool2dStrided(h, 3, 2); // [N,32,35,35]
    for (const [name, , , down] of BLOCKS) h = down ? this.residualDown(h, name) : this.residual(h, name); // [N,256,2,2]
    const pooled = F.mean(h, [2, 3]); // global average [N,256]
    return F.matmul(pooled, this.p('fc')); // [N,128]
  }

  /**
   * Identity features for images [N,3,H,W] in [-1, 1] (any size): area-resize to 150×150 (StyleCLIP's
   * differentiable area resampling; face-api itself uses bilinear resizing and pads non-square inputs to a
   * square first, we resize each axis), map to 0…255, descriptor, L2-normalise -> [N,128].
   */
  features(img: Tensor): Tensor {
    assertShape(img, [null, 3, null, null], 'identity image');
    const x = styleclipResize(img, FACE_API_INPUT_SIZE); // [N,3,150,150]
    return l2Norm(this.descriptor(F.mul(F.add(x, 1), 127.5)));
  }
}

/** Build from a weights manifest (JSON bytes or text) and its shards (path -> bytes). */
export function faceRecognitionNetFromBytes(manifest: string | Uint8Array, shards: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>, what = 'face-api FaceRecognitionNet weights'): FaceRecognitionNet {
  return FaceRecognitionNet.fromWeights(decodeTfjsWeights(parseTfjsManifest(manifest, what), shards, what), {what});
}

/** The `model/` folder of the installed @vladmandic/face-api package (Node). */
export function faceApiModelDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  } catch {
    throw new StyleclipError('cannot find the @vladmandic/face-api package (npm install @vladmandic/face-api)');
  }
  return path.join(path.dirname(pkg), 'model');
}

/** Read the weights manifest and shards of a tfjs model from a folder (Node). */
export function readTfjsModelFiles(dir: string, manifestName: string): {manifest: Uint8Array; shards: Map<string, Uint8Array>} {
  const read = (f: string) => {
    try {
      return new Uint8Array(readFileSync(path.join(dir, f)));
    } catch (e) {
      throw new StyleclipError(`cannot read ${path.join(dir, f)}: ${(e as Error).message}`);
    }
  };
  const manifest = read(manifestName);
  const shards = new Map<string, Uint8Array>();
  for (const g of parseTfjsManifest(manifest, manifestName)) for (const p of g.paths) shards.set(p, read(p));
  return {manifest, shards};
}

/** Load face-api's FaceRecognitionNet from the installed package (or a folder holding the same files). */
export function loadFaceRecognitionNet(dir: string = faceApiModelDir()): FaceRecognitionNet {
  const name = 'face_recognition_model-weights_manifest.json';
  const {manifest, shards} = readTfjsModelFiles(dir, name);
  return faceRecognitionNetFromBytes(manifest, shards, `face-api weights '${path.join(dir, name)}'`);
}
