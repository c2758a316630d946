/**
 * Evaluation classifier of the offline demo world: a small CNN trained on procedural renders that
 * predicts every face attribute. It only measures edits (benchmarks, `styleclip demo classify`); no edit method
 * ever uses it, so edit quality is judged by a model independent of the CLIP that drives the edit.
 *
 * Architecture (channel counts and kernel sizes are read from the state dict, strides from its metadata):
 *   input [N, 3, 64, 64] in [-1, 1] (other sizes are area-resized to 64×64 first)
 *   conv0 3→32   k4 s2  → 32×32   leaky ReLU 0.2
 *   conv1 32→64  k4 s2  → 16×16   leaky ReLU
 *   conv2 64→64  k3 s1  → 16×16   leaky ReLU
 *   conv3 64→128 k4 s2  → 8×8     leaky ReLU
 *   conv4 128→128 k4 s2 → 4×4     leaky ReLU
 *   flatten (2048) → one linear head per attribute (logits over its values, schema order) → softmax
 * The 4×4 map is flattened rather than globally averaged: several attributes share colours (green hair, green
 * eyes, green background) and differ only in where the colour is, which a flatten keeps and an average drops.
 *
 * State dict: conv{i}.weight [O, I, k, k], conv{i}.bias [O], head.{attribute}.weight [values, F],
 * head.{attribute}.bias [values], and optionally a linear regression head regression.weight [R, F], regression.bias [R]
 * (the v2 world's continuous factors, lab/world2; the metadata's `regression_targets` names its outputs); metadata `strides` ("2,2,1,2,2"), `input_size` ("64") and `attributes` (the
 * schema's names and values as JSON, checked on load so a stale asset cannot silently mislabel classes).
 */
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {readBytes} from '../io/files.js';
import {type HostTensor, type StateDict, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors} from '../io/safetensors.js';
import {styleclipResize} from '../models/clip/preprocess.js';
import {Rng} from './rng.js';
import {type AttributeName, attributeNames, attributeValues} from './attributes.js';

/** Per image: attribute → value → probability (each attribute's probabilities sum to 1). */
export type AttributeProbabilities = Record<AttributeName, Record<string, number>>;

export interface ClassifierConfig {
  /** Input resolution the network was trained at. */
  inputSize: number;
  /** Conv layers: output channels, kernel size, stride (padding is ⌊(k−1)/2⌋). */
  convs: {out: number; kernel: number; stride: number}[];
  /** Slope of the leaky ReLU after every conv. */
  slope: number;
  /** Outputs of the optional linear regression head on the same features (absent or 0: none). */
  regression?: number;
}

/** The shipped architecture (see the file header). */
export const defaultClassifierConfig: ClassifierConfig = {
  inputSize: 64,
  convs: [
    {out: 32, kernel: 4, stride: 2},
    {out: 64, kernel: 4, stride: 2},
    {out: 64, kernel: 3, stride: 1},
    {out: 128, kernel: 4, stride: 2},
    {out: 128, kernel: 4, stride: 2},
  ],
  slope: 0.2,
};

/** The attribute schema as stored in the asset's metadata (names and values in class order). */
export function schemaFingerprint(): string {
  return JSON.stringify(attributeNames.map((n) => [n, attributeValues(n)]));
}

function outSize(size: number, kernel: number, stride: number): number {
  const pad = Math.floor((kernel - 1) / 2);
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** Spatial size and channels of the last conv's output. */
export function featureShape(cfg: Pick<ClassifierConfig, 'inputSize' | 'convs'>): {channels: number; size: number} {
  let size = cfg.inputSize;
  for (const c of cfg.convs) size = outSize(size, c.kernel, c.stride);
  return {channels: cfg.convs.at(-1)!.out, size};
}

/** The conv trunk's parameter names and shapes (conv{i}.weight, conv{i}.bias), in order. */
export function trunkParamShapes(cfg: Pick<ClassifierConfig, 'convs'>): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  let cin = 3;
  cfg.convs.forEach((c, i) => {
    shapes.set(`conv${i}.weight`, [c.out, cin, c.kernel, c.kernel]);
    shapes.set(`conv${i}.bias`, [c.out]);
    cin = c.out;
  });
  return shapes;
}

/** Parameter names and shapes of a config, in a fixed order. */
function classifierParamShapes(cfg: ClassifierConfig): Map<string, number[]> {
  const shapes = trunkParamShapes(cfg);
  const {channels, size} = featureShape(cfg);
  for (const name of attributeNames) {
    shapes.set(`head.${name}.weight`, [attributeValues(name).length, channels * size * size]);
    shapes.set(`head.${name}.bias`, [attributeValues(name).length]);
  }
  if (cfg.regression) {
    shapes.set('regression.weight', [cfg.regression, channels * size * size]);
    shapes.set('regression.bias', [cfg.regression]);
  }
  return shapes;
}

/**
 * Fresh weights for a conv trunk with linear heads: He-normal convs (for the leaky ReLU of slope `slope`), normal
 * heads of std `headStd(fanIn)` (names not starting with 'conv'), zero biases; deterministic in `seed`.
 */
