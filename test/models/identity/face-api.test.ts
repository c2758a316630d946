/**
 * face-api FaceRecognitionNet on our engine against @vladmandic/face-api itself, run in-process on its bundled
 * TensorFlow.js (4.22) CPU backend: the decoded weights, `computeFaceDescriptor` on noise images and a drawn
 * face, and the input gradient against tfjs's own `tf.grad` through `forwardInput`. Plus the IdentityNet
 * contract (unit-norm features of any size, ID loss 0 for the same image, > 0 for different ones) and strict
 * loading of the tfjs weights manifest.
 *
 * Why the ESM browser bundle: face-api's Node entries require @tensorflow/tfjs-node (a native addon whose
 * install script downloads libtensorflow) or @tensorflow/tfjs + @tensorflow/tfjs-backend-wasm. The bundle
 * dist/face-api.esm.js carries its own tfjs with the pure-JS CPU backend, but on import tfjs detects Node
 * (process.versions.node) and builds its Node platform from a `util` module the bundle stubs out, which throws
 * ("this.util.TextEncoder is not a constructor"). Defining `WorkerGlobalScope` during the import makes tfjs pick
 * its browser platform (fetch/TextEncoder, both in Node 20) instead; nothing else in the model path needs the
 * DOM when the inputs are tensors.
 */
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {beforeAll, describe, expect, it} from 'vitest';
import {vjp} from '../../../src/engine/autodiff.js';
import {compile, configureEngine} from '../../../src/engine/session.js';
import * as F from '../../../src/engine/ops.js';
import {type Tensor, constant, input} from '../../../src/engine/tensor.js';
import {toFloat32} from '../../../src/io/host-tensor.js';
import {
  FaceRecognitionNet,
  expectedFaceRecognitionWeights,
  faceApiModelDir,
  faceRecognitionNetFromBytes,
  loadFaceRecognitionNet,
  maxPool2dStrided,
} from '../../../src/models/identity/face-api.js';
import {decodeTfjsWeights, parseTfjsManifest} from '../../../src/io/tfjs-weights.js';
import {identityLoss} from '../../../src/edit/losses.js';
import type {IdentityNet} from '../../../src/models/identity/types.js';
import {expectAllClose} from '../../helpers/allclose.js';
import {rng} from '../../helpers/gradcheck.js';

// One intra-op thread: vitest runs two test files side by side on the 2-core reference machine.
configureEngine({threads: 1});

/** face-api's module and tfjs objects; its typings are not needed for a parity test. */
type FaceApi = any;

/** StyleCLIP IDLoss.forward on images: mean_b (1 − ⟨f(ŷ_b), f(y_b)⟩), y detached. */
const idLoss = (net: IdentityNet, yHat: Tensor, y: Tensor): Tensor => F.mean(identityLoss(net, yHat, net.features(y)));

const S = 150;
const MANIFEST = 'face_recognition_model-weights_manifest.json';
const dir = faceApiModelDir();
const manifestBytes = new Uint8Array(readFileSync(path.join(dir, MANIFEST)));
const groups = parseTfjsManifest(manifestBytes);
const shards = new Map(groups.flatMap((g) => g.paths).map((p) => [p, new Uint8Array(readFileSync(path.join(dir, p)))]));

let faceapi: FaceApi;
let tf: FaceApi;
let refNet: FaceApi;
let net: FaceRecognitionNet;

beforeAll(async () => {
  const g = globalThis as {WorkerGlobalScope?: unknown};
  g.WorkerGlobalScope = class {};
  try {
    faceapi = await import('@vladmandic/face-api/dist/face-api.esm.js');
  } finally {
    delete g.WorkerGlobalScope;
  }
  tf = faceapi.tf;
  await tf.setBackend('cpu');
  refNet = new faceapi.FaceRecognitionNet();
  const [group] = groups;
  refNet.loadFromWeightMap(tf.io.decodeWeights(shards.get(group!.paths[0]!)!.slice().buffer, group!.weights));
  net = loadFaceRecognitionNet();
});

