/**
 * The models one web-app server works with: a generator, a CLIP with its tokenizer, and optionally a global-
 * direction relevance file, a directory of trained mappers and a photo encoder (e4e / pSp, checked against the
 * generator). Loaded once at start-up; the routes only read it.
 */
import {existsSync, readdirSync} from 'node:fs';
import path from 'node:path';
import {demoAssetPath, demoEncoderFile, demoMapperDir} from '../demo/assets.js';
import {StyleclipError} from '../errors.js';
import {GlobalEditor} from '../edit/global-edit.js';
import {type Relevance, loadOfficialRelevance, loadRelevance, verifyGeneratorProbe} from '../edit/global-relevance-file.js';
import {checkDecoderMatches, checkEncoderFits} from '../edit/invert.js';
import {DEMO_MAPPER_DEFAULTS} from '../edit/mapper-defaults.js';
import {DEMO_OPTIMIZE_DEFAULTS} from '../edit/optimize-defaults.js';
import {loadDemoIdentity} from '../demo/identity.js';
import type {IdentityNet} from '../models/identity/types.js';
import {PROJECT_DEFAULTS} from '../edit/project-defaults.js';
import {readBytes} from '../io/files.js';
import {loadClip} from '../models/clip/load.js';
import type {CLIP} from '../models/clip/model.js';
import type {Encoder} from '../models/encoder/e4e.js';
import {loadEncoder} from '../models/encoder/load.js';
import type {TextTokenizer} from '../models/clip/encode.js';
import {loadDefaultTokenizer} from '../models/clip/tokenizer.js';
import {loadGenerator, requireClassChosen} from '../models/load-generator.js';
import {type LevelsMapper, mapperFromBytes} from '../models/mapper.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import type {ExamplePrompt, InversionSettings, MapperTrainSettings} from './api-types.js';
import {demoExamples} from './examples.js';

export interface ModelBundle {
  /** Shown in the UI and /api/info ('demo', a file name, 'tiny fixtures', …). */
  name: string;
  g: StyleGAN2;
  clip: CLIP;
  tokenizer: TextTokenizer;
  /** Global directions; null disables the panel. */
  relevance: Relevance | null;
  /** Trained mappers by name (file stem); the server adds the ones it trains. */
  mappers: Map<string, LevelsMapper>;
  /** Defaults of the mapper-training panel (the official settings when absent). */
  mapperTraining?: MapperTrainSettings;
  /** Example prompts these models can show (besides the mappers' prompts); the official StyleCLIP ones when absent. */
  examples?: readonly ExamplePrompt[];
  /** The photo encoder (its decoder checked to be `g`); without one, photos are inverted by projection. */
  encoder?: PhotoEncoder | null;
  /** Projection of photos when there is no encoder (PROJECT_DEFAULTS' steps with the identity term when absent). */
  inversion?: InversionSettings;
  /** The identity network of the optimisation's ID loss (face-api's FaceRecognitionNet when absent). */
  identity?: {name: string; net: IdentityNet};
  /** The optimisation panel's λ_ID (0 when absent). */
  optimizeLambdaId?: number;
}

export interface PhotoEncoder {
  encoder: Encoder;
  /** Shown in the UI (the file name). */
  name: string;
}

export interface BundleFiles {
  generator: string;
  clip: string;
  clipConfig?: string;
  relevance?: string;
  /** StyleCLIP's precomputed fs3.npy with its S_mean_std pickle, instead of `relevance`. */
  official?: {fs3: string; meanStd: string};
  /** The class of a conditional StyleGAN2-ADA generator. */
  classIndex?: number;
  /** A directory of mapper .safetensors / .pt files. */
  mappers?: string;
  name?: string;
  mapperTraining?: MapperTrainSettings;
  examples?: readonly ExamplePrompt[];
  /** An e4e / pSp checkpoint for photos; its decoder must be the generator. */
  encoder?: string;
  /** The encoder is optional (the demo's): one that does not load or fit is reported and photos are projected instead. */
  encoderOptional?: boolean;
  inversion?: InversionSettings;
  /** The identity network for the optimisation's ID loss: the demo identity network's file (face-api's when absent). */
  identity?: string;
  optimizeLambdaId?: number;
}

