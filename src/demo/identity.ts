/**
 * The demo world's identity network: what ArcFace (IR-SE50) is to StyleCLIP's FFHQ edits, a face-recognition
 * embedding for the cartoon faces, so the ID loss of mappers and latent optimisation has a network that can tell two
 * cartoon people apart (face-api's FaceRecognitionNet, trained on photos, barely moves between them). It is trained
 * (lab/world2/identity.ts) to map renders of one person — face geometry, skin tone and eye colour — to the same
 * embedding whatever their hair, glasses, beard, expression, lipstick, background, shirt and small pose changes, and
 * different people apart. The evaluation classifier stays independent of it: it is a different network trained on
 * a different task.
 *
 * Architecture: the classifier's conv trunk (classifier.ts `convFeatures`; widths and kernels from the state dict,
 * strides from the metadata) → flatten → linear `embed` [E, F] → L2 normalisation.
 * State dict: conv{i}.weight, conv{i}.bias, embed.weight [E, F], embed.bias [E]; metadata format
 * 'styleclip-demo-identity', `strides`, `input_size`, `slope`.
 */
import * as F from '../engine/ops.js';
import {type Tensor, constant} from '../engine/tensor.js';
import {check} from '../errors.js';
import {readBytes} from '../io/files.js';
import {type StateDict, toFloat32} from '../io/host-tensor.js';
import {parseSafetensors} from '../io/safetensors.js';
import {detectWeightsFormat} from '../io/weights.js';
import {normalize} from '../models/clip/model.js';
import type {IdentityNet} from '../models/identity/types.js';
import {type ClassifierConfig, checkTensorShapes, convFeatures, featureShape, trunkFromStateDict, trunkParamShapes} from './classifier.js';

export const DEMO_IDENTITY_FORMAT = 'styleclip-demo-identity';

export type IdentityConfig = Pick<ClassifierConfig, 'inputSize' | 'convs' | 'slope'> & {
  /** Embedding width E. */
  embedDim: number;
};

/** Parameter names and shapes of a config, in a fixed order. */
export function identityParamShapes(cfg: IdentityConfig): Map<string, number[]> {
  const shapes = trunkParamShapes(cfg);
  const {channels, size} = featureShape(cfg);
  shapes.set('embed.weight', [cfg.embedDim, channels * size * size]);
  shapes.set('embed.bias', [cfg.embedDim]);
  return shapes;
}

/** Images [N, 3, H, W] in [-1, 1] → unit embeddings [N, E]. `p` supplies each parameter (constants or trained inputs). */
export function identityEmbedding(x: Tensor, cfg: IdentityConfig, p: (name: string) => Tensor): Tensor {
  const feat = convFeatures(x, cfg, p);
  return normalize(F.add(F.matmul(feat, F.transpose(p('embed.weight'), [1, 0])), p('embed.bias')));
}

/** A loaded demo identity network (weights as graph constants). */
export class DemoIdentityNet implements IdentityNet {
  readonly name = 'demo identity (ToonID)';
  readonly config: IdentityConfig;
  readonly embedDim: number;
  private readonly consts: Map<string, Tensor>;

  constructor(sd: StateDict, metadata: Record<string, string>, what = 'identity network') {
    check(metadata.format === DEMO_IDENTITY_FORMAT, `${what} is not a demo identity network (format '${metadata.format ?? ''}')`);
    const embed = sd.get('embed.weight');
    check(embed && embed.shape.length === 2, `${what} lacks a valid embed.weight`);
    this.config = {...trunkFromStateDict(sd, metadata, what), embedDim: embed.shape[0]!};
    this.embedDim = this.config.embedDim;
    checkTensorShapes(sd, identityParamShapes(this.config), what);
    this.consts = new Map([...sd].map(([k, t]) => [k, constant(toFloat32(t), t.shape)]));
  }

  features(img: Tensor): Tensor {
    return identityEmbedding(img, this.config, (k) => this.consts.get(k)!);
  }
}

/** A demo identity network from safetensors bytes. */
export function demoIdentityFromBytes(bytes: Uint8Array, what = 'identity network'): DemoIdentityNet {
  const {tensors, metadata} = parseSafetensors(bytes, {what});
  return new DemoIdentityNet(tensors, metadata, what);
}

/** The demo identity network in weight-file bytes, or null when they hold something else (parsed once). */
export function demoIdentityIfAny(bytes: Uint8Array, what = 'identity network'): DemoIdentityNet | null {
  if (detectWeightsFormat(bytes) !== 'safetensors') return null;
  const {tensors, metadata} = parseSafetensors(bytes, {what});
  return metadata.format === DEMO_IDENTITY_FORMAT ? new DemoIdentityNet(tensors, metadata, what) : null;
}

/** Load a demo identity network file. */
export function loadDemoIdentity(file: string): DemoIdentityNet {
  return demoIdentityFromBytes(readBytes(file, 'identity network'), `identity network '${file}'`);
}
