/**
 * The web app's HTTP API as types: the request bodies the routes accept and the JSON they answer with. The server
 * routes (src/server/routes) and the browser page (src/web) both import this file, so one edit here shows up as a
 * type error on whichever side no longer fits. Types only: nothing here exists at run time.
 */

/** Every 4xx/5xx answer. */
export interface ErrorBody {
  error: string;
}

/** A neutral/target text pair the loaded models can show (clickable examples in the page). */
export interface ExamplePrompt {
  neutral: string;
  target: string;
}

/** GET /api/info */
export interface InfoResponse {
  model: {name: string; size: number; styleDim: number; nLatent: number; styleLayers: number; hasLatentAvg: boolean};
  clip: {embedDim: number; imageResolution: number};
  /** Global directions (null: the server has no relevance file). */
  global: {channels: number} | null;
  mappers: {name: string; prompt: string | null}[];
  /** Mapper prompts first, then the benchmark prompts (demo models) or the official StyleCLIP examples. */
  examples: ExamplePrompt[];
  defaults: {
    truncation: number;
    /** The global edit strength the page starts at (the relevance file's recommendation, else the official one). */
    alpha: number;
    /** Fixed β, or null when the default is auto β (minChannels). */
    beta: number | null;
    minChannels: number | null;
    neutral: string;
    /** The optimisation panel's defaults (a shorter run than the official one; the ID loss on the demo models only). */
    optimize: OptimizeSettings & {saveEvery: number};
    /** The network of the optimisation's identity loss (the demo identity network on the demo models, else face-api's). */
    identity: string;
    /** The mapper-training panel's defaults (the demo settings on the demo generator). */
    mapperTrain: MapperTrainSettings;
    /** The official settings of each method, from the library's defaults modules. */
    official: {
      global: {alpha: number; beta: number};
      optimize: OptimizeSettings;
      mapper: MapperTrainSettings & {lambdaId: number};
    };
  };
  /** Photos: how an uploaded face is inverted into W+. */
  photo: {
    /** 'encoder': the server's e4e / pSp encoder; 'projection': optimisation from the mean latent (no encoder). */
    method: 'encoder' | 'projection';
    /** The encoder's file name (null without one). */
    encoder: string | null;
    /** Side of the aligned face: the encoder's input, else the generator's size. */
    side: number;
    /** Default steps: projection steps, or refinement steps after the encoder (0: the encoder alone). */
    steps: number;
    maxSteps: number;
    /** Largest photo accepted, width × height. */
    maxPixels: number;
  };
  limits: {
    alpha: [number, number];
    beta: [number, number];
    maxUploadBytes: number;
    maxPrompt: number;
    /** Mappers trained by this server that stay listed (the oldest trained one is dropped beyond this). */
    maxTrainedMappers: number;
  };
}

export interface OptimizeSettings {
  steps: number;
  lr: number;
  lambdaL2: number;
  lambdaId: number;
}

/** Inversion of photos by projection (no encoder): steps, and whether the identity-feature term is added. */
export interface InversionSettings {
  steps: number;
  identity: boolean;
}

export interface MapperTrainSettings {
  steps: number;
  batch: number;
  samples: number;
  lr: number;
  lambdaL2: number;
}

/** POST /api/sample */
export interface SampleRequest {
  seed: number;
  truncation?: number;
}

/** A latent the server holds: POST /api/sample, /api/latent, /api/mapper/apply, GET /api/latents/:id, a finished optimisation. */
export interface LatentResult {
  latentId: string;
  /** URL of its rendered image. */
  image: string;
  /** How it was made ('seed 1 (ψ 0.7)', "global 'a face' → …", …). */
  label: string;
  /** Whether it has a W+ latent (false after a global edit, which lives in StyleSpace only). */
  wPlus: boolean;
}

