/**
 * Load CLIP from any of its checkpoint formats, all to openai's layout:
 * - `torch.save` state dicts (`clip_tiny_state_dict.pt`) and safetensors with openai key names;
 * - OpenAI's released TorchScript archives (`ViT-B-32.pt`, fp16 weights; `clip.load(jit=False)` takes the archive's
 *   state_dict and drops `input_resolution`, `context_length`, `vocab_size`);
 * - HuggingFace transformers `CLIPModel` (`model.safetensors` + `config.json`), renamed and re-laid out as
 *   transformers' convert_clip_original_pytorch_to_hf.py maps them, inverted (q/k/v concatenated, projections
 *   transposed).
 * An explicit config (openai names; a JSON file or the safetensors `__metadata__` entry `config`) overrides inference.
 */
import {existsSync} from 'node:fs';
import path from 'node:path';
import {StyleclipError, check} from '../../errors.js';
import {readBytes} from '../../io/files.js';
import {type HostTensor, type StateDict, allocHostData, toFloat32} from '../../io/host-tensor.js';
import {type RenameRule, renameKeys} from '../../io/keymap.js';
import type {SafetensorsFile} from '../../io/safetensors.js';
import {loadWeights} from '../../io/weights.js';
import {CLIP, type ClipConfig, parseClipConfig} from './model.js';

/** True when a state dict uses transformers' CLIPModel names. */
function isHfClip(sd: StateDict): boolean {
  return [...sd.keys()].some((k) => k.startsWith('text_model.') || k.startsWith('vision_model.'));
}

function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.shape as [number, number];
  const src = toFloat32(t);
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return {dtype: 'float32', shape: [c, r], data: out};
}

function concat0(parts: HostTensor[]): HostTensor {
  const arrays = parts.map(toFloat32);
  const out = allocHostData('float32', arrays.reduce((n, a) => n + a.length, 0)) as Float32Array;
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return {dtype: 'float32', shape: [parts.reduce((n, p) => n + p.shape[0]!, 0), ...parts[0]!.shape.slice(1)], data: out};
}

const BLOCK = (tower: string) => (tower === 'text' ? 'transformer.resblocks' : 'visual.transformer.resblocks');
const SUB: Record<string, string> = {layer_norm1: 'ln_1', layer_norm2: 'ln_2', 'mlp.fc1': 'mlp.c_fc', 'mlp.fc2': 'mlp.c_proj', 'self_attn.out_proj': 'attn.out_proj'};

/** transformers name → openai name; q/k/v projections and position_ids are handled separately (null here). */
const HF_RULES: RenameRule[] = [
  [/^logit_scale$/, () => 'logit_scale'],
  [/^(text|vision)_model\.embeddings\.position_ids$/, () => null],
  [/^(text|vision)_model\.encoder\.layers\.\d+\.self_attn\.[qkv]_proj\.(weight|bias)$/, () => null],
  [/^text_model\.embeddings\.token_embedding\.weight$/, () => 'token_embedding.weight'],
  [/^text_model\.embeddings\.position_embedding\.weight$/, () => 'positional_embedding'],
  [/^text_model\.final_layer_norm\.(weight|bias)$/, (m) => `ln_final.${m[1]}`],
  [/^text_projection\.weight$/, () => 'text_projection'],
  [/^vision_model\.embeddings\.class_embedding$/, () => 'visual.class_embedding'],
  [/^vision_model\.embeddings\.patch_embedding\.weight$/, () => 'visual.conv1.weight'],
  [/^vision_model\.embeddings\.position_embedding\.weight$/, () => 'visual.positional_embedding'],
  [/^vision_model\.pre_layrnorm\.(weight|bias)$/, (m) => `visual.ln_pre.${m[1]}`],
  [/^vision_model\.post_layernorm\.(weight|bias)$/, (m) => `visual.ln_post.${m[1]}`],
  [/^visual_projection\.weight$/, () => 'visual.proj'],
  [
    /^(text|vision)_model\.encoder\.layers\.(\d+)\.(layer_norm1|layer_norm2|mlp\.fc1|mlp\.fc2|self_attn\.out_proj)\.(weight|bias)$/,
    (m) => `${BLOCK(m[1]!)}.${m[2]}.${SUB[m[3]!]}.${m[4]}`,
  ],
];

/** Convert a transformers CLIPModel state dict to openai's layout. */
export function hfToOpenai(sd: StateDict, what = 'HuggingFace CLIP state dict'): StateDict {
  const out = renameKeys(sd, HF_RULES, {what});
  // Projections are Linear weights [E, D] in transformers and [D, E] matrices in openai.
  for (const k of ['text_projection', 'visual.proj']) {
    const t = out.get(k);
    if (t) out.set(k, transpose2d(t));
  }
  // q, k, v Linear layers → one in_proj [3D, D] stacked q; k; v.
  const qkv = new Map<string, Partial<Record<'q' | 'k' | 'v', HostTensor>>>();
  for (const [key, t] of sd) {
    const m = key.match(/^(text|vision)_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$/);
    if (!m) continue;
    const name = `${BLOCK(m[1]!)}.${m[2]}.attn.in_proj_${m[4]}`;
    const entry = qkv.get(name) ?? {};
    entry[m[3] as 'q' | 'k' | 'v'] = t;
    qkv.set(name, entry);
  }
  for (const [name, e] of qkv) {
    if (!e.q || !e.k || !e.v) throw new StyleclipError(`${what}: incomplete q/k/v projections for ${name}`);
    out.set(name, concat0([e.q, e.k, e.v]));
  }
  return out;
}

