/**
 * Gradient parity with torch.autograd through the tiny G → StyleCLIP resize → tiny CLIP chain
 * (shared/fixtures/gradcheck_tiny.json): variant A (normalised input, 0.8·L2), variant B (the exact official
 * loss: raw [-1, 1] input, 1 − logits/100, 0.008·L2) and variant C (StyleSpace S as the variables).
 * Gradients: relmax ≤ 1e-4; losses: rel ≤ 1e-5 (README CPU float32 column).
 */
import {beforeAll, describe, expect, it} from 'vitest';
import {grad} from '../../src/engine/autodiff.js';
import * as F from '../../src/engine/ops.js';
import {compile} from '../../src/engine/session.js';
import {type Tensor, constant, input} from '../../src/engine/tensor.js';
import {clipLoss, l2Loss} from '../../src/edit/losses.js';
import {type StateDict, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import type {CLIP} from '../../src/models/clip/model.js';
import {generatorFromBytes} from '../../src/models/load-generator.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';
import {styleInputs} from '../../src/models/stylespace.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {greyHairTextFeatures, tinyClip} from '../helpers/tiny-models.js';

const fx: StateDict = parseSafetensors(fixtureBytes('gradcheck_tiny.safetensors')).tensors;
const ref = (k: string) => toFloat32(fx.get(k)!);
const maxAbs = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));

function expectGradClose(actual: Float32Array, key: string) {
  const expected = ref(key);
  expectAllClose(actual, expected, {atol: 1e-4 * maxAbs(expected), what: key});
}
function expectLossClose(actual: number, key: string) {
  const e = ref(key)[0]!;
  expect(Math.abs(actual - e), `${key}: ${actual} vs ${e}`).toBeLessThanOrEqual(1e-5 * Math.abs(e));
}

let g: StyleGAN2;
let clip: CLIP;
let textFeatures: Tensor;

beforeAll(async () => {
  g = generatorFromBytes(fixtureBytes('stylegan2_tiny_state_dict.pt'));
  clip = tinyClip();
  textFeatures = constant(await greyHairTextFeatures(), [1, clip.config.embedDim]);
});

function noise(N: number) {
  const nz = g.noiseInputs(N);
  return {nz, feeds: g.noiseArrays('const', N)};
}

describe('gradient parity (gradcheck_tiny)', () => {
  it('variant A: normalised CLIP input, L = Σ(1 − cos) + 0.8·Σ(w − w0)²', async () => {
    const w = input('w', [2, 8, 64]);
    const {nz, feeds} = noise(2);
    const img = g.synthesis(g.styles(w), nz);
    const clipTerm = F.sum(clipLoss(clip, img, textFeatures, 'normalized'));
    const l2 = l2Loss(w, constant(ref('w0'), [2, 8, 64]));
    const loss = F.add(clipTerm, F.mul(l2, 0.8));
    const [gw] = grad(loss, [w]);
    const [gc] = grad(clipTerm, [w]);
    const p = await compile([w, ...nz], [img, clipTerm, l2, loss, gw!, gc!]);
    const [oi, oc, ol2, ol, ogw, ogc] = await p.run([ref('w_plus'), ...feeds]);
    expectAllClose(oi!.data as Float32Array, ref('A.img'), {atol: 1e-4, what: 'A.img'});
    expectLossClose((oc!.data as Float32Array)[0]!, 'A.clip_term');
    expectLossClose((ol2!.data as Float32Array)[0]!, 'A.l2');
    expectLossClose((ol!.data as Float32Array)[0]!, 'A.loss');
    expectGradClose(ogw!.data as Float32Array, 'A.grad_w_plus');
    expectGradClose(ogc!.data as Float32Array, 'A.grad_w_plus_clip_term_only');
  });

  it('variant B: the official loss, raw [-1, 1] input, 1 − logits/100 + 0.008·Σ(w0 − w)²', async () => {
    const w = input('w', [2, 8, 64]);
    const {nz, feeds} = noise(2);
    const img = g.synthesis(g.styles(w), nz);
    const clipTerm = F.sum(clipLoss(clip, img, textFeatures, 'legacy'));
    const loss = F.add(clipTerm, F.mul(l2Loss(constant(ref('w0'), [2, 8, 64]), w), 0.008));
    const [gw] = grad(loss, [w]);
    const p = await compile([w, ...nz], [clipTerm, loss, gw!]);
    const [oc, ol, ogw] = await p.run([ref('w_plus'), ...feeds]);
    expectLossClose((oc!.data as Float32Array)[0]!, 'B.clip_term');
    expectLossClose((ol!.data as Float32Array)[0]!, 'B.loss');
    expectGradClose(ogw!.data as Float32Array, 'B.grad_w_plus');
  });

  it('variant C: StyleSpace variables, L = Σ(1 − logits/100) + 0.008·Σ_k Σ(s0_k − s_k)²', async () => {
    const s = styleInputs(g, 2);
    const {nz, feeds} = noise(2);
    const img = g.synthesis(s, nz);
    const clipTerm = F.sum(clipLoss(clip, img, textFeatures, 'legacy'));
    let l2: Tensor = F.scalar(0);
    g.layers.forEach((l, k) => {
      l2 = F.add(l2, l2Loss(constant(ref(`C.s0_${String(k).padStart(2, '0')}`), [2, l.inChannels]), s[k]!));
    });
    const loss = F.add(clipTerm, F.mul(l2, 0.008));
    const gs = grad(loss, s);
    const p = await compile([...s, ...nz], [img, loss, ...gs]);
    const out = await p.run([...g.layers.map((_, k) => ref(`C.s_${String(k).padStart(2, '0')}`)), ...feeds]);
    expectAllClose(out[0]!.data as Float32Array, ref('C.img'), {atol: 1e-4, what: 'C.img'});
    expectLossClose((out[1]!.data as Float32Array)[0]!, 'C.loss');
    g.layers.forEach((_, k) => expectGradClose(out[2 + k]!.data as Float32Array, `C.grad_s_${String(k).padStart(2, '0')}`));
  });
});
