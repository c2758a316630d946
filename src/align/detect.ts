/**
 * Face detection with face-api's SSD MobileNet v1 (the weights ship inside @vladmandic/face-api), run on our
 * engine, matching @vladmandic/face-api 1.7.15 src/ssdMobilenetv1/{SsdMobilenetv1, mobileNetV1,
 * pointwiseConvLayer, predictionLayer, boxPredictionLayer, outputLayer, nonMaxSuppression}.ts:
 *   input    pad to a square at the bottom/right with zeros, bilinear resize to 512² (tfjs resizeBilinear without
 *            align_corners or half-pixel centres), x/127.5 − 1
 *   body     MobileNet v1: conv 3×3/2 then 13 × (depthwise 3×3 + BatchNorm, pointwise 1×1), ReLU6 after each,
 *            TensorFlow 'same' padding (the extra row/column of a stride-2 layer at the bottom/right)
 *   heads    eight more pointwise layers down to 1×1; box and class predictors on six maps (5118 anchors)
 *   decode   SSD box coding with scales 10, 10, 5, 5 against the anchors in `Output/extra_dim`; score =
 *            sigmoid(class 1); greedy non-maximum suppression at IoU 0.5
 * tfjs's pure-JS CPU backend takes tens of seconds per photo for this network; ORT takes a fraction of a second.
 *
 * Legend: N batch (1), C channels, A anchors (5118). Boxes are [ymin, xmin, ymax, xmax] relative to the square.
 */
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, constant, input} from '../engine/tensor.js';
import {StyleclipError} from '../errors.js';
import {type StateDict, toFloat32} from '../io/host-tensor.js';
import {decodeTfjsWeights, parseTfjsManifest} from '../io/tfjs-weights.js';
import {faceApiModelDir, hwioToOihw, readTfjsModelFiles} from '../models/identity/face-api.js';
import type {RgbImage} from './ffhq-align.js';

const INPUT = 512;
const BN_EPS = 0.0010000000474974513;
/** Depthwise layers with stride 2 (mobileNetV1.ts getStridesForLayerIdx). */
const STRIDE2 = new Set([2, 4, 6, 12]);
const IOU_THRESHOLD = 0.5;

export interface DetectOptions {
  /** Minimum score (face-api's default 0.5). */
  minConfidence?: number;
  /** At most this many faces (face-api's default 100). */
  maxResults?: number;
}

/** A detected face: score and box in the photo's pixels. */
export interface FaceBox {
  score: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** TensorFlow 'same' padding of one axis: [before, after]. */
function samePad(n: number, k: number, s: number): [number, number] {
  const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** tfjs resizeBilinear (alignCorners false, halfPixelCenters false) of the bottom/right zero-padded square, NCHW floats. */
export function ssdInput(photo: RgbImage): Float32Array {
  const S = Math.max(photo.width, photo.height);
  const scale = S / INPUT;
  const out = new Float32Array(3 * INPUT * INPUT);
  const px = (y: number, x: number, c: number) => (y < photo.height && x < photo.width ? photo.data[(y * photo.width + x) * 3 + c]! : 0);
  for (let oy = 0; oy < INPUT; oy++) {
    const sy = oy * scale;
    const y0 = Math.floor(sy);
    const y1 = Math.min(S - 1, Math.ceil(sy));
    const fy = sy - y0;
    for (let ox = 0; ox < INPUT; ox++) {
      const sx = ox * scale;
      const x0 = Math.floor(sx);
      const x1 = Math.min(S - 1, Math.ceil(sx));
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * fx;
        const bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * fx;
        out[c * INPUT * INPUT + oy * INPUT + ox] = (top + (bottom - top) * fy) / 127.5 - 1;
      }
    }
  }
  return out;
}

export class FaceDetector {
  private readonly w: StateDict;
  private readonly consts = new Map<string, Tensor>();
  readonly anchors: Float32Array;

  constructor(weights: StateDict, what = 'face-api SSD MobileNet v1 weights') {
    this.w = weights;
    const a = weights.get('Output/extra_dim');
    if (!a) throw new StyleclipError(`${what}: missing 'Output/extra_dim' (the anchors)`);
    this.anchors = toFloat32(a);
    for (const k of ['MobilenetV1/Conv2d_0_pointwise/weights', 'Prediction/BoxPredictor_5/ClassPredictor/biases']) {
      if (!weights.has(k)) throw new StyleclipError(`${what}: missing '${k}'`);
    }
  }

