/**
 * What every route of the web app shares, made once per server: the models, the latent and image stores, the job
 * runner, the limits and panel defaults, and the few operations several routes need (look up a latent, render and
 * store one, encode a prompt, run a preview). Routes hold no other state.
 */
import {GLOBAL_DEFAULTS} from '../edit/global-defaults.js';
import {GlobalEditor} from '../edit/global-edit.js';
import {MAPPER_DEFAULTS} from '../edit/mapper-defaults.js';
import {OPTIMIZE_DEFAULTS} from '../edit/optimize-defaults.js';
import {generate} from '../models/generate.js';
import type {HostTensor} from '../io/host-tensor.js';
import {encodePng} from '../io/image.js';
import {encodeTexts} from '../models/clip/encode.js';
import {loadFaceRecognitionNet} from '../models/identity/face-api.js';
import type {IdentityNet} from '../models/identity/types.js';
import {type LevelsMapper, releaseMapper} from '../models/mapper.js';
import {PROJECT_DEFAULTS} from '../edit/project-defaults.js';
import type {InfoResponse, InversionSettings, LatentResult, MapperTrainSettings} from './api-types.js';
import type {ModelBundle} from './bundle.js';
import {JobRunner} from './jobs.js';
import {type StaticFiles, defaultWebRoot, staticFiles} from './static.js';
import {type LatentEntry, type Stores, createStores} from './store.js';
import {UploadParser, type UploadLimits} from './uploads.js';
import {HttpError, checkId} from './validate.js';
import {SAMPLE_TRUNCATION} from '../edit/truncation.js';

export const MAX_UPLOAD_BYTES = 64 * 2 ** 20;
export const MAX_JSON_BYTES = 64 * 1024;
export const MAX_PROMPT = 300;
export const MAX_SEED = 2 ** 31 - 1;
/** Largest photo accepted (width × height): a 50-megapixel camera's. */
export const MAX_PHOTO_PIXELS = 50e6;
/** Most projection / refinement steps of a photo inversion. */
export const MAX_INVERT_STEPS = 2000;
/** Mappers trained by this server that stay listed; the oldest is dropped when another finishes. */
export const MAX_TRAINED_MAPPERS = 8;
/** Slider ranges of the global-direction panel (α is also validated against its range). */
export const ALPHA_RANGE: [number, number] = [-10, 10];
export const BETA_RANGE: [number, number] = [0.08, 0.4];

export interface AppOptions {
  /** Directory of the built UI (vite build output); default dist/web of the package. null = API only. */
  webRoot?: string | null;
  /** Upload limit in bytes (default 64 MiB); larger uploads get 413. */
  maxUploadBytes?: number;
  /** Jobs that may wait behind the running one (default 4). */
  maxQueued?: number;
  /** Host header names accepted (DNS-rebinding guard); null = any. */
  allowedHosts?: readonly string[] | null;
  /** Mappers trained here that are kept (default 8; the oldest goes first). Mappers loaded from files stay. */
  maxTrainedMappers?: number;
  /** Largest photo accepted, width × height (default 50 megapixels). */
  maxPhotoPixels?: number;
  /** Upload parsing: workers at once, queue, time and heap limits (uploads.ts has the defaults). */
  uploads?: UploadLimits;
}

/** The optimisation panel's defaults: the official lr and λ_L2, a shorter run than the official 300 steps. */
const WEB_OPTIMIZE = {steps: 100, lr: OPTIMIZE_DEFAULTS.lr, lambdaL2: OPTIMIZE_DEFAULTS.lambdaL2, lambdaId: 0, saveEvery: 10};
/** Mapper training when the bundle names no settings: a short run with the official batch, lr and λ_L2. */
const WEB_MAPPER_TRAIN: MapperTrainSettings = {steps: 200, batch: MAPPER_DEFAULTS.batch, samples: 500, lr: MAPPER_DEFAULTS.lr, lambdaL2: MAPPER_DEFAULTS.lambdaL2};
/** Photo projection when the bundle names no settings (no encoder): the projector's steps with the identity term. */
const WEB_INVERSION: InversionSettings = {steps: PROJECT_DEFAULTS.steps, identity: true};

export const imageUrl = (id: string): string => `/api/images/${id}.png`;

export class AppContext {
  readonly bundle: ModelBundle;
  readonly options: AppOptions;
  readonly stores: Stores = createStores();
  readonly runner: JobRunner;
  /** Parses latent uploads in worker threads, a bounded number at once. */
  readonly uploads: UploadParser;
  /** Global directions (null without a relevance file). */
  readonly editor: GlobalEditor | null;
  /** The built UI (null: API only). */
  readonly web: StaticFiles | null;
  readonly maxUploadBytes: number;
  readonly maxTrainedMappers: number;
  readonly defaults: {truncation: number; optimize: InfoResponse['defaults']['optimize']; mapperTrain: MapperTrainSettings};
  /** How photos are inverted: the encoder (steps = refinement, 0 by default) or projection. */
  readonly photo: InfoResponse['photo'] & {identity: boolean};
  private faceNet: IdentityNet | undefined;
  private readonly textCache = new Map<string, Promise<Float32Array>>();
  private trained = 0;
  /** Names of the mappers trained here, oldest first. */
  private readonly trainedNames: string[] = [];
  // Previews run one at a time (a slider drag must not pile up generator passes); jobs do not block them.
  private previewChain: Promise<unknown> = Promise.resolve();

