/**
 * Loading pSp / e4e checkpoints: the layout of the released `e4e_ffhq_encode.pt` (training/coach.py
 * `__get_save_dict`: `{state_dict: {encoder.*, decoder.*}, opts, latent_avg}`), where the decoder is a rosinality
 * StyleGAN2 generator usable for editing, so one file is enough; also safetensors files with the same key names
 * (and an optional `latent_avg` tensor) and bare encoder state dicts. `opts.encoder_type` picks e4e or pSp.
 */
import {StyleclipError} from '../../errors.js';
import {readBytes} from '../../io/files.js';
import {type HostTensor, type StateDict, isHostTensor, toFloat32} from '../../io/host-tensor.js';
import {loadWeights} from '../../io/weights.js';
import {StyleGAN2} from '../stylegan2.js';
import {ENCODER_TYPES, Encoder, type EncoderKind} from './e4e.js';

export interface LoadedEncoder {
  encoder: Encoder;
  /** The checkpoint's generator (`decoder.*`), or null when the file holds only an encoder. */
  decoder: StyleGAN2 | null;
  /** The checkpoint's training options (`opts`), when present. */
  opts: Record<string, unknown> | null;
}

export interface LoadEncoderOptions {
  /** Encoder kind when the checkpoint has no `opts.encoder_type` (default e4e). */
  kind?: EncoderKind;
  /** File name for error messages. */
  what?: string;
}

function subDict(sd: StateDict, prefix: string): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function kindOf(opts: Record<string, unknown> | null, fallback: EncoderKind, what: string): EncoderKind {
  const t = opts?.encoder_type;
  if (t === undefined || t === null) return fallback;
  const hit = (Object.keys(ENCODER_TYPES) as EncoderKind[]).find((k) => ENCODER_TYPES[k] === t);
  if (!hit) throw new StyleclipError(`${what}: encoder_type '${String(t)}' is not supported (supported: ${Object.values(ENCODER_TYPES).join(', ')})`);
  return hit;
}

/** The mean W of a latent_avg [L, D] (rows are equal in e4e checkpoints) or [D] as it is, for truncation. */
function meanRow(avg: Float32Array, D: number): Float32Array {
  if (avg.length === D) return avg;
  const L = avg.length / D;
  const out = new Float32Array(D);
  for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) out[d]! += avg[l * D + d]! / L;
  return out;
}

/** Load a pSp / e4e checkpoint from bytes. */
export function encoderFromBytes(bytes: Uint8Array, {kind = 'e4e', what = 'encoder checkpoint'}: LoadEncoderOptions = {}): LoadedEncoder {
  const {tensors, raw} = loadWeights(bytes, {what, prefer: ['state_dict']});
  let opts: Record<string, unknown> | null = null;
  let avg: HostTensor | undefined;
  if (raw instanceof Map) {
    const o: unknown = raw.get('opts');
    if (o instanceof Map) opts = Object.fromEntries([...o].map(([k, v]) => [String(k), v as unknown]));
    const la: unknown = raw.get('latent_avg');
    if (la !== undefined && la !== null) {
      if (!isHostTensor(la)) throw new StyleclipError(`${what}: 'latent_avg' is not a tensor`);
      avg = la;
    }
  }
  if (tensors.has('latent_avg')) {
    avg ??= tensors.get('latent_avg');
    tensors.delete('latent_avg');
  }
  const hasPrefix = [...tensors.keys()].some((k) => k.startsWith('encoder.'));
  const encSd = hasPrefix ? subDict(tensors, 'encoder.') : tensors;
  const decSd = subDict(tensors, 'decoder.');
  if (!encSd.has('input_layer.0.weight') || !encSd.has('styles.0.linear.weight')) {
    throw new StyleclipError(`${what} is not a pSp/e4e encoder checkpoint (no encoder.input_layer / encoder.styles keys)`);
  }
  const latentAvg = avg ? toFloat32(avg) : null;
  const encoder = Encoder.fromStateDict(encSd, {kind: kindOf(opts, kind, what), latentAvg, what: `${what} (encoder)`});
  const decoder = decSd.size > 0 ? StyleGAN2.fromStateDict(decSd, {latentAvg: latentAvg ? meanRow(latentAvg, encoder.config.styleDim) : null, what: `${what} (decoder)`}) : null;
  return {encoder, decoder, opts};
}

/** Read and load a pSp / e4e checkpoint such as `e4e_ffhq_encode.pt` (Node). */
export function loadEncoder(path: string, options: Omit<LoadEncoderOptions, 'what'> = {}): LoadedEncoder {
  return encoderFromBytes(readBytes(path, 'encoder checkpoint'), {...options, what: `encoder checkpoint '${path}'`});
}
