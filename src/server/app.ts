/**
 * The web app's HTTP API (Hono): latents from a seed or an upload, global-direction previews (the fast path: one
 * matvec + one generator pass, never queued behind long jobs), latent optimisation and mapper training as queued
 * jobs with SSE progress, mapper application, downloads, and the built browser UI. Every parameter is validated
 * (400 + {error}); unknown routes are 404; the handlers hold no math, they call the library.
 */
import {Hono} from 'hono';
import type {Context} from 'hono';
import {bodyLimit} from 'hono/body-limit';
import {streamSSE} from 'hono/streaming';
import {StyleclipError} from '../errors.js';
import {GLOBAL_DEFAULTS} from '../edit/global-defaults.js';
import {GlobalEditor} from '../edit/global-edit.js';
import {trainMapper} from '../edit/mapper-train.js';
import {optimizeLatent, type StepInfo} from '../edit/optimize.js';
import {generate, toWPlus} from '../models/generate.js';
import {holdsStyles, stylesFromTensors, stylesToTensors} from '../models/stylespace.js';
import {type HostTensor, toFloat32} from '../io/host-tensor.js';
import {encodePng} from '../io/image.js';
import {serializeNpy} from '../io/npy.js';
import {parseSafetensors, serializeSafetensors} from '../io/safetensors.js';
import {detectWeightsFormat, loadLatent} from '../io/weights.js';
import {encodeTexts} from '../models/clip/encode.js';
import {loadFaceRecognitionNet} from '../models/identity/face-api.js';
import type {IdentityNet} from '../models/identity/types.js';
import {runMapper, serializeMapper} from '../models/mapper.js';
import type {ModelBundle} from './bundle.js';
import {type Job, type JobEvent, JobRunner, oneLine} from './jobs.js';
import {type StaticFiles, defaultWebRoot, staticFiles} from './static.js';
import {type LatentEntry, type Stores, createStores} from './store.js';
import {Fields, HttpError, badRequest, checkId, checkUploadName} from './validate.js';

export const MAX_UPLOAD_BYTES = 64 * 2 ** 20;
const MAX_JSON_BYTES = 64 * 1024;
const LATENT_EXTS = ['.npy', '.pt', '.safetensors'] as const;
const MAX_PROMPT = 300;
const MAX_SEED = 2 ** 31 - 1;

export interface AppOptions {
  /** Directory of the built UI (vite build output); default dist/web of the package. null = API only. */
  webRoot?: string | null;
  /** Upload limit in bytes (default 64 MiB); larger uploads get 413. */
  maxUploadBytes?: number;
  /** Jobs that may wait behind the running one (default 4). */
  maxQueued?: number;
  /** Host header names accepted (DNS-rebinding guard); null = any. */
  allowedHosts?: readonly string[] | null;
}

export interface WebApp {
  app: Hono;
  runner: JobRunner;
  stores: Stores;
  /** Cancel running and queued jobs. */
  close(): void;
}

/** Hostnames that always mean this machine. */
export const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'] as const;

