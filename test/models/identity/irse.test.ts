/**
 * IR-SE (StyleCLIP model_irse.Backbone) and StyleCLIP's ID loss against the PyTorch fixtures
 * (shared/fixtures/README.md §9): the 112 forward, the 256 and 160 ID-loss chains and d loss / d ŷ, from the
 * torch.save state dict and the safetensors copy, with the README's CPU float32 tolerances; config inference
 * on the tiny net and the full IR-SE50 key manifest; strict loading; a finite-difference check of the loss.
 */
import {describe, expect, it} from 'vitest';
import {grad} from '../../../src/engine/autodiff.js';
import * as F from '../../../src/engine/ops.js';
import {compile, configureEngine} from '../../../src/engine/session.js';
import {type Tensor, input} from '../../../src/engine/tensor.js';
import {type HostTensor, type StateDict, toFloat32} from '../../../src/io/host-tensor.js';
import {checkStateDict} from '../../../src/io/state-dict.js';
import {parseSafetensors} from '../../../src/io/safetensors.js';
import {extractStateDict, loadTorch} from '../../../src/io/torch.js';
import {identityLoss} from '../../../src/edit/losses.js';
import {IR_SE50, IRSE, expectedIrseStateDict, inferIrseConfig, irseFromBytes, irseUnits} from '../../../src/models/identity/irse.js';
import type {IdentityNet} from '../../../src/models/identity/types.js';
import {allCloseReport, expectAllClose} from '../../helpers/allclose.js';
import {fixtureBytes, fixtureJson} from '../../helpers/fixtures.js';
import {checkGradients, gradcheck, rng} from '../../helpers/gradcheck.js';

// One intra-op thread: vitest runs two test files side by side on the 2-core reference machine.
configureEngine({threads: 1});

type Manifest = {state_dict: {key: string; shape: number[]; dtype: string}[]; stages?: {units: number[]; depths: number[]}};

/** StyleCLIP IDLoss.forward on images: mean_b (1 − ⟨f(ŷ_b), f(y_b)⟩), y detached. */
const idLoss = (net: IdentityNet, yHat: Tensor, y: Tensor): Tensor => F.mean(identityLoss(net, yHat, net.features(y)));

const io: StateDict = parseSafetensors(fixtureBytes('irse_tiny_io.safetensors')).tensors;
const gio: StateDict = parseSafetensors(fixtureBytes('irse_tiny_idloss_grad.safetensors')).tensors;
const ref = (k: string) => toFloat32(io.get(k)!);
const gref = (k: string) => toFloat32(gio.get(k)!);
const nets: [string, IRSE][] = [
  ['irse_tiny_state_dict.pt', irseFromBytes(fixtureBytes('irse_tiny_state_dict.pt'))],
  ['irse_tiny_weights.safetensors', irseFromBytes(fixtureBytes('irse_tiny_weights.safetensors'))],
];