/** A 150×150 RGB (0…255, HWC) cartoon face: hair, skin oval, eyebrows, eyes with irises, nose shading, lips. */
function drawFace(): Float32Array {
  const img = new Float32Array(S * S * 3);
  const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let c = [90 + y * 0.4, 110 + y * 0.3, 140 - y * 0.2]; // background gradient
      if (inEllipse(x, y, 75, 62, 52, 56)) c = [60, 40, 25]; // hair
      if (inEllipse(x, y, 75, 82, 44, 58)) c = [224 - (x - 75) ** 2 * 0.02, 180 - (x - 75) ** 2 * 0.02, 150]; // skin
      for (const ex of [57, 93]) {
        if (y >= 58 && y <= 61 && Math.abs(x - ex) <= 10) c = [70, 50, 35]; // eyebrows
        if (inEllipse(x, y, ex, 72, 9, 5)) c = [245, 245, 240]; // eye whites
        if (inEllipse(x, y, ex, 72, 4, 4)) c = [70, 100, 60]; // irises
        if (inEllipse(x, y, ex, 72, 2, 2)) c = [15, 15, 15]; // pupils
      }
      if (Math.abs(x - 75) <= 4 - (95 - y) * 0.1 && y >= 75 && y <= 95) c = [200, 150, 120]; // nose
      if (inEllipse(x, y, 75, 110, 15, 5)) c = [170, 60, 70]; // lips
      img.set(c.map((v) => Math.max(0, Math.min(255, v))), (y * S + x) * 3);
    }
  }
  return img;
}

function noise(seed: number): Float32Array {
  const R = rng(seed);
  return Float32Array.from({length: S * S * 3}, () => 255 * R.uniform());
}

/** HWC images -> NCHW batch. */
function toNchw(images: Float32Array[]): Float32Array {
  const out = new Float32Array(images.length * 3 * S * S);
  images.forEach((img, n) => {
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) out[((n * 3 + c) * S + y) * S + x] = img[(y * S + x) * 3 + c]!;
  });
  return out;
}

function normalizeRows(d: Float32Array, D: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let r = 0; r < d.length / D; r++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += d[r * D + j]! ** 2;
    for (let j = 0; j < D; j++) out[r * D + j] = d[r * D + j]! / Math.sqrt(s);
  }
  return out;
}

describe('tfjs weights manifest', () => {
  it('decodes face-api weights exactly as tf.io.decodeWeights (uint8-quantized and float32 entries)', () => {
    const ours = decodeTfjsWeights(groups, shards);
    const ref = tf.io.decodeWeights(shards.get(groups[0]!.paths[0]!)!.slice().buffer, groups[0]!.weights);
    expect([...ours.keys()]).toEqual(Object.keys(ref));
    expect([...ours].map(([k, t]) => [k, t.shape])).toEqual(expectedFaceRecognitionWeights());
    expect(groups[0]!.weights.some((w) => w.quantization?.dtype === 'uint8')).toBe(true);
    expect(groups[0]!.weights.some((w) => w.quantization === undefined)).toBe(true);
    for (const [k, t] of ours) {
      expect(t.shape, k).toEqual(ref[k].shape);
      expect(Buffer.from((t.data as Float32Array).buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(ref[k].dataSync().buffer)), k).toBe(true);
    }
  });

  it('reads float16 and uint16 quantization and fails on missing, truncated or oversized shards', () => {
    const man = JSON.stringify([
      {
        paths: ['a.bin', 'b.bin'],
        weights: [
          {name: 'h', shape: [2], dtype: 'float32', quantization: {dtype: 'float16'}},
          {name: 'q', shape: [2], dtype: 'float32', quantization: {dtype: 'uint16', scale: 0.5, min: -1}},
          {name: 'i', shape: [1], dtype: 'int32'},
        ],
      },
    ]);
    const g = parseTfjsManifest(man);
    const bytes = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 3, 0, 0, 1, 7, 0, 0, 0]); // 1.0, −2.0 | 3, 256 | 7
    const sd = decodeTfjsWeights(g, {'a.bin': bytes.subarray(0, 5), 'b.bin': bytes.subarray(5)});
    expect(Array.from(toFloat32(sd.get('h')!))).toEqual([1, -2]);
    expect(Array.from(toFloat32(sd.get('q')!))).toEqual([0.5, 127]);
    expect(Array.from(sd.get('i')!.data as Int32Array)).toEqual([7]);
    expect(() => decodeTfjsWeights(g, {'a.bin': bytes})).toThrow(/missing shard 'b\.bin'/);
    expect(() => decodeTfjsWeights(g, {'a.bin': bytes.subarray(0, 5), 'b.bin': bytes.subarray(5, 10)})).toThrow(/inside weight 'i'/);
    expect(() => decodeTfjsWeights(g, {'a.bin': bytes, 'b.bin': new Uint8Array(1)})).toThrow(/1 bytes after its last weight/);
    expect(() => parseTfjsManifest('[{"paths": [], "weights": [{"name": "s", "shape": [], "dtype": "string"}]}]')).toThrow(/unsupported dtype 'string'/);
  });

  it('loading is strict: a missing weight or a wrong shape is named', () => {
    const sd = decodeTfjsWeights(groups, shards);
    sd.delete('fc');
    const w = sd.get('conv32_1/conv1/conv/bias')!;
    sd.set('conv32_1/conv1/conv/bias', {...w, shape: [2, 16]});
    expect(() => FaceRecognitionNet.fromWeights(sd, {what: 'weights'})).toThrow(
      /weights does not match the model: 1 missing key \[fc\]; 1 shape mismatch \[conv32_1\/conv1\/conv\/bias: expected \[32\], got \[2, 16\]\]/,
    );
    expect(faceRecognitionNetFromBytes(manifestBytes, shards).embedDim).toBe(128);
  });
});