export function createApp(bundle: ModelBundle, opts: AppOptions = {}): WebApp {
  const {g, clip, tokenizer} = bundle;
  const maxUpload = opts.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const stores = createStores();
  const runner = new JobRunner(opts.maxQueued === undefined ? {} : {maxQueued: opts.maxQueued});
  const editor = bundle.relevance ? new GlobalEditor(g, clip, tokenizer, bundle.relevance) : null;
  // Mapper training defaults: the bundle's (the demo's), else a short run with the official lr and λ_L2.
  const mapperTrainDefaults = bundle.mapperTraining ?? {steps: 200, batch: 2, samples: 500, lr: 0.5, lambdaL2: 0.8};
  // Latent optimisation defaults (official lr and λ_L2; a shorter run than the official 300 steps for the UI).
  const optimizeDefaults = {steps: 100, lr: 0.1, lambdaL2: 0.008, lambdaId: 0, saveEvery: 10};
  let faceNet: IdentityNet | undefined;
  const identityNet = (): IdentityNet => (faceNet ??= loadFaceRecognitionNet());
  const web: StaticFiles | null = opts.webRoot === null ? null : staticFiles(opts.webRoot ?? defaultWebRoot());
  const textCache = new Map<string, Promise<Float32Array>>();
  let trained = 0;
  // Previews run one at a time (a slider drag must not pile up generator passes); jobs do not block them.
  let previewChain: Promise<unknown> = Promise.resolve();

  const app = new Hono();

  // ---- guards: Host (DNS rebinding), Origin (cross-site posts), JSON content type and body size.
  app.use('*', async (c, next) => {
    if (opts.allowedHosts) {
      const host = (c.req.header('host') ?? '').toLowerCase().replace(/:\d+$/, '');
      if (!opts.allowedHosts.includes(host)) throw new HttpError(403, `host '${host.slice(0, 60)}' is not served here`);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      if (origin !== undefined && origin !== 'null') {
        let ok = false;
        try {
          ok = new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host);
        } catch {
          ok = false;
        }
        if (!ok) throw new HttpError(403, 'cross-origin requests are refused');
      }
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
  });

  const tooLarge = (limit: number) => (c: Context) => c.json({error: `the request body is larger than ${formatBytes(limit)}`}, 413);
  const jsonBody = async (c: Context, allowed: readonly string[]): Promise<Fields> => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "send the parameters as JSON (Content-Type: application/json)");
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw badRequest('the request body is not valid JSON');
    }
    return new Fields(body, allowed);
  };
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'POST' && c.req.path !== '/api/latent') return bodyLimit({maxSize: MAX_JSON_BYTES, onError: tooLarge(MAX_JSON_BYTES)})(c, next);
    await next();
  });

  // ---- helpers
  const latentOf = (id: string): LatentEntry => {
    const e = stores.latents.get(checkId(id, 'latentId'));
    if (!e) throw new HttpError(404, `unknown latent '${id}' (it may have expired; sample or upload again)`);
    return e;
  };
  const addImage = async (image: HostTensor): Promise<string> => stores.images.add(await encodePng(image));
  const imageUrl = (id: string) => `/api/images/${id}.png`;
  const addLatent = async (wPlus: HostTensor | null, styles: HostTensor[] | null, image: HostTensor | null, label: string) => {
    if (!styles || !image) {
      const r = wPlus ? await generate(g, {latent: wPlus, space: 'w+', returnStyles: true}) : await generate(g, {latent: styles!, space: 's'});
      styles = r.styles!;
      image = r.image;
    }
    const imageId = await addImage(image);
    const latentId = stores.latents.add({wPlus, styles, imageId, label});
    return {latentId, image: imageUrl(imageId), label, wPlus: wPlus !== null};
  };
  const textFeatures = (prompt: string): Promise<Float32Array> => {
    let p = textCache.get(prompt);
    if (!p) {
      if (textCache.size > 200) textCache.clear();
      p = encodeTexts(clip, tokenizer, [prompt]);
      textCache.set(prompt, p);
      p.catch(() => textCache.delete(prompt));
    }
    return p;
  };
  const clientOf = (f: Fields) => f.id('client', 'anonymous');
  const needEditor = (): GlobalEditor => {
    if (!editor) throw new HttpError(409, 'global directions need a relevance file, and this server has none (serve --relevance FILE)');
    return editor;
  };

  // ---- model info
  app.get('/api/info', (c) =>
    c.json({
      model: {
        name: bundle.name,
        size: g.config.size,
        styleDim: g.config.styleDim,
        nLatent: g.nLatent,
        styleLayers: g.layers.length,
        hasLatentAvg: g.latentAvg !== null && g.latentAvg !== undefined,
      },
      clip: {embedDim: clip.config.embedDim, imageResolution: clip.config.imageResolution},
      global: bundle.relevance ? {channels: bundle.relevance.channels.length} : null,
      mappers: [...bundle.mappers].map(([name, m]) => ({name, prompt: m.prompt})),
      defaults: {
        truncation: g.latentAvg ? 0.7 : 1,
        // The relevance file's recommended settings (auto β on the demo models), else the official ones.
        alpha: editor ? editor.defaults.alpha : GLOBAL_DEFAULTS.alpha,
        beta: editor ? (editor.defaults.beta ?? null) : GLOBAL_DEFAULTS.beta,
        minChannels: editor?.defaults.minChannels ?? null,
        neutral: 'a face',
        optimize: optimizeDefaults,
        mapperTrain: mapperTrainDefaults,
      },
      limits: {alpha: [-10, 10], beta: [0.08, 0.4], maxUploadBytes: maxUpload, maxPrompt: MAX_PROMPT},
    }),
  );

  // ---- latents: sample, upload, read, download
  app.post('/api/sample', async (c) => {
    const f = await jsonBody(c, ['seed', 'truncation']);
    const seed = f.int('seed', 0, MAX_SEED);
    const truncation = f.number('truncation', 0, 1, g.latentAvg ? 0.7 : 1);
    if (truncation !== 1 && !g.latentAvg) throw badRequest('this generator has no latent_avg, so truncation must be 1');
    const r = await generate(g, {seed, truncation, returnStyles: true});
    return c.json(await addLatent(r.wPlus, r.styles, r.image, `seed ${seed} (ψ ${truncation})`));
  });

  app.post('/api/latent', bodyLimit({maxSize: maxUpload, onError: tooLarge(maxUpload)}), async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^multipart\/form-data\b/i.test(type)) throw new HttpError(415, "upload the latent as multipart/form-data with a 'file' field");
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch {
      throw badRequest('the multipart body could not be parsed');
    }
    for (const [k] of form as unknown as Iterable<[string, unknown]>) if (!['file', 'space', 'index'].includes(k)) throw badRequest(`unknown form field '${k.slice(0, 40)}' (allowed: file, space, index)`);
    const file = form.get('file');
    if (!(file instanceof File)) throw badRequest("the upload needs a 'file' field holding the latent file");
    checkUploadName(file.name, LATENT_EXTS);
    const space = formChoice(form, 'space', ['auto', 'z', 'w', 'w+', 's'] as const, 'auto');
    const indexRaw = form.get('index');
    const index = indexRaw === null ? 0 : typeof indexRaw === 'string' && /^\d{1,6}$/.test(indexRaw) ? Number(indexRaw) : -1;
    if (index < 0) throw badRequest("'index' must be a non-negative integer");
    const bytes = new Uint8Array(await file.arrayBuffer());
    const what = `uploaded latent '${file.name}'`;
    const label = `upload ${file.name}`;
    const format = detectWeightsFormat(bytes);
    if (format === 'safetensors') {
      const {tensors} = parseSafetensors(bytes, {what});
      if (space === 's' || (space === 'auto' && holdsStyles(tensors))) {
        const styles = stylesFromTensors(g, tensors, what).map((t) => pickRow(t, index, 2, what));
        return c.json(await addLatent(null, styles, null, label));
      }
    } else if (space === 's') {
      throw badRequest('an S latent is a .safetensors of s_00, s_01, … (one tensor per StyleSpace layer)');
    }
    const t = loadLatent(bytes, {what});
    const [L, D] = [g.nLatent, g.config.styleDim];
    const data = toFloat32(t);
    const shape = t.shape;
    let wPlus: HostTensor;
    if ((space === 'auto' || space === 'w+') && shape.length >= 2 && shape.at(-2) === L && shape.at(-1) === D && shape.length <= 3) {
      const full: HostTensor = {dtype: 'float32', shape: shape.length === 2 ? [1, L, D] : [...shape], data};
      wPlus = pickRow(full, index, 3, what);
    } else if (space !== 'w+' && shape.at(-1) === D && shape.length <= 2) {
      const full: HostTensor = {dtype: 'float32', shape: shape.length === 1 ? [1, D] : [...shape], data};
      wPlus = await toWPlus(g, pickRow(full, index, 2, what), space === 'z' ? 'z' : 'w');
    } else {
      throw badRequest(`${what} has shape [${shape.join(', ')}]; this generator takes W+ [N, ${L}, ${D}], W or z [N, ${D}], or S as .safetensors of s_00 …`);
    }
    return c.json(await addLatent(wPlus, null, null, label));
  });

  app.get('/api/latents/:id', async (c) => {
    const e = latentOf(c.req.param('id'));
    return c.json({latentId: c.req.param('id'), image: imageUrl(await ensureImage(e)), label: e.label, wPlus: e.wPlus !== null});
  });

  app.get('/api/latents/:id/download', (c) => {
    const id = c.req.param('id');
    const e = latentOf(id);
    const format = queryChoice(c, 'format', ['npy', 'safetensors'] as const, e.wPlus ? 'npy' : 'safetensors');
    let bytes: Uint8Array;
    if (format === 'npy') {
      if (!e.wPlus) throw badRequest('this latent is StyleSpace only (after a global edit); download it as safetensors');
      bytes = serializeNpy(e.wPlus);
    } else {
      bytes = serializeSafetensors(e.wPlus ? new Map([['w_plus', e.wPlus]]) : stylesToTensors(e.styles));
    }
    return download(c, bytes, `latent-${id}.${format}`);
  });

  app.get('/api/images/:file', (c) => {
    const m = /^([A-Za-z0-9_-]{1,64})\.png$/.exec(c.req.param('file'));
    const png = m ? stores.images.get(m[1]!) : undefined;
    if (!png) throw new HttpError(404, 'unknown image');
    return c.body(png as Uint8Array<ArrayBuffer>, 200, {'Content-Type': 'image/png', 'Cache-Control': 'private, max-age=3600, immutable'});
  });

  async function ensureImage(e: LatentEntry): Promise<string> {
    if (stores.images.get(e.imageId)) return e.imageId;
    const r = await generate(g, {latent: e.styles, space: 's'});
    e.imageId = await addImage(r.image);
    return e.imageId;
  }

  // ---- global directions (fast path)
  const globalFields = ['latentId', 'neutral', 'target', 'alpha', 'beta', 'minChannels'] as const;
  const globalEdit = async (c: Context) => {
    const f = await jsonBody(c, globalFields);
    const ed = needEditor();
    const entry = latentOf(f.id('latentId'));
    const neutral = f.text('neutral', MAX_PROMPT);
    const target = f.text('target', MAX_PROMPT);
    const alpha = f.number('alpha', -10, 10);
    if (f.has('beta') && f.has('minChannels')) throw badRequest("give either 'beta' or 'minChannels', not both");
    // Neither: the editor's default (the relevance file's recommendation, else the official β).
    const threshold = f.has('beta') ? {beta: f.number('beta', 0, 1)} : f.has('minChannels') ? {minChannels: f.int('minChannels', 1, 100_000)} : {};
    const run = previewChain.then(() => ed.edit({styles: entry.styles, neutral, target, alpha, ...threshold}));
    previewChain = run.catch(() => undefined);
    const r = await run;
    return {r, neutral, target, alpha, beta: r.beta};
  };
  app.post('/api/global/preview', async (c) => {
    const {r, alpha} = await globalEdit(c);
    const imageId = await addImage(r.image);
    return c.json({image: imageUrl(imageId), channelsMoved: r.channelsMoved, beta: r.beta, maxScore: r.maxScore, alpha});
  });
  app.post('/api/global/accept', async (c) => {
    const {r, neutral, target, alpha, beta} = await globalEdit(c);
    const res = await addLatent(null, r.styles, r.image, `global '${neutral}' → '${target}' (α ${alpha}, β ${beta.toFixed(3)})`);
    return c.json({...res, channelsMoved: r.channelsMoved});
  });

  // ---- latent optimisation (job)
  app.post('/api/optimize', async (c) => {
    const f = await jsonBody(c, ['latentId', 'prompt', 'steps', 'lr', 'lambdaL2', 'lambdaId', 'space', 'saveEvery', 'client']);
    const entry = latentOf(f.id('latentId'));
    const prompt = f.text('prompt', MAX_PROMPT);
    const o = optimizeDefaults;
    const steps = f.int('steps', 1, 2000, o.steps);
    const lr = f.number('lr', 1e-4, 1, o.lr);
    const lambdaL2 = f.number('lambdaL2', 0, 10, o.lambdaL2);
    // The identity loss uses face-api's FaceRecognitionNet (shipped with @vladmandic/face-api; StyleCLIP uses 0.005).
    const lambdaId = f.number('lambdaId', 0, 1, o.lambdaId);
    const space = f.choice('space', ['w+', 's'] as const, entry.wPlus ? 'w+' : 's');
    const saveEvery = f.int('saveEvery', 1, 1000, o.saveEvery);
    const client = clientOf(f);
    if (space === 'w+' && !entry.wPlus) throw badRequest("this latent is StyleSpace only (after a global edit); optimise it with space 's'");
    const job = runner.submit('optimize', client, async (j, signal) => {
      const text = await textFeatures(prompt);
      const onStep = async (s: StepInfo) => {
        const image = s.image ? imageUrl(await addImage(s.image)) : undefined;
        j.progress({step: s.step + 1, steps: s.steps, loss: s.loss, clip: s.clip, l2: s.l2, ...(lambdaId > 0 ? {id: s.id} : {}), lr: s.lr, ...(image ? {image} : {})});
      };
      const start = entry.wPlus ? {latent: entry.wPlus, space} : {styles: entry.styles};
      const id = lambdaId > 0 ? {identity: identityNet(), lambdaId} : {lambdaId: 0};
      const r = await optimizeLatent(g, clip, {text, ...start, steps, lr, lambdaL2, ...id, saveEvery, onStep, signal});
      return addLatent(r.wPlus, r.styles, r.image, `optimize '${prompt}' (${steps} steps)`);
    });
    return c.json({job: job.id, position: job.events[0]!.data.position}, 202);
  });

  // ---- mappers
  app.post('/api/mapper/apply', async (c) => {
    const f = await jsonBody(c, ['latentId', 'mapper']);
    const entry = latentOf(f.id('latentId'));
    const name = f.text('mapper', 64);
    const m = bundle.mappers.get(name);
    if (!m) throw new HttpError(404, `unknown mapper '${name.slice(0, 64)}' (GET /api/info lists them)`);
    if (!entry.wPlus) throw badRequest('mappers act on W+, and this latent is StyleSpace only (after a global edit); apply the mapper before the global edit');
    const {wHat} = await runMapper(m, entry.wPlus);
    return c.json(await addLatent(wHat, null, null, `mapper ${name}${m.prompt ? ` ('${m.prompt}')` : ''}`));
  });

  app.post('/api/mapper/train', async (c) => {
    const f = await jsonBody(c, ['prompt', 'steps', 'batch', 'samples', 'lr', 'lambdaL2', 'seed', 'client']);
    const d = mapperTrainDefaults;
    const prompt = f.text('prompt', MAX_PROMPT);
    const steps = f.int('steps', 1, 50_000, d.steps);
    const batch = f.int('batch', 1, 16, d.batch);
    const samples = f.int('samples', 1, 10_000, d.samples);
    const lr = f.number('lr', 1e-5, 5, d.lr);
    const lambdaL2 = f.number('lambdaL2', 0, 10, d.lambdaL2);
    const seed = f.int('seed', 0, MAX_SEED, 0);
    if (samples < batch) throw badRequest(`'samples' (${samples}) must be at least 'batch' (${batch})`);
    const client = clientOf(f);
    const truncation = g.latentAvg ? 0.7 : 1;
    const job = runner.submit('mapper-train', client, async (j, signal) => {
      const text = await textFeatures(prompt);
      const r = await trainMapper(g, clip, {
        text, prompt, samples, steps, batch, lr, lambdaL2, seed, truncation, signal,
        onStep: (s) => j.progress({step: s.step + 1, steps: s.steps, loss: s.loss, clip: s.clip, l2: s.l2}),
      });
      const name = `trained-${++trained}-${slug(prompt)}`;
      bundle.mappers.set(name, r.mapper);
      return {mapper: name, prompt, steps: r.step};
    });
    return c.json({job: job.id, position: job.events[0]!.data.position}, 202);
  });

  app.get('/api/mappers/:name/download', (c) => {
    const name = c.req.param('name');
    const m = bundle.mappers.get(name);
    if (!m) throw new HttpError(404, `unknown mapper '${name.slice(0, 64)}'`);
    return download(c, serializeMapper(m), `${name}.safetensors`);
  });

  // ---- jobs
  const jobOf = (id: string): Job => {
    const j = runner.get(checkId(id, 'job id'));
    if (!j) throw new HttpError(404, `unknown job '${id}'`);
    return j;
  };
  app.get('/api/jobs/:id', (c) => c.json(jobOf(c.req.param('id')).summary()));
  app.post('/api/jobs/:id/cancel', (c) => {
    const j = jobOf(c.req.param('id'));
    runner.cancel(j);
    return c.json(j.summary());
  });
  app.get('/api/jobs/:id/events', (c) => {
    const job = jobOf(c.req.param('id'));
    const lastRaw = c.req.header('last-event-id');
    const after = lastRaw !== undefined && /^\d{1,9}$/.test(lastRaw) ? Number(lastRaw) : -1;
    c.header('Cache-Control', 'no-store');
    return streamSSE(c, async (stream) => {
      const pending: JobEvent[] = job.events.filter((e) => e.seq > after);
      let wake: (() => void) | null = null;
      const unsubscribe = job.subscribe((e) => {
        pending.push(e);
        wake?.();
      });
      let closed = false;
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        for (;;) {
          while (pending.length && !closed) {
            const e = pending.shift()!;
            await stream.writeSSE({event: e.event, id: String(e.seq), data: JSON.stringify(e.data)});
            if (e.event === 'done' || e.event === 'failed' || e.event === 'cancelled') return;
          }
          if (closed) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      } finally {
        unsubscribe();
      }
    });
  });

  // ---- the browser UI
  app.get('/', (c) => serveWeb(c, 'index.html'));
  app.get('/index.html', (c) => serveWeb(c, 'index.html'));
  app.get('/assets/*', (c) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path.slice('/'.length));
    } catch {
      throw badRequest('malformed path');
    }
    return serveWeb(c, rel);
  });
  function serveWeb(c: Context, rel: string): Response {
    if (!web) throw new HttpError(404, 'not found');
    const file = web.read(rel);
    if (!file) {
      if (rel === 'index.html') throw new HttpError(503, "the web UI is not built; run 'npm run build'");
      throw new HttpError(404, 'not found');
    }
    const headers: Record<string, string> = {'Content-Type': file.type};
    if (rel === 'index.html') {
      headers['Content-Security-Policy'] = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
      headers['Cache-Control'] = 'no-cache';
    } else {
      headers['Cache-Control'] = 'public, max-age=31536000, immutable';
    }
    return c.body(file.bytes as Uint8Array<ArrayBuffer>, 200, headers);
  }

  // ---- errors: HttpError → its status; library errors (bad input) → 400; anything else → 500, one line.
  app.notFound((c) => c.json({error: `no route ${c.req.method} ${c.req.path.slice(0, 100)}`}, 404));
  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json({error: err.message}, err.status);
    if (err instanceof StyleclipError) return c.json({error: oneLine(err)}, 400);
    const status = (err as {status?: unknown}).status;
    if (status === 413) return c.json({error: 'the request body is too large'}, 413);
    console.error(err);
    return c.json({error: `internal error: ${oneLine(err)}`}, 500);
  });

  return {app, runner, stores, close: () => runner.cancelAll()};
}

