/**
 * StyleGAN2 generator (Karras et al. 2020), compatible with rosinality/stylegan2-pytorch model.py @ bef283a
 * (`Generator`, its state_dict keys and the `{g_ema, latent_avg}` checkpoints StyleCLIP uses).
 *
 * NVIDIA's StyleGAN2-ADA generator (stylegan2-ada-pytorch `training/networks.py`) is the same network: its network
 * pickles load into this class through stylegan2-ada.ts, with three switches here (conv_clamp, conditional mapping,
 * and truncation_cutoff in generate.ts).
 *
 * Spaces: z [N,D] → mapping → W [N,D] → (truncation around latent_avg) → W+ [N,L,D] → per-layer affine
 * "modulation" → S (StyleSpace: one vector per modulated conv, conv and ToRGB, in execution order) → image.
 * Legend: N batch, D style_dim, L n_latent, C channels, H/W spatial.
 */
import * as F from '../engine/ops.js';
import {type Tensor, assertShape, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, type StateDict, toFloat32} from '../io/host-tensor.js';
import {checkStateDict} from '../io/state-dict.js';
import {modulatedConv2d, makeKernel, upfirdn2d} from '../nn/conv.js';
import {equalLinear, fusedLeakyRelu, pixelNorm} from '../nn/layers.js';
import {mulberry32Normal} from '../random.js';
import {styleName} from './stylespace.js';

export interface StyleGAN2Config {
  /** Output resolution (power of two, ≥ 8). */
  size: number;
  /** Width of z, W and each W+ row. */
  styleDim: number;
  /** Number of EqualLinear layers in the mapping network. */
  nMlp: number;
  /** Channels per resolution, e.g. {4: 512, 8: 512, …, 1024: 32}. */
  channels: Record<number, number>;
  /** Learning-rate multiplier of the mapping layers (0.01 in StyleGAN2). */
  lrMlp: number;
  /** FIR taps of the up-sampling filter. */
  blurKernel: number[];
  /**
   * StyleGAN2-ADA's conv_clamp: activations of every conv layer (after bias, leaky ReLU and gain) and every ToRGB
   * output (after bias) are clamped to ±convClamp. Absent or null: no clamp (rosinality).
   */
  convClamp?: number | null;
  /** Conditional generators (StyleGAN2-ADA c_dim > 0): number of classes; the mapping embeds a one-hot class. */
  cDim?: number;
  /** Width of the class embedding concatenated to the normalised z (StyleGAN2-ADA embed_features). */
  embedDim?: number;
}

export type StyleLayerKind = 'conv' | 'conv_up' | 'torgb';

export interface StyleLayer {
  /** Module name as in the state dict, e.g. 'convs.0' or 'to_rgb1'. */
  name: string;
  kind: StyleLayerKind;
  /** Index into S (execution order). */
  sIndex: number;
  /** W+ row the layer's modulation reads. */
  wIndex: number;
  /** Noise input index, or null for ToRGB. */
  noiseIndex: number | null;
  /** Output resolution. */
  res: number;
  inChannels: number;
  outChannels: number;
}

export type NoiseMode = 'const' | 'random' | 'zero';

/** rosinality's default channel table for a channel multiplier. */
function defaultChannels(channelMultiplier = 2): Record<number, number> {
  const cm = channelMultiplier;
  return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm};
}

