/**
 * Load a StyleGAN2 generator from checkpoint bytes: rosinality `{g_ema, latent_avg}` checkpoints or bare state
 * dicts, as PyTorch files (zip or legacy) or safetensors (an optional `latent_avg` tensor rides along).
 */
import {StyleclipError} from '../errors.js';
import {type HostTensor, isHostTensor, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors} from '../io/safetensors.js';
import {readBytes} from '../io/files.js';
import {extractStateDict, loadTorch} from '../io/torch.js';
import {StyleGAN2} from './stylegan2.js';

/** True when the bytes look like a safetensors file (u64 header length, then a JSON object). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 9) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(bytes.byteLength - 8) && bytes[8] === 0x7b;
}

export function generatorFromBytes(bytes: Uint8Array, what = 'generator checkpoint'): StyleGAN2 {
  let latentAvg: HostTensor | undefined;
  let sd;
  if (isSafetensors(bytes)) {
    sd = parseSafetensors(bytes, {what}).tensors;
    latentAvg = sd.get('latent_avg');
    sd.delete('latent_avg');
  } else {
    const obj = loadTorch(bytes, {what});
    sd = extractStateDict(obj, {prefer: ['g_ema'], what});
    if (obj instanceof Map && obj.has('latent_avg')) {
      const la = obj.get('latent_avg');
      if (!isHostTensor(la)) throw new StyleclipError(`${what}: 'latent_avg' is not a tensor`);
      latentAvg = la;
    }
  }
  return StyleGAN2.fromStateDict(sd, {latentAvg: latentAvg ? toFloat32(latentAvg) : null});
}

/** Read and load a generator checkpoint from a file (Node). */
export function loadGenerator(path: string): StyleGAN2 {
  return generatorFromBytes(readBytes(path, 'generator checkpoint'), `generator checkpoint '${path}'`);
}