  private raw(k: string): {data: Float32Array; shape: number[]} {
    const t = this.w.get(k);
    if (!t) throw new StyleclipError(`face-api SSD MobileNet v1 weights: missing '${k}'`);
    return {data: toFloat32(t), shape: t.shape};
  }

  /** A weight as a graph constant (filters OIHW, depthwise [C,1,k,k], vectors [1,C,1,1]); built once. */
  private c(k: string, kind: 'conv' | 'depthwise' | 'vec'): Tensor {
    let t = this.consts.get(k);
    if (t) return t;
    const {data, shape} = this.raw(k);
    if (kind === 'conv') t = constant(hwioToOihw(data, shape), [shape[3]!, shape[2]!, shape[0]!, shape[1]!]);
    else if (kind === 'depthwise') t = constant(hwioToOihw(data, shape), [shape[2]!, 1, shape[0]!, shape[1]!]);
    else t = constant(data, [1, data.length, 1, 1]);
    this.consts.set(k, t);
    return t;
  }

  private conv(x: Tensor, w: Tensor, stride: number, groups = 1): Tensor {
    const [, , H, W] = x.shape as [number, number, number, number];
    const k = w.shape[2]!;
    const [pt, pb] = samePad(H, k, stride);
    const [pl, pr] = samePad(W, k, stride);
    return F.conv2d(x, w, {stride, groups, padding: [pt, pl, pb, pr]});
  }

  private relu6(x: Tensor): Tensor {
    return F.minimum(F.relu(x), 6);
  }

  /** pointwiseConvLayer: conv (3×3 for layer 0, else 1×1) + offset, ReLU6. */
  private pointwise(x: Tensor, prefix: string, stride: number): Tensor {
    return this.relu6(F.add(this.conv(x, this.c(`${prefix}/weights`, 'conv'), stride), this.c(`${prefix}/convolution_bn_offset`, 'vec')));
  }

  /** depthwiseConvLayer: depthwise 3×3 → BatchNorm (eps 1e-3) → ReLU6. */
  private depthwise(x: Tensor, idx: number): Tensor {
    const p = `MobilenetV1/Conv2d_${idx}_depthwise`;
    const C = x.shape[1]!;
    let h = this.conv(x, this.c(`${p}/depthwise_weights`, 'depthwise'), STRIDE2.has(idx) ? 2 : 1, C);
    const [g, b, m, v] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((k) => this.raw(`${p}/BatchNorm/${k}`).data) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const scale = new Float32Array(C);
    const shift = new Float32Array(C);
    for (let i = 0; i < C; i++) {
      scale[i] = g[i]! / Math.sqrt(v[i]! + BN_EPS);
      shift[i] = b[i]! - m[i]! * scale[i]!;
    }
    h = F.add(F.mul(h, constant(scale, [1, C, 1, 1])), constant(shift, [1, C, 1, 1]));
    return this.relu6(h);
  }

  /** convLayer of a box predictor: 1×1 conv + bias, then NHWC order flattened to [N, anchors, k]. */
  private predictor(x: Tensor, prefix: string, k: number): Tensor {
    const h = F.add(this.conv(x, this.c(`${prefix}/weights`, 'conv'), 1), this.c(`${prefix}/biases`, 'vec'));
    const [N, C, H, W] = h.shape as [number, number, number, number];
    return F.reshape(F.transpose(h, [0, 2, 3, 1]), [N, (H * W * C) / k, k]);
  }