/** Every state_dict key and shape of a rosinality Generator with this config, in state_dict order. */
export function expectedStateDict(cfg: StyleGAN2Config): [string, number[]][] {
  const {size, styleDim: D, nMlp, channels} = cfg;
  const logSize = Math.log2(size);
  const K = cfg.blurKernel.length;
  const out: [string, number[]][] = [];
  const cDim = cfg.cDim ?? 0;
  const E = cDim > 0 ? cfg.embedDim ?? D : 0;
  if (cDim > 0) out.push(['embed.weight', [E, cDim]], ['embed.bias', [E]]);
  for (let i = 1; i <= nMlp; i++) out.push([`style.${i}.weight`, [D, i === 1 ? D + E : D]], [`style.${i}.bias`, [D]]);
  const c4 = channels[4]!;
  const modConv = (prefix: string, o: number, i: number, k: number, up: boolean) => {
    out.push([`${prefix}.weight`, [1, o, i, k, k]]);
    if (up) out.push([`${prefix}.blur.kernel`, [K, K]]);
    out.push([`${prefix}.modulation.weight`, [i, D]], [`${prefix}.modulation.bias`, [i]]);
  };
  const styledConv = (prefix: string, o: number, i: number, up: boolean) => {
    modConv(`${prefix}.conv`, o, i, 3, up);
    out.push([`${prefix}.noise.weight`, [1]], [`${prefix}.activate.bias`, [o]]);
  };
  const toRgb = (prefix: string, i: number, up: boolean) => {
    out.push([`${prefix}.bias`, [1, 3, 1, 1]]);
    if (up) out.push([`${prefix}.upsample.kernel`, [K, K]]);
    modConv(`${prefix}.conv`, 3, i, 1, false);
  };
  out.push(['input.input', [1, c4, 4, 4]]);
  styledConv('conv1', c4, c4, false);
  toRgb('to_rgb1', c4, false);
  let inC = c4;
  let j = 0;
  for (let r = 3; r <= logSize; r++) {
    const oc = channels[2 ** r]!;
    styledConv(`convs.${j}`, oc, inC, true);
    styledConv(`convs.${j + 1}`, oc, oc, false);
    j += 2;
    inC = oc;
  }
  for (let r = 3; r <= logSize; r++) toRgb(`to_rgbs.${r - 3}`, channels[2 ** r]!, true);
  const numLayers = (logSize - 2) * 2 + 1;
  for (let i = 0; i < numLayers; i++) {
    const res = 2 ** (Math.floor((i + 5) / 2));
    out.push([`noises.noise_${i}`, [1, 1, res, res]]);
  }
  return out;
}

/** The StyleSpace layer table in execution order (StyleCLIP's order: conv1, to_rgb1, then up-conv, conv, ToRGB per resolution). */
export function styleLayers(cfg: StyleGAN2Config): StyleLayer[] {
  const logSize = Math.log2(cfg.size);
  const c4 = cfg.channels[4]!;
  const layers: StyleLayer[] = [];
  const add = (l: Omit<StyleLayer, 'sIndex'>) => layers.push({...l, sIndex: layers.length});
  add({name: 'conv1', kind: 'conv', wIndex: 0, noiseIndex: 0, res: 4, inChannels: c4, outChannels: c4});
  add({name: 'to_rgb1', kind: 'torgb', wIndex: 1, noiseIndex: null, res: 4, inChannels: c4, outChannels: 3});
  let inC = c4;
  for (let r = 3, j = 0; r <= logSize; r++, j += 2) {
    const oc = cfg.channels[2 ** r]!;
    const res = 2 ** r;
    add({name: `convs.${j}`, kind: 'conv_up', wIndex: 1 + j, noiseIndex: 1 + j, res, inChannels: inC, outChannels: oc});
    add({name: `convs.${j + 1}`, kind: 'conv', wIndex: 2 + j, noiseIndex: 2 + j, res, inChannels: oc, outChannels: oc});
    add({name: `to_rgbs.${r - 3}`, kind: 'torgb', wIndex: 3 + j, noiseIndex: null, res, inChannels: oc, outChannels: 3});
    inC = oc;
  }
  return layers;
}

/** Infer the config from a rosinality state dict (resolution, style_dim, n_mlp, channel table). */
export function inferConfig(sd: StateDict, what = 'generator state dict'): StyleGAN2Config {
  const need = (k: string): HostTensor => {
    const t = sd.get(k);
    if (!t) throw new StyleclipError(`${what} is not a StyleGAN2 generator: missing key '${k}'`);
    return t;
  };
  const w1 = need('style.1.weight');
  check(w1.shape.length === 2, `style.1.weight has shape [${w1.shape}], expected [style_dim, style_dim]`);
  const styleDim = w1.shape[1]!;
  let nMlp = 0;
  while (sd.has(`style.${nMlp + 1}.weight`)) nMlp++;
  let nRgb = 0;
  while (sd.has(`to_rgbs.${nRgb}.conv.weight`)) nRgb++;
  const size = 2 ** (nRgb + 2);
  const c4 = need('input.input').shape[1]!;
  const channels: Record<number, number> = {4: c4};
  for (let r = 3, j = 0; r <= nRgb + 2; r++, j += 2) {
    const w = need(`convs.${j}.conv.weight`);
    check(w.shape.length === 5, `convs.${j}.conv.weight has shape [${w.shape}], expected [1, out, in, k, k]`);
    channels[2 ** r] = w.shape[1]!;
  }
  const kernel = sd.get('convs.0.conv.blur.kernel');
  const K = kernel ? kernel.shape[0]! : 4;
  // The stored kernel is the normalised outer product ×4; recover the taps up to scale from its first row.
  let blurKernel = [1, 3, 3, 1];
  if (kernel && K !== 4) {
    const k = toFloat32(kernel);
    const row = Array.from(k.slice(0, K));
    const col0 = row[0]!;
    blurKernel = row.map((v) => v / col0);
  }
  return {size, styleDim, nMlp, channels, lrMlp: 0.01, blurKernel};
}

