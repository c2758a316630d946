/**
 * IR-SE ArcFace backbone (Deng et al. 2019, "ArcFace"; improved residual units of Han et al. with
 * squeeze-and-excitation, Hu et al. 2018) and StyleCLIP's ID-loss preprocessing, matching orpatashnik/StyleCLIP
 * @ f87a47f: models/facial_recognition/model_irse.py `Backbone(112, 50, drop_ratio=0.6, mode='ir_se')` (eval mode),
 * helpers.py `bottleneck_IR_SE` / `SEModule` / `get_block` / `l2_norm`, and criteria/id_loss.py `IDLoss`.
 * State-dict keys are those of `model_ir_se50.pth`. The unit table, widths, SE reduction and embedding width
 * are read from the state dict, so the released IR-SE50 ([3, 4, 14, 3] units) and narrower test networks load.
 *
 * Legend: N batch, C channels, H/W spatial, S input resolution (112), s final grid (S/16 = 7), D embedding (512).
 */
import * as F from '../../engine/ops.js';
import {type Tensor, assertShape, constant} from '../../engine/tensor.js';
import {StyleclipError, check} from '../../errors.js';
import {readBytes} from '../../io/files.js';
import {type HostTensor, type StateDict, toFloat32} from '../../io/host-tensor.js';
import {checkStateDict} from '../../io/state-dict.js';
import {loadWeights} from '../../io/weights.js';
import {adaptiveAvgPool2d} from '../../nn/functional.js';
import type {IdentityNet} from './types.js';

export interface IrseConfig {
  /** Input resolution S (112 in StyleCLIP; model_irse also allows 224). */
  inputSize: number;
  /** Output channels of the input layer's conv (64 in IR-SE50). */
  inputWidth: number;
  /** Output channels of each stage (IR-SE50: [64, 128, 256, 512]). */
  depths: number[];
  /** Units per stage (IR-SE50: [3, 4, 14, 3]); the first unit of each stage has stride 2. */
  units: number[];
  /** SE squeeze ratio: the SE bottleneck has depth // seReduction channels (16). */
  seReduction: number;
  /** Embedding width D (512). */
  embedDim: number;
}

/** IR-SE50 as `Backbone(112, 50, mode='ir_se')` builds it (helpers.py get_blocks(50)). */
export const IR_SE50: IrseConfig = {inputSize: 112, inputWidth: 64, depths: [64, 128, 256, 512], units: [3, 4, 14, 3], seReduction: 16, embedDim: 512};

/** BatchNorm eps (PyTorch default; model_irse never changes it). */
export const BN_EPS = 1e-5;

/** StyleCLIP IDLoss: `face_pool_1` size, the crop `x[:, :, 35:223, 32:220]`, then `face_pool_2` to the net input. */
const ID_LOSS_RESIZE = 256;
const ID_LOSS_CROP = {rows: [35, 223], cols: [32, 220]} as const;

export interface IrseUnit {
  /** State-dict prefix, `body.{n}`. */
  prefix: string;
  inChannels: number;
  depth: number;
  stride: number;
  /** Conv1x1 + BN shortcut when in ≠ depth; otherwise MaxPool2d(1, stride), i.e. x[:, :, ::stride, ::stride]. */
  convShortcut: boolean;
}

/** The flat body unit list of a config, in `body.{n}` order (get_block: stride 2 first, then stride 1). */
export function irseUnits(c: IrseConfig): IrseUnit[] {
  const out: IrseUnit[] = [];
  let inC = c.inputWidth;
  c.depths.forEach((depth, s) => {
    for (let u = 0; u < c.units[s]!; u++) {
      const i = u === 0 ? inC : depth;
      out.push({prefix: `body.${out.length}`, inChannels: i, depth, stride: u === 0 ? 2 : 1, convShortcut: i !== depth});
    }
    inC = depth;
  });
  return out;
}

/** Final feature-map side s = S / 2^stages (7 for 112 and four stages). */
function finalGrid(c: IrseConfig): number {
  return c.inputSize / 2 ** c.depths.length;
}

