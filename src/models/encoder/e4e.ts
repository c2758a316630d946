/**
 * Image-to-W+ encoders of the pSp family on an IR-SE50 body with a feature pyramid (Richardson et al. 2021,
 * "Encoding in Style", pSp; Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation", e4e), matching
 * omertov/encoder4editing @ 99ea505: models/encoders/psp_encoders.py `Encoder4Editing` and `GradualStyleEncoder`,
 * helpers.py `bottleneck_IR_SE` / `_upsample_add`, and models/psp.py (`start_from_latent_avg`), in eval mode.
 *
 *   body: input layer (Conv3×3 → BN → PReLU) then four blocks of bottleneck_IR_SE units; taps c1, c2, c3 at the
 *         ends of blocks 2, 3 and 4 (units 6, 20, 23 of IR-SE50: 64², 32² and 16² for a 256² input)
 *   FPN:  p2 = up(c3 → 32²) + latlayer1(c2),  p1 = up(p2 → 64²) + latlayer2(c1)   (bilinear, align_corners)
 *   style i = GradualStyleBlock_i(features), features = c3 (i < 3), p2 (3 ≤ i < 7), p1 (i ≥ 7)
 *   e4e:  w_0 = style 0, row i = w_0 + style i (progressive deltas, all stages on at inference)
 *   pSp:  row i = style i
 *   inversion: w_plus = codes + latent_avg
 * Widths, unit counts, input side, style count and style width are read from the state dict; the released
 * `e4e_ffhq_encode.pt` (IR-SE50, 18 styles of 512), narrower encoders and smaller inputs load (the demo encoder:
 * 64² input, a narrow IR-SE body, 10 styles of 64; lab/demo/train-encoder.ts trains it with the same forward).
 *
 * Legend: N batch, S input side (256), C channels, L styles (n_latent), D style width.
 */
import * as F from '../../engine/ops.js';
import {type Tensor, assertShape, constant} from '../../engine/tensor.js';
import {StyleclipError, check} from '../../errors.js';
import type {StateDict} from '../../io/host-tensor.js';
import {checkStateDict} from '../../io/state-dict.js';
import {separableResample} from '../../nn/functional.js';
import {equalLinear} from '../../nn/layers.js';
import {type IrseConfig, type ParamLookup, bnEval, expectedIrseStateDict, graphParams, inferIrseConfig, irseUnit, irseUnits, prelu} from '../identity/irse.js';

export type EncoderKind = 'e4e' | 'psp';

/** `opts.encoder_type` of a pSp/e4e checkpoint for each kind. */
export const ENCODER_TYPES: Readonly<Record<EncoderKind, string>> = {e4e: 'Encoder4Editing', psp: 'GradualStyleEncoder'};

/** Styles below this index read c3, below MIDDLE_IND p2, the rest p1 (psp_encoders.py coarse_ind / middle_ind). */
const COARSE_IND = 3;
const MIDDLE_IND = 7;
/** nn.LeakyReLU() default slope in GradualStyleBlock. */
const STYLE_LRELU = 0.01;

export interface EncoderConfig {
  kind: EncoderKind;
  /** Input side S: 16 × the c3 side that style 0's conv count implies (256 for the released encoders). */
  inputSize: number;
  /** The body: input width, stage depths, units (IR-SE50: 64, [64,128,256,512], [3,4,14,3]), SE reduction. */
  body: Pick<IrseConfig, 'inputWidth' | 'depths' | 'units' | 'seReduction'>;
  /** Number of styles L (= the generator's n_latent: 18 for 1024 px). */
  styleCount: number;
  /** Style width D (= the generator's style_dim). */
  styleDim: number;
  /** Channels of the FPN maps the style blocks read (512 in the released encoders). */
  featureWidth: number;
}

/** The feature level (0 = c3, 1 = p2, 2 = p1) and side of style i. */
function styleLevel(i: number): number {
  return i < COARSE_IND ? 0 : i < MIDDLE_IND ? 1 : 2;
}

function bodyConfig(c: EncoderConfig): IrseConfig {
  return {...c.body, inputSize: c.inputSize, embedDim: 0};
}

/** Every encoder state-dict key and shape (without the `encoder.` prefix). */
export function expectedEncoderStateDict(c: EncoderConfig): [string, number[]][] {
  // The body keys of the ArcFace backbone minus its output layer.
  const out = expectedIrseStateDict(bodyConfig(c)).filter(([k]) => !k.startsWith('output_layer.'));
  const c3 = c.inputSize / 16;
  for (let i = 0; i < c.styleCount; i++) {
    const n = Math.log2(c3 * 2 ** styleLevel(i));
    for (let j = 0; j < n; j++) out.push([`styles.${i}.convs.${2 * j}.weight`, [c.styleDim, j === 0 ? c.featureWidth : c.styleDim, 3, 3]], [`styles.${i}.convs.${2 * j}.bias`, [c.styleDim]]);
    out.push([`styles.${i}.linear.weight`, [c.styleDim, c.styleDim]], [`styles.${i}.linear.bias`, [c.styleDim]]);
  }
  const d = c.body.depths;
  out.push(['latlayer1.weight', [c.featureWidth, d[2]!, 1, 1]], ['latlayer1.bias', [c.featureWidth]]);
  out.push(['latlayer2.weight', [c.featureWidth, d[1]!, 1, 1]], ['latlayer2.bias', [c.featureWidth]]);
  return out;
}