export function initTrunkState(shapes: Map<string, number[]>, slope: number, seed: number, headStd: (fanIn: number) => number): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = new Map();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.weight')) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const std = name.startsWith('conv') ? Math.sqrt(2 / ((1 + slope ** 2) * fanIn)) : headStd(fanIn);
      for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
    }
    sd.set(name, {dtype: 'float32', shape, data});
  }
  return sd;
}

/** Fresh weights: He-normal convs, heads of std 0.01, zero biases; deterministic in `seed`. */
export function initClassifierState(cfg: ClassifierConfig, seed: number): StateDict {
  return initTrunkState(classifierParamShapes(cfg), cfg.slope, seed, () => 0.01);
}

/**
 * The network as a graph: images [N, 3, H, W] in [-1, 1] → logits per attribute, [N, values]. `p` supplies
 * each parameter tensor (constants for inference, Params inputs for training).
 */
export function classifierLogits(x: Tensor, cfg: ClassifierConfig, p: (name: string) => Tensor): Record<AttributeName, Tensor> {
  return classifierOutputs(x, cfg, p).logits;
}

/**
 * The conv trunk: images [N, 3, H, W] in [-1, 1] (area-resized to the input size) → flattened features [N, F].
 * The demo identity network (identity.ts) uses the same trunk under its own head.
 */
export function convFeatures(x: Tensor, cfg: Pick<ClassifierConfig, 'inputSize' | 'convs' | 'slope'>, p: (name: string) => Tensor): Tensor {
  check(x.rank === 4 && x.shape[1] === 3, `network input must be [N, 3, H, W], got [${x.shape.join(', ')}]`);
  const N = x.shape[0]!;
  let h = styleclipResize(x, cfg.inputSize);
  cfg.convs.forEach((c, i) => {
    h = F.conv2d(h, p(`conv${i}.weight`), {stride: c.stride, padding: Math.floor((c.kernel - 1) / 2)});
    h = F.leakyRelu(F.add(h, F.reshape(p(`conv${i}.bias`), [1, c.out, 1, 1])), cfg.slope);
  });
  return F.reshape(h, [N, h.shape[1]! * h.shape[2]! * h.shape[3]!]);
}

/** The logits per attribute and, when the config has a regression head, its outputs [N, R]. */
export function classifierOutputs(x: Tensor, cfg: ClassifierConfig, p: (name: string) => Tensor): {logits: Record<AttributeName, Tensor>; regression: Tensor | null} {
  const feat = convFeatures(x, cfg, p);
  const linear = (w: string, b: string) => F.add(F.matmul(feat, F.transpose(p(w), [1, 0])), p(b));
  const logits = {} as Record<AttributeName, Tensor>;
  for (const name of attributeNames) logits[name] = linear(`head.${name}.weight`, `head.${name}.bias`);
  return {logits, regression: cfg.regression ? linear('regression.weight', 'regression.bias') : null};
}

export {logSoftmax} from '../nn/functional.js';

/** The conv trunk's architecture from `conv{i}.weight` shapes and the `strides`, `input_size` and `slope` metadata. */
export function trunkFromStateDict(sd: StateDict, metadata: Record<string, string>, what: string): Pick<ClassifierConfig, 'inputSize' | 'convs' | 'slope'> {
  const strides = (metadata.strides ?? '').split(',').filter((s) => s !== '').map(Number);
  check(strides.length > 0 && strides.every((s) => Number.isInteger(s) && s >= 1), `${what} has no valid 'strides' metadata`);
  const inputSize = Number(metadata.input_size ?? 64);
  check(Number.isInteger(inputSize) && inputSize >= 8, `${what} has an invalid 'input_size' metadata`);
  const convs = strides.map((stride, i) => {
    const w = sd.get(`conv${i}.weight`);
    check(w && w.shape.length === 4 && w.shape[2] === w.shape[3], `${what} lacks a valid conv${i}.weight`);
    return {out: w.shape[0]!, kernel: w.shape[2]!, stride};
  });
  return {inputSize, convs, slope: Number(metadata.slope ?? 0.2)};
}

/** Read the architecture from a state dict's shapes plus its `strides` metadata, checking every tensor. */
function configFromStateDict(sd: StateDict, metadata: Record<string, string>, what: string): ClassifierConfig {
  if (metadata.attributes !== undefined) {
    check(metadata.attributes === schemaFingerprint(), `${what} was trained on a different attribute schema; retrain it (npm run train:demo)`);
  }
  const reg = sd.get('regression.weight');
  const cfg: ClassifierConfig = {...trunkFromStateDict(sd, metadata, what), ...(reg ? {regression: reg.shape[0]!} : {})};
  checkTensorShapes(sd, classifierParamShapes(cfg), what);
  return cfg;
}