/** Mapper names: file stems made of safe characters only (they become URL path segments and select options). */
const MAPPER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Load the mappers of a directory that fit the generator; files that do not load are reported and skipped. */
function loadMapperDir(dir: string, g: StyleGAN2, warn: (msg: string) => void = () => {}): Map<string, LevelsMapper> {
  const out = new Map<string, LevelsMapper>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) {
    const ext = ['.safetensors', '.pt'].find((e) => f.endsWith(e));
    if (!ext) continue;
    const name = f.slice(0, -ext.length);
    if (!MAPPER_NAME_RE.test(name) || out.has(name)) continue;
    try {
      const m = mapperFromBytes(readBytes(path.join(dir, f), 'mapper file'), `mapper file '${f}'`);
      m.checkGenerator({nLatent: g.nLatent, styleDim: g.config.styleDim, size: g.config.size});
      out.set(name, m);
    } catch (e) {
      warn(`skipping mapper ${f}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Check that a relevance file belongs to this generator/CLIP pair (fingerprint + probe), as `global edit` does. */
async function checkRelevance(g: StyleGAN2, clip: CLIP, tokenizer: TextTokenizer, rel: Relevance, what: string): Promise<void> {
  await verifyGeneratorProbe(g, rel, what);
  new GlobalEditor(g, clip, tokenizer, rel); // throws on a CLIP-space mismatch
}

/**
 * Load a photo encoder for generator `g`: its styles must fit g's W+ and, when the checkpoint holds a decoder (the
 * released e4e files do), the decoder must be g (EncoderMismatchError otherwise).
 */
export async function loadPhotoEncoder(file: string, g: StyleGAN2): Promise<PhotoEncoder> {
  const {encoder, decoder} = loadEncoder(file);
  checkEncoderFits(encoder, g);
  if (decoder) await checkDecoderMatches(decoder, g, `encoder checkpoint '${file}'`);
  return {encoder, name: path.basename(file)};
}

/** Load a bundle from files. */
export async function loadBundle(files: BundleFiles, warn: (msg: string) => void = () => {}): Promise<ModelBundle> {
  const g = loadGenerator(files.generator, files.classIndex !== undefined ? {classIndex: files.classIndex} : {});
  requireClassChosen(g, `generator '${files.generator}'`);
  const clip = loadClip(files.clip, files.clipConfig ? {configPath: files.clipConfig} : {});
  const tokenizer = loadDefaultTokenizer();
  let relevance: Relevance | null = null;
  if (files.relevance) {
    relevance = loadRelevance(files.relevance);
    await checkRelevance(g, clip, tokenizer, relevance, `relevance file '${files.relevance}'`);
  } else if (files.official) {
    relevance = loadOfficialRelevance(g, files.official);
    await checkRelevance(g, clip, tokenizer, relevance, `fs3 file '${files.official.fs3}'`);
  }
  const mappers = files.mappers ? loadMapperDir(files.mappers, g, warn) : new Map<string, LevelsMapper>();
  let encoder: PhotoEncoder | null = null;
  if (files.encoder) {
    try {
      encoder = await loadPhotoEncoder(files.encoder, g);
    } catch (e) {
      if (!files.encoderOptional || !(e instanceof StyleclipError)) throw e;
      warn(`not using the encoder ${files.encoder}: ${e.message}`);
    }
  }
  return {
    name: files.name ?? path.basename(files.generator), g, clip, tokenizer, relevance, mappers, encoder,
    ...(files.mapperTraining ? {mapperTraining: files.mapperTraining} : {}),
    ...(files.examples ? {examples: files.examples} : {}),
    ...(files.inversion ? {inversion: files.inversion} : {}),
    ...(files.identity ? {identity: {name: path.basename(files.identity), net: loadDemoIdentity(files.identity)}} : {}),
    ...(files.optimizeLambdaId !== undefined ? {optimizeLambdaId: files.optimizeLambdaId} : {}),
  };
}

/**
 * The shipped demo models (assets/demo): generator and ToonCLIP are required; the relevance file, the mappers and
 * the demo encoder (for photos: cartoon faces a user drew or rendered) are used when present.
 */
export function demoBundleFiles(overrides: Partial<BundleFiles> = {}): BundleFiles {
  const optional = (name: 'relevance') => {
    try {
      return demoAssetPath(name);
    } catch (e) {
      if (e instanceof StyleclipError) return undefined;
      throw e;
    }
  };
  const rel = overrides.relevance ?? optional('relevance');
  // The demo encoder belongs to the demo generator; a stale one (the generator replaced since) is reported at load.
  const enc = demoEncoderFile();
  const demoEnc = overrides.generator === undefined && enc.exists ? enc.path : undefined;
  return {
    name: 'demo',
    generator: overrides.generator ?? demoAssetPath('generator'),
    clip: overrides.clip ?? demoAssetPath('clip'),
    ...(overrides.clipConfig ? {clipConfig: overrides.clipConfig} : {}),
    ...(rel ? {relevance: rel} : {}),
    mappers: overrides.mappers ?? demoMapperDir(),
    // The demo generator is the one the demo settings were chosen for; another generator gets the official ones.
    ...(overrides.encoder ? {encoder: overrides.encoder} : demoEnc ? {encoder: demoEnc, encoderOptional: true} : {}),
    // Cartoon faces are outside the face-recognition net's domain: the demo projects with the pixel loss alone.
    // The demo identity network plays ArcFace's part for cartoon faces in the optimisation's ID loss.
    ...(overrides.generator === undefined
      ? {mapperTraining: {...DEMO_MAPPER_DEFAULTS}, examples: demoExamples(), inversion: {steps: PROJECT_DEFAULTS.steps, identity: false}, identity: demoAssetPath('identity'), optimizeLambdaId: DEMO_OPTIMIZE_DEFAULTS.lambdaId}
      : {}),
  };
}