/** Every state-dict key and shape of the Backbone for a config, in PyTorch state_dict order. */
export function expectedIrseStateDict(c: IrseConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  const bn = (prefix: string, ch: number) =>
    out.push([`${prefix}.weight`, [ch]], [`${prefix}.bias`, [ch]], [`${prefix}.running_mean`, [ch]], [`${prefix}.running_var`, [ch]], [`${prefix}.num_batches_tracked`, []]);
  const last = c.depths[c.depths.length - 1]!;
  const s = finalGrid(c);
  out.push(['input_layer.0.weight', [c.inputWidth, 3, 3, 3]]);
  bn('input_layer.1', c.inputWidth);
  out.push(['input_layer.2.weight', [c.inputWidth]]);
  bn('output_layer.0', last);
  out.push(['output_layer.3.weight', [c.embedDim, last * s * s]], ['output_layer.3.bias', [c.embedDim]]);
  bn('output_layer.4', c.embedDim);
  for (const u of irseUnits(c)) {
    const p = u.prefix;
    if (u.convShortcut) {
      out.push([`${p}.shortcut_layer.0.weight`, [u.depth, u.inChannels, 1, 1]]);
      bn(`${p}.shortcut_layer.1`, u.depth);
    }
    bn(`${p}.res_layer.0`, u.inChannels);
    out.push([`${p}.res_layer.1.weight`, [u.depth, u.inChannels, 3, 3]], [`${p}.res_layer.2.weight`, [u.depth]], [`${p}.res_layer.3.weight`, [u.depth, u.depth, 3, 3]]);
    bn(`${p}.res_layer.4`, u.depth);
    const mid = Math.floor(u.depth / c.seReduction);
    out.push([`${p}.res_layer.5.fc1.weight`, [mid, u.depth, 1, 1]], [`${p}.res_layer.5.fc2.weight`, [u.depth, mid, 1, 1]]);
  }
  return out;
}

/**
 * Infer the config from a state dict's shapes. Stages are runs of units with the same depth (a new stage starts
 * where the depth changes, as in every IR-SE table); the input size follows from the head's Linear width.
 */
export function inferIrseConfig(sd: StateDict | Map<string, HostTensor>, what = 'IR-SE state dict'): IrseConfig {
  const need = (k: string): number[] => {
    const t = sd.get(k);
    if (!t) throw new StyleclipError(`${what} is not an IR-SE backbone (model_irse.Backbone): missing key '${k}'`);
    return t.shape;
  };
  const inputWidth = need('input_layer.0.weight')[0]!;
  const [embedDim, flat] = need('output_layer.3.weight') as [number, number];
  const bodyIdx = new Set<number>();
  for (const k of sd.keys()) {
    const m = /^body\.(\d+)\./.exec(k);
    if (m) bodyIdx.add(Number(m[1]));
  }
  check(bodyIdx.size > 0, `${what} has no body units (body.{n}.*)`);
  const n = Math.max(...bodyIdx) + 1;
  const depths: number[] = [];
  const units: number[] = [];
  let seReduction = 0;
  for (let i = 0; i < n; i++) {
    const depth = need(`body.${i}.res_layer.1.weight`)[0]!;
    if (i === 0) seReduction = Math.round(depth / need(`body.${i}.res_layer.5.fc1.weight`)[0]!);
    if (depths.length && depths[depths.length - 1] === depth) units[units.length - 1]!++;
    else {
      depths.push(depth);
      units.push(1);
    }
  }
  const last = depths[depths.length - 1]!;
  const s = Math.round(Math.sqrt(flat / last));
  check(s * s * last === flat, `${what}: output_layer.3.weight has ${flat} inputs, not ${last}·s² for a square grid`);
  return {inputSize: s * 2 ** depths.length, inputWidth, depths, units, seReduction, embedDim};
}

/** Scale and shift of an eval-mode BatchNorm: y = x·a + b with a = γ/√(σ² + eps), b = β − μ·a (float64, as PyTorch's CPU inference kernel folds it). */
function foldBatchNorm(sd: StateDict, prefix: string): {scale: Float32Array; shift: Float32Array} {
  const [g, b, mu, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => toFloat32(sd.get(`${prefix}.${k}`)!)) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const scale = new Float32Array(g.length);
  const shift = new Float32Array(g.length);
  for (let c = 0; c < g.length; c++) {
    const a = g[c]! / Math.sqrt(v[c]! + BN_EPS);
    scale[c] = a;
    shift[c] = b[c]! - mu[c]! * a;
  }
  return {scale, shift};
}

/** PReLU with one slope per channel: x for x > 0, a·x otherwise. a: [1,C,1,1] */
export function prelu(x: Tensor, a: Tensor): Tensor {
  return F.where(F.greater(x, 0), x, F.mul(x, a));
}

