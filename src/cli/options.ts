/** Option parsing shared by the commands: strict numbers and choices (each error names the flag), and the shared truncation. */
import {InvalidArgumentError, Option} from 'commander';
import {SAMPLE_TRUNCATION} from '../edit/truncation.js';
import {StyleclipError} from '../errors.js';
import {type HostTensor, firstNonFinite} from '../io/host-tensor.js';

export function parseIntStrict(name: string, {min = -Infinity} = {}) {
  return (v: string): number => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer, got '${v}'`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function parseFloatStrict(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a finite number, got '${v}'`);
    return n;
  };
}

export function parseChoice<T extends string>(name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!choices.includes(v as T)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/**
 * --truncation for faces sampled from a seed; `generate` and every edit command share its default, so one seed
 * shows one face in each. `what` says what is sampled.
 */
export function truncationOption(what = 'faces sampled from --seed'): Option {
  return new Option('--truncation <psi>', `truncation ψ of ${what} (default: ${SAMPLE_TRUNCATION}; 1 for a generator without latent_avg)`).argParser(parseFloatStrict('--truncation'));
}

/** The ψ to sample at: the one given, else SAMPLE_TRUNCATION where the generator has latent_avg, else 1. */
export function sampleTruncation(g: {readonly latentAvg: Float32Array | null}, psi: number | undefined): number {
  return psi ?? (g.latentAvg ? SAMPLE_TRUNCATION : 1);
}

/** --allow-nonfinite of the commands that write images: NaN / ±Inf output is otherwise an error. */
export function allowNonfiniteOption(): Option {
  return new Option('--allow-nonfinite', 'write the output even if the generator produced NaN or ±Inf (an overflowing latent or a damaged weight)');
}

/**
 * A named error at the first NaN or ±Inf of a generated image (a latent like 3e38 or a NaN weight turns the whole
 * image into NaN, which a PNG would silently show as black), unless the user asked for it with --allow-nonfinite.
 */
export function checkFiniteImage(image: HostTensor, allow: boolean | undefined): void {
  if (allow) return;
  const d = image.data as Float32Array;
  const i = firstNonFinite(d);
  if (i >= 0) {
    throw new StyleclipError(
      `the generator produced a non-finite value (${d[i]}) at element ${i} of the image [${image.shape.join(', ')}]: ` +
        'the latent or the weights overflow float32; pass --allow-nonfinite to write it anyway',
    );
  }
}