interface LayerParams {
  weight: Tensor;
  modW: Tensor;
  modB: Tensor;
  noiseWeight?: Tensor;
  actBias?: Tensor;
  rgbBias?: Tensor;
}

/** Debug intermediates (named as the fixtures' `dbg.*`), filled when a map is passed to synthesis. */
export type DebugTaps = Map<string, Tensor>;

export class StyleGAN2 {
  readonly config: StyleGAN2Config;
  readonly nLatent: number;
  readonly numNoise: number;
  readonly layers: StyleLayer[];
  /** Mean W (the checkpoint's latent_avg), used for truncation. Null when the checkpoint has none. */
  readonly latentAvg: Float32Array | null;
  /** The checkpoint's fixed noise buffers noises.noise_i ([H·W] each). */
  readonly noiseBuffers: Float32Array[];
  private readonly params: Map<string, Tensor>;
  private avgTensor: Tensor | undefined;
  private classIndex: number | null = null;

  private constructor(config: StyleGAN2Config, params: Map<string, Tensor>, latentAvg: Float32Array | null, noiseBuffers: Float32Array[]) {
    this.config = config;
    const logSize = Math.log2(config.size);
    this.nLatent = logSize * 2 - 2;
    this.numNoise = (logSize - 2) * 2 + 1;
    this.layers = styleLayers(config);
    this.params = params;
    this.latentAvg = latentAvg;
    this.noiseBuffers = noiseBuffers;
  }

  /** Build from a rosinality state dict (strictly checked against the inferred architecture). */
  static fromStateDict(sd: StateDict, {latentAvg = null, config, what = 'generator state dict'}: {latentAvg?: Float32Array | null; config?: StyleGAN2Config; what?: string} = {}): StyleGAN2 {
    const cfg = config ?? inferConfig(sd, what);
    const expected = expectedStateDict(cfg);
    checkStateDict(expected, sd, {what: `${what} (a ${cfg.size}px StyleGAN2)`});
    const params = new Map<string, Tensor>();
    for (const [k, shape] of expected) params.set(k, constant(toFloat32(sd.get(k)!), shape));
    const numNoise = (Math.log2(cfg.size) - 2) * 2 + 1;
    const noise = Array.from({length: numNoise}, (_, i) => toFloat32(sd.get(`noises.noise_${i}`)!));
    if (latentAvg) check(latentAvg.length === cfg.styleDim, `latent_avg has ${latentAvg.length} values, expected style_dim ${cfg.styleDim}`);
    return new StyleGAN2(cfg, params, latentAvg, noise);
  }

  /**
   * A generator whose parameters are the given tensors (e.g. graph inputs, for training): one per key of
   * expectedStateDict(config). Noise buffers and latent_avg are host arrays.
   */
  static withParams(config: StyleGAN2Config, params: Map<string, Tensor>, {latentAvg = null, noiseBuffers}: {latentAvg?: Float32Array | null; noiseBuffers?: Float32Array[]} = {}): StyleGAN2 {
    const missing = expectedStateDict(config).filter(([k]) => !params.has(k) && !k.startsWith('noises.'));
    check(missing.length === 0, () => `withParams: missing parameters ${missing.map(([k]) => k).slice(0, 5).join(', ')}`);
    const numNoise = (Math.log2(config.size) - 2) * 2 + 1;
    const noise = noiseBuffers ?? Array.from({length: numNoise}, (_, i) => new Float32Array(4 ** Math.floor((i + 5) / 2)));
    return new StyleGAN2(config, params, latentAvg, noise);
  }

  /** The class a conditional generator (config.cDim > 0) maps z with; null until one is chosen. */
  get selectedClass(): number | null {
    return this.classIndex;
  }

  /** Choose the class of a conditional generator (0 … cDim − 1); every later mapping uses it. */
  selectClass(c: number): void {
    const cDim = this.config.cDim ?? 0;
    check(cDim > 0, `this generator is not conditional (it has no classes), so a class cannot be chosen`);
    check(Number.isInteger(c) && c >= 0 && c < cDim, `class ${c} does not exist: this conditional generator has classes 0…${cDim - 1}`);
    this.classIndex = c;
  }

  /** Total StyleSpace channels (with or without the ToRGB layers). */
  sDim({withToRgb = true} = {}): number {
    return this.layers.filter((l) => withToRgb || l.kind !== 'torgb').reduce((p, l) => p + l.inChannels, 0);
  }

