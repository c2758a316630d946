/** The official latent-optimisation settings (StyleCLIP main.py), read by the CLI, the server and the web app. */
export const OPTIMIZE_DEFAULTS = {
  /** Optimisation steps. */
  steps: 300,
  /** Adam learning rate (peak of the ramp-up / cosine ramp-down schedule). */
  lr: 0.1,
  /** Weight of Σ(w − w_s)², which keeps the edit near the start latent. */
  lambdaL2: 0.008,
  /** Weight of the identity loss when an identity network is given (the official faces setting). */
  lambdaId: 0.005,
  /** Truncation ψ of a start latent sampled from a seed. */
  truncation: 0.7,
} as const;
