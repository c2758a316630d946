/**
 * NVIDIA StyleGAN2-ADA generators as our StyleGAN2 (fixtures README §11): parity with sg2ada_tiny_io for the three
 * truncation cases, the three images and every StyleSpace vector; the FFHQ-1024 layout of sg2ada_ffhq1024_shapes;
 * conditional generators (mapping checked against an independent host computation) and their named errors.
 */
import {describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {type HostTensor, type StateDict, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {PersistentRecord, loadNetworkPickle, persistentStateDict} from '../../src/io/torch.js';
import {generate} from '../../src/models/generate.js';
import {generatorFromBytes, loadGenerator, requireClassChosen} from '../../src/models/load-generator.js';
import {type Sg2AdaConfig, generatorFromSg2AdaStateDict, sg2adaStateDictShapes} from '../../src/models/stylegan2-ada.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes, fixtureJson, fixturePath} from '../helpers/fixtures.js';
import {conditionalTinyPickle} from '../helpers/network-pickle-writer.js';

const io = parseSafetensors(fixtureBytes('sg2ada_tiny_io.safetensors')).tensors;
const ref = (k: string): Float32Array => toFloat32(io.get(k)!);

describe('sg2ada_tiny.pkl parity (G_ema)', () => {
  const g = loadGenerator(fixturePath('sg2ada_tiny.pkl'));
  const manifest = fixtureJson<{num_ws: number; stylespace_order: string[]}>('sg2ada_tiny.json');

  it('has the fixture layout: 8 ws, 11 StyleSpace layers in stylespace_order, w_avg as latent_avg', () => {
    expect(g.nLatent).toBe(manifest.num_ws);
    expect(g.layers.length).toBe(manifest.stylespace_order.length);
    expect(g.config.convClamp).toBe(256);
    expect(g.latentAvg).toEqual(ref('w_avg'));
  });

  it('maps z to the three W+ cases (ψ 1, ψ 0.7, ψ 0.7 with cutoff 2) within 1e-5', async () => {
    const z = io.get('z')!;
    for (const [name, truncation, cutoff] of [['ws_trunc1', 1, undefined], ['ws_trunc07', 0.7, undefined], ['ws_trunc07_cutoff2', 0.7, 2]] as const) {
      const r = await generate(g, {latent: z, space: 'z', truncation, ...(cutoff !== undefined ? {truncationCutoff: cutoff} : {}), noise: 'zero'});
      expectAllClose(toFloat32(r.wPlus!), ref(name), {atol: 1e-5, what: name});
    }
  });

  it('synthesises img_const, img_none and img_wplus within 1e-4, with every StyleSpace vector within 1e-5', async () => {
    const c = await generate(g, {latent: io.get('ws_trunc07')!, space: 'w+', noise: 'const', returnStyles: true});
    expectAllClose(toFloat32(c.image), ref('img_const'), {atol: 1e-4, what: 'img_const'});
    expect(c.styles!.length).toBe(11);
    c.styles!.forEach((s, k) => expectAllClose(toFloat32(s), ref(`s_${String(k).padStart(2, '0')}`), {atol: 1e-5, what: `s_${k}`}));
    const n = await generate(g, {latent: io.get('ws_trunc07')!, space: 'w+', noise: 'zero'});
    expectAllClose(toFloat32(n.image), ref('img_none'), {atol: 1e-4, what: 'img_none'});
    const w = await generate(g, {latent: io.get('wplus')!, space: 'w+', noise: 'const'});
    expectAllClose(toFloat32(w.image), ref('img_wplus'), {atol: 1e-4, what: 'img_wplus'});
  });

  it('regenerates img_const from its StyleSpace vectors', async () => {
    const styles = Array.from({length: 11}, (_, k) => io.get(`s_${String(k).padStart(2, '0')}`)!);
    const r = await generate(g, {latent: styles, space: 's', noise: 'const'});
    expectAllClose(toFloat32(r.image), ref('img_const'), {atol: 1e-4, what: 'img_const from S'});
  });
});

describe("NVIDIA's ffhq.pkl layout (sg2ada_ffhq1024_shapes.json)", () => {
  const shapes = fixtureJson<{num_ws: number; stylespace_layers: [string, number][]; stylespace_channels: number; stylespace_channels_without_torgb: number; state_dict: [string, number[]][]}>('sg2ada_ffhq1024_shapes.json');
  const ffhq: Sg2AdaConfig = {
    zDim: 512, cDim: 0, wDim: 512, resolution: 1024, mappingLayers: 8, embedFeatures: 0, lrMultiplier: 0.01,
    channelBase: 32768, channelMax: 512, convClamp: 256, resampleFilter: [1, 3, 3, 1],
  };

  it('the configuration implies exactly the manifest keys and shapes, in order', () => {
    expect(sg2adaStateDictShapes(ffhq)).toEqual(shapes.state_dict);
  });

  /** Random weights for the manifest's keys (normalised [1,3,3,1] filters), built from the manifest alone. */
  function randomFfhq(): StateDict {
    let s = 12345;
    const rand = () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32 - 0.5;
    };
    const f = [1, 3, 3, 1];
    const sd: StateDict = new Map();
    for (const [k, shape] of shapes.state_dict) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (k.endsWith('resample_filter')) for (let i = 0; i < 16; i++) data[i] = (f[i >> 2]! * f[i & 3]!) / 64;
      else if (k.endsWith('affine.bias')) data.fill(1);
      else for (let i = 0; i < n; i++) data[i] = 2 * rand();
      sd.set(k, {dtype: 'float32', shape, data} satisfies HostTensor);
    }
    return sd;
  }

  const g = generatorFromSg2AdaStateDict(randomFfhq(), ffhq);

  it('builds a generator with 18 ws and 26 StyleSpace layers / 9088 channels in the manifest order', () => {
    expect(g.nLatent).toBe(shapes.num_ws);
    expect(g.layers.length).toBe(26);
    expect(g.sDim()).toBe(shapes.stylespace_channels);
    expect(g.sDim({withToRgb: false})).toBe(shapes.stylespace_channels_without_torgb);
    expect(g.layers.map((l) => l.inChannels)).toEqual(shapes.stylespace_layers.map(([, c]) => c));
    const kinds = shapes.stylespace_layers.map(([name]) => (name.endsWith('torgb') ? 'torgb' : name.endsWith('conv0') ? 'conv_up' : 'conv'));
    expect(g.layers.map((l) => l.kind)).toEqual(kinds);
    expect(g.config.size).toBe(1024);
  });

  // One 1024×1024 forward takes 5–15 s on 2 cores; the same synthesis code runs at 1024 in stylegan2.test.ts.
  it.runIf(process.env.STYLECLIP_HEAVY_TESTS === '1')('generates 1024×1024 (STYLECLIP_HEAVY_TESTS=1)', async () => {
    const r = await generate(g, {seed: 1, noise: 'const', truncation: 0.7});
    expect(r.image.shape).toEqual([1, 3, 1024, 1024]);
    const d = r.image.data as Float32Array;
    expect(d.every(Number.isFinite)).toBe(true);
    expect(Math.max(...d.subarray(0, 4096).map(Math.abs))).toBeGreaterThan(0);
  }, 300_000);

  it('names a missing or misshapen key', () => {
    const sd = randomFfhq();
    sd.delete('synthesis.b64.conv1.affine.bias');
    expect(() => generatorFromSg2AdaStateDict(sd, ffhq)).toThrow(/synthesis\.b64\.conv1\.affine\.bias/);
    const bad = randomFfhq();
    bad.set('synthesis.b8.resample_filter', {dtype: 'float32', shape: [4, 4], data: new Float32Array(16).fill(1 / 16)});
    expect(() => generatorFromSg2AdaStateDict(bad, ffhq)).toThrow(/synthesis\.b8\.resample_filter.*resample_filter \[1, 3, 3, 1\]/);
  });
});