/**
 * POST /api/photo (multipart `file`: PNG, JPEG, WebP or TIFF; `aligned`: 'true' to use the image as it is, resized
 * to the aligned side, instead of detecting and aligning a face; `face`: which detected face, 0 = the largest).
 */
export interface PhotoResult {
  photoId: string;
  /** URL of the aligned face (side × side PNG). */
  image: string;
  name: string;
  /** 'detected': aligned from detected landmarks; 'as-is': the upload resized ("already aligned"). */
  mode: 'detected' | 'as-is';
  /** Faces detected (0 for 'as-is'). */
  faces: number;
  /** The face aligned (-1 for 'as-is'). */
  face: number;
  side: number;
}

/** POST /api/invert (a job): steps of projection, or of refinement after the encoder. */
export interface InvertRequest {
  photoId: string;
  steps?: number;
  client?: string;
}

/** Data of a `progress` event of an inversion job (projection or refinement steps). */
export interface InvertProgress {
  step: number;
  steps: number;
  loss: number;
  /** Mean squared error of the [-1, 1] images. */
  pixel: number;
  /** 1 − cos of identity features (when the identity term is used). */
  perceptual?: number;
  lr: number;
}

/** The `done` event of an inversion job: the reconstruction, a latent like any other. */
export interface Inverted extends LatentResult {
  method: 'encoder' | 'projection';
  steps: number;
  /** Mean squared error between the reconstruction and the aligned face ([-1, 1] images at the generator's size). */
  pixel: number;
  /** Time the inversion took, once the job started. */
  seconds: number;
}

/** POST /api/global/preview and /api/global/accept (give `beta` or `minChannels`, or neither for the default). */
export interface GlobalEditRequest {
  latentId: string;
  neutral: string;
  target: string;
  alpha: number;
  beta?: number;
  minChannels?: number;
}

/** POST /api/global/preview */
export interface PreviewResult {
  image: string;
  channelsMoved: number;
  /** The β used (the auto β when `minChannels` was given). */
  beta: number;
  maxScore: number;
  alpha: number;
}

/** POST /api/global/accept */
export interface AcceptResult extends LatentResult {
  channelsMoved: number;
}

/** POST /api/optimize (a job). */
export interface OptimizeRequest {
  latentId: string;
  prompt: string;
  steps?: number;
  lr?: number;
  lambdaL2?: number;
  lambdaId?: number;
  space?: 'w+' | 's';
  saveEvery?: number;
  client?: string;
}

/** POST /api/mapper/apply */
export interface MapperApplyRequest {
  latentId: string;
  mapper: string;
}

/** POST /api/mapper/train (a job). */
export interface MapperTrainRequest {
  prompt: string;
  steps?: number;
  batch?: number;
  samples?: number;
  lr?: number;
  lambdaL2?: number;
  seed?: number;
  client?: string;
}

/** 202 answer of a job-starting route. */
export interface JobStarted {
  job: string;
  /** 0 = starts now, else the place in the queue. */
  position: number;
}

export type JobKind = 'optimize' | 'mapper-train' | 'invert';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
/** 'failed' rather than 'error': an SSE event named 'error' would be confused with EventSource's connection errors. */
export type JobEventName = 'queued' | 'started' | 'progress' | 'done' | 'failed' | 'cancelled';

/** GET /api/jobs/:id, POST /api/jobs/:id/cancel */
export interface JobSummary {
  id: string;
  kind: JobKind;
  state: JobState;
  /** Events so far. */
  events: number;
}

/** Data of a `progress` event (optimisation: also `lr`, `id` with λ_ID > 0, and `image` on save steps). */
export interface JobProgress {
  step: number;
  steps: number;
  loss: number;
  clip: number;
  l2: number;
  id?: number;
  lr?: number;
  image?: string;
}

/** Data of the `done` event of a mapper-training job (an optimisation's is a LatentResult). */
export interface MapperTrained {
  mapper: string;
  prompt: string;
  steps: number;
}
