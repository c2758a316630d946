/**
 * CLIP (Radford et al. 2021), ViT image tower and causal text transformer, matching openai/CLIP clip/model.py
 * @ d05afc4 (`CLIP`, `VisionTransformer`, `ResidualAttentionBlock`, `build_model`). State-dict keys are openai's.
 *
 * Legend: N images, T texts, L tokens, D width, H heads, E embed dim, g patch grid, R resolution.
 * Transformers run batch-first [N, L, D] (openai runs [L, N, D]; the math is the same).
 */
import * as F from '../../engine/ops.js';
import {type Tensor, assertShape, constant} from '../../engine/tensor.js';
import {StyleclipError, check} from '../../errors.js';
import {type HostTensor, type StateDict, toFloat32} from '../../io/host-tensor.js';
import {checkStateDict} from '../../io/state-dict.js';
import {layerNorm, quickGelu} from '../../nn/functional.js';
import {mulberry32} from '../../random.js';

/** openai build_model's hyperparameters (camelCase of its argument names). */
export interface ClipConfig {
  /** Joint embedding width E. */
  embedDim: number;
  /** Input resolution R of the image tower. */
  imageResolution: number;
  visionLayers: number;
  visionWidth: number;
  visionPatchSize: number;
  /** Attention heads of the image tower (openai: visionWidth / 64). */
  visionHeads: number;
  /** Text context length (77). */
  contextLength: number;
  vocabSize: number;
  transformerWidth: number;
  /** Attention heads of the text tower (openai: transformerWidth / 64). */
  transformerHeads: number;
  transformerLayers: number;
}

const CONFIG_KEYS: [keyof ClipConfig, string][] = [
  ['embedDim', 'embed_dim'],
  ['imageResolution', 'image_resolution'],
  ['visionLayers', 'vision_layers'],
  ['visionWidth', 'vision_width'],
  ['visionPatchSize', 'vision_patch_size'],
  ['visionHeads', 'vision_heads'],
  ['contextLength', 'context_length'],
  ['vocabSize', 'vocab_size'],
  ['transformerWidth', 'transformer_width'],
  ['transformerHeads', 'transformer_heads'],
  ['transformerLayers', 'transformer_layers'],
];

