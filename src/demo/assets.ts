/**
 * Locations of the shipped demo models (assets/demo at the package root; the same relative URL works from src/
 * and dist/). Commands fall back to these when --generator / --clip are not given.
 */
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {StyleclipError} from '../errors.js';

const DEMO_DIR = new URL('../../assets/demo/', import.meta.url);

export const DEMO_FILES = {
  generator: 'generator.safetensors',
  clip: 'toonclip.safetensors',
  evalClip: 'toonclip-eval.safetensors',
  classifier: 'classifier.safetensors',
  relevance: 'relevance.safetensors',
  /** The demo encoder (e4e layout: encoder, the generator as decoder, latent_avg), for `invert` and the web app's photos. */
  encoder: 'encoder.safetensors',
  /** The demo identity network (the ID loss's network for the demo world; src/demo/identity.ts). */
  identity: 'identity.safetensors',
} as const;

export type DemoAsset = keyof typeof DEMO_FILES;

/** Absolute path of a demo asset; a named error when it has not been trained/shipped. */
export function demoAssetPath(name: DemoAsset): string {
  const p = fileURLToPath(new URL(DEMO_FILES[name], DEMO_DIR));
  if (!existsSync(p)) throw new StyleclipError(`the demo ${name} model is missing (${p}); run 'npm run train:demo' to train it`);
  return p;
}

/**
 * Test-only: `STYLECLIP_DEMO_ENCODER=FILE` stands in for assets/demo/encoder.safetensors, so tests can put a tiny
 * encoder in place of the demo encoder without writing into assets/. Not a user feature (users pass --encoder).
 */
export const DEMO_ENCODER_ENV = 'STYLECLIP_DEMO_ENCODER';

/** Where the demo encoder is (the test-only override when set) and whether it exists: it is optional. */
export function demoEncoderFile(env: NodeJS.ProcessEnv = process.env): {path: string; exists: boolean} {
  const p = env[DEMO_ENCODER_ENV] || fileURLToPath(new URL(DEMO_FILES.encoder, DEMO_DIR));
  return {path: p, exists: existsSync(p)};
}

/** The directory of demo mappers (assets/demo/mappers). */
export function demoMapperDir(): string {
  return fileURLToPath(new URL('mappers/', DEMO_DIR));
}

/** File name stem of the demo mapper for an edit target, e.g. 'grey hair' → 'grey-hair'. */
export function mapperSlug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}
