/**
 * The identity network behind StyleCLIP's ID loss (orpatashnik/StyleCLIP @ f87a47f, criteria/id_loss.py):
 * any face-recognition embedding R with L2-normalised outputs (the loss 1 − ⟨R(ŷ), R(y)⟩ built on it is
 * identityLoss in edit/losses.ts).
 * Two implementations: IR-SE50 ArcFace as StyleCLIP uses (irse.ts) and face-api's FaceRecognitionNet
 * (face-api.ts), whose weights ship inside the npm package and so work offline.
 *
 * Legend: N batch, H/W spatial, D embedding width.
 */
import type {Tensor} from '../../engine/tensor.js';

export interface IdentityNet {
  /** Human-readable name, e.g. 'ir_se50' or 'face-api FaceRecognitionNet'. */
  readonly name: string;
  /** Width D of the embedding (512 for IR-SE50, 128 for face-api). */
  readonly embedDim: number;
  /**
   * The network's own preprocessing and forward pass: images [N,3,H,W] in [-1, 1] (generator output, any size)
   * -> embeddings [N,D] with unit L2 norm. Differentiable w.r.t. the images.
   */
  features(img: Tensor): Tensor;
}
