/**
 * NVIDIA StyleGAN2-ADA generators (NVlabs stylegan2-ada-pytorch @ d72cc7d, `training/networks.py` Generator) as our
 * StyleGAN2: network pickles (`ffhq.pkl`, `afhqdog.pkl`, … and training snapshots) are read as data by
 * io/torch.ts, `G_ema`'s `init_kwargs` give the configuration, its state dict is checked strictly against the
 * layout those kwargs imply, and a declarative key map turns it into the generator's parameters.
 *
 * The two implementations are the same network; each difference was checked against the reference (fixtures §11):
 *  - z normalisation by its 2nd moment = PixelNorm (same formula, same 1e-8);
 *  - FullyConnectedLayer (weight·lr/√in, bias·lr, lrelu ×√2) = EqualLinear; `affine` (bias init 1) = modulation;
 *  - modulated conv: NVIDIA keeps no 1/√(in·k·k) weight gain before demodulation, which cancels it anyway;
 *  - ToRGB: styles × 1/√in without demodulation = rosinality's 1×1 ModulatedConv2d scale;
 *  - conv0 upsampling (transposed conv, then [1,3,3,1] filter with pads 1/1 and gain 4) and the skip upsampling
 *    (upfirdn2d.upsample2d, pads 2/1) equal rosinality's Blur / Upsample;
 *  - noise `noise_const · noise_strength` = `noises.noise_i · noise.weight`; noise_mode 'none' = 'zero';
 *  - `w_avg.lerp(w, ψ)` = truncation around latent_avg; truncation_cutoff is generate's `truncationCutoff`;
 *  - bias_act's clamp (conv_clamp) is StyleGAN2Config.convClamp; conditional mapping is cDim / embedDim.
 * fp16 (`num_fp16_res`) only changes GPU precision; everything here runs in float32 like the reference on the CPU.
 */
import {StyleclipError} from '../errors.js';
import {type HostTensor, type StateDict, toFloat32} from '../io/host-tensor.js';
import {type RenameRule, renameKeys} from '../io/keymap.js';
import {checkStateDict} from '../io/state-dict.js';
import {describe as describePickleValue} from '../io/pickle.js';
import {PersistentRecord, loadNetworkPickle, persistentStateDict} from '../io/torch.js';
import {makeKernel} from '../nn/conv.js';
import {type StyleGAN2Config, StyleGAN2, expectedStateDict} from './stylegan2.js';

/** The Generator's `init_kwargs` (with NVIDIA's defaults filled in) that decide the state-dict layout. */
export interface Sg2AdaConfig {
  zDim: number;
  cDim: number;
  wDim: number;
  resolution: number;
  mappingLayers: number;
  /** Class embedding width (w_dim by default for conditional generators, 0 otherwise). */
  embedFeatures: number;
  lrMultiplier: number;
  channelBase: number;
  channelMax: number;
  convClamp: number | null;
  resampleFilter: number[];
}

/** init_kwargs that do not change the float32 network (GPU precision and memory layout). */
const IGNORED_KWARGS = new Set(['num_fp16_res', 'channels_last', 'fp16_channels_last', 'w_avg_beta']);

function num(v: unknown, name: string, what: string, {int = true, min = 0} = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min) {
    throw new StyleclipError(`${what}: init_kwargs ${name} is ${String(v)}, expected ${int ? 'an integer' : 'a number'} ≥ ${min}`);
  }
  return v;
}

function kwargsMap(v: unknown, name: string, what: string): Map<string, unknown> {
  if (v === undefined || v === null) return new Map();
  if (!(v instanceof Map)) throw new StyleclipError(`${what}: init_kwargs ${name} is a ${describePickleValue(v)}, not a dict`);
  return v as Map<string, unknown>;
}

