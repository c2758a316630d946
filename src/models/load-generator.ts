/**
 * Load a StyleGAN2 generator from checkpoint bytes: rosinality `{g_ema, latent_avg}` checkpoints or bare state
 * dicts, as PyTorch files (zip or legacy) or safetensors (an optional `latent_avg` tensor rides along), and NVIDIA
 * StyleGAN2-ADA network pickles (`G_ema`, read as data; see stylegan2-ada.ts).
 */
import {StyleclipError} from '../errors.js';
import {readBytes} from '../io/files.js';
import {type HostTensor, isHostTensor, toFloat32} from '../io/host-tensor.js';
import {isPlainPickle} from '../io/torch.js';
import {loadWeights} from '../io/weights.js';
import {StyleGAN2} from './stylegan2.js';
import {generatorFromNetworkPickle} from './stylegan2-ada.js';

export interface LoadGeneratorOptions {
  /** The class of a conditional generator (StyleGAN2-ADA c_dim > 0); see StyleGAN2.selectClass. */
  classIndex?: number;
}

export function generatorFromBytes(bytes: Uint8Array, what = 'generator checkpoint', {classIndex}: LoadGeneratorOptions = {}): StyleGAN2 {
  const g = isPlainPickle(bytes) ? generatorFromNetworkPickle(bytes, what) : rosinalityGenerator(bytes, what);
  if (classIndex !== undefined) g.selectClass(classIndex);
  return g;
}

function rosinalityGenerator(bytes: Uint8Array, what: string): StyleGAN2 {
  const {tensors: sd, raw} = loadWeights(bytes, {what, prefer: ['g_ema']});
  let latentAvg: HostTensor | undefined;
  if (raw instanceof Map && raw.has('latent_avg')) {
    const la: unknown = raw.get('latent_avg');
    if (!isHostTensor(la)) throw new StyleclipError(`${what}: 'latent_avg' is not a tensor`);
    latentAvg = la;
  } else if (sd.has('latent_avg')) {
    latentAvg = sd.get('latent_avg');
    sd.delete('latent_avg');
  }
  return StyleGAN2.fromStateDict(sd, {latentAvg: latentAvg ? toFloat32(latentAvg) : null, what});
}

/** Read and load a generator checkpoint (rosinality .pt / .safetensors or NVIDIA .pkl) from a file (Node). */
export function loadGenerator(path: string, opts: LoadGeneratorOptions = {}): StyleGAN2 {
  return generatorFromBytes(readBytes(path, 'generator checkpoint'), `generator checkpoint '${path}'`, opts);
}
