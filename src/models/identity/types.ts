/**
 * The identity network behind StyleCLIP's ID loss (orpatashnik/StyleCLIP @ f87a47f, criteria/id_loss.py):
 * any face-recognition embedding R with L2-normalised outputs, and the loss 1 − ⟨R(ŷ), R(y)⟩ built on it.
 * Two implementations: IR-SE50 ArcFace as StyleCLIP uses (irse.ts) and face-api's FaceRecognitionNet
 * (face-api.ts), whose weights ship inside the npm package and so work offline.
 *
 * Legend: N batch, H/W spatial, D embedding width.
 */
import * as F from '../../engine/ops.js';
import {type Tensor, assertShape} from '../../engine/tensor.js';
import {check} from '../../errors.js';

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

/**
 * StyleCLIP IDLoss.forward: mean_i (1 − ⟨f(ŷ_i), f(y_i)⟩) with the target features detached (no gradient flows
 * into y). yHat: [N,3,H,W], y: [N or 1,3,H',W'] (a single target is broadcast) -> scalar [].
 * StyleCLIP also returns a "sim_improvement" that is always 0; it is not reproduced.
 */
export function identityLoss(net: IdentityNet, yHat: Tensor, y: Tensor): Tensor {
  const [N] = assertShape(yHat, [null, 3, null, null], 'ID loss ŷ') as [number];
  const [Ny] = assertShape(y, [null, 3, null, null], 'ID loss y') as [number];
  check(Ny === N || Ny === 1, `ID loss: y has batch ${Ny}, expected ${N} or 1`);
  const fHat = net.features(yHat); // [N,D]
  const fY = F.stopGradient(net.features(y)); // [N or 1,D]
  const cos = F.sum(F.mul(fHat, fY), [1]); // [N]
  return F.mean(F.sub(1, cos)); // []
}