describe('FaceRecognitionNet vs face-api (tfjs CPU backend)', () => {
  it('descriptors equal computeFaceDescriptor on a noise image and a drawn face; features() is their L2 normalisation', async () => {
    const images = [noise(1), drawFace()];
    const N = images.length;
    const refDesc = (await refNet.computeFaceDescriptor(images.map((im) => tf.tensor3d(im, [S, S, 3])))) as Float32Array[];
    const expected = new Float32Array(N * 128);
    refDesc.forEach((d, n) => expected.set(d, n * 128));

    const x255 = input('x255', [N, 3, S, S]);
    const x11 = input('x11', [N, 3, S, S]);
    const prog = await compile([x255, x11], [net.descriptor(x255), net.features(x11)]);
    const nchw = toNchw(images);
    const [desc, feats] = await prog.run([nchw, nchw.map((v) => v / 127.5 - 1)]);
    expectAllClose(desc!.data as Float32Array, expected, {atol: 1e-5, what: 'descriptor vs face-api computeFaceDescriptor'});
    expectAllClose(feats!.data as Float32Array, normalizeRows(expected, 128), {atol: 1e-5, what: 'features vs normalised face-api descriptor'});
  });

  it('input gradient equals tf.grad through face-api forwardInput', async () => {
    const img = drawFace();
    const R = rng(11);
    const r = Float32Array.from({length: 128}, () => R.normal());
    const g = tf.grad((x: FaceApi) => tf.sum(tf.mul(refNet.forwardInput(new faceapi.NetInput([x])), tf.tensor2d(r, [1, 128]))));
    const refHwc = (await g(tf.tensor3d(img, [S, S, 3])).data()) as Float32Array;
    const x = input('x', [1, 3, S, S]);
    const [gx] = vjp([net.descriptor(x)], [constant(r, [1, 128])], [x]);
    const [ours] = await (await compile([x], [gx!])).run([toNchw([img])]);
    const refNchw = toNchw([refHwc]);
    const scale = Math.max(...Array.from(refNchw, Math.abs));
    expectAllClose(ours!.data as Float32Array, refNchw, {atol: 1e-4 * scale, what: 'd(r·descriptor)/dx vs tf.grad'});
  });
});

describe('FaceRecognitionNet as an IdentityNet', () => {
  it('any input size: unit-norm features; ID loss 0 for the same image, positive for different images', async () => {
    const id: IdentityNet = net;
    expect(id.name).toBe('face-api FaceRecognitionNet');
    const a = input('a', [2, 3, 96, 96]);
    const b = input('b', [2, 3, 96, 96]);
    const prog = await compile([a, b], [id.features(a), idLoss(id, a, a), idLoss(id, a, b)]);
    const R = rng(5);
    const img = () => Float32Array.from({length: 2 * 3 * 96 * 96}, () => 2 * R.uniform() - 1);
    const [f, same, diff] = await prog.run([img(), img()]);
    const fd = f!.data as Float32Array;
    for (let n = 0; n < 2; n++) expect(fd.subarray(n * 128, n * 128 + 128).reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 5);
    expect(Math.abs(same!.data[0] as number)).toBeLessThan(1e-6);
    expect(diff!.data[0] as number).toBeGreaterThan(1e-4);
  });

  it('maxPool2dStrided is a 3×3 stride-2 valid max pool', async () => {
    const x = input('x', [1, 1, 7, 7]);
    const [y] = await (await compile([x], [maxPool2dStrided(x, 3, 2)])).run([Float32Array.from({length: 49}, (_, i) => (i * 37) % 49)]);
    const v = (r: number, c: number) => ((r * 7 + c) * 37) % 49;
    const want: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want.push(Math.max(...[0, 1, 2].flatMap((dy) => [0, 1, 2].map((dx) => v(2 * i + dy, 2 * j + dx)))));
    expect(y!.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(y!.data as Float32Array)).toEqual(want);
  });
});