/** x / ‖x‖₂ along dim 1, with no epsilon (helpers.py l2_norm: `input / torch.norm(input, 2, axis, True)`). [N,D] */
export function l2Norm(x: Tensor): Tensor {
  return F.div(x, F.sqrt(F.sum(F.square(x), [1], true)));
}

/** A model's graph parameter by state-dict key (folded BatchNorms as `<prefix>.scale` / `<prefix>.shift`). */
export type ParamLookup = (key: string) => Tensor;

/**
 * Graph constants for the `expected` keys of a state dict: eval-mode BatchNorms folded into `<prefix>.scale` /
 * `.shift` ([1,C,1,1], or [1,C] for the prefixes in `bn1d`), PReLU slopes (`…input_layer.2.weight`,
 * `…res_layer.2.weight`) as [1,C,1,1], every other weight and bias as stored. Running statistics and
 * `num_batches_tracked` are consumed by the folding.
 */
export function graphParams(sd: StateDict, expected: readonly [string, number[]][], {bn1d = [] as string[]} = {}): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  for (const [k, shape] of expected) {
    if (k.endsWith('.num_batches_tracked')) {
      const prefix = k.slice(0, -'.num_batches_tracked'.length);
      const {scale, shift} = foldBatchNorm(sd, prefix);
      const C = scale.length;
      const bShape = bn1d.includes(prefix) ? [1, C] : [1, C, 1, 1];
      params.set(`${prefix}.scale`, constant(scale, bShape));
      params.set(`${prefix}.shift`, constant(shift, bShape));
    } else if (/\.(weight|bias)$/.test(k) && !/running/.test(k)) {
      const data = toFloat32(sd.get(k)!);
      params.set(k, /(input_layer\.2|res_layer\.2)\.weight$/.test(k) ? constant(data, [1, data.length, 1, 1]) : constant(data, shape));
    }
  }
  return params;
}

/** Eval-mode BatchNorm (1d or 2d) with folded running statistics. */
export function bnEval(x: Tensor, p: ParamLookup, prefix: string): Tensor {
  return F.add(F.mul(x, p(`${prefix}.scale`)), p(`${prefix}.shift`));
}

/** SEModule: x · σ(fc2(relu(fc1(mean_hw x)))), fc1/fc2 bias-free 1×1 convs. [N,C,H,W] */
function seModule(x: Tensor, p: ParamLookup, prefix: string): Tensor {
  const pooled = F.mean(x, [2, 3], true); // [N,C,1,1]
  const z = F.relu(F.conv2d(pooled, p(`${prefix}.fc1.weight`))); // [N,C/r,1,1]
  return F.mul(x, F.sigmoid(F.conv2d(z, p(`${prefix}.fc2.weight`)))); // [N,C,H,W]
}

/**
 * bottleneck_IR_SE: res(x) + shortcut(x), no activation after the sum (shared by the ArcFace backbone and the
 * e4e/pSp encoder body). [N,I,H,W] -> [N,depth,H/stride,W/stride]
 */
export function irseUnit(x: Tensor, u: IrseUnit, p: ParamLookup): Tensor {
  const pre = u.prefix;
  const shortcut = u.convShortcut
    ? bnEval(F.conv2d(x, p(`${pre}.shortcut_layer.0.weight`), {stride: u.stride}), p, `${pre}.shortcut_layer.1`)
    : u.stride === 1
      ? x
      : F.slice(x, {2: [0, null, u.stride], 3: [0, null, u.stride]}); // MaxPool2d(1, stride)
  let r = bnEval(x, p, `${pre}.res_layer.0`);
  r = F.conv2d(r, p(`${pre}.res_layer.1.weight`), {padding: 1});
  r = prelu(r, p(`${pre}.res_layer.2.weight`));
  r = F.conv2d(r, p(`${pre}.res_layer.3.weight`), {stride: u.stride, padding: 1}); // the stride sits on the second conv
  r = seModule(bnEval(r, p, `${pre}.res_layer.4`), p, `${pre}.res_layer.5`);
  return F.add(r, shortcut);
}

export type IrseTaps = Map<string, Tensor>;

export class IRSE implements IdentityNet {
  readonly name: string;
  readonly config: IrseConfig;
  readonly embedDim: number;
  private readonly params: Map<string, Tensor>;

