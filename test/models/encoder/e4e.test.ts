/**
 * The e4e encoder against omertov/encoder4editing (../shared/fixtures/README.md §10): the tiny checkpoint in the
 * released `e4e_ffhq_encode.pt` layout (every tap, codes and w_plus ≤ 1e-4), its decoder against the tiny
 * StyleGAN2 fixture, pSp's GradualStyleEncoder from the same weights (rows i ≥ 1 of e4e are w0 + style i, so pSp's
 * rows are e4e's minus w0), strict loading, and — with STYLECLIP_E4E_FULL=1, about 1 GB and a minute — the
 * full-size FFHQ encoder with hashed weights.
 */
import {describe, expect, it} from 'vitest';
import {compile, configureEngine} from '../../../src/engine/session.js';
import {input} from '../../../src/engine/tensor.js';
import {type HostTensor, toFloat32} from '../../../src/io/host-tensor.js';
import {parseSafetensors} from '../../../src/io/safetensors.js';
import {decodeImage} from '../../../src/io/image.js';
import {Encoder, type EncoderTaps} from '../../../src/models/encoder/e4e.js';
import {encoderFromBytes} from '../../../src/models/encoder/load.js';
import {generatorFromBytes} from '../../../src/models/load-generator.js';
import {expectAllClose} from '../../helpers/allclose.js';
import {hashedFfhqEncoder} from '../../helpers/e4e-hashed.js';
import {fixtureBytes} from '../../helpers/fixtures.js';

configureEngine({threads: 1});

const io = parseSafetensors(fixtureBytes('e4e_tiny_io.safetensors')).tensors;
const ref = (k: string): Float32Array => toFloat32(io.get(k)!);

async function run(enc: Encoder, image: HostTensor, tapNames: string[]): Promise<Map<string, Float32Array>> {
  const x = input('image', image.shape);
  const taps: EncoderTaps = new Map();
  const codes = enc.forward(x, taps);
  const names = ['codes', 'w_plus', ...tapNames];
  const prog = await compile([x], [codes, enc.wPlus(codes), ...tapNames.map((k) => taps.get(k)!)]);
  const out = await prog.run([toFloat32(image)]);
  return new Map(names.map((k, i) => [k, out[i]!.data as Float32Array]));
}

describe('tiny e4e checkpoint (e4e_ffhq_encode.pt layout)', () => {
  const {encoder, decoder, opts} = encoderFromBytes(fixtureBytes('e4e_tiny_ckpt.pt'));

  it('reads the layout: 8 styles of 64 from a 256² input, e4e from opts, the decoder as a generator', () => {
    expect(encoder.kind).toBe('e4e');
    expect(opts?.encoder_type).toBe('Encoder4Editing');
    expect(encoder.config).toMatchObject({inputSize: 256, styleCount: 8, styleDim: 64, featureWidth: 128, body: {inputWidth: 16, depths: [16, 32, 64, 128], units: [3, 4, 14, 3]}});
    expect(decoder?.nLatent).toBe(8);
    expect(decoder?.config.styleDim).toBe(64);
  });

  it('matches every tap, the codes and w_plus within 1e-4', async () => {
    const got = await run(encoder, io.get('image')!, ['c1', 'c2', 'c3', 'p2', 'w0']);
    for (const k of ['c1', 'c2', 'c3', 'p2', 'w0', 'codes', 'w_plus']) expectAllClose(got.get(k)!, ref(k), {atol: 1e-4, rtol: 0, what: k});
  });

  it('the fixture input is align_plain_output.png as (x/255 − 0.5)/0.5', async () => {
    const {data, width, height} = await decodeImage(fixtureBytes('align_plain_output.png'));
    expect([width, height]).toEqual([256, 256]);
    const x = ref('image');
    let max = 0;
    for (let c = 0; c < 3; c++) for (let i = 0; i < 256 * 256; i++) max = Math.max(max, Math.abs((data[i * 3 + c]! / 255 - 0.5) / 0.5 - x[c * 65536 + i]!));
    expect(max).toBeLessThan(1e-6);
  });

  it('the decoder is the tiny StyleGAN2 fixture generator', () => {
    const g = generatorFromBytes(fixtureBytes('stylegan2_tiny_ckpt.pt'));
    expect(decoder!.config).toEqual(g.config);
  });

  it("pSp's GradualStyleEncoder on the same weights: row 0 = w0, rows i ≥ 1 = e4e row i − w0", async () => {
    const psp = encoderFromBytes(fixtureBytes('e4e_tiny_ckpt.pt'), {kind: 'psp'});
    expect(psp.encoder.kind).toBe('e4e'); // opts.encoder_type wins over the fallback
    const sd = new Map([...(await import('../../../src/io/weights.js')).loadWeights(fixtureBytes('e4e_tiny_ckpt.pt'), {prefer: ['state_dict']}).tensors].filter(([k]) => k.startsWith('encoder.')).map(([k, v]) => [k.slice(8), v]));
    const pspEnc = Encoder.fromStateDict(sd, {kind: 'psp'});
    const got = (await run(pspEnc, io.get('image')!, [])).get('codes')!;
    const codes = ref('codes');
    const w0 = ref('w0');
    const want = new Float32Array(codes.length);
    for (let i = 0; i < 8; i++) for (let d = 0; d < 64; d++) want[i * 64 + d] = i === 0 ? w0[d]! : codes[i * 64 + d]! - w0[d]!;
    expectAllClose(got, want, {atol: 1e-4, rtol: 0, what: 'psp codes'});
  });

  it('names every missing and mismatched key of a damaged checkpoint', async () => {
    const {loadWeights} = await import('../../../src/io/weights.js');
    const sd = new Map([...loadWeights(fixtureBytes('e4e_tiny_ckpt.pt'), {prefer: ['state_dict']}).tensors].filter(([k]) => k.startsWith('encoder.')).map(([k, v]) => [k.slice(8), v]));
    sd.delete('latlayer2.bias');
    sd.set('styles.5.linear.weight', {dtype: 'float32', shape: [64, 32], data: new Float32Array(64 * 32)});
    expect(() => Encoder.fromStateDict(sd)).toThrow(/missing key \[latlayer2\.bias\].*shape mismatch \[styles\.5\.linear\.weight: expected \[64, 64\], got \[64, 32\]\]/);
    expect(() => Encoder.fromStateDict(new Map([['x', sd.get('latlayer1.bias')!]]))).toThrow(/not a pSp\/e4e encoder: missing key 'input_layer\.0\.weight'/);
  });
});

describe.runIf(process.env.STYLECLIP_E4E_FULL === '1')('full-size FFHQ e4e with hashed weights (STYLECLIP_E4E_FULL=1)', () => {
  it('matches codes, w_plus, c1, c2, c3 and w0 within 1e-4', {timeout: 600_000}, async () => {
    const full = parseSafetensors(fixtureBytes('e4e_ffhq_hashed_io.safetensors')).tensors;
    const {sd, latentAvg} = hashedFfhqEncoder();
    const enc = Encoder.fromStateDict(sd, {latentAvg});
    expect(enc.config).toMatchObject({inputSize: 256, styleCount: 18, styleDim: 512, featureWidth: 512, body: {depths: [64, 128, 256, 512], units: [3, 4, 14, 3]}});
    sd.clear();
    const got = await run(enc, full.get('image')!, ['c1', 'c2', 'c3', 'w0']);
    for (const k of ['c1', 'c2', 'c3', 'w0', 'codes', 'w_plus']) expectAllClose(got.get(k)!, toFloat32(full.get(k)!), {atol: 1e-4, rtol: 0, what: k});
  });
});
