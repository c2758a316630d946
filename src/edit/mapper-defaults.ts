/** Latent-mapper training settings, read by the CLI, the server and the web app. */

/** The official settings (StyleCLIP mapper/options/train_options.py), chosen for FFHQ with CLIP ViT-B/32. */
export const MAPPER_DEFAULTS = {
  /** Training steps. */
  steps: 50_000,
  /** Latents per step. */
  batch: 2,
  /** Training latents sampled (z → W at `truncation` → W+) when none are given. */
  samples: 5000,
  /** Learning rate (constant). */
  lr: 0.5,
  /** Weight of MSE(ŵ, w). */
  lambdaL2: 0.8,
  /** Weight of the identity loss when an identity network is given (the official faces setting). */
  lambdaId: 0.1,
  /** Truncation ψ of the sampled training latents. */
  truncation: 0.7,
} as const;

/**
 * The settings for the demo models (`npm run train:demo` and the defaults on the demo generator). With ToonCLIP's
 * small loss gradients the official λ_L2 0.8 keeps ŵ within ~0.1 of w and nothing visible changes.
 */
export const DEMO_MAPPER_DEFAULTS = {
  /** Training steps. */
  steps: 800,
  /** Latents per step. */
  batch: 8,
  /** Training latents sampled. */
  samples: 2000,
  /** Learning rate (constant). */
  lr: 3,
  /** Weight of MSE(ŵ, w). */
  lambdaL2: 0.15,
} as const;