/** Read a config JSON object with openai's snake_case names (every key optional; unknown keys are errors). */
export function parseClipConfig(obj: unknown, what = 'CLIP config'): Partial<ClipConfig> {
  check(obj !== null && typeof obj === 'object' && !Array.isArray(obj), `${what} must be a JSON object`);
  const out: Partial<ClipConfig> = {};
  const known = new Map(CONFIG_KEYS.map(([camel, snake]) => [snake, camel]));
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const camel = known.get(k);
    if (!camel) throw new StyleclipError(`${what}: unknown key '${k}' (known: ${CONFIG_KEYS.map(([, s]) => s).join(', ')})`);
    check(typeof v === 'number' && Number.isInteger(v) && v > 0, `${what}: '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    out[camel] = v;
  }
  return out;
}

/** Infer the config from the state dict as openai build_model does; `override` wins (e.g. head counts). */
export function inferClipConfig(sd: StateDict, override: Partial<ClipConfig> = {}, what = 'CLIP state dict'): ClipConfig {
  const need = (k: string): HostTensor => {
    const t = sd.get(k);
    if (!t) throw new StyleclipError(`${what} is not a CLIP ViT model: missing key '${k}'`);
    return t;
  };
  const conv = need('visual.conv1.weight');
  const visionWidth = conv.shape[0]!;
  const visionPatchSize = conv.shape[3]!;
  const visionLayers = [...sd.keys()].filter((k) => k.startsWith('visual.') && k.endsWith('.attn.in_proj_weight')).length;
  const grid = Math.round(Math.sqrt(need('visual.positional_embedding').shape[0]! - 1));
  const transformerWidth = need('ln_final.weight').shape[0]!;
  const blocks = new Set([...sd.keys()].filter((k) => k.startsWith('transformer.resblocks.')).map((k) => k.split('.')[2]));
  const cfg: ClipConfig = {
    embedDim: need('text_projection').shape[1]!,
    imageResolution: visionPatchSize * grid,
    visionLayers,
    visionWidth,
    visionPatchSize,
    visionHeads: Math.floor(visionWidth / 64),
    contextLength: need('positional_embedding').shape[0]!,
    vocabSize: need('token_embedding.weight').shape[0]!,
    transformerWidth,
    transformerHeads: Math.floor(transformerWidth / 64),
    transformerLayers: blocks.size,
    ...override,
  };
  for (const [k, name] of [['visionHeads', 'vision_heads'], ['transformerHeads', 'transformer_heads']] as const) {
    check(cfg[k] >= 1, `${what}: cannot infer ${name} for width ${k === 'visionHeads' ? visionWidth : transformerWidth} (openai uses width/64); give it in a config file (--clip-config)`);
  }
  check(cfg.visionWidth % cfg.visionHeads === 0, `${what}: vision width ${cfg.visionWidth} is not divisible by ${cfg.visionHeads} heads`);
  check(cfg.transformerWidth % cfg.transformerHeads === 0, `${what}: text width ${cfg.transformerWidth} is not divisible by ${cfg.transformerHeads} heads`);
  return cfg;
}

/** Every openai state-dict key and shape for a config, in state_dict order. */
export function expectedClipStateDict(c: ClipConfig): [string, number[]][] {
  const out: [string, number[]][] = [
    ['positional_embedding', [c.contextLength, c.transformerWidth]],
    ['text_projection', [c.transformerWidth, c.embedDim]],
    ['logit_scale', []],
  ];
  const grid = c.imageResolution / c.visionPatchSize;
  out.push(
    ['visual.class_embedding', [c.visionWidth]],
    ['visual.positional_embedding', [grid * grid + 1, c.visionWidth]],
    ['visual.proj', [c.visionWidth, c.embedDim]],
    ['visual.conv1.weight', [c.visionWidth, 3, c.visionPatchSize, c.visionPatchSize]],
    ['visual.ln_pre.weight', [c.visionWidth]],
    ['visual.ln_pre.bias', [c.visionWidth]],
  );
  const block = (prefix: string, d: number) => {
    out.push(
      [`${prefix}.attn.in_proj_weight`, [3 * d, d]],
      [`${prefix}.attn.in_proj_bias`, [3 * d]],
      [`${prefix}.attn.out_proj.weight`, [d, d]],
      [`${prefix}.attn.out_proj.bias`, [d]],
      [`${prefix}.ln_1.weight`, [d]],
      [`${prefix}.ln_1.bias`, [d]],
      [`${prefix}.mlp.c_fc.weight`, [4 * d, d]],
      [`${prefix}.mlp.c_fc.bias`, [4 * d]],
      [`${prefix}.mlp.c_proj.weight`, [d, 4 * d]],
      [`${prefix}.mlp.c_proj.bias`, [d]],
      [`${prefix}.ln_2.weight`, [d]],
      [`${prefix}.ln_2.bias`, [d]],
    );
  };
  for (let i = 0; i < c.visionLayers; i++) block(`visual.transformer.resblocks.${i}`, c.visionWidth);
  out.push(['visual.ln_post.weight', [c.visionWidth]], ['visual.ln_post.bias', [c.visionWidth]]);
  for (let i = 0; i < c.transformerLayers; i++) block(`transformer.resblocks.${i}`, c.transformerWidth);
  out.push(
    ['token_embedding.weight', [c.vocabSize, c.transformerWidth]],
    ['ln_final.weight', [c.transformerWidth]],
    ['ln_final.bias', [c.transformerWidth]],
  );
  return out;
}

/** Keys some checkpoints carry beyond the model's parameters (TorchScript archives; old HF exports). */
const EXTRA_KEYS = ['input_resolution', 'context_length', 'vocab_size'];

export type ClipTaps = Map<string, Tensor>;

export class CLIP {
  readonly config: ClipConfig;
  /** exp(logit_scale): 100 in released CLIP. */
  readonly logitScale: number;
  private readonly params: Map<string, Tensor>;
  private readonly causalMasks = new Map<number, Tensor>();

  private constructor(config: ClipConfig, params: Map<string, Tensor>, logitScale: number) {
    this.config = config;
    this.params = params;
    this.logitScale = logitScale;
  }

  /** Build from an openai-layout state dict (fp16/bf16 converted to float32), strictly checked. */
  static fromStateDict(sd: StateDict, {config, what = 'CLIP state dict'}: {config?: Partial<ClipConfig>; what?: string} = {}): CLIP {
    const clean: StateDict = new Map([...sd].filter(([k]) => !EXTRA_KEYS.includes(k)));
    const cfg = inferClipConfig(clean, config, what);
    // Scalars are [] in .pt files and [1] in some safetensors writers: accept both for logit_scale.
    const ls = clean.get('logit_scale');
    if (ls && ls.shape.length === 1 && ls.shape[0] === 1) clean.set('logit_scale', {...ls, shape: []});
    const expected = expectedClipStateDict(cfg);
    checkStateDict(expected, clean, {what});
    const params = new Map<string, Tensor>();
    for (const [k, shape] of expected) params.set(k, constant(toFloat32(clean.get(k)!), shape));
    const logitScale = Math.exp(toFloat32(clean.get('logit_scale')!)[0]!);
    return new CLIP(cfg, params, logitScale);
  }

  /**
   * A CLIP whose parameters are the given tensors (e.g. graph inputs, for training): one per key of
   * expectedClipStateDict(config). `logitScale` is the fixed exp(logit_scale) used by inference helpers.
   */
  static withParams(config: ClipConfig, params: Map<string, Tensor>, logitScale = 100): CLIP {
    const missing = expectedClipStateDict(config).filter(([k]) => !params.has(k));
    check(missing.length === 0, () => `withParams: missing parameters ${missing.map(([k]) => k).slice(0, 5).join(', ')}`);
    return new CLIP(config, params, logitScale);
  }

  /** The parameter tensor for a state-dict key. */
  param(key: string): Tensor {
    return this.p(key);
  }

  private p(key: string): Tensor {
    const t = this.params.get(key);
    if (!t) throw new Error(`internal: no CLIP parameter ${key}`);
    return t;
  }

  /** nn.MultiheadAttention self-attention, batch-first. x: [N,L,D] -> [N,L,D] */
  private attention(x: Tensor, prefix: string, heads: number, mask: Tensor | null): Tensor {
    const [N, L, D] = x.shape as [number, number, number];
    const dh = D / heads;
    const qkv = F.add(F.matmul(x, F.transpose(this.p(`${prefix}.in_proj_weight`), [1, 0])), this.p(`${prefix}.in_proj_bias`)); // [N,L,3D]
    const split = (i: number) => F.transpose(F.reshape(F.slice(qkv, {2: [i * D, (i + 1) * D]}), [N, L, heads, dh]), [0, 2, 1, 3]); // [N,H,L,dh]
    const q = F.mul(split(0), 1 / Math.sqrt(dh));
    const k = split(1);
    const v = split(2);
    let att = F.matmul(q, F.transpose(k, [0, 1, 3, 2])); // [N,H,L,L]
    if (mask) att = F.add(att, mask);
    const y = F.matmul(F.softmax(att, -1), v); // [N,H,L,dh]
    const merged = F.reshape(F.transpose(y, [0, 2, 1, 3]), [N, L, D]); // [N,L,D]
    return F.add(F.matmul(merged, F.transpose(this.p(`${prefix}.out_proj.weight`), [1, 0])), this.p(`${prefix}.out_proj.bias`));
  }

  /** ResidualAttentionBlock: x + attn(ln_1(x)), then x + mlp(ln_2(x)) with QuickGELU. */
  private block(x: Tensor, prefix: string, heads: number, mask: Tensor | null): Tensor {
    const lin = (h: Tensor, name: string) => F.add(F.matmul(h, F.transpose(this.p(`${prefix}.mlp.${name}.weight`), [1, 0])), this.p(`${prefix}.mlp.${name}.bias`));
    const h = layerNorm(x, this.p(`${prefix}.ln_1.weight`), this.p(`${prefix}.ln_1.bias`));
    x = F.add(x, this.attention(h, `${prefix}.attn`, heads, mask));
    const m = layerNorm(x, this.p(`${prefix}.ln_2.weight`), this.p(`${prefix}.ln_2.bias`));
    return F.add(x, lin(quickGelu(lin(m, 'c_fc')), 'c_proj'));
  }

  /** Image tower: normalised images [N,3,R,R] -> unnormalised features [N,E]. */
  encodeImage(x: Tensor, taps?: ClipTaps): Tensor {
    const c = this.config;
    const R = c.imageResolution;
    const [N] = assertShape(x, [null, 3, R, R], 'CLIP image input') as [number];
    const g = R / c.visionPatchSize;
    const W = c.visionWidth;
    let h = F.conv2d(x, this.p('visual.conv1.weight'), {stride: c.visionPatchSize}); // patch embedding [N,W,g,g]
    taps?.set('dbg.visual.conv1', h);
    h = F.transpose(F.reshape(h, [N, W, g * g]), [0, 2, 1]); // [N,g²,W]
    const cls = F.expand(F.reshape(this.p('visual.class_embedding'), [1, 1, W]), [N, 1, W]);
    h = F.add(F.concat([cls, h], 1), this.p('visual.positional_embedding')); // [N,g²+1,W]
    h = layerNorm(h, this.p('visual.ln_pre.weight'), this.p('visual.ln_pre.bias'));
    taps?.set('dbg.visual.ln_pre', h);
    for (let i = 0; i < c.visionLayers; i++) {
      h = this.block(h, `visual.transformer.resblocks.${i}`, c.visionHeads, null);
      taps?.set(`dbg.visual.transformer.resblocks.${i}`, h);
    }
    const cls0 = F.reshape(F.slice(h, {1: [0, 1]}), [N, W]); // class token [N,W]
    const pooled = layerNorm(cls0, this.p('visual.ln_post.weight'), this.p('visual.ln_post.bias'));
    taps?.set('dbg.visual.ln_post', pooled);
    return F.matmul(pooled, this.p('visual.proj')); // [N,E]
  }

  /**
   * Text tower: token ids [T,L] (L ≤ contextLength; int32/int64) and the one-hot EOT selector [T,L] (1 at argmax(ids), see eotSelector)
   * -> unnormalised features [T,E].
   */
  encodeText(tokens: Tensor, eot: Tensor, taps?: ClipTaps): Tensor {
    const c = this.config;
    const [T, L] = assertShape(tokens, [null, null], 'CLIP tokens') as [number, number];
    // Fewer than contextLength positions is exact as long as every EOT is kept: the causal mask stops later
    // positions from influencing earlier ones.
    check(L >= 1 && L <= c.contextLength, `CLIP tokens have ${L} positions; the model's context is ${c.contextLength}`);
    assertShape(eot, [T, L], 'EOT selector');
    const pos = L === c.contextLength ? this.p('positional_embedding') : F.slice(this.p('positional_embedding'), {0: [0, L]});
    let h = F.add(F.gather(this.p('token_embedding.weight'), tokens, 0), pos); // [T,L,D]
    let mask = this.causalMasks.get(L);
    if (!mask) this.causalMasks.set(L, (mask = constant(causalMask(L), [L, L])));
    for (let i = 0; i < c.transformerLayers; i++) {
      h = this.block(h, `transformer.resblocks.${i}`, c.transformerHeads, mask);
      taps?.set(`dbg.transformer.resblocks.${i}`, h);
    }
    h = layerNorm(h, this.p('ln_final.weight'), this.p('ln_final.bias'));
    taps?.set('dbg.ln_final', h);
    const pooled = F.reshape(F.matmul(F.reshape(eot, [T, 1, L]), h), [T, c.transformerWidth]); // h[t, argmax(ids_t)] [T,D]
    return F.matmul(pooled, this.p('text_projection')); // [T,E]
  }
}

