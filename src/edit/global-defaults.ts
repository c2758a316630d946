/** The official settings of StyleCLIP global directions (GetCode.py, SingleChannel.py, StyleCLIP.py). */
export const GLOBAL_DEFAULTS = {
  /** z samples for the S statistics. */
  samples: 100_000,
  /** Seed of the z sampler (official: NumPy RandomState(5); ours is a different RNG). */
  seed: 5,
  /** Truncation ψ of the statistics samples. */
  truncation: 0.7,
  /** Images per channel in the relevance average (the first K statistics samples). */
  images: 100,
  /** ± step of the relevance probe, in units of σ_c. */
  alphaP: 5,
  /** Highest resolution whose (non-ToRGB) layers are selected by default. */
  maxRes: 128,
  /** Edit strength (slider range −10…10). */
  alpha: 4.1,
  /** Disentanglement threshold (slider range 0.08…0.4). */
  beta: 0.15,
} as const;

/** Auto-β channel counts: the largest β that still moves at least this many channels. */
export const AUTO_BETA_MIN_CHANNELS = {faces: 20, other: 100} as const;
