/**
 * Latent-mapper training settings: the official ones (StyleCLIP mapper/training/coach.py and train_options.py
 * @ f87a47f), used by `trainMapper` for every option left out, and the demo ones for the shipped demo models.
 */
import {SAMPLE_TRUNCATION} from './truncation.js';

export const MAPPER_DEFAULTS = {
  /** Training steps. */
  steps: 50_000,
  /** Latents per step. */
  batch: 2,
  /** Learning rate (constant). */
  lr: 0.5,
  /** Ranger (RAdam + Lookahead + gradient centralisation), or Adam. */
  optimizer: 'ranger',
  /** Weight of the CLIP loss. */
  lambdaClip: 1,
  /** Weight of MSE(ŵ, w). */
  lambdaL2: 0.8,
  /** Weight of the identity loss when an identity network is given (0 without one). */
  lambdaId: 0.1,
  /** Training latents sampled when none are given (official train_dataset_size). */
  samples: 5000,
  /** Truncation ψ of the sampled training latents (1 for a generator without latent_avg). */
  truncation: SAMPLE_TRUNCATION,
  /** Seed of the sampled latents, the batch shuffle and the mapper initialisation. */
  seed: 0,
  /** How CLIP sees the image: normalized (CLIP's mean/std) or legacy (raw [-1, 1], as the official code). */
  clipInput: 'normalized',
  /** Generator noise: the checkpoint's constant buffers. */
  noise: 'const',
} as const;

/**
 * Mapper training on the demo models (`npm run train:demo`, and the CLI's and web app's defaults on the demo
 * generator); the rest as MAPPER_DEFAULTS. The official settings are for FFHQ with ViT-B/32: with ToonCLIP's small
 * loss gradients λ_L2 0.8 keeps ŵ within ~0.1 of w and nothing visible changes.
 */
export const DEMO_MAPPER_DEFAULTS = {
  /** Training steps. */
  steps: 800,
  /** Latents per step. */
  batch: 8,
  /** Sampled training latents. */
  samples: 2000,
  /** Learning rate (constant, Ranger). */
  lr: 3,
  /** Weight of MSE(ŵ, w). */
  lambdaL2: 0.15,
} as const;