  /** The network: input [1,3,512,512] in [-1, 1] -> box encodings [1,A,4] and class logits [1,A,3]. */
  forward(x: Tensor): {boxes: Tensor; classes: Tensor} {
    let h = this.pointwise(x, 'MobilenetV1/Conv2d_0_pointwise', 2);
    let conv11: Tensor | null = null;
    for (let i = 1; i <= 13; i++) {
      h = this.pointwise(this.depthwise(h, i), `MobilenetV1/Conv2d_${i}_pointwise`, 1);
      if (i === 11) conv11 = h;
    }
    const maps: Tensor[] = [conv11!, h];
    let p = h;
    for (let i = 0; i < 8; i++) {
      p = this.pointwise(p, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
      if (i % 2 === 1) maps.push(p);
    }
    const boxes = maps.map((m, i) => this.predictor(m, `Prediction/BoxPredictor_${i}/BoxEncodingPredictor`, 4));
    const classes = maps.map((m, i) => this.predictor(m, `Prediction/BoxPredictor_${i}/ClassPredictor`, 3));
    return {boxes: F.concat(boxes, 1), classes: F.concat(classes, 1)};
  }

  /** Faces in a photo, highest score first, boxes in the photo's pixels. */
  async detect(photo: RgbImage, {minConfidence = 0.5, maxResults = 100}: DetectOptions = {}): Promise<FaceBox[]> {
    const x = input('image', [1, 3, INPUT, INPUT]);
    const {boxes, classes} = this.forward(x);
    const prog = await compile([x], [boxes, F.sigmoid(classes)]);
    const [enc, cls] = await prog.run([ssdInput(photo)]);
    const e = enc!.data as Float32Array;
    const probs = cls!.data as Float32Array;
    const A = this.anchors.length / 4;
    const decoded = new Float64Array(A * 4);
    const scores: number[] = [];
    for (let i = 0; i < A; i++) {
      const [a0, a1, a2, a3] = [0, 1, 2, 3].map((j) => this.anchors[i * 4 + j]!) as [number, number, number, number];
      const s0 = a2 - a0;
      const s1 = a3 - a1;
      const c0 = a0 + s0 / 2;
      const c1 = a1 + s1 / 2;
      const h0 = (Math.exp(e[i * 4 + 2]! / 5) * s0) / 2;
      const m0 = (e[i * 4]! / 10) * s0 + c0;
      const h1 = (Math.exp(e[i * 4 + 3]! / 5) * s1) / 2;
      const m1 = (e[i * 4 + 1]! / 10) * s1 + c1;
      decoded.set([m0 - h0, m1 - h1, m0 + h0, m1 + h1], i * 4);
      scores.push(probs[i * 3 + 1]!);
    }
    const keep = nonMaxSuppression(decoded, scores, maxResults, IOU_THRESHOLD, minConfidence);
    // Undo the padding to a square: relative coordinates of the square → of the photo → pixels.
    const S = Math.max(photo.width, photo.height);
    const rw = Math.round(photo.width * (INPUT / S));
    const rh = Math.round(photo.height * (INPUT / S));
    return keep.map((i) => {
      const top = Math.max(0, decoded[i * 4]!) * (INPUT / rh);
      const bottom = Math.min(1, decoded[i * 4 + 2]!) * (INPUT / rh);
      const left = Math.max(0, decoded[i * 4 + 1]!) * (INPUT / rw);
      const right = Math.min(1, decoded[i * 4 + 3]!) * (INPUT / rw);
      return {score: scores[i]!, x: left * photo.width, y: top * photo.height, width: (right - left) * photo.width, height: (bottom - top) * photo.height};
    });
  }
}

function iou(b: Float64Array, i: number, j: number): number {
  const box = (k: number) => [Math.min(b[k * 4]!, b[k * 4 + 2]!), Math.min(b[k * 4 + 1]!, b[k * 4 + 3]!), Math.max(b[k * 4]!, b[k * 4 + 2]!), Math.max(b[k * 4 + 1]!, b[k * 4 + 3]!)] as const;
  const [y0, x0, y1, x1] = box(i);
  const [v0, u0, v1, u1] = box(j);
  const ai = (y1 - y0) * (x1 - x0);
  const aj = (v1 - v0) * (u1 - u0);
  if (ai <= 0 || aj <= 0) return 0;
  const inter = Math.max(Math.min(y1, v1) - Math.max(y0, v0), 0) * Math.max(Math.min(x1, u1) - Math.max(x0, u0), 0);
  return inter / (ai + aj - inter);
}

/** face-api's greedy NMS: candidates above the threshold by score; drop one that overlaps a kept box by IoU > 0.5. */
function nonMaxSuppression(boxes: Float64Array, scores: number[], maxOut: number, iouThreshold: number, scoreThreshold: number): number[] {
  const candidates = scores.map((score, i) => ({score, i})).filter((c) => c.score > scoreThreshold).sort((a, b) => b.score - a.score);
  const selected: number[] = [];
  for (const c of candidates) {
    if (selected.length >= Math.min(maxOut, scores.length)) break;
    if (selected.every((j) => iou(boxes, c.i, j) <= iouThreshold)) selected.push(c.i);
  }
  return selected;
}

let shared: FaceDetector | null = null;

/** face-api's SSD MobileNet v1 from the installed package (or a folder holding the same files); loaded once. */
export function loadFaceDetector(dir?: string): FaceDetector {
  if (!dir && shared) return shared;
  const d = dir ?? faceApiModelDir();
  const name = 'ssd_mobilenetv1_model-weights_manifest.json';
  const {manifest, shards} = readTfjsModelFiles(d, name);
  const what = `face-api weights '${d}/${name}'`;
  const det = new FaceDetector(decodeTfjsWeights(parseTfjsManifest(manifest, what), shards, what), what);
  if (!dir) shared = det;
  return det;
}