  constructor(bundle: ModelBundle, opts: AppOptions = {}) {
    this.bundle = bundle;
    this.options = opts;
    this.maxUploadBytes = opts.maxUploadBytes ?? MAX_UPLOAD_BYTES;
    this.maxTrainedMappers = Math.max(1, opts.maxTrainedMappers ?? MAX_TRAINED_MAPPERS);
    this.runner = new JobRunner(opts.maxQueued === undefined ? {} : {maxQueued: opts.maxQueued});
    this.uploads = new UploadParser(opts.uploads);
    this.editor = bundle.relevance ? new GlobalEditor(bundle.g, bundle.clip, bundle.tokenizer, bundle.relevance) : null;
    this.web = opts.webRoot === null ? null : staticFiles(opts.webRoot ?? defaultWebRoot());
    this.defaults = {
      truncation: bundle.g.latentAvg ? SAMPLE_TRUNCATION : 1,
      // The bundle's λ_ID (the demo's, with its identity network), else none.
      optimize: {...WEB_OPTIMIZE, lambdaId: bundle.optimizeLambdaId ?? WEB_OPTIMIZE.lambdaId},
      // The bundle's (the demo's on the demo generator), else a short run with the official settings.
      mapperTrain: bundle.mapperTraining ?? WEB_MAPPER_TRAIN,
    };
    const enc = bundle.encoder ?? null;
    const inv = bundle.inversion ?? WEB_INVERSION;
    this.photo = {
      method: enc ? 'encoder' : 'projection',
      encoder: enc ? enc.name : null,
      side: enc ? enc.encoder.config.inputSize : bundle.g.config.size,
      steps: enc ? 0 : inv.steps,
      maxSteps: MAX_INVERT_STEPS,
      maxPixels: opts.maxPhotoPixels ?? MAX_PHOTO_PIXELS,
      identity: inv.identity,
    };
  }

  get g() {
    return this.bundle.g;
  }

  /** The global-direction settings the page starts with: the relevance file's recommendation, else the official ones. */
  globalDefaults(): {alpha: number; beta: number | null; minChannels: number | null} {
    const d = this.editor?.defaults;
    return {alpha: d ? d.alpha : GLOBAL_DEFAULTS.alpha, beta: d ? (d.beta ?? null) : GLOBAL_DEFAULTS.beta, minChannels: d?.minChannels ?? null};
  }

  latentOf(id: string): LatentEntry {
    const e = this.stores.latents.get(checkId(id, 'latentId'));
    if (!e) throw new HttpError(404, `unknown latent '${id}' (it may have expired; sample or upload again)`);
    return e;
  }

  async addImage(image: HostTensor): Promise<string> {
    return this.stores.images.add(await encodePng(image));
  }

  /** Store a latent (rendering it when styles or image are missing) and describe it for the client. */
  async addLatent(wPlus: HostTensor | null, styles: HostTensor[] | null, image: HostTensor | null, label: string): Promise<LatentResult> {
    if (!styles || !image) {
      const g = this.bundle.g;
      const r = wPlus ? await generate(g, {latent: wPlus, space: 'w+', returnStyles: true}) : await generate(g, {latent: styles!, space: 's'});
      styles = r.styles!;
      image = r.image;
    }
    const imageId = await this.addImage(image);
    const latentId = this.stores.latents.add({wPlus, styles, imageId, label});
    return {latentId, image: imageUrl(imageId), label, wPlus: wPlus !== null};
  }

  /** The id of a latent's image, rendering it again when the image store has dropped it. */
  async ensureImage(e: LatentEntry): Promise<string> {
    if (this.stores.images.get(e.imageId)) return e.imageId;
    const r = await generate(this.bundle.g, {latent: e.styles, space: 's'});
    e.imageId = await this.addImage(r.image);
    return e.imageId;
  }

  /** CLIP text features of a prompt, cached. */
  textFeatures(prompt: string): Promise<Float32Array> {
    let p = this.textCache.get(prompt);
    if (!p) {
      if (this.textCache.size > 200) this.textCache.clear();
      p = encodeTexts(this.bundle.clip, this.bundle.tokenizer, [prompt]);
      this.textCache.set(prompt, p);
      p.catch(() => this.textCache.delete(prompt));
    }
    return p;
  }

  /** The identity loss's network: the bundle's (the demo identity network), else face-api's, loaded on first use. */
  identityNet(): IdentityNet {
    return this.bundle.identity?.net ?? (this.faceNet ??= loadFaceRecognitionNet());
  }

  /** What identityNet() is, for the page. */
  identityName(): string {
    return this.bundle.identity?.name ?? "face-api's FaceRecognitionNet";
  }

  needEditor(): GlobalEditor {
    if (!this.editor) throw new HttpError(409, 'global directions need a relevance file, and this server has none (serve --relevance FILE)');
    return this.editor;
  }

  /** Run `fn` after every preview queued before it. */
  inPreviewQueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.previewChain.then(fn);
    this.previewChain = run.catch(() => undefined);
    return run;
  }

  /**
   * List a mapper trained here as 'trained-<n>-<prompt slug>'; beyond maxTrainedMappers the oldest trained one is
   * dropped (and its compiled programs freed). Returns the name.
   */
  addTrainedMapper(prompt: string, mapper: LevelsMapper): string {
    const name = `trained-${++this.trained}-${slug(prompt)}`;
    this.bundle.mappers.set(name, mapper);
    this.trainedNames.push(name);
    while (this.trainedNames.length > this.maxTrainedMappers) {
      const old = this.trainedNames.shift()!;
      const m = this.bundle.mappers.get(old);
      this.bundle.mappers.delete(old);
      if (m) void releaseMapper(m);
    }
    return name;
  }
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'mapper';
}