/** Read and check a StyleGAN2-ADA Generator's init_kwargs. */
export function sg2adaConfig(initKwargs: unknown, what = 'StyleGAN2-ADA generator'): Sg2AdaConfig {
  const kw = kwargsMap(initKwargs, '', what);
  const mk = kwargsMap(kw.get('mapping_kwargs'), 'mapping_kwargs', what);
  const sk = kwargsMap(kw.get('synthesis_kwargs'), 'synthesis_kwargs', what);
  const known = {
    top: new Set(['z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels', 'mapping_kwargs', 'synthesis_kwargs']),
    mapping: new Set(['num_layers', 'embed_features', 'layer_features', 'activation', 'lr_multiplier']),
    synthesis: new Set(['channel_base', 'channel_max', 'conv_clamp', 'architecture', 'resample_filter', 'use_noise', 'activation']),
  };
  const unknown = [
    ...[...kw.keys()].filter((k) => !known.top.has(String(k))),
    ...[...mk.keys()].filter((k) => !known.mapping.has(String(k)) && !IGNORED_KWARGS.has(String(k))).map((k) => `mapping_kwargs.${String(k)}`),
    ...[...sk.keys()].filter((k) => !known.synthesis.has(String(k)) && !IGNORED_KWARGS.has(String(k))).map((k) => `synthesis_kwargs.${String(k)}`),
  ];
  if (unknown.length > 0) throw new StyleclipError(`${what}: unsupported Generator init_kwargs ${unknown.map(String).join(', ')} (not a StyleGAN2-ADA generator this loader knows)`);
  const get = <T>(m: Map<string, unknown>, k: string, dflt: T): unknown => (m.has(k) && m.get(k) !== null ? m.get(k) : dflt);
  const zDim = num(kw.get('z_dim'), 'z_dim', what, {min: 1});
  const wDim = num(kw.get('w_dim'), 'w_dim', what, {min: 1});
  const cDim = num(get(kw, 'c_dim', 0), 'c_dim', what);
  const resolution = num(kw.get('img_resolution'), 'img_resolution', what, {min: 4});
  const imgChannels = num(get(kw, 'img_channels', 3), 'img_channels', what, {min: 1});
  const need = (cond: boolean, msg: string) => {
    if (!cond) throw new StyleclipError(`${what}: ${msg}`);
  };
  need(Number.isInteger(Math.log2(resolution)), `img_resolution ${resolution} is not a power of two`);
  need(imgChannels === 3, `img_channels is ${imgChannels}; only RGB generators (3) are supported`);
  need(zDim === wDim, `z_dim ${zDim} differs from w_dim ${wDim}; only generators with z_dim = w_dim are supported`);
  const layerFeatures = num(get(mk, 'layer_features', wDim), 'mapping_kwargs.layer_features', what, {min: 1});
  need(layerFeatures === wDim, `mapping layer_features ${layerFeatures} differs from w_dim ${wDim}, which is not supported`);
  for (const [m, name] of [[mk, 'mapping_kwargs'], [sk, 'synthesis_kwargs']] as const) {
    const act = get(m, 'activation', 'lrelu');
    need(act === 'lrelu', `${name}.activation is '${String(act)}'; only 'lrelu' is supported`);
  }
  const arch = get(sk, 'architecture', 'skip');
  need(arch === 'skip', `synthesis architecture '${String(arch)}' is not supported (only 'skip', NVIDIA's generator default)`);
  need(get(sk, 'use_noise', true) === true, 'generators without noise inputs (use_noise False) are not supported');
  const filter = get(sk, 'resample_filter', [1, 3, 3, 1]);
  need(Array.isArray(filter) && filter.length >= 2 && filter.every((x) => typeof x === 'number' && Number.isFinite(x)), `synthesis resample_filter ${JSON.stringify(filter)} is not a list of numbers`);
  const clamp = get(sk, 'conv_clamp', null);
  return {
    zDim,
    cDim,
    wDim,
    resolution,
    mappingLayers: num(get(mk, 'num_layers', 8), 'mapping_kwargs.num_layers', what, {min: 1}),
    embedFeatures: cDim > 0 ? num(get(mk, 'embed_features', wDim), 'mapping_kwargs.embed_features', what, {min: 1}) : 0,
    lrMultiplier: num(get(mk, 'lr_multiplier', 0.01), 'mapping_kwargs.lr_multiplier', what, {int: false}),
    channelBase: num(get(sk, 'channel_base', 32768), 'synthesis_kwargs.channel_base', what, {min: 1}),
    channelMax: num(get(sk, 'channel_max', 512), 'synthesis_kwargs.channel_max', what, {min: 1}),
    convClamp: clamp === null ? null : num(clamp, 'synthesis_kwargs.conv_clamp', what, {int: false}),
    resampleFilter: filter as number[],
  };
}