/** Infer the config from an encoder state dict (keys without the `encoder.` prefix). */
export function inferEncoderConfig(sd: StateDict, kind: EncoderKind, what = 'encoder state dict'): EncoderConfig {
  const need = (k: string): number[] => {
    const t = sd.get(k);
    if (!t) throw new StyleclipError(`${what} is not a pSp/e4e encoder: missing key '${k}'`);
    return t.shape;
  };
  // The body is an IR-SE backbone without a head; reuse its inference with a stand-in head shape.
  need('input_layer.0.weight');
  let last = -1;
  for (const k of sd.keys()) last = Math.max(last, Number(/^body\.(\d+)\./.exec(k)?.[1] ?? -1));
  check(last >= 0, `${what} has no body units (body.{n}.*)`);
  const lastDepth = need(`body.${last}.res_layer.1.weight`)[0]!;
  const withHead = new Map(sd);
  withHead.set('output_layer.3.weight', {dtype: 'float32', shape: [1, lastDepth], data: new Float32Array(lastDepth)});
  const body = inferIrseConfig(withHead, what);
  check(body.depths.length === 4, `${what}: the encoder body has ${body.depths.length} stages of units, expected 4 (IR-SE50 layout)`);
  let styleCount = 0;
  while (sd.has(`styles.${styleCount}.linear.weight`)) styleCount++;
  check(styleCount > 0, `${what} has no style blocks (styles.{i}.linear.weight)`);
  const [styleDim] = need('styles.0.linear.weight') as [number];
  const featureWidth = need('styles.0.convs.0.weight')[1]!;
  let convs = 0;
  while (sd.has(`styles.0.convs.${2 * convs}.weight`)) convs++;
  const inputSize = 16 * 2 ** convs;
  const lastDepthOfBody = body.depths[3]!;
  check(featureWidth === lastDepthOfBody, `${what}: the style blocks read ${featureWidth} channels but the body's last stage has ${lastDepthOfBody} (c3 feeds styles 0–2 and the feature pyramid as it is, so the two widths must be equal)`);
  return {kind, inputSize, body: {inputWidth: body.inputWidth, depths: body.depths, units: body.units, seReduction: body.seReduction}, styleCount, styleDim, featureWidth};
}

/** Bilinear resampling matrix with align_corners=True: output i samples input i·(in − 1)/(out − 1). [out, in] */
function alignCornersMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const src = outSize === 1 ? 0 : (i * (inSize - 1)) / (outSize - 1);
    const j = Math.min(Math.floor(src), inSize - 1);
    const t = src - j;
    m[i * inSize + j] += 1 - t;
    if (t > 0) m[i * inSize + j + 1] += t;
  }
  return m;
}

/** _upsample_add: bilinear (align_corners) resize of x to y's size, plus y. */
function upsampleAdd(x: Tensor, y: Tensor): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const [, , Ho, Wo] = y.shape as [number, number, number, number];
  return F.add(separableResample(x, alignCornersMatrix(H, Ho), alignCornersMatrix(W, Wo), Ho, Wo), y);
}

/** Intermediate maps of a forward pass: c1, c2, c3, p2, p1 and w0. */
export type EncoderTaps = Map<string, Tensor>;

/** GradualStyleBlock: log2(side) × [Conv3×3 stride 2 (bias) → LeakyReLU(0.01)] to 1×1, then EqualLinear. [N,C,s,s] -> [N,D] */
function styleBlock(x: Tensor, i: number, c: EncoderConfig, p: ParamLookup): Tensor {
  const n = Math.log2(x.shape[2]!);
  let h = x;
  for (let j = 0; j < n; j++) {
    h = F.conv2d(h, p(`styles.${i}.convs.${2 * j}.weight`), {stride: 2, padding: 1});
    h = F.leakyRelu(F.add(h, F.reshape(p(`styles.${i}.convs.${2 * j}.bias`), [1, c.styleDim, 1, 1])), STYLE_LRELU);
  }
  const [N] = h.shape as [number];
  return equalLinear(F.reshape(h, [N, c.styleDim]), p(`styles.${i}.linear.weight`), p(`styles.${i}.linear.bias`));
}