describe('conditional StyleGAN2-ADA generators', () => {
  const root = loadNetworkPickle(fixtureBytes('sg2ada_tiny.pkl')) as Map<string, unknown>;
  const cond = conditionalTinyPickle(root, 3);

  /** NVIDIA's MappingNetwork.forward on the host, in float64: the reference for the conditional mapping. */
  function hostMapping(z: Float32Array, c: number, fc: {w: Float32Array; b: Float32Array}[]): Float64Array {
    const norm = (v: number[]) => {
      const m = v.reduce((a, x) => a + x * x, 0) / v.length;
      return v.map((x) => x / Math.sqrt(m + 1e-8));
    };
    const embed = Array.from({length: 64}, (_, o) => cond.embedW[o * 3 + c]! / Math.sqrt(3) + cond.embedB[o]!);
    let h = [...norm([...z]), ...norm(embed)];
    for (const {w, b} of fc) {
      const I = h.length;
      h = Array.from({length: 64}, (_, o) => {
        let acc = 0;
        for (let i = 0; i < I; i++) acc += h[i]! * w[o * I + i]! * (0.01 / Math.sqrt(I));
        acc += b[o]! * 0.01;
        return (acc < 0 ? 0.2 * acc : acc) * Math.SQRT2;
      });
    }
    return Float64Array.from(h);
  }

  it('maps z with the chosen class: W equals an independent computation of the reference mapping', async () => {
    const g = generatorFromBytes(cond.bytes, 'cond.pkl', {classIndex: 2});
    expect(g.config.cDim).toBe(3);
    const z = io.get('z')!;
    const r = await generate(g, {latent: z, space: 'z', truncation: 1, noise: 'zero'});
    const fixtureSd = persistentStateDict(root.get('G_ema') as PersistentRecord);
    const fc = [
      {w: cond.fc0W, b: toFloat32(fixtureSd.get('mapping.fc0.bias')!)},
      {w: toFloat32(fixtureSd.get('mapping.fc1.weight')!), b: toFloat32(fixtureSd.get('mapping.fc1.bias')!)},
    ];
    const zd = toFloat32(z);
    const w = toFloat32(r.wPlus!);
    for (let n = 0; n < 2; n++) {
      const want = hostMapping(zd.subarray(n * 64, (n + 1) * 64), 2, fc);
      expectAllClose(w.subarray(n * 8 * 64, n * 8 * 64 + 64), Float32Array.from(want), {atol: 1e-5, what: `W of item ${n}`});
    }
    // Another class gives another W.
    const g0 = generatorFromBytes(cond.bytes, 'cond.pkl', {classIndex: 0});
    const r0 = await generate(g0, {latent: z, space: 'z', truncation: 1, noise: 'zero'});
    expect(toFloat32(r0.wPlus!)).not.toEqual(w);
  });

  it('without a class: W+ and S still work, mapping z is a named error', async () => {
    const g = generatorFromBytes(cond.bytes, 'cond.pkl');
    expect(() => requireClassChosen(g, "generator 'cond.pkl'")).toThrow(/conditional generator with 3 classes: choose one with --class N \(0…2\)/);
    await expect(generate(g, {seed: 1})).rejects.toThrow(StyleclipError);
    const r = await generate(g, {latent: io.get('wplus')!, space: 'w+', noise: 'const'});
    expect(r.image.shape).toEqual([2, 3, 32, 32]);
    expect(() => generatorFromBytes(cond.bytes, 'cond.pkl', {classIndex: 3})).toThrow(/class 3 does not exist.*0…2/);
    expect(() => generatorFromBytes(fixtureBytes('sg2ada_tiny.pkl'), 'sg2ada_tiny.pkl', {classIndex: 0})).toThrow(/not a conditional generator/);
  });
});
