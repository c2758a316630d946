/**
 * StyleGAN2 parity with rosinality's Generator on the tiny fixtures (shared/fixtures/README.md §1): W, W+, every
 * S vector, the four image cases and the debug intermediates, loaded from the .pt checkpoint, the bare .pt state
 * dict and the safetensors file. Tolerances are the README's CPU float32 column.
 */
import {beforeAll, describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {compile} from '../../src/engine/session.js';
import {type Tensor, input} from '../../src/engine/tensor.js';
import {generate} from '../../src/models/generate.js';
import {type HostTensor, type StateDict, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {extractStateDict, loadTorch} from '../../src/io/torch.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import {StyleGAN2, expectedStateDict, inferConfig, randomStateDict, standardConfig} from '../../src/models/stylegan2.js';
import {modulatedConv2d, modulatedConv2dRef, upfirdn2d, upfirdn2dRef, makeKernel} from '../../src/nn/conv.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {tinyG} from '../helpers/tiny-models.js';

const io: StateDict = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors;
const ref = (k: string): Float32Array => {
  const t = io.get(k);
  if (!t) throw new Error(`fixture tensor ${k} missing`);
  return toFloat32(t);
};
const IMG_TOL = {atol: 1e-4};
const LATENT_TOL = {atol: 1e-5};

interface Manifest {
  's_edit_deltas (s_index, channel, delta added to both batch items)': [number, number, number][];
  stylespace_layers: {name: string; kind: string; w_index: number; noise_index: number | null; res: number; in_channels: number; out_channels: number; s_index: number}[];
  state_dict: {key: string; shape: number[]}[];
}
const manifest = fixtureJson<Manifest>('stylegan2_tiny.json');

const sKey = (set: string, k: number) => `${set}_${String(k).padStart(2, '0')}`;

describe.each([
  ['stylegan2_tiny_ckpt.pt', true],
  ['stylegan2_tiny_state_dict.pt', false],
  ['stylegan2_tiny_weights.safetensors', false],
])('StyleGAN2 parity from %s', (file, hasLatentAvg) => {
  let g: StyleGAN2;
  beforeAll(() => {
    g = generatorFromBytes(fixtureBytes(file), file);
    if (!hasLatentAvg) {
      // Bare state dicts carry no latent_avg; the fixture's mean_latent stands in for truncation.
      g = StyleGAN2.fromStateDict(file.endsWith('.pt') ? torchSd(file) : parseSafetensors(fixtureBytes(file)).tensors, {latentAvg: ref('mean_latent')});
    }
  });

  it('infers the architecture and the StyleSpace table', () => {
    expect(g.config.size).toBe(32);
    expect(g.config.styleDim).toBe(64);
    expect(g.config.nMlp).toBe(2);
    expect(g.config.channels).toEqual({4: 32, 8: 32, 16: 24, 32: 16});
    expect(g.nLatent).toBe(8);
    expect(g.numNoise).toBe(7);
    expect(g.sDim()).toBe(296);
    expect(g.sDim({withToRgb: false})).toBe(192);
    expect(
      g.layers.map((l) => ({name: l.name, w: l.wIndex, noise: l.noiseIndex, res: l.res, i: l.inChannels, o: l.outChannels, s: l.sIndex})),
    ).toEqual(manifest.stylespace_layers.map((l) => ({name: l.name, w: l.w_index, noise: l.noise_index, res: l.res, i: l.in_channels, o: l.out_channels, s: l.s_index})));
  });

  it('generates W, W+ and images from z (ψ = 1 and 0.7) and from W+', async () => {
    const z: HostTensor = {dtype: 'float32', shape: [2, 64], data: ref('z')};
    const r1 = await generate(g, {latent: z, space: 'z', returnStyles: true});
    expectAllClose(r1.wPlus!.data as Float32Array, ref('w_plus_z_trunc1'), {...LATENT_TOL, what: 'w_plus_z_trunc1'});
    expectAllClose(r1.image.data as Float32Array, ref('img_z_trunc1'), {...IMG_TOL, what: 'img_z_trunc1'});
    r1.styles!.forEach((s, k) => expectAllClose(s.data as Float32Array, ref(sKey('s_z_trunc1', k)), {...LATENT_TOL, what: sKey('s_z_trunc1', k)}));

    const r07 = await generate(g, {latent: z, space: 'z', truncation: 0.7, returnStyles: true});
    expectAllClose(r07.wPlus!.data as Float32Array, ref('w_plus_z_trunc07'), {...LATENT_TOL, what: 'w_plus_z_trunc07'});
    expectAllClose(r07.image.data as Float32Array, ref('img_z_trunc07'), {...IMG_TOL, what: 'img_z_trunc07'});
    r07.styles!.forEach((s, k) => expectAllClose(s.data as Float32Array, ref(sKey('s_z_trunc07', k)), {...LATENT_TOL, what: sKey('s_z_trunc07', k)}));

    const wp: HostTensor = {dtype: 'float32', shape: [2, 8, 64], data: ref('w_plus_input')};
    const rw = await generate(g, {latent: wp, space: 'w+', returnStyles: true});
    expectAllClose(rw.image.data as Float32Array, ref('img_wplus'), {...IMG_TOL, what: 'img_wplus'});
    rw.styles!.forEach((s, k) => expectAllClose(s.data as Float32Array, ref(sKey('s_wplus', k)), {...LATENT_TOL, what: sKey('s_wplus', k)}));

    // W (not W+) input: the mapped w broadcast to every row gives the ψ = 1 image.
    const w: HostTensor = {dtype: 'float32', shape: [2, 64], data: ref('w')};
    const rW = await generate(g, {latent: w, space: 'w'});
    expectAllClose(rW.image.data as Float32Array, ref('img_z_trunc1'), {...IMG_TOL, what: 'img from W'});
  });

  it('generates from edited StyleSpace vectors (img_sedit)', async () => {
    const s = g.layers.map((l, k): HostTensor => ({dtype: 'float32', shape: [2, l.inChannels], data: ref(sKey('s_edit', k))}));
    // The edit really differs from the unedited styles at the manifest's channels.
    for (const [k, c, delta] of manifest['s_edit_deltas (s_index, channel, delta added to both batch items)']) {
      expect(ref(sKey('s_edit', k))[c]! - ref(sKey('s_wplus', k))[c]!).toBeCloseTo(delta, 4);
    }
    const r = await generate(g, {latent: s, space: 's'});
    expectAllClose(r.image.data as Float32Array, ref('img_sedit'), {...IMG_TOL, what: 'img_sedit'});
  });
});

function torchSd(file: string): StateDict {
  return extractStateDict(loadTorch(fixtureBytes(file)), {prefer: ['g_ema']});
}

describe('StyleGAN2 debug intermediates (img_wplus case)', () => {
  it('matches every dbg.* tensor', async () => {
    const g = tinyG();
    const z = input('z', [2, 64]);
    const mapTaps = new Map<string, Tensor>();
    g.mapping(z, mapTaps);
    const pm = await compile([z], [...mapTaps.values()]);
    const mo = await pm.run([ref('z')]);
    [...mapTaps.keys()].forEach((k, i) => expectAllClose(mo[i]!.data as Float32Array, ref(k), {...LATENT_TOL, what: k}));

    const wp = input('wp', [2, 8, 64]);
    const noise = Array.from({length: g.numNoise}, (_, i) => input(`n${i}`, [2, 1, g.noiseRes(i), g.noiseRes(i)]));
    const taps = new Map<string, Tensor>();
    g.synthesis(g.styles(wp), noise, taps);
    const names = [...taps.keys()];
    const expected = [...io.keys()].filter((k) => k.startsWith('dbg.') && !k.startsWith('dbg.style.'));
    expect(new Set(names)).toEqual(new Set(expected));
    const p = await compile([wp, ...noise], [...taps.values()]);
    const out = await p.run([ref('w_plus_input'), ...g.noiseArrays('const', 2)]);
    names.forEach((k, i) => expectAllClose(out[i]!.data as Float32Array, ref(k), {...IMG_TOL, what: k}));
  });

  it('uses the checkpoint noise buffers for noise "const"', () => {
    const g = tinyG();
    const arrays = g.noiseArrays('const', 1);
    arrays.forEach((a, i) => expectAllClose(a, ref(`noise_${i}`), {what: `noise_${i}`}));
  });
});

describe('StyleGAN2 noise modes', () => {
  it('zero and seeded random noise change the image; the same seed reproduces it', async () => {
    const g = tinyG();
    const wp: HostTensor = {dtype: 'float32', shape: [2, 8, 64], data: ref('w_plus_input')};
    const c = (await generate(g, {latent: wp, space: 'w+', noise: 'const'})).image;
    const z0 = (await generate(g, {latent: wp, space: 'w+', noise: 'zero'})).image;
    const r1 = (await generate(g, {latent: wp, space: 'w+', noise: 'random', noiseSeed: 7})).image;
    const r2 = (await generate(g, {latent: wp, space: 'w+', noise: 'random', noiseSeed: 7})).image;
    const r3 = (await generate(g, {latent: wp, space: 'w+', noise: 'random', noiseSeed: 8})).image;
    const diff = (a: HostTensor, b: HostTensor) => Math.max(...Array.from(a.data as Float32Array, (v, i) => Math.abs(v - (b.data as Float32Array)[i]!)));
    expect(diff(c, z0)).toBeGreaterThan(1e-2);
    expect(diff(r1, r3)).toBeGreaterThan(1e-2);
    expect(diff(r1, r2)).toBe(0);
  });
});

describe('modulated conv: activation form equals the per-sample-weight form', () => {
  it.each([false, true])('upsample = %s', async (upsample) => {
    const rng = (() => {
      let s = 12345;
      return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    })();
    const N = 2, I = 5, O = 4, H = 6;
    const x = input('x', [N, I, H, H]);
    const s = input('s', [N, I]);
    const weight = F.constant(Float32Array.from({length: O * I * 9}, rng), [1, O, I, 3, 3]);
    const a = modulatedConv2d(x, s, {weight}, {upsample});
    const b = modulatedConv2dRef(x, s, {weight}, {upsample});
    expect(a.shape).toEqual(b.shape);
    const p = await compile([x, s], [a, b]);
    const [ra, rb] = await p.run([Float32Array.from({length: N * I * H * H}, rng), Float32Array.from({length: N * I}, rng)]);
    expectAllClose(ra!.data as Float32Array, rb!.data as Float32Array, {atol: 1e-5, what: 'modconv'});
  });

  it('fast upfirdn2d (up = 2) equals the zero-insert reference', async () => {
    const x = input('x', [1, 3, 5, 5]);
    const k = makeKernel([1, 3, 3, 1], 4);
    const a = upfirdn2d(x, k, 4, {up: 2, pad: [2, 1]});
    const b = upfirdn2dRef(x, k, 4, {up: 2, pad: [2, 1]});
    const p = await compile([x], [a, b]);
    const [ra, rb] = await p.run([Float32Array.from({length: 75}, (_, i) => Math.sin(i * 1.7))]);
    expect(a.shape).toEqual([1, 3, 10, 10]);
    expectAllClose(ra!.data as Float32Array, rb!.data as Float32Array, {atol: 1e-6, what: 'upfirdn2d'});
  });

  it('a constant image stays constant under the normalised FIR upsample, away from the border', async () => {
    const x = input('x', [1, 1, 6, 6]);
    const y = upfirdn2d(x, makeKernel([1, 3, 3, 1], 4), 4, {up: 2, pad: [2, 1]});
    const p = await compile([x], [y]);
    const [r] = await p.run([new Float32Array(36).fill(0.75)]);
    const d = r!.data as Float32Array;
    for (let i = 2; i < 10; i++) for (let j = 2; j < 10; j++) expect(d[i * 12 + j]).toBeCloseTo(0.75, 6);
  });

  it('demodulated output is invariant to scaling the styles by c > 0', async () => {
    const x = input('x', [1, 3, 4, 4]);
    const s = input('s', [1, 3]);
    const weight = F.constant(Float32Array.from({length: 2 * 3 * 9}, (_, i) => Math.cos(i)), [1, 2, 3, 3, 3]);
    const y1 = modulatedConv2d(x, s, {weight});
    const y2 = modulatedConv2d(x, F.mul(s, 3.7), {weight});
    const p = await compile([x, s], [y1, y2]);
    const [a, b] = await p.run([Float32Array.from({length: 48}, (_, i) => Math.sin(i)), new Float32Array([0.5, -1.2, 2])]);
    expectAllClose(a!.data as Float32Array, b!.data as Float32Array, {atol: 1e-5, what: 'scale invariance'});
  });
});

describe('full-size FFHQ-1024 generator shapes', () => {
  interface Shapes {
    state_dict: {key: string; shape: number[]}[];
    stylespace_dims: number[];
    s_total_dim: number;
    s_total_dim_without_torgb: number;
    torgb_s_indices: number[];
    other_sizes_channel_multiplier_2: Record<string, {stylespace_dims: number[]; s_total_dim: number; n_latent: number}>;
  }
  const shapes = fixtureJson<Shapes>('stylegan2_ffhq1024_shapes.json');

  it('the standard 1024 config has exactly the manifest keys and shapes, in order', () => {
    const exp = expectedStateDict(standardConfig(1024));
    expect(exp.map(([k, s]) => ({key: k, shape: s}))).toEqual(shapes.state_dict.map(({key, shape}) => ({key, shape})));
  });

  it('the tiny config reproduces the tiny manifest keys too', () => {
    const g = generatorFromBytes(fixtureBytes('stylegan2_tiny_weights.safetensors'));
    expect(expectedStateDict(g.config).map(([k, s]) => ({key: k, shape: s}))).toEqual(manifest.state_dict.map(({key, shape}) => ({key, shape})));
  });

  it('256 and 512 layouts match the manifest summaries', () => {
    for (const size of [256, 512]) {
      const sd = randomStateDict(standardConfig(size));
      const g = StyleGAN2.fromStateDict(sd);
      const info = shapes.other_sizes_channel_multiplier_2[String(size)]!;
      expect(g.layers.map((l) => l.inChannels)).toEqual(info.stylespace_dims);
      expect(g.sDim()).toBe(info.s_total_dim);
      expect(g.nLatent).toBe(info.n_latent);
    }
  });

  it('infers the 1024 architecture from random weights: 26 S layers, 9088 channels, and generates 1024×1024', async () => {
    const sd = randomStateDict(standardConfig(1024), 1);
    expect([...sd.keys()]).toEqual(shapes.state_dict.map((e) => e.key));
    const cfg = inferConfig(sd);
    expect(cfg.size).toBe(1024);
    expect(cfg.nMlp).toBe(8);
    const g = StyleGAN2.fromStateDict(sd);
    expect(g.layers.length).toBe(26);
    expect(g.sDim()).toBe(9088);
    expect(g.sDim({withToRgb: false})).toBe(6048);
    expect(g.layers.map((l) => l.inChannels)).toEqual(shapes.stylespace_dims);
    expect(g.layers.flatMap((l, i) => (l.kind === 'torgb' ? [i] : []))).toEqual(shapes.torgb_s_indices);
    const r = await generate(g, {seed: 3, noise: 'zero'});
    expect(r.image.shape).toEqual([1, 3, 1024, 1024]);
    const d = r.image.data as Float32Array;
    let finite = true;
    let nonzero = 0;
    for (let i = 0; i < d.length; i += 97) {
      if (!Number.isFinite(d[i]!)) finite = false;
      if (d[i] !== 0) nonzero++;
    }
    expect(finite).toBe(true);
    expect(nonzero).toBeGreaterThan(1000);
  }, 300_000);
});
