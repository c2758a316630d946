/**
 * Truncation ψ of the faces an edit starts from when they are sampled from a seed: StyleCLIP's 0.7 (its latent
 * optimisation and its mapper training sample at 0.7). `styleclip generate` and every edit command sample at it, so
 * one seed shows one face everywhere. A generator without latent_avg cannot truncate and samples at 1.
 */
export const SAMPLE_TRUNCATION = 0.7;