/** The equivalent config of our generator. */
export function styleGAN2Config(c: Sg2AdaConfig): StyleGAN2Config {
  const channels: Record<number, number> = {};
  for (let r = 4; r <= c.resolution; r *= 2) channels[r] = Math.min(Math.floor(c.channelBase / r), c.channelMax);
  return {
    size: c.resolution,
    styleDim: c.wDim,
    nMlp: c.mappingLayers,
    channels,
    lrMlp: c.lrMultiplier,
    blurKernel: [...c.resampleFilter],
    convClamp: c.convClamp,
    ...(c.cDim > 0 ? {cDim: c.cDim, embedDim: c.embedFeatures} : {}),
  };
}

/** Every key and shape of the StyleGAN2-ADA Generator's state_dict for this config, in state_dict order. */
export function sg2adaStateDictShapes(c: Sg2AdaConfig): [string, number[]][] {
  const cfg = styleGAN2Config(c);
  const K = c.resampleFilter.length;
  const out: [string, number[]][] = [];
  const layer = (p: string, i: number, o: number, res: number) => {
    out.push([`${p}.weight`, [o, i, 3, 3]], [`${p}.noise_strength`, []], [`${p}.bias`, [o]], [`${p}.resample_filter`, [K, K]]);
    out.push([`${p}.noise_const`, [res, res]], [`${p}.affine.weight`, [i, c.wDim]], [`${p}.affine.bias`, [i]]);
  };
  const torgb = (p: string, i: number) => out.push([`${p}.weight`, [3, i, 1, 1]], [`${p}.bias`, [3]], [`${p}.affine.weight`, [i, c.wDim]], [`${p}.affine.bias`, [i]]);
  for (let r = 4; r <= c.resolution; r *= 2) {
    const b = `synthesis.b${r}`;
    const oc = cfg.channels[r]!;
    if (r === 4) out.push([`${b}.const`, [oc, 4, 4]]);
    out.push([`${b}.resample_filter`, [K, K]]);
    if (r > 4) layer(`${b}.conv0`, cfg.channels[r / 2]!, oc, r);
    layer(`${b}.conv1`, oc, oc, r);
    torgb(`${b}.torgb`, oc);
  }
  out.push(['mapping.w_avg', [c.wDim]]);
  if (c.cDim > 0) out.push(['mapping.embed.weight', [c.embedFeatures, c.cDim]], ['mapping.embed.bias', [c.embedFeatures]]);
  for (let i = 0; i < c.mappingLayers; i++) {
    out.push([`mapping.fc${i}.weight`, [c.wDim, i === 0 ? c.zDim + c.embedFeatures : c.wDim]], [`mapping.fc${i}.bias`, [c.wDim]]);
  }
  return out;
}

/** Our name of synthesis layer conv0/conv1 of block `res`, and its noise index. */
function convName(res: number, conv: string): {name: string; noise: number} {
  if (res === 4) return {name: 'conv1', noise: 0};
  const j = 2 * (Math.log2(res) - 3) + (conv === 'conv1' ? 1 : 0);
  return {name: `convs.${j}`, noise: j + 1};
}

const torgbName = (res: number): string => (res === 4 ? 'to_rgb1' : `to_rgbs.${Math.log2(res) - 3}`);

const CONV_FIELDS: Readonly<Record<string, (name: string, noise: number) => string>> = {
  weight: (n) => `${n}.conv.weight`,
  'affine.weight': (n) => `${n}.conv.modulation.weight`,
  'affine.bias': (n) => `${n}.conv.modulation.bias`,
  noise_strength: (n) => `${n}.noise.weight`,
  bias: (n) => `${n}.activate.bias`,
  noise_const: (_n, i) => `noises.noise_${i}`,
};

/**
 * NVIDIA key → our key. The resample filters become our FIR kernel buffers (only conv0 and the skip upsampling
 * use one; the others are checked and dropped), `w_avg` is taken out as latent_avg before renaming.
 */