/** Row `index` of a batched tensor as a batch of one (rank `rank`, leading batch dimension). */
function pickRow(t: HostTensor, index: number, rank: number, what: string): HostTensor {
  const data = toFloat32(t);
  const shape = t.shape.length === rank - 1 ? [1, ...t.shape] : t.shape;
  if (shape.length !== rank) throw badRequest(`${what}: expected a ${rank}-d tensor, got [${t.shape.join(', ')}]`);
  const N = shape[0]!;
  if (index >= N) throw badRequest(`${what} holds ${N} latent${N === 1 ? '' : 's'}; 'index' ${index} is out of range`);
  const row = data.length / N;
  return {dtype: 'float32', shape: [1, ...shape.slice(1)], data: data.slice(index * row, (index + 1) * row)};
}

function formChoice<T extends string>(form: FormData, key: string, choices: readonly T[], def: T): T {
  const v = form.get(key);
  if (v === null) return def;
  if (typeof v !== 'string' || !choices.includes(v as T)) throw badRequest(`'${key}' must be one of ${choices.join(', ')}`);
  return v as T;
}

function queryChoice<T extends string>(c: Context, key: string, choices: readonly T[], def: T): T {
  for (const k of Object.keys(c.req.queries())) if (k !== key) throw badRequest(`unknown query parameter '${k.slice(0, 40)}'`);
  const v = c.req.query(key);
  if (v === undefined) return def;
  if (!choices.includes(v as T)) throw badRequest(`'${key}' must be one of ${choices.join(', ')}`);
  return v as T;
}

function download(c: Context, bytes: Uint8Array, name: string): Response {
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${name}"`});
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'mapper';
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${n / 2 ** 20} MB` : `${n / 1024} KB`;
}
