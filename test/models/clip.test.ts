/**
 * CLIP parity with openai clip/model.py on the tiny fixtures (shared/fixtures/README.md §2, §7, §8): image and text
 * features, logits and every debug intermediate, from the torch.save state dict, the safetensors copy, the
 * TorchScript archive and the HuggingFace layout. Tolerances are the README's CPU float32 column.
 */
import {describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {compile} from '../../src/engine/session.js';
import {type Tensor, input} from '../../src/engine/tensor.js';
import {type StateDict, toFloat32} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {extractStateDict, loadTorch} from '../../src/io/torch.js';
import {clipFromBytes, hfToOpenai} from '../../src/models/clip/load.js';
import {CLIP, type ClipConfig, eotSelector, expectedClipStateDict, inferClipConfig, normalize, parseClipConfig} from '../../src/models/clip/model.js';
import {expectAllClose} from '../helpers/allclose.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {tinyClipConfig, tinyClipConfigJson} from '../helpers/tiny-models.js';

const io: StateDict = parseSafetensors(fixtureBytes('clip_tiny_io.safetensors')).tensors;
const ref = (k: string) => toFloat32(io.get(k)!);
const tinyConfig = tinyClipConfig();
const hfConfig = fixtureJson('clip_tiny_hf_config.json');

async function runClip(clip: CLIP) {
  const [T, L] = [4, 77];
  const img = input('image', [2, 3, 28, 28]);
  const tok = input('tokens', [T, L], 'int32');
  const eot = input('eot', [T, L]);
  const taps = new Map<string, Tensor>();
  const fi = clip.encodeImage(img, taps);
  const ft = clip.encodeText(tok, eot, taps);
  const logits = F.mul(F.matmul(normalize(fi), F.transpose(normalize(ft), [1, 0])), clip.logitScale);
  const p = await compile([img, tok, eot], [fi, ft, logits, ...taps.values()]);
  const ids = io.get('tokens')!.data as Int32Array;
  const out = await p.run([ref('image'), ids, eotSelector(ids, T, L)]);
  return {fi: out[0]!.data as Float32Array, ft: out[1]!.data as Float32Array, logits: out[2]!.data as Float32Array, taps: new Map([...taps.keys()].map((k, i) => [k, out[3 + i]!.data as Float32Array]))};
}

function expectParity(r: Awaited<ReturnType<typeof runClip>>) {
  expectAllClose(r.fi, ref('image_features'), {atol: 1e-5, what: 'image_features'});
  expectAllClose(r.ft, ref('text_features'), {atol: 1e-5, what: 'text_features'});
  expectAllClose(r.logits, ref('logits_per_image'), {atol: 1e-3, what: 'logits_per_image'});
}

describe('tiny CLIP parity', () => {
  it('torch.save state dict: features, logits and every debug intermediate', async () => {
    const clip = clipFromBytes(fixtureBytes('clip_tiny_state_dict.pt'), {config: tinyConfig});
    expect(clip.logitScale).toBeCloseTo(100, 3);
    const r = await runClip(clip);
    expectParity(r);
    const dbg = [...io.keys()].filter((k) => k.startsWith('dbg.'));
    expect(new Set(r.taps.keys())).toEqual(new Set(dbg));
    for (const k of dbg) expectAllClose(r.taps.get(k)!, ref(k), {atol: 1e-5, what: k});
  });

  it('safetensors, TorchScript archive and HuggingFace layout give the same outputs', async () => {
    const st = clipFromBytes(fixtureBytes('clip_tiny_weights.safetensors'), {config: tinyConfig});
    const jit = clipFromBytes(fixtureBytes('clip_tiny_jit.pt'), {config: tinyConfig});
    const hf = clipFromBytes(fixtureBytes('clip_tiny_hf.safetensors'), {hfConfig});
    const base = await runClip(st);
    expectParity(base);
    for (const clip of [jit, hf]) {
      const r = await runClip(clip);
      expectParity(r);
      expectAllClose(r.fi, base.fi, {what: 'identical image features across formats'});
      expectAllClose(r.ft, base.ft, {what: 'identical text features across formats'});
    }
    expect(hf.config).toEqual(st.config);
  });

  it('TorchScript and HF weights equal the torch.save state dict exactly', () => {
    const sd = extractStateDict(loadTorch(fixtureBytes('clip_tiny_state_dict.pt')));
    const jit = extractStateDict(loadTorch(fixtureBytes('clip_tiny_jit.pt')));
    const hf = hfToOpenai(parseSafetensors(fixtureBytes('clip_tiny_hf.safetensors')).tensors);
    for (const [k, t] of sd) {
      expect(Array.from(toFloat32(jit.get(k)!)), k).toEqual(Array.from(toFloat32(t)));
      expect(hf.get(k)!.shape, k).toEqual(t.shape);
      expect(Array.from(toFloat32(hf.get(k)!)), k).toEqual(Array.from(toFloat32(t)));
    }
    expect(hf.size).toBe(sd.size);
  });

  it('a config in the safetensors __metadata__ replaces the explicit one', async () => {
    const sd = parseSafetensors(fixtureBytes('clip_tiny_weights.safetensors')).tensors;
    const bytes = serializeSafetensors(sd, {config: JSON.stringify(tinyClipConfigJson())});
    expectParity(await runClip(clipFromBytes(bytes)));
  });

  it('head counts cannot be inferred for the tiny widths: a named error asks for a config', () => {
    expect(() => clipFromBytes(fixtureBytes('clip_tiny_state_dict.pt'))).toThrow(/cannot infer transformer_heads.*--clip-config/);
    const sd = extractStateDict(loadTorch(fixtureBytes('clip_tiny_state_dict.pt')));
    const cfg = inferClipConfig(sd, {transformerHeads: 2});
    expect(cfg).toMatchObject({embedDim: 32, imageResolution: 28, visionLayers: 2, visionWidth: 128, visionPatchSize: 7, visionHeads: 2, contextLength: 77, vocabSize: 49408, transformerWidth: 16, transformerLayers: 2});
  });

  it('a checkpoint with a missing key names it', () => {
    const sd = parseSafetensors(fixtureBytes('clip_tiny_weights.safetensors')).tensors;
    sd.delete('visual.ln_post.bias');
    expect(() => CLIP.fromStateDict(sd, {config: tinyConfig})).toThrow(/missing key.*visual\.ln_post\.bias/);
    expect(() => parseClipConfig({embed_dim: 32, heads: 3})).toThrow(/unknown key 'heads'/);
  });
});

describe('ViT-B/32 shapes', () => {
  const shapes = fixtureJson<{config: Record<string, number>; state_dict: {key: string; shape: number[]}[]}>('clip_vitb32_shapes.json');
  it('inference from the manifest gives openai ViT-B/32 and exactly its keys and shapes', () => {
    const sd: StateDict = new Map(shapes.state_dict.map(({key, shape}) => [key, {dtype: 'float32' as const, shape, data: new Float32Array(0)}]));
    const cfg: ClipConfig = inferClipConfig(sd);
    expect(cfg).toEqual({...parseClipConfig(shapes.config), visionHeads: 12});
    expect(expectedClipStateDict(cfg).map(([key, shape]) => ({key, shape}))).toEqual(shapes.state_dict.map(({key, shape}) => ({key, shape})));
  });
});