/** relmax = max|a − b| / max|b| (README tolerance table). */
function relmax(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function expectLoss(actual: number, expected: number, what: string) {
  expect(Math.abs(actual - expected) / Math.abs(expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-5);
}

describe.each(nets)('tiny IR-SE parity (%s)', (_file, net) => {
  it('x112 -> feats112 and prenorm112', async () => {
    const x = input('x', [2, 3, 112, 112]);
    const taps = new Map<string, Tensor>();
    const f = net.forward(x, taps);
    const [feats, prenorm] = await (await compile([x], [f, taps.get('prenorm')!])).run([ref('x112')]);
    expectAllClose(feats!.data as Float32Array, ref('feats112'), {atol: 1e-6, what: 'feats112'});
    expectAllClose(prenorm!.data as Float32Array, ref('prenorm112'), {atol: 1e-5, what: 'prenorm112'});
  });

  it('256 chain: pooled_y256, feats_y256, feats_yhat256, id_loss256', async () => {
    const y = input('y', [2, 3, 256, 256]);
    const yHat = input('yHat', [2, 3, 256, 256]);
    const taps = new Map<string, Tensor>();
    const fy = net.features(y, taps);
    const outs = [taps.get('pooled')!, fy, net.features(yHat), idLoss(net, yHat, y)];
    const [pooled, fY, fYHat, loss] = await (await compile([y, yHat], outs)).run([ref('y256'), ref('yhat256')]);
    expectAllClose(pooled!.data as Float32Array, ref('pooled_y256'), {atol: 1e-5, what: 'pooled_y256'});
    expectAllClose(fY!.data as Float32Array, ref('feats_y256'), {atol: 1e-6, what: 'feats_y256'});
    expectAllClose(fYHat!.data as Float32Array, ref('feats_yhat256'), {atol: 1e-6, what: 'feats_yhat256'});
    expect(loss!.shape).toEqual([]);
    expectLoss(loss!.data[0] as number, ref('id_loss256')[0]!, 'id_loss256');
    expectAllClose(loss!.data as Float32Array, ref('id_loss256'), {atol: 1e-6, what: 'id_loss256'});
  });

  it('160 chain (first pool 160 -> 256) and d id_loss160 / d yhat160', async () => {
    const y = input('y', [1, 3, 160, 160]);
    const yHat = input('yHat', [1, 3, 160, 160]);
    const taps = new Map<string, Tensor>();
    const fy = net.features(y, taps);
    const loss = idLoss(net, yHat, y);
    const [dYHat, dY] = grad(loss, [yHat, y]);
    const outs = [taps.get('pooled')!, fy, net.features(yHat), loss, dYHat!, dY!];
    const [pooled, fY, fYHat, l, g, gy] = await (await compile([y, yHat], outs)).run([gref('y160'), gref('yhat160')]);
    expectAllClose(pooled!.data as Float32Array, gref('pooled_y160'), {atol: 1e-5, what: 'pooled_y160'});
    expectAllClose(fY!.data as Float32Array, gref('feats_y160'), {atol: 1e-6, what: 'feats_y160'});
    expectAllClose(fYHat!.data as Float32Array, gref('feats_yhat160'), {atol: 1e-6, what: 'feats_yhat160'});
    expectLoss(l!.data[0] as number, gref('id_loss160')[0]!, 'id_loss160');
    const r = relmax(g!.data as Float32Array, gref('grad_yhat160'));
    expect(r, `grad_yhat160 relmax ${r}`).toBeLessThanOrEqual(1e-4);
    // The target's features are detached: no gradient reaches y.
    expect(Math.max(...Array.from(gy!.data as Float32Array, Math.abs))).toBe(0);
  });
});

describe('IR-SE config and strict loading', () => {
  const tinySd = extractStateDict(loadTorch(fixtureBytes('irse_tiny_state_dict.pt')));

  it('infers the tiny config and expects exactly the fixture keys, in order', () => {
    const cfg = inferIrseConfig(tinySd);
    expect(cfg).toEqual({inputSize: 112, inputWidth: 16, depths: [16, 32, 48, 64], units: [2, 1, 1, 1], seReduction: 16, embedDim: 512});
    expect(nets[0]![1].name).toBe('ir_se12');
    const manifest = fixtureJson<Manifest>('irse_tiny.json');
    expect(expectedIrseStateDict(cfg)).toEqual(manifest.state_dict.map((e) => [e.key, e.shape]));
    expect(irseUnits(cfg).map((u) => [u.inChannels, u.depth, u.stride, u.convShortcut])).toEqual([
      [16, 16, 2, false],
      [16, 16, 1, false],
      [16, 32, 2, true],
      [32, 48, 2, true],
      [48, 64, 2, true],
    ]);
  });

  it('infers IR-SE50 ([3, 4, 14, 3]) from a fake state dict with the keys and shapes of irse50_shapes.json', () => {
    const manifest = fixtureJson<Manifest>('irse50_shapes.json');
    const fake: StateDict = new Map(manifest.state_dict.map((e): [string, HostTensor] => [e.key, {dtype: 'float32', shape: e.shape, data: new Float32Array(0)}]));
    const cfg = inferIrseConfig(fake);
    expect(cfg.units).toEqual([3, 4, 14, 3]);
    expect(cfg).toEqual(IR_SE50);
    expect(manifest.stages!.units).toEqual(cfg.units);
    expect(manifest.stages!.depths).toEqual(cfg.depths);
    const expected = expectedIrseStateDict(cfg);
    expect(expected).toEqual(manifest.state_dict.map((e) => [e.key, e.shape]));
    expect(expected).toHaveLength(397);
    expect(() => checkStateDict(expected, fake, {ignore: [/\.num_batches_tracked$/]})).not.toThrow();
    // Without the num_batches_tracked counters it still matches (they are ignored).
    const noCounters = new Map([...fake].filter(([k]) => !k.endsWith('num_batches_tracked')));
    expect(() => checkStateDict(expected, noCounters, {ignore: [/\.num_batches_tracked$/]})).not.toThrow();
  });

  it('ignores num_batches_tracked (0-dim, [1] or absent)', async () => {
    const noCounters: StateDict = new Map([...tinySd].filter(([k]) => !k.endsWith('num_batches_tracked')));
    const a = IRSE.fromStateDict(noCounters);
    const x = input('x', [2, 3, 112, 112]);
    const [f] = await (await compile([x], [a.forward(x)])).run([ref('x112')]);
    expectAllClose(f!.data as Float32Array, ref('feats112'), {atol: 1e-6, what: 'feats112 without counters'});
  });

  it('names missing keys, unexpected keys and shape mismatches', () => {
    const broken: StateDict = new Map(tinySd);
    broken.delete('body.3.res_layer.5.fc2.weight');
    broken.set('body.1.extra.weight', {dtype: 'float32', shape: [1], data: new Float32Array(1)});
    broken.set('output_layer.3.bias', {dtype: 'float32', shape: [511], data: new Float32Array(511)});
    expect(() => IRSE.fromStateDict(broken, {what: 'broken.pt'})).toThrow(
      /broken\.pt does not match the model: 1 missing key \[body\.3\.res_layer\.5\.fc2\.weight\]; 1 unexpected key \[body\.1\.extra\.weight\]; 1 shape mismatch \[output_layer\.3\.bias: expected \[512\], got \[511\]\]/,
    );
    expect(() => IRSE.fromStateDict(new Map([...tinySd].filter(([k]) => !k.startsWith('output_layer.3'))))).toThrow(/missing key 'output_layer\.3\.weight'/);
  });
});

describe('ID loss behaviour (tiny IR-SE)', () => {
  const net = nets[1]![1];

  it('is 0 for the same image and positive for different images', async () => {
    const a = input('a', [2, 3, 64, 64]);
    const b = input('b', [2, 3, 64, 64]);
    const prog = await compile([a, b], [idLoss(net, a, a), idLoss(net, a, b), idLoss(net, b, a)]);
    const R = rng(7);
    const img = () => Float32Array.from({length: 2 * 3 * 64 * 64}, () => 2 * R.uniform() - 1);
    const [same, diff, diff2] = await prog.run([img(), img()]);
    expect(Math.abs(same!.data[0] as number)).toBeLessThan(1e-6);
    expect(diff!.data[0] as number).toBeGreaterThan(1e-3);
    expect(diff2!.data[0] as number).toBeCloseTo(diff!.data[0] as number, 6);
  });

  it('a single target broadcasts over the batch', async () => {
    const yHat = input('yHat', [2, 3, 32, 32]);
    const y = input('y', [1, 3, 32, 32]);
    const y2 = F.concat([y, y], 0);
    const prog = await compile([yHat, y], [idLoss(net, yHat, y), idLoss(net, yHat, y2)]);
    const R = rng(8);
    const [l1, l2] = await prog.run([Float32Array.from({length: 6144}, () => R.normal()), Float32Array.from({length: 3072}, () => R.normal())]);
    expect(allCloseReport(l1!.data as Float32Array, l2!.data as Float32Array, {atol: 1e-7}).ok).toBe(true);
  });

  it('d loss / d ŷ matches finite differences on a tiny input (float32), and a wrong gradient is caught', async () => {
    const R = rng(3);
    const y = Array.from({length: 3 * 6 * 6}, () => 2 * R.uniform() - 1);
    const yHat = y.map((v) => Math.max(-1, Math.min(1, v + 0.3 * R.normal())));
    const specs = [{shape: [1, 3, 6, 6], data: yHat}, {shape: [1, 3, 6, 6], data: y, wrt: false}];
    // The gradient entries are ~1e-4…6e-3, so the helper's default float32 atol (1e-3) would be vacuous. Loss
    // round-off is ~1e-8 absolute, i.e. ~3e-6 in the quotient at eps 3e-3; observed |analytic − fd| ≤ 1e-5.
    const opts = {dtype: 'float32', eps: 3e-3, atol: 3e-5, rtol: 1e-2} as const;
    const report = await gradcheck((a, b) => idLoss(net, a!, b!), specs, {...opts, maxCoords: 16, what: 'ID loss (tiny IR-SE, 6×6 input)'});
    expect(report.checked).toBe(17);
    // Negative control: the target mixes in ŷ but its features are detached, so the analytic gradient misses
    // that path while finite differences see it.
    const wrong = await checkGradients((a, b) => idLoss(net, a!, F.add(F.mul(b!, 0.5), F.mul(a!, 0.5))), specs, {...opts, maxCoords: 8});
    expect(wrong.ok, wrong.message).toBe(false);
  });
});