function conv1x1(x: Tensor, prefix: string, p: ParamLookup): Tensor {
  const w = p(`${prefix}.weight`);
  return F.add(F.conv2d(x, w), F.reshape(p(`${prefix}.bias`), [1, w.shape[0]!, 1, 1]));
}

/**
 * The encoder's forward pass for any parameter lookup (graph constants when loaded, graph inputs when trained):
 * images [N,3,S,S] normalised as (x/255 − 0.5)/0.5 -> codes [N,L,D] (without latent_avg). `p` serves the keys of
 * expectedEncoderStateDict with each BatchNorm as `<prefix>.scale` / `<prefix>.shift` ([1,C,1,1], eval mode) and
 * PReLU slopes as [1,C,1,1] (see graphParams).
 */
export function encoderForward(x: Tensor, c: EncoderConfig, p: ParamLookup, taps?: EncoderTaps): Tensor {
  const [N] = assertShape(x, [null, 3, c.inputSize, c.inputSize], 'encoder input') as [number];
  let h = F.conv2d(x, p('input_layer.0.weight'), {padding: 1});
  h = prelu(bnEval(h, p, 'input_layer.1'), p('input_layer.2.weight'));
  const units = irseUnits(bodyConfig(c));
  const ends = c.body.units.map((_, s) => c.body.units.slice(0, s + 1).reduce((a, b) => a + b, 0) - 1);
  const maps: Tensor[] = [];
  units.forEach((u, i) => {
    h = irseUnit(h, u, p);
    if (ends.includes(i)) maps.push(h);
  });
  const [, c1, c2, c3] = maps as [Tensor, Tensor, Tensor, Tensor];
  const p2 = upsampleAdd(c3, conv1x1(c2, 'latlayer1', p));
  const p1 = upsampleAdd(p2, conv1x1(c1, 'latlayer2', p));
  const features = [c3, p2, p1];
  const w0 = styleBlock(c3, 0, c, p); // [N,D]
  const rows: Tensor[] = [w0];
  for (let i = 1; i < c.styleCount; i++) {
    const s = styleBlock(features[styleLevel(i)]!, i, c, p);
    rows.push(c.kind === 'e4e' ? F.add(w0, s) : s);
  }
  if (taps) for (const [k, v] of Object.entries({c1, c2, c3, p2, p1, w0})) taps.set(k, v);
  return F.concat(rows.map((r) => F.reshape(r, [N, 1, c.styleDim])), 1); // [N,L,D]
}

export class Encoder {
  readonly config: EncoderConfig;
  /** latent_avg added to the codes ([L·D] or [D]); null when the checkpoint has none. */
  readonly latentAvg: Float32Array | null;
  private readonly params: Map<string, Tensor>;

  private constructor(config: EncoderConfig, params: Map<string, Tensor>, latentAvg: Float32Array | null) {
    this.config = config;
    this.params = params;
    this.latentAvg = latentAvg;
  }

  /** Build from an encoder state dict (keys without `encoder.`), strictly checked; `num_batches_tracked` is ignored. */
  static fromStateDict(sd: StateDict, {kind = 'e4e', latentAvg = null, what = 'encoder state dict'}: {kind?: EncoderKind; latentAvg?: Float32Array | null; what?: string} = {}): Encoder {
    const cfg = inferEncoderConfig(sd, kind, what);
    const expected = expectedEncoderStateDict(cfg);
    checkStateDict(expected, sd, {what, ignore: [/\.num_batches_tracked$/]});
    const {styleCount: L, styleDim: D} = cfg;
    if (latentAvg) check(latentAvg.length === L * D || latentAvg.length === D, `${what}: latent_avg has ${latentAvg.length} values, expected [${L}, ${D}] or [${D}]`);
    return new Encoder(cfg, graphParams(sd, expected), latentAvg);
  }

  get kind(): EncoderKind {
    return this.config.kind;
  }

  private readonly p: ParamLookup = (key) => {
    const t = this.params.get(key);
    if (!t) throw new Error(`internal: no encoder parameter ${key}`);
    return t;
  };

  /** Images [N,3,S,S] normalised as (x/255 − 0.5)/0.5 -> codes [N,L,D] (without latent_avg). */
  forward(x: Tensor, taps?: EncoderTaps): Tensor {
    return encoderForward(x, this.config, this.p, taps);
  }

  /** W+ = codes + latent_avg (pSp `start_from_latent_avg`); the codes alone without latent_avg. [N,L,D] */
  wPlus(codes: Tensor): Tensor {
    if (!this.latentAvg) return codes;
    const {styleCount: L, styleDim: D} = this.config;
    const avg = this.latentAvg.length === D ? constant(this.latentAvg, [1, 1, D]) : constant(this.latentAvg, [1, L, D]);
    return F.add(codes, avg);
  }
}