/** Additive causal mask: 0 on and below the diagonal, −∞ above. */
function causalMask(L: number): Float32Array {
  const m = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -Infinity;
  return m;
}

/** One-hot [T,L] selecting each row's argmax(ids) (the EOT token, the highest id), as openai encode_text. */
export function eotSelector(ids: Int32Array | BigInt64Array, T: number, L: number): Float32Array {
  const sel = new Float32Array(T * L);
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let j = 1; j < L; j++) if (Number(ids[t * L + j]) > Number(ids[t * L + best])) best = j;
    sel[t * L + best] = 1;
  }
  return sel;
}

/** L2-normalise rows: x / ‖x‖. [N,E] */
export function normalize(x: Tensor): Tensor {
  return F.mul(x, F.rsqrt(F.sum(F.square(x), [-1], true)));
}

/** A random openai-layout state dict (N(0, 0.02²) weights, unit LayerNorms, logit scale ln 100), for benchmarks. */
export function randomClipStateDict(cfg: ClipConfig, seed = 0): StateDict {
  const uniform = mulberry32(seed);
  const sd: StateDict = new Map();
  for (const [k, shape] of expectedClipStateDict(cfg)) {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    if (k === 'logit_scale') data[0] = Math.log(100);
    else if (/ln_\w+\.weight$|ln_(pre|post|final)\.weight$/.test(k)) data.fill(1);
    else if (!k.endsWith('bias')) for (let i = 0; i < n; i++) data[i] = (uniform() * 2 - 1) * 0.0346; // σ ≈ 0.02
    sd.set(k, {dtype: 'float32', shape, data});
  }
  return sd;
}

/** openai ViT-B/32. */
export const VIT_B_32: ClipConfig = {
  embedDim: 512,
  imageResolution: 224,
  visionLayers: 12,
  visionWidth: 768,
  visionPatchSize: 32,
  visionHeads: 12,
  contextLength: 77,
  vocabSize: 49408,
  transformerWidth: 512,
  transformerHeads: 8,
  transformerLayers: 12,
};
