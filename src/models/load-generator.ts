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
  if (classIndex !== undefined) {
    if ((g.config.cDim ?? 0) === 0) throw new StyleclipError(`${what} is not a conditional generator, so it takes no class`);
    g.selectClass(classIndex);
  }
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

/**
 * A named error unless a conditional generator has its class chosen: front ends call this after loading, since
 * mapping z needs the class (W+, S and images from them do not).
 */
export function requireClassChosen(g: StyleGAN2, what = 'the generator'): void {
  const cDim = g.config.cDim ?? 0;
  if (cDim > 0 && g.selectedClass === null) {
    throw new StyleclipError(`${what} is a conditional generator with ${cDim} classes: choose one with --class N (0…${cDim - 1})`);
  }
}

/** Read and load a generator checkpoint (rosinality .pt / .safetensors or NVIDIA .pkl) from a file (Node). */
export function loadGenerator(path: string, opts: LoadGeneratorOptions = {}): StyleGAN2 {
  return generatorFromBytes(readBytes(path, 'generator checkpoint'), `generator checkpoint '${path}'`, opts);
}