  /** Noise resolution of input i. */
  noiseRes(i: number): number {
    return 2 ** Math.floor((i + 5) / 2);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new Error(`internal: no parameter ${key}`);
    return t;
  }

  private layerParams(l: StyleLayer): LayerParams {
    const m = `${l.name}.conv`;
    const lp: LayerParams = {weight: this.p(`${m}.weight`), modW: this.p(`${m}.modulation.weight`), modB: this.p(`${m}.modulation.bias`)};
    if (l.kind === 'torgb') lp.rgbBias = this.p(`${l.name}.bias`);
    else {
      lp.noiseWeight = this.p(`${l.name}.noise.weight`);
      lp.actBias = this.p(`${l.name}.activate.bias`);
    }
    return lp;
  }

  /**
   * Mapping network z [N,D] → W [N,D]: PixelNorm, then n_mlp × EqualLinear(lr_mul 0.01) + fused leaky ReLU.
   * A conditional generator concatenates PixelNorm(embed(one-hot class)) [N,E] to the normalised z first.
   */
  mapping(z: Tensor, debug?: DebugTaps): Tensor {
    const [N] = assertShape(z, [null, this.config.styleDim], 'z') as [number];
    let x = pixelNorm(z);
    const cDim = this.config.cDim ?? 0;
    if (cDim > 0) {
      if (this.classIndex === null) throw new StyleclipError(`this generator is conditional (${cDim} classes): choose a class (--class N, 0…${cDim - 1})`);
      const onehot = new Float32Array(cDim);
      onehot[this.classIndex] = 1;
      const y = pixelNorm(equalLinear(constant(onehot, [1, cDim]), this.p('embed.weight'), this.p('embed.bias'))); // [1,E]
      x = F.concat([x, F.expand(y, [N, y.shape[1]!])], 1); // [N, D+E]
    }
    debug?.set('dbg.style.0', x);
    for (let i = 1; i <= this.config.nMlp; i++) {
      x = equalLinear(x, this.p(`style.${i}.weight`), this.p(`style.${i}.bias`), {lrMul: this.config.lrMlp, activate: true});
      debug?.set(`dbg.style.${i}`, x);
    }
    return x;
  }

  /** w' = avg + ψ (w − avg), in W (before broadcasting to W+). */
  truncate(w: Tensor, psi: number): Tensor {
    return psi === 1 ? w : this.truncateBy(w, F.scalar(psi));
  }

  /** Truncation with ψ given as a tensor (e.g. a graph input of shape [1]). */
  truncateBy(w: Tensor, psi: Tensor): Tensor {
    if (!this.latentAvg) throw new StyleclipError('truncation needs latent_avg, which this checkpoint does not have');
    this.avgTensor ??= constant(this.latentAvg, [this.config.styleDim]);
    const avg = this.avgTensor;
    return F.add(avg, F.mul(F.sub(w, avg), psi));
  }

  /** W [N,D] → W+ [N,L,D] (every row the same). */
  broadcast(w: Tensor): Tensor {
    const [N, D] = w.shape as [number, number];
    return F.expand(F.reshape(w, [N, 1, D]), [N, this.nLatent, D]);
  }

  /** W+ [N,L,D] → S: the modulation output of every layer in execution order, [N, inChannels] each. */
  styles(wPlus: Tensor): Tensor[] {
    const [N] = assertShape(wPlus, [null, this.nLatent, this.config.styleDim], 'W+ latent') as [number];
    return this.layers.map((l) => {
      const lp = this.layerParams(l);
      const row = F.reshape(F.slice(wPlus, {1: [l.wIndex, l.wIndex + 1]}), [N, this.config.styleDim]);
      return equalLinear(row, lp.modW, lp.modB); // lr_mul 1, bias init 1
    });
  }

