/**
 * The official latent-optimisation settings (StyleCLIP optimization/run_optimization.py @ f87a47f), used by
 * `optimizeLatent` for every option left out and shown by the CLI, the server and the web page.
 */
import {SAMPLE_TRUNCATION} from './truncation.js';

export const OPTIMIZE_DEFAULTS = {
  /** edit (CLIP + L2 + ID from a start latent) or free_generation (CLIP only, from the mean latent). */
  mode: 'edit',
  /** Optimise W+ (or S, StyleSpace without the ToRGB layers). */
  space: 'w+',
  /** Optimisation steps. */
  steps: 300,
  /** Peak learning rate. */
  lr: 0.1,
  /** Adam (or plain SGD). */
  optimizer: 'adam',
  /** rampdown (the ramps below) or constant. */
  lrSchedule: 'rampdown',
  /** Share of the steps over which the learning rate ramps up linearly from 0. */
  lrRampUp: 0.05,
  /** Share of the steps, at the end, over which it ramps down to 0 along a cosine. */
  lrRampDown: 0.25,
  /** Weight of Σ(w − w_s)². */
  lambdaL2: 0.008,
  /** Weight of the identity loss when an identity network is given (0 without one). */
  lambdaId: 0.005,
  /** Truncation ψ of a start latent sampled from a seed (1 for a generator without latent_avg). */
  truncation: SAMPLE_TRUNCATION,
  /** How CLIP sees the image: normalized (CLIP's mean/std) or legacy (raw [-1, 1], as the official code). */
  clipInput: 'normalized',
  /** Generator noise: the checkpoint's constant buffers. */
  noise: 'const',
  /** An intermediate image every N steps through onStep (official save_intermediate_image_every; 0 = never). */
  saveEvery: 20,
} as const;

/**
 * Latent optimisation on the demo models (the CLI's and web app's defaults on the demo generator, which also take the
 * demo identity network as the identity loss's network); the rest as OPTIMIZE_DEFAULTS. The official λ_ID 0.005 is
 * set for ArcFace's loss on FFHQ; with the demo identity network it changes nothing measurable, 0.1 (the official
 * mapper weight) keeps the person (lab/world2/README.md).
 */
export const DEMO_OPTIMIZE_DEFAULTS = {
  /** Weight of the identity loss (the demo identity network). */
  lambdaId: 0.1,
} as const;
