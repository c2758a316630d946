/**
 * Projector settings: the StyleGAN2 paper's projection (Karras et al. 2020, Appendix D) where it applies, and the
 * choices made here (a pixel loss plus an identity-feature term instead of LPIPS, whose VGG weights are not
 * available offline). Used by `project` / `invert` for every option left out and shown by the CLI.
 */
export const PROJECT_DEFAULTS = {
  /** Optimisation steps (the paper uses 1000 from the mean latent; a refinement of an encoder's inversion needs fewer). */
  steps: 100,
  /** Optimise W+ (one vector per generator layer) or W (one vector broadcast to every layer). */
  space: 'w+',
  /** Peak learning rate (Adam), ramped up linearly over the first 5 % and down along a cosine over the last 25 %. */
  lr: 0.1,
  /** Weight of the pixel loss, mean squared error of the [-1, 1] images. */
  lambdaPixel: 1,
  /** Weight of the perceptual term, 1 − cos of identity features (face-api FaceRecognitionNet or IR-SE50). */
  lambdaPerceptual: 0.1,
  /** Gaussian noise added to w while the loss is evaluated: σ = this · σ_W · t², t from 1 to 0 over the first 75 % of steps. */
  wNoiseScale: 0.05,
  /** Share of the steps over which the w noise ramps down. */
  wNoiseRampLength: 0.75,
  /** Also optimise the generator's noise maps (the paper does; off by default so a saved W+ reproduces the result). */
  optimizeNoise: false,
  /** Weight of the noise regularisation (the paper's α = 10⁵). */
  lambdaNoise: 1e5,
  /** z samples used to estimate the mean and spread of W. */
  wStatSamples: 10000,
} as const;
