/**
 * StyleCLIP losses (orpatashnik/StyleCLIP @ f87a47f: criteria/clip_loss.py, criteria/id_loss.py,
 * optimization/run_optimization.py), shared by latent optimisation and mapper training.
 *
 * CLIP loss of a generated image x ∈ [-1, 1]: resize to CLIP's resolution (clip/preprocess.ts), then
 * 1 − cos(E_img(x'), t). The official code computes 1 − logits_per_image/100 on the raw [-1, 1] image
 * ('legacy' input); since exp(logit_scale) = 100 in released CLIP this is 1 − cos there too, and we keep the
 * /100 form for 'legacy' so that other logit scales reproduce the official numbers exactly.
 */
import * as F from '../engine/ops.js';
import type {Tensor} from '../engine/tensor.js';
import {type CLIP, normalize} from '../models/clip/model.js';
import {type ClipInputMode, clipInputFromGenerated} from '../models/clip/preprocess.js';
import type {IdentityNet} from '../models/identity/types.js';

/** What the ID loss needs of an identity network: L2-normalised features of [-1, 1] images. */
export type IdentityFeatures = Pick<IdentityNet, 'features'>;

/**
 * Per-image CLIP loss [N] for images [N,3,H,W] against text features `text` [1 or N, E] (unnormalised is fine).
 */
export function clipLoss(clip: CLIP, img: Tensor, text: Tensor, mode: ClipInputMode = 'normalized'): Tensor {
  const x = clipInputFromGenerated(img, clip.config.imageResolution, mode);
  const cos = F.sum(F.mul(normalize(clip.encodeImage(x)), normalize(text)), [1]); // [N]
  // Official: 1 − logit_scale·cos/100 (StyleCLIP CLIPLoss); equal to 1 − cos when exp(logit_scale) = 100.
  const sim = mode === 'legacy' ? F.mul(cos, clip.logitScale / 100) : cos;
  return F.sub(1, sim);
}

/** Σ (a − b)² over all elements (StyleCLIP's latent L2: a sum, not a mean). */
export function l2Loss(a: Tensor, b: Tensor): Tensor {
  return F.sum(F.square(F.sub(a, b)));
}

/**
 * Per-image ID loss [N] (StyleCLIP IDLoss): 1 − ⟨f(ŷ_b), r_b⟩ for images ŷ [N,3,H,W] against reference features
 * r [N or 1, D] of the unedited images, which are held fixed (no gradient flows into them). Latent optimisation
 * sums it over the batch, mapper training averages it.
 */
export function identityLoss(net: IdentityFeatures, img: Tensor, ref: Tensor): Tensor {
  return F.sub(1, F.sum(F.mul(net.features(img), F.stopGradient(ref)), [1]));
}