const SG2ADA_KEYS: RenameRule[] = [
  [/^mapping\.fc(\d+)\.(weight|bias)$/, (m) => `style.${Number(m[1]) + 1}.${m[2]}`],
  [/^mapping\.embed\.(weight|bias)$/, (m) => `embed.${m[1]}`],
  [/^synthesis\.b4\.const$/, () => 'input.input'],
  [/^synthesis\.b(\d+)\.resample_filter$/, (m) => (m[1] === '4' ? null : `${torgbName(Number(m[1]))}.upsample.kernel`)],
  [/^synthesis\.b(\d+)\.(conv0|conv1)\.resample_filter$/, (m) => (m[2] === 'conv0' ? `${convName(Number(m[1]), 'conv0').name}.conv.blur.kernel` : null)],
  [/^synthesis\.b(\d+)\.(conv0|conv1)\.(weight|affine\.weight|affine\.bias|noise_strength|bias|noise_const)$/, (m) => {
    const {name, noise} = convName(Number(m[1]), m[2]!);
    return CONV_FIELDS[m[3]!]!(name, noise);
  }],
  [/^synthesis\.b(\d+)\.torgb\.(weight|bias|affine\.weight|affine\.bias)$/, (m) => {
    const t = torgbName(Number(m[1]));
    return m[2] === 'weight' ? `${t}.conv.weight` : m[2] === 'bias' ? `${t}.bias` : `${t}.conv.modulation.${m[2]!.slice('affine.'.length)}`;
  }],
];

/**
 * Build our generator from a StyleGAN2-ADA Generator state dict and its config: strict key/shape check against the
 * NVIDIA layout, every resample filter checked against the configured taps, keys renamed, tensors reshaped to our
 * layout (same values; the up-sampling kernels carry rosinality's gain of 4).
 */
export function generatorFromSg2AdaStateDict(sd: StateDict, c: Sg2AdaConfig, what = 'StyleGAN2-ADA generator'): StyleGAN2 {
  checkStateDict(sg2adaStateDictShapes(c), sd, {what: `${what} (a ${c.resolution}px StyleGAN2-ADA generator)`});
  const cfg = styleGAN2Config(c);
  const fir = makeKernel(cfg.blurKernel, 1);
  for (const [k, t] of sd) {
    if (!k.endsWith('resample_filter')) continue;
    const v = toFloat32(t);
    if (v.some((x, i) => Math.abs(x - fir[i]!) > 1e-6)) {
      throw new StyleclipError(`${what}: '${k}' is not the normalised filter of resample_filter [${cfg.blurKernel.join(', ')}] from init_kwargs`);
    }
  }
  const latentAvg = Float32Array.from(toFloat32(sd.get('mapping.w_avg')!));
  const rest: StateDict = new Map([...sd].filter(([k]) => k !== 'mapping.w_avg'));
  const renamed = renameKeys(rest, SG2ADA_KEYS, {what});
  const ours: StateDict = new Map();
  for (const [k, shape] of expectedStateDict(cfg)) {
    const t = renamed.get(k);
    if (t === undefined) throw new Error(`internal: the StyleGAN2-ADA key map gives no '${k}'`);
    let data = toFloat32(t);
    if (k.endsWith('.kernel')) data = data.map((x) => x * 4);
    ours.set(k, {dtype: 'float32', shape, data} satisfies HostTensor);
  }
  return StyleGAN2.fromStateDict(ours, {config: cfg, latentAvg, what});
}

/** The generator record of a network pickle: `G_ema` of a snapshot dict, or a bare pickled Generator. */
export function pickGEma(root: unknown, what = 'network pickle'): PersistentRecord {
  if (root instanceof PersistentRecord) {
    if (root.className !== 'Generator') throw new StyleclipError(`${what} holds a '${root.className}', not a Generator`);
    return root;
  }
  if (root instanceof Map) {
    const g = root.get('G_ema');
    if (g instanceof PersistentRecord && g.className === 'Generator') return g;
    const keys = [...root.keys()].map(String).slice(0, 10).join(', ');
    throw new StyleclipError(`${what} has no generator 'G_ema' (its keys are [${keys}])`);
  }
  throw new StyleclipError(`${what} holds a ${describePickleValue(root)}, not a network snapshot with 'G_ema'`);
}

/** Our generator from the bytes of an NVIDIA StyleGAN2-ADA network pickle (nothing from the file is run). */
export function generatorFromNetworkPickle(bytes: Uint8Array, what = 'network pickle'): StyleGAN2 {
  const g = pickGEma(loadNetworkPickle(bytes, {what}), what);
  const args = g.attrs.get('_init_args');
  if (Array.isArray(args) && args.length > 0) throw new StyleclipError(`${what}: G_ema was built with positional arguments, which are not supported`);
  const config = sg2adaConfig(g.attrs.get('_init_kwargs'), `${what} G_ema`);
  return generatorFromSg2AdaStateDict(persistentStateDict(g, `${what} G_ema`), config, `${what} G_ema`);
}
