/** Levels mapper: golden parity in both file formats, the row split, group switches, metadata and strict loading. */
import {describe, expect, it} from 'vitest';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {type StateDict, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {
  LevelsMapper,
  MapperMismatchError,
  levelsSplit,
  mapperFromBytes,
  runMapper,
  serializeMapper,
} from '../../src/models/mapper.js';
import {allCloseReport, expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes} from '../helpers/fixtures.js';

const io = parseSafetensors(fixtureBytes('mapper_tiny_io.safetensors')).tensors;
const w = io.get('w')!;

describe('LevelsMapper parity (mapper_tiny, 18 rows, D 64)', () => {
  for (const file of ['mapper_tiny_weights.safetensors', 'mapper_tiny_ckpt.pt']) {
    it(`mapper(w) and ŵ match PyTorch from ${file}`, async () => {
      const m = mapperFromBytes(fixtureBytes(file), file);
      expect(m.config.styleDim).toBe(64);
      expect(m.config.groups).toEqual({coarse: true, medium: true, fine: true});
      const {wHat, delta} = await runMapper(m, w);
      const rd = allCloseReport(toFloat32(delta), toFloat32(io.get('delta')!), {atol: 1e-5});
      const rw = allCloseReport(toFloat32(wHat), toFloat32(io.get('w_hat')!), {atol: 1e-5});
      console.log(`${file}: maxabs delta ${rd.maxAbsDiff.toExponential(2)}, w_hat ${rw.maxAbsDiff.toExponential(2)}`);
      expectAllClose(toFloat32(delta), toFloat32(io.get('delta')!), {atol: 1e-5, what: 'delta'});
      expectAllClose(toFloat32(wHat), toFloat32(io.get('w_hat')!), {atol: 1e-5, what: 'w_hat'});
    });
  }

  it('PixelNorm over the group rows matters: normalising over features would not match', async () => {
    // Sanity check that the fixture exercises the quirk: scaling one row of the coarse group changes the other rows' output.
    const m = mapperFromBytes(fixtureBytes('mapper_tiny_weights.safetensors'));
    const w2 = Float32Array.from(toFloat32(w));
    for (let i = 0; i < 64; i++) w2[i]! *= 3; // row 0 of sample 0
    const a = toFloat32((await runMapper(m, w)).delta);
    const b = toFloat32((await runMapper(m, {dtype: 'float32', shape: w.shape, data: w2})).delta);
    let moved = 0;
    for (let i = 64; i < 4 * 64; i++) moved = Math.max(moved, Math.abs(a[i]! - b[i]!)); // rows 1..3 of sample 0
    expect(moved).toBeGreaterThan(1e-3);
    // Rows of the medium group are untouched.
    for (let i = 4 * 64; i < 8 * 64; i++) expect(b[i]).toBe(a[i]);
  });
});

describe('row split', () => {
  it('is exactly 0:4 / 4:8 / 8: for 18 rows and proportional otherwise', () => {
    expect(levelsSplit(18)).toEqual([4, 8]);
    expect(levelsSplit(8)).toEqual([2, 4]);
    expect(levelsSplit(14)).toEqual([3, 6]);
    expect(levelsSplit(16)).toEqual([4, 7]);
    expect(levelsSplit(3)).toEqual([1, 2]);
    expect(() => levelsSplit(2)).toThrow(/at least 3/);
  });
});

describe('group switches', () => {
  it('a disabled group has no weights and zeroes exactly its rows of the delta', async () => {
    const full = mapperFromBytes(fixtureBytes('mapper_tiny_weights.safetensors'));
    const fullDelta = toFloat32((await runMapper(full, w)).delta);
    for (const [off, rows] of [['coarse', [0, 4]], ['medium', [4, 8]], ['fine', [8, 18]]] as const) {
      const groups = {coarse: true, medium: true, fine: true, [off]: false};
      const sd: StateDict = new Map([...full.weights].filter(([k]) => !k.startsWith(off === 'coarse' ? 'course_mapping' : `${off}_mapping`)));
      const m = new LevelsMapper({...full.config, groups}, sd);
      const d = toFloat32((await runMapper(m, w)).delta);
      for (let n = 0; n < 2; n++) {
        for (let r = 0; r < 18; r++) {
          const row = d.subarray((n * 18 + r) * 64, (n * 18 + r + 1) * 64);
          const ref = fullDelta.subarray((n * 18 + r) * 64, (n * 18 + r + 1) * 64);
          if (r >= rows[0] && r < rows[1]) expect(row.every((v) => v === 0)).toBe(true);
          else expect(Array.from(row)).toEqual(Array.from(ref));
        }
      }
      // Saved and reloaded, the flags survive; the official opts flags are honoured too.
      const back = mapperFromBytes(serializeMapper(m));
      expect(back.config.groups).toEqual(groups);
    }
  });

  it('the 3-D bias of a group is applied along the feature axis (all rows shift alike)', async () => {
    // With all weights 0, M(w) = lrelu(b·0.01)·√2 on every row of every group.
    const cfg = {styleDim: 4, nLatent: 8, groups: {coarse: true, medium: true, fine: true}, split: null, generatorSize: null};
    const m0 = LevelsMapper.random(cfg, 0);
    const sd: StateDict = new Map([...m0.weights].map(([k, t]) => [k, {...t, data: k.endsWith('weight') ? new Float32Array(16) : Float32Array.from([100, -100, 200, 0])}]));
    const {delta} = await runMapper(new LevelsMapper(cfg, sd), {dtype: 'float32', shape: [1, 8, 4], data: new Float32Array(32).fill(1)});
    const want = [1, -0.2, 2, 0].map((v) => v * Math.SQRT2);
    for (let r = 0; r < 8; r++) expectAllClose(toFloat32(delta).subarray(r * 4, r * 4 + 4), want, {atol: 1e-6});
  });
});

describe('loading, saving and generator checks', () => {
  it('round-trips through safetensors with metadata', async () => {
    const cfg = {styleDim: 64, nLatent: 8, groups: {coarse: true, medium: false, fine: true}, split: [2, 4] as const, generatorSize: 32};
    const m = new LevelsMapper(cfg, LevelsMapper.random(cfg, 3).weights, 'a smiling face');
    const bytes = serializeMapper(m);
    const md = parseSafetensors(bytes).metadata;
    expect(md).toMatchObject({prompt: 'a smiling face', coarse: 'true', medium: 'false', fine: 'true', n_latent: '8', style_dim: '64', generator_size: '32', split: '2,4'});
    const back = mapperFromBytes(bytes);
    expect(back.config).toEqual({...cfg, split: [2, 4]});
    expect(back.prompt).toBe('a smiling face');
    const x = {dtype: 'float32' as const, shape: [1, 8, 64], data: new Float32Array(512).map((_, i) => Math.sin(i))};
    expect(toFloat32((await runMapper(back, x)).wHat)).toEqual(toFloat32((await runMapper(m, x)).wHat));
  });

  it('rejects a mapper for another generator with a named error', () => {
    const cfg = {styleDim: 64, nLatent: 18, groups: {coarse: true, medium: true, fine: true}, split: null, generatorSize: 1024};
    const m = LevelsMapper.random(cfg, 0);
    expect(() => m.checkGenerator({nLatent: 8, styleDim: 64, size: 32})).toThrow(MapperMismatchError);
    expect(() => m.checkGenerator({nLatent: 8, styleDim: 64, size: 32})).toThrow(/18 rows \(a 1024px generator\), the generator has 8 \(32px\)/);
    expect(() => m.checkGenerator({nLatent: 18, styleDim: 512, size: 1024})).toThrow(/style_dim 64, the generator has style_dim 512/);
    expect(() => m.checkGenerator({nLatent: 18, styleDim: 64, size: 1024})).not.toThrow();
    // Bare official weights record no n_latent: any generator with the right style_dim fits.
    const bare = mapperFromBytes(fixtureBytes('mapper_tiny_weights.safetensors'));
    expect(() => bare.checkGenerator({nLatent: 8, styleDim: 64, size: 32})).not.toThrow();
    expect(() => bare.checkGenerator({nLatent: 8, styleDim: 32, size: 32})).toThrow(MapperMismatchError);
  });

  it('loads strictly: missing, unexpected and misshapen keys are named', () => {
    const sd = parseSafetensors(fixtureBytes('mapper_tiny_weights.safetensors')).tensors;
    const missing = new Map(sd);
    missing.delete('medium_mapping.mapping.3.bias');
    expect(() => mapperFromBytes(serializeSafetensors(missing), 'm.safetensors')).toThrow(/m\.safetensors.*missing key.*medium_mapping\.mapping\.3\.bias/);
    const extra = new Map(sd);
    extra.set('fine_mapping.mapping.5.weight', sd.get('fine_mapping.mapping.4.weight')!);
    expect(() => mapperFromBytes(serializeSafetensors(extra))).toThrow(/unexpected key.*fine_mapping\.mapping\.5\.weight/);
    const bad = new Map(sd);
    bad.set('course_mapping.mapping.2.weight', {dtype: 'float32', shape: [64, 32], data: new Float32Array(64 * 32)});
    expect(() => mapperFromBytes(serializeSafetensors(bad))).toThrow(/shape mismatch.*course_mapping\.mapping\.2\.weight/);
    // Metadata that says a group is off while its weights are present.
    expect(() => mapperFromBytes(serializeSafetensors(sd, {fine: 'false'}))).toThrow(/unexpected keys.*fine_mapping/);
    expect(() => mapperFromBytes(serializeSafetensors(sd, {format: 'something-else'}))).toThrow(MapperMismatchError);
    expect(() => mapperFromBytes(fixtureBytes('stylegan2_tiny_weights.safetensors'), 'g.safetensors')).toThrow(/g\.safetensors/);
  });

  it('mapper graph with weights as inputs equals the constant-weight graph', async () => {
    const m = mapperFromBytes(fixtureBytes('mapper_tiny_weights.safetensors'));
    const keys = [...m.weights.keys()];
    const ins = keys.map((k, j) => input(`p${j}`, m.weights.get(k)!.shape));
    const x = input('w', w.shape);
    const {levelsMapper} = await import('../../src/models/mapper.js');
    const d = levelsMapper(x, (k) => ins[keys.indexOf(k)]!, m.config);
    const [out] = await (await compile([...ins, x], [d])).run([...keys.map((k) => toFloat32(m.weights.get(k)!)), toFloat32(w)]);
    expectAllClose(out!.data as Float32Array, toFloat32(io.get('delta')!), {atol: 1e-5, what: 'delta (input weights)'});
  });
});