/** A state dict holds exactly the `expected` tensors, each of its shape (named errors otherwise). */
export function checkTensorShapes(sd: StateDict, expected: Map<string, number[]>, what: string): void {
  for (const [k, shape] of expected) {
    const t = sd.get(k);
    check(t, `${what} lacks tensor '${k}'`);
    check(t.shape.join() === shape.join(), `${what}: '${k}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  for (const k of sd.keys()) check(expected.has(k), `${what} has an unexpected tensor '${k}'`);
}

/** A loaded classifier: weights as graph constants, compiled programs cached per input shape. */
export class DemoClassifier {
  readonly config: ClassifierConfig;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly consts: Map<string, Tensor>;

  constructor(sd: StateDict, metadata: Record<string, string> = {}, what = 'classifier') {
    this.config = configFromStateDict(sd, metadata, what);
    this.metadata = metadata;
    this.consts = new Map([...sd].map(([k, t]) => [k, constant(toFloat32(t), t.shape)]));
  }

  /** Graph form: images [N, 3, H, W] in [-1, 1] → probabilities per attribute, [N, values]. */
  probabilities(x: Tensor): Record<AttributeName, Tensor> {
    const logits = classifierLogits(x, this.config, (k) => this.consts.get(k)!);
    const out = {} as Record<AttributeName, Tensor>;
    for (const name of attributeNames) out[name] = F.softmax(logits[name], -1);
    return out;
  }

  /** Images [N, 3, H, W] float in [-1, 1] → per image, each attribute's value probabilities. */
  async classify(images: HostTensor, {batch = 128}: {batch?: number} = {}): Promise<AttributeProbabilities[]> {
    return (await this.run(images, {batch})).probabilities;
  }

  /** Probabilities per image and, with a regression head, its outputs per image (else null). */
  async run(images: HostTensor, {batch = 128}: {batch?: number} = {}): Promise<{probabilities: AttributeProbabilities[]; regression: Float32Array[] | null}> {
    check(images.shape.length === 4 && images.shape[1] === 3, `images must be [N, 3, H, W], got [${images.shape.join(', ')}]`);
    const [N, , H, W] = images.shape as [number, number, number, number];
    const data = toFloat32(images);
    const per = 3 * H * W;
    const R = this.config.regression ?? 0;
    const results: AttributeProbabilities[] = [];
    const regression: Float32Array[] = [];
    for (let s = 0; s < N; s += batch) {
      const n = Math.min(batch, N - s);
      const x = input('images', [n, 3, H, W]);
      const {logits, regression: reg} = classifierOutputs(x, this.config, (k) => this.consts.get(k)!);
      const prog = await compile([x], [...attributeNames.map((a) => F.softmax(logits[a], -1)), ...(reg ? [reg] : [])]);
      const out = await prog.run([data.subarray(s * per, (s + n) * per)]);
      for (let i = 0; i < n; i++) {
        const r = {} as AttributeProbabilities;
        attributeNames.forEach((name, a) => {
          const values = attributeValues(name);
          const d = out[a]!.data as Float32Array;
          r[name] = Object.fromEntries(values.map((v, j) => [v, d[i * values.length + j]!]));
        });
        results.push(r);
        if (R) regression.push((out[attributeNames.length]!.data as Float32Array).slice(i * R, (i + 1) * R));
      }
    }
    return {probabilities: results, regression: R ? regression : null};
  }

  /** The most probable value of every attribute, per image. */
  async predict(images: HostTensor): Promise<Record<AttributeName, string>[]> {
    return (await this.classify(images)).map(topValues);
  }
}

/** The most probable value of every attribute. */
export function topValues(p: AttributeProbabilities): Record<AttributeName, string> {
  const out = {} as Record<AttributeName, string>;
  for (const name of attributeNames) {
    const entries = Object.entries(p[name]);
    out[name] = entries.reduce((best, e) => (e[1] > best[1] ? e : best))[0];
  }
  return out;
}

/** Path of the shipped asset (works from src/ and dist/). */
const demoClassifierPath = fileURLToPath(new URL('../../assets/demo/classifier.safetensors', import.meta.url));

/** Parse a classifier safetensors file. */
export function demoClassifierFromBytes(bytes: Uint8Array, what = 'classifier'): DemoClassifier {
  const {tensors, metadata} = parseSafetensors(bytes, {what});
  check(metadata.format === undefined || metadata.format === 'styleclip-demo-classifier', `${what} is not a demo classifier (format '${metadata.format}')`);
  return new DemoClassifier(tensors, metadata, what);
}

let shipped: DemoClassifier | undefined;

/** Load the classifier (default: the shipped asset, cached). */
export function loadDemoClassifier(file?: string): DemoClassifier {
  if (file === undefined && shipped) return shipped;
  const f = file ?? demoClassifierPath;
  if (file === undefined && !existsSync(f)) {
    throw new StyleclipError(`the demo classifier asset '${f}' is missing; train it with: node --import tsx lab/scripts/train-classifier.ts`);
  }
  const c = demoClassifierFromBytes(readBytes(f, 'classifier'), `classifier '${f}'`);
  if (file === undefined) shipped = c;
  return c;
}