interface HfConfig {
  projection_dim?: number;
  text_config?: Record<string, unknown>;
  vision_config?: Record<string, unknown>;
}

/** openai config from a transformers config.json (transformers' CLIPConfig defaults where a field is absent). */
export function configFromHf(json: unknown, what = 'HuggingFace config.json'): ClipConfig {
  check(json !== null && typeof json === 'object', `${what} must be a JSON object`);
  const c = json as HfConfig;
  const t = c.text_config ?? {};
  const v = c.vision_config ?? {};
  const num = (o: Record<string, unknown>, k: string, dflt: number, sec: string): number => {
    const x = o[k] ?? dflt;
    check(typeof x === 'number' && Number.isInteger(x) && x > 0, `${what}: ${sec}.${k} must be a positive integer`);
    return x;
  };
  for (const [sec, o] of [['text_config', t], ['vision_config', v]] as const) {
    const act = o.hidden_act ?? 'quick_gelu';
    check(act === 'quick_gelu', `${what}: ${sec}.hidden_act '${String(act)}' is not supported (OpenAI CLIP uses quick_gelu)`);
  }
  return {
    embedDim: num(c as Record<string, unknown>, 'projection_dim', 512, 'config'),
    imageResolution: num(v, 'image_size', 224, 'vision_config'),
    visionLayers: num(v, 'num_hidden_layers', 12, 'vision_config'),
    visionWidth: num(v, 'hidden_size', 768, 'vision_config'),
    visionPatchSize: num(v, 'patch_size', 32, 'vision_config'),
    visionHeads: num(v, 'num_attention_heads', 12, 'vision_config'),
    contextLength: num(t, 'max_position_embeddings', 77, 'text_config'),
    vocabSize: num(t, 'vocab_size', 49408, 'text_config'),
    transformerWidth: num(t, 'hidden_size', 512, 'text_config'),
    transformerHeads: num(t, 'num_attention_heads', 8, 'text_config'),
    transformerLayers: num(t, 'num_hidden_layers', 12, 'text_config'),
  };
}

export interface ClipLoadOptions {
  /** Explicit hyperparameters (openai names parsed by parseClipConfig, or a ClipConfig). Wins over everything. */
  config?: Partial<ClipConfig>;
  /** A transformers config.json object, for HF-layout weights. */
  hfConfig?: unknown;
  what?: string;
}

/** Load CLIP from checkpoint bytes in any supported format. */
export function clipFromBytes(bytes: Uint8Array, {config, hfConfig, what = 'CLIP checkpoint'}: ClipLoadOptions = {}): CLIP {
  const {format, tensors, raw} = loadWeights(bytes, {what, prefer: ['state_dict', 'model']});
  let sd = tensors;
  let cfg: Partial<ClipConfig> = {};
  if (format === 'safetensors') {
    const meta = (raw as SafetensorsFile).metadata.config;
    if (meta !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(meta);
      } catch {
        throw new StyleclipError(`${what}: __metadata__.config is not valid JSON`);
      }
      cfg = parseClipConfig(parsed, `${what} __metadata__.config`);
    }
  }
  if (isHfClip(sd)) {
    sd = hfToOpenai(sd, what);
    if (hfConfig !== undefined) cfg = {...configFromHf(hfConfig), ...cfg};
  }
  return CLIP.fromStateDict(sd, {config: {...cfg, ...config}, what});
}

/**
 * Load CLIP from a file. `configPath` is an openai-names JSON; for HF weights a `config.json` beside the
 * weights file (or `hfConfigPath`) supplies the transformers config.
 */
export function loadClip(file: string, {configPath, hfConfigPath}: {configPath?: string; hfConfigPath?: string} = {}): CLIP {
  const what = `CLIP checkpoint '${file}'`;
  const readJson = (p: string, kind: string): unknown => {
    const text = new TextDecoder().decode(readBytes(p, kind));
    try {
      return JSON.parse(text);
    } catch {
      throw new StyleclipError(`${kind} '${p}' is not valid JSON`);
    }
  };
  const opts: ClipLoadOptions = {what};
  if (configPath) opts.config = parseClipConfig(readJson(configPath, 'CLIP config'), `CLIP config '${configPath}'`);
  const sibling = path.join(path.dirname(file), 'config.json');
  const hf = hfConfigPath ?? (existsSync(sibling) ? sibling : undefined);
  if (hf) opts.hfConfig = readJson(hf, 'HuggingFace config');
  return clipFromBytes(readBytes(file, 'CLIP checkpoint'), opts);
}