  /**
   * Synthesis from S. `noise[i]` is [N or 1, 1, H, W] for each noise input (see noiseRes).
   * Returns the raw image [N,3,size,size] (nominally [-1, 1], not clamped).
   */
  synthesis(s: readonly Tensor[], noise: readonly Tensor[], debug?: DebugTaps): Tensor {
    check(s.length === this.layers.length, `expected ${this.layers.length} style vectors, got ${s.length}`);
    check(noise.length === this.numNoise, `expected ${this.numNoise} noise inputs, got ${noise.length}`);
    const N = s[0]!.shape[0]!;
    this.layers.forEach((l, i) => assertShape(s[i]!, [N, l.inChannels], `style vector ${styleName(i)} (${l.name})`));
    const c4 = this.config.channels[4]!;
    let x = F.expand(this.p('input.input'), [N, c4, 4, 4]); // constant input                   [N,C,4,4]
    debug?.set('dbg.const_input', x);
    let skip: Tensor | null = null;
    const blur = this.config.blurKernel;
    for (const l of this.layers) {
      const lp = this.layerParams(l);
      const style = s[l.sIndex]!;
      if (l.kind === 'torgb') {
        let y = modulatedConv2d(x, style, {weight: lp.weight}, {demodulate: false}); // 1×1 conv  [N,3,H,W]
        debug?.set(`dbg.${l.name}.modconv`, y);
        y = this.clamp(F.add(y, lp.rgbBias!));
        if (skip) {
          const K = blur.length;
          const up = upfirdn2d(skip, makeKernel(blur, 4), K, {up: 2, pad: [Math.floor((K - 2 + 1) / 2) + 1, Math.floor((K - 2) / 2)]}); // [N,3,2H,2W]
          debug?.set(`dbg.${l.name}.upsampled_skip`, up);
          y = F.add(y, up);
        }
        debug?.set(`dbg.${l.name}.out`, y);
        skip = y;
      } else {
        let y = modulatedConv2d(x, style, {weight: lp.weight, blurKernel: blur}, {upsample: l.kind === 'conv_up'}); // [N,O,H,W]
        debug?.set(`dbg.${l.name}.modconv`, y);
        y = F.add(y, F.mul(lp.noiseWeight!, noise[l.noiseIndex!]!)); // + strength · noise (broadcast over C)
        debug?.set(`dbg.${l.name}.noise`, y);
        y = this.clamp(fusedLeakyRelu(y, lp.actBias!));
        debug?.set(`dbg.${l.name}.out`, y);
        x = y;
      }
    }
    return skip!;
  }

  /** StyleGAN2-ADA's conv_clamp (identity without one). */
  private clamp(x: Tensor): Tensor {
    const c = this.config.convClamp;
    return c === undefined || c === null ? x : F.minimum(F.maximum(x, -c), c);
  }

  /** Graph inputs for the noise, one [N,1,H,W] tensor per noise layer (feed them noiseArrays(mode, N)). */
  noiseInputs(N: number): Tensor[] {
    return Array.from({length: this.numNoise}, (_, i) => input(`noise${i}`, [N, 1, this.noiseRes(i), this.noiseRes(i)]));
  }

  /** Noise tensors for a batch of N: 'const' (checkpoint buffers), 'zero', or 'random' (seeded standard normal). */
  noiseArrays(mode: NoiseMode, N: number, seed = 0): Float32Array[] {
    const rng = mode === 'random' ? mulberry32Normal(seed) : null;
    return Array.from({length: this.numNoise}, (_, i) => {
      const r = this.noiseRes(i);
      const out = new Float32Array(N * r * r);
      if (mode === 'const') for (let n = 0; n < N; n++) out.set(this.noiseBuffers[i]!, n * r * r);
      else if (rng) for (let j = 0; j < out.length; j++) out[j] = rng();
      return out;
    });
  }
}

/**
 * A state dict with rosinality's initialisation (weights ~ N(0,1), modulation bias 1, other biases 0, noise
 * strengths 0 unless `noiseStrength` is given, noise buffers ~ N(0,1)), for benchmarks and shape tests.
 */
export function randomStateDict(cfg: StyleGAN2Config, seed = 0, {noiseStrength = 0} = {}): StateDict {
  const rng = mulberry32Normal(seed);
  const sd: StateDict = new Map();
  const fir = makeKernel(cfg.blurKernel, 4);
  for (const [k, shape] of expectedStateDict(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (k.endsWith('.kernel')) data.set(fir);
    else if (k.endsWith('modulation.bias')) data.fill(1);
    else if (k.endsWith('noise.weight')) data.fill(noiseStrength);
    else if (k.endsWith('.bias')) data.fill(0);
    else for (let i = 0; i < n; i++) data[i] = rng();
    sd.set(k, {dtype: 'float32', shape, data});
  }
  return sd;
}

/** The config of rosinality's Generator(size, styleDim, nMlp, channelMultiplier). */
export function standardConfig(size: number, {styleDim = 512, nMlp = 8, channelMultiplier = 2} = {}): StyleGAN2Config {
  const all = defaultChannels(channelMultiplier);
  const channels: Record<number, number> = {};
  for (let r = 4; r <= size; r *= 2) channels[r] = all[r]!;
  return {size, styleDim, nMlp, channels, lrMlp: 0.01, blurKernel: [1, 3, 3, 1]};
}