  private constructor(config: IrseConfig, params: Map<string, Tensor>) {
    this.config = config;
    this.embedDim = config.embedDim;
    this.params = params;
    this.name = `ir_se${2 * config.units.reduce((a, b) => a + b, 0) + 2}`;
  }

  /**
   * Build from a `model_ir_se50.pth`-layout state dict, strictly checked (every missing or unexpected key and
   * shape mismatch is named). BatchNorm `num_batches_tracked` counters are ignored, whatever their shape.
   */
  static fromStateDict(sd: StateDict, {what = 'IR-SE state dict'}: {what?: string} = {}): IRSE {
    const cfg = inferIrseConfig(sd, what);
    const expected = expectedIrseStateDict(cfg);
    checkStateDict(expected, sd, {what, ignore: [/\.num_batches_tracked$/]});
    return new IRSE(cfg, graphParams(sd, expected, {bn1d: ['output_layer.4']}));
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new Error(`internal: no IR-SE parameter ${key}`);
    return t;
  }

  private bn(x: Tensor, prefix: string): Tensor {
    return bnEval(x, (k) => this.p(k), prefix);
  }

  /**
   * Backbone.forward: images [N,3,S,S] (as StyleCLIP feeds them: [-1, 1], no mean/std) -> L2-normalised
   * embeddings [N,D]. `taps` receives 'prenorm' (the BatchNorm1d output before l2_norm).
   */
  forward(x: Tensor, taps?: IrseTaps): Tensor {
    const c = this.config;
    const [N] = assertShape(x, [null, 3, c.inputSize, c.inputSize], 'IR-SE input') as [number];
    let h = F.conv2d(x, this.p('input_layer.0.weight'), {padding: 1}); // [N,C0,S,S]
    h = prelu(this.bn(h, 'input_layer.1'), this.p('input_layer.2.weight'));
    for (const u of irseUnits(c)) h = irseUnit(h, u, (k) => this.p(k)); // [N,C,s,s]
    h = this.bn(h, 'output_layer.0'); // Dropout(0.6) is the identity in eval mode
    const [, C, s] = h.shape as [number, number, number];
    h = F.reshape(h, [N, C * s * s]); // Flatten: view(N, -1) of NCHW, index c·s² + h·s + w
    h = F.add(F.matmul(h, F.transpose(this.p('output_layer.3.weight'), [1, 0])), this.p('output_layer.3.bias')); // [N,D]
    h = this.bn(h, 'output_layer.4'); // BatchNorm1d(D, affine=True)
    taps?.set('prenorm', h);
    return l2Norm(h);
  }

  /**
   * StyleCLIP IDLoss.extract_feats: images [N,3,H,W] in [-1, 1] -> [N,D]. If H ≠ 256, AdaptiveAvgPool2d to
   * 256×256 (StyleCLIP tests the height only); crop rows 35:223, cols 32:220 (188×188, the face region of an
   * FFHQ-aligned image); AdaptiveAvgPool2d to S×S; forward. `taps` also receives 'pooled' (the net input).
   */
  features(img: Tensor, taps?: IrseTaps): Tensor {
    const [, , H] = assertShape(img, [null, 3, null, null], 'ID-loss image') as [number, number, number];
    let x = H === ID_LOSS_RESIZE ? img : adaptiveAvgPool2d(img, ID_LOSS_RESIZE, ID_LOSS_RESIZE); // [N,3,256,256]
    x = F.slice(x, {2: ID_LOSS_CROP.rows, 3: ID_LOSS_CROP.cols}); // [N,3,188,188]
    x = adaptiveAvgPool2d(x, this.config.inputSize, this.config.inputSize); // [N,3,S,S]
    taps?.set('pooled', x);
    return this.forward(x, taps);
  }
}

/** Load an IR-SE backbone from checkpoint bytes (torch.save .pth/.pt, zip or legacy, or safetensors). */
export function irseFromBytes(bytes: Uint8Array, what = 'IR-SE checkpoint'): IRSE {
  const {tensors} = loadWeights(bytes, {what, prefer: ['state_dict', 'model']});
  return IRSE.fromStateDict(tensors, {what});
}

/** Read and load an IR-SE checkpoint such as `model_ir_se50.pth` (Node). */
export function loadIrse(path: string): IRSE {
  return irseFromBytes(readBytes(path, 'IR-SE checkpoint'), `IR-SE checkpoint '${path}'`);
}
