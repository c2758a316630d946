/**
 * The StyleCLIP web app: plain DOM + the server API. State is the history of accepted edits: its first entry is
 * the sampled or uploaded latent (the "before" image), its last the current one. The global-direction controls
 * preview an edit of the current latent live (α starts at the default strength, so typing a target is enough);
 * Accept, a mapper or a finished optimisation adds an entry; Undo and "Back to the original" step back. A photo is
 * aligned on the server and inverted (a job); its reconstruction starts the history like a sampled image.
 */
import {
  ApiError,
  type ExamplePrompt,
  type GlobalEditRequest,
  type InfoResponse,
  type Inverted,
  type JobProgress,
  type LatentResult,
  type MapperTrained,
  api,
  followJob,
} from './api.js';

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

const el = {
  modelInfo: $('model-info'),
  before: $<HTMLImageElement>('before-img'),
  after: $<HTMLImageElement>('after-img'),
  afterKind: $('after-kind'),
  compareFrame: $('compare-frame'),
  compareBefore: $<HTMLImageElement>('compare-before'),
  compareAfter: $<HTMLImageElement>('compare-after'),
  compare: $<HTMLInputElement>('compare'),
  label: $('latent-label'),
  dlImage: $<HTMLAnchorElement>('download-image'),
  dlLatent: $<HTMLAnchorElement>('download-latent'),
  status: $('status'),
  history: $<HTMLOListElement>('history'),
  undo: $<HTMLButtonElement>('undo'),
  reset: $<HTMLButtonElement>('reset'),
  seed: $<HTMLInputElement>('seed'),
  truncation: $<HTMLInputElement>('truncation'),
  sample: $<HTMLButtonElement>('sample'),
  random: $<HTMLButtonElement>('random'),
  upload: $<HTMLInputElement>('upload'),
  sourceError: $('source-error'),
  photoUpload: $<HTMLInputElement>('photo-upload'),
  photoAligned: $<HTMLInputElement>('photo-aligned'),
  photoFace: $<HTMLInputElement>('photo-face'),
  photoSteps: $<HTMLInputElement>('photo-steps'),
  photoStepsName: $('photo-steps-name'),
  photoCancel: $<HTMLButtonElement>('photo-cancel'),
  photoError: $('photo-error'),
  photoFigures: $('photo-figures'),
  photoCrop: $<HTMLImageElement>('photo-crop'),
  photoCropCaption: $('photo-crop-caption'),
  photoRecon: $<HTMLImageElement>('photo-recon'),
  photoProgress: $<HTMLProgressElement>('photo-progress'),
  photoStatus: $('photo-status'),
  photoMethod: $('photo-method'),
  globalPanel: $('global-panel'),
  neutral: $<HTMLInputElement>('neutral'),
  target: $<HTMLInputElement>('target'),
  examples: $<HTMLUListElement>('examples'),
  examplePrompts: $<HTMLDataListElement>('example-prompts'),
  alpha: $<HTMLInputElement>('alpha'),
  alphaValue: $<HTMLOutputElement>('alpha-value'),
  beta: $<HTMLInputElement>('beta'),
  betaValue: $<HTMLOutputElement>('beta-value'),
  betaAuto: $<HTMLInputElement>('beta-auto'),
  minChannels: $<HTMLInputElement>('min-channels'),
  channels: $<HTMLOutputElement>('channels'),
  accept: $<HTMLButtonElement>('accept'),
  globalError: $('global-error'),
  optPrompt: $<HTMLInputElement>('opt-prompt'),
  optL2: $<HTMLInputElement>('opt-l2'),
  optId: $<HTMLInputElement>('opt-id'),
  optIdLabel: $('opt-id-label'),
  optLr: $<HTMLInputElement>('opt-lr'),
  optSteps: $<HTMLInputElement>('opt-steps'),
  optStart: $<HTMLButtonElement>('opt-start'),
  optCancel: $<HTMLButtonElement>('opt-cancel'),
  optProgress: $<HTMLProgressElement>('opt-progress'),
  optStatus: $('opt-status'),
  mapperSelect: $<HTMLSelectElement>('mapper-select'),
  mapperApply: $<HTMLButtonElement>('mapper-apply'),
  mapperNote: $('mapper-note'),
  mapperError: $('mapper-error'),
  trainPrompt: $<HTMLInputElement>('train-prompt'),
  trainSteps: $<HTMLInputElement>('train-steps'),
  trainL2: $<HTMLInputElement>('train-l2'),
  trainStart: $<HTMLButtonElement>('train-start'),
  trainCancel: $<HTMLButtonElement>('train-cancel'),
  trainProgress: $<HTMLProgressElement>('train-progress'),
  trainStatus: $('train-status'),
};

/** This tab's id: the server runs one job per client at a time. */
const client = (() => {
  const key = 'styleclip-client';
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem(key, id);
  }
  return id;
})();

type GlobalEdit = Omit<GlobalEditRequest, 'latentId'>;

/** One accepted state. */
interface HistoryEntry {
  latent: LatentResult;
  /** What the history list shows. */
  label: string;
  /**
   * The latest W+ latent this one is made from and the global edits applied to it since, in order (a W+ latent
   * is its own base with no edits); null when a step in between cannot be replayed (an optimisation in S).
   * Mappers act on W+ only: applying one to an S-only latent applies it to the base and re-applies the edits.
   */
  base: {latent: LatentResult; edits: GlobalEdit[]} | null;
}

const state = {
  info: null as InfoResponse | null,
  history: [] as HistoryEntry[],
  optJob: null as string | null,
  trainJob: null as string | null,
  photoJob: null as string | null,
};

const current = (): HistoryEntry | undefined => state.history.at(-1);

// ---- messages: the page status line, and errors next to the control that caused them

function setStatus(msg: string): void {
  el.status.textContent = msg;
}

function messageOf(e: unknown): string {
  return e instanceof ApiError ? e.message : `error: ${(e as Error).message}`;
}

/** A panel's error line and the inputs an error message can name (API field name → input). */
interface ErrorSlot {
  line: HTMLElement;
  fields: Record<string, HTMLElement>;
}

const slots = {
  source: {line: el.sourceError, fields: {seed: el.seed, truncation: el.truncation, file: el.upload, index: el.upload, space: el.upload}},
  photo: {line: el.photoError, fields: {file: el.photoUpload, aligned: el.photoAligned, face: el.photoFace, steps: el.photoSteps}},
  global: {line: el.globalError, fields: {neutral: el.neutral, target: el.target, alpha: el.alpha, beta: el.beta, minChannels: el.minChannels}},
  optimize: {line: el.optStatus, fields: {prompt: el.optPrompt, steps: el.optSteps, lr: el.optLr, lambdaL2: el.optL2, lambdaId: el.optId}},
  mapper: {line: el.mapperError, fields: {mapper: el.mapperSelect}},
  train: {line: el.trainStatus, fields: {prompt: el.trainPrompt, steps: el.trainSteps, lambdaL2: el.trainL2}},
} satisfies Record<string, ErrorSlot>;

/** Show an error on its panel's line; the input it names (`'alpha' must be …`) is marked invalid. */
function showError(slot: ErrorSlot, e: unknown): void {
  clearError(slot);
  const msg = messageOf(e);
  slot.line.textContent = msg;
  slot.line.classList.add('error');
  slot.line.classList.remove('muted');
  const named = /'([A-Za-z]+)'/.exec(msg)?.[1];
  const field = named ? slot.fields[named as keyof typeof slot.fields] : undefined;
  (field as HTMLElement | undefined)?.setAttribute('aria-invalid', 'true');
}

function clearError(slot: ErrorSlot): void {
  if (slot.line.classList.contains('error')) slot.line.textContent = '';
  for (const f of Object.values(slot.fields)) (f as HTMLElement).removeAttribute('aria-invalid');
}

/** A number input's value; a page-side error in the server's wording when it is not a number. */
function numberOf(input: HTMLInputElement, field: string): number {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(v)) throw new ApiError(0, `'${field}' must be a number`);
  return v;
}

/** Run an action with its button disabled; errors go to the panel's error line. */
async function withBusy(button: HTMLButtonElement, slot: ErrorSlot, fn: () => Promise<void>): Promise<void> {
  button.disabled = true;
  try {
    await fn();
    clearError(slot);
  } catch (e) {
    showError(slot, e);
  } finally {
    button.disabled = false;
    updateMapperNote();
  }
}

// ---- the view: before/after, the comparison slider, downloads

function showBefore(url: string): void {
  el.before.src = url;
  el.compareBefore.src = url;
}

function showAfter(url: string, kind: string): void {
  el.after.src = url;
  el.compareAfter.src = url;
  el.afterKind.textContent = kind ? `(${kind})` : '';
  el.dlImage.href = url;
}

function setSplit(percent: number): void {
  el.compare.value = String(percent);
  el.compareFrame.style.setProperty('--split', `${el.compare.value}%`);
}

el.compare.addEventListener('input', () => setSplit(Number(el.compare.value)));
// Drag on the picture itself as well as on the slider.
el.compareFrame.addEventListener('pointerdown', (ev) => {
  el.compareFrame.setPointerCapture(ev.pointerId);
  const move = (e: PointerEvent) => {
    const r = el.compareFrame.getBoundingClientRect();
    setSplit(Math.round(Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)) * 100));
  };
  move(ev);
  el.compareFrame.addEventListener('pointermove', move);
  el.compareFrame.addEventListener('pointerup', () => el.compareFrame.removeEventListener('pointermove', move), {once: true});
});

// ---- history

/** Show the current entry: after image, label, downloads; α back to the default; a typed target previews again. */
function showCurrent(): void {
  const entry = current();
  if (!entry) return;
  const r = entry.latent;
  showBefore(state.history[0]!.latent.image);
  showAfter(r.image, '');
  el.label.textContent = entry.label;
  el.dlLatent.href = `/api/latents/${r.latentId}/download`;
  el.dlLatent.download = `latent-${r.latentId}.${r.wPlus ? 'npy' : 'safetensors'}`;
  setAlpha(state.info?.defaults.alpha ?? 0);
  el.channels.textContent = '–';
  renderHistory();
  updateMapperNote();
  schedulePreview(0);
}

function renderHistory(): void {
  const n = state.history.length;
  el.history.replaceChildren(
    ...state.history.map((h, i) => {
      const li = document.createElement('li');
      li.dataset.latentId = h.latent.latentId;
      const img = document.createElement('img');
      img.src = h.latent.image;
      img.alt = '';
      const text = document.createElement('span');
      text.textContent = h.label;
      li.append(img, text);
      if (i === n - 1) {
        li.setAttribute('aria-current', 'step');
      } else {
        const back = document.createElement('button');
        back.type = 'button';
        back.textContent = 'Go back';
        back.setAttribute('aria-label', `go back to: ${h.label}`);
        back.addEventListener('click', () => {
          state.history.length = i + 1;
          showCurrent();
          setStatus(`back to: ${h.label}`);
        });
        li.append(back);
      }
      return li;
    }),
  );
  el.undo.disabled = n < 2;
  el.reset.disabled = n < 2;
}

/** A new image (sample, upload): the history starts again. */
function startHistory(r: LatentResult): void {
  state.history = [{latent: r, label: r.label, base: r.wPlus ? {latent: r, edits: []} : null}];
  showCurrent();
}

function pushHistory(r: LatentResult, label: string, base: HistoryEntry['base']): void {
  state.history.push({latent: r, label, base: r.wPlus ? {latent: r, edits: []} : base});
  showCurrent();
}

el.undo.addEventListener('click', () => {
  if (state.history.length < 2) return;
  const undone = state.history.pop()!;
  showCurrent();
  setStatus(`undone: ${undone.label}`);
});
el.reset.addEventListener('click', () => {
  if (state.history.length < 2) return;
  state.history.length = 1;
  showCurrent();
  setStatus('back to the original image');
});

// ---- image source

async function sample(): Promise<void> {
  const seed = numberOf(el.seed, 'seed');
  const truncation = numberOf(el.truncation, 'truncation');
  setStatus(`sampling seed ${seed}…`);
  startHistory(await api.sample({seed, truncation}));
  setStatus(`seed ${seed}`);
}

el.sample.addEventListener('click', () => void withBusy(el.sample, slots.source, sample));
el.random.addEventListener('click', () => {
  el.seed.value = String(Math.floor(Math.random() * 100_000));
  void withBusy(el.random, slots.source, sample);
});
el.upload.addEventListener('change', () => {
  const file = el.upload.files?.[0];
  if (!file) return;
  void (async () => {
    try {
      setStatus(`uploading ${file.name}…`);
      startHistory(await api.uploadLatent(file));
      clearError(slots.source);
      setStatus(`loaded ${file.name}`);
    } catch (e) {
      showError(slots.source, e);
      setStatus('');
    } finally {
      el.upload.value = '';
    }
  })();
});

// ---- photos: upload (aligned on the server, or used as it is), then an inversion job; the reconstruction starts
// the history as a sampled image does

const photoUi: JobUi = {start: el.photoUpload, cancel: el.photoCancel, progress: el.photoProgress, status: el.photoStatus};

async function uploadPhoto(file: File): Promise<void> {
  const info = state.info;
  if (!info) throw new ApiError(0, 'the page is still loading');
  const opts = {aligned: el.photoAligned.checked, face: numberOf(el.photoFace, 'face')};
  const steps = numberOf(el.photoSteps, 'steps');
  el.photoFigures.hidden = true;
  el.photoProgress.value = 0;
  el.photoStatus.className = 'muted';
  el.photoStatus.textContent = opts.aligned ? `reading ${file.name}…` : `finding and aligning the face in ${file.name}…`;
  setStatus(`uploading ${file.name}…`);
  const p = await api.uploadPhoto(file, opts);
  el.photoCrop.src = p.image;
  el.photoCropCaption.textContent = p.mode === 'as-is' ? 'As uploaded' : 'Aligned';
  el.photoRecon.removeAttribute('src');
  el.photoFigures.hidden = false;
  const crop = p.mode === 'as-is' ? `Used as it is (already aligned), ${p.side} px` : `Face ${p.face + 1} of ${p.faces} aligned, ${p.side} px`;
  const how = info.photo.method === 'encoder' ? `encoding with ${info.photo.encoder}${steps ? ` and ${steps} refinement steps` : ''}` : `projecting (${steps} steps)`;
  el.photoStatus.textContent = `${crop}; ${how}…`;
  const job = await api.invert({photoId: p.photoId, steps, client});
  runJob(photoUi, job.job, 'photoJob', (data) => {
    const r = data as unknown as Inverted;
    el.photoRecon.src = r.image;
    startHistory(r);
    const method = r.method === 'encoder' ? `the encoder ${info.photo.encoder ?? ''}${r.steps ? ` and ${r.steps} projection steps` : ''}` : `projection from the mean latent, ${r.steps} steps`;
    el.photoStatus.textContent = `${crop}. Reconstructed by ${method} in ${r.seconds.toFixed(1)} s; pixel error (MSE) ${r.pixel.toFixed(4)}.`;
    setStatus(`photo ${p.name} reconstructed; edit it with any method`);
  });
}

el.photoUpload.addEventListener('change', () => {
  const file = el.photoUpload.files?.[0];
  if (!file) return;
  void (async () => {
    clearError(slots.photo);
    el.photoUpload.disabled = true;
    try {
      await uploadPhoto(file);
    } catch (e) {
      el.photoUpload.disabled = false;
      el.photoStatus.textContent = '';
      showError(slots.photo, e);
      // An error about the file itself (no face, not an image) marks the upload control.
      if (![el.photoFace, el.photoSteps, el.photoAligned].some((f) => f.getAttribute('aria-invalid') === 'true')) el.photoUpload.setAttribute('aria-invalid', 'true');
      setStatus('');
    } finally {
      el.photoUpload.value = '';
    }
  })();
});
// The face index means nothing for an image used as it is.
el.photoAligned.addEventListener('change', () => (el.photoFace.disabled = el.photoAligned.checked));
el.photoCancel.addEventListener('click', () => {
  if (state.photoJob) void api.cancelJob(state.photoJob).catch((e: unknown) => showError(slots.photo, e));
});

// ---- global directions: live preview, at most one request in flight, the latest setting wins

let previewBusy = false;
let previewDirty = false;

function globalEdit(): GlobalEdit | null {
  const neutral = el.neutral.value.trim();
  const target = el.target.value.trim();
  if (!neutral || !target || !state.info?.global) return null;
  const threshold = el.betaAuto.checked ? {minChannels: Math.max(1, Math.round(Number(el.minChannels.value) || 1))} : {beta: Number(el.beta.value)};
  return {neutral, target, alpha: Number(el.alpha.value), ...threshold};
}

async function preview(): Promise<void> {
  if (previewBusy) {
    previewDirty = true;
    return;
  }
  const entry = current();
  const edit = globalEdit();
  if (!entry || !edit) return;
  previewBusy = true;
  try {
    const r = await api.preview({latentId: entry.latent.latentId, ...edit});
    // A newer history entry (undo, accept) makes this preview stale.
    if (current() === entry) {
      showAfter(r.image, `preview α ${r.alpha.toFixed(1)}`);
      el.channels.textContent = String(r.channelsMoved);
      if (el.betaAuto.checked) el.betaValue.textContent = `${r.beta.toFixed(2)} (auto)`;
      el.channels.title = `β ${r.beta.toFixed(3)}, max |R| ${r.maxScore.toFixed(3)}`;
    }
    clearError(slots.global);
  } catch (e) {
    showError(slots.global, e);
  } finally {
    previewBusy = false;
  }
  if (previewDirty) {
    previewDirty = false;
    await preview();
  }
}

let previewTimer: ReturnType<typeof setTimeout> | undefined;
function schedulePreview(delayMs: number): void {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => void preview(), delayMs);
}

for (const input of [el.neutral, el.target]) input.addEventListener('input', () => schedulePreview(400));

function setAlpha(v: number): void {
  el.alpha.value = String(v);
  el.alphaValue.textContent = Number(el.alpha.value).toFixed(1);
}
el.alpha.addEventListener('input', () => {
  el.alphaValue.textContent = Number(el.alpha.value).toFixed(1);
  void preview();
});
el.beta.addEventListener('input', () => {
  el.betaValue.textContent = Number(el.beta.value).toFixed(2);
  void preview();
});
function syncBetaMode(): void {
  el.beta.disabled = el.betaAuto.checked;
  el.minChannels.disabled = !el.betaAuto.checked;
  if (!el.betaAuto.checked) el.betaValue.textContent = Number(el.beta.value).toFixed(2);
}
el.betaAuto.addEventListener('change', () => {
  syncBetaMode();
  void preview();
});
el.minChannels.addEventListener('input', () => void preview());

function fillExamples(examples: ExamplePrompt[]): void {
  el.examples.replaceChildren(
    ...examples.map((ex) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'example';
      b.textContent = ex.target;
      b.title = `neutral '${ex.neutral}' → target '${ex.target}'`;
      b.addEventListener('click', () => {
        el.neutral.value = ex.neutral;
        el.target.value = ex.target;
        schedulePreview(0);
      });
      li.append(b);
      return li;
    }),
  );
  el.examplePrompts.replaceChildren(
    ...examples.map((ex) => {
      const o = document.createElement('option');
      o.value = ex.target;
      return o;
    }),
  );
}

el.accept.addEventListener('click', () =>
  void withBusy(el.accept, slots.global, async () => {
    const entry = current();
    const edit = globalEdit();
    if (!entry) throw new ApiError(0, 'sample or upload an image first');
    if (!edit) throw new ApiError(0, "type a neutral and a 'target' text first");
    const r = await api.accept({latentId: entry.latent.latentId, ...edit});
    // The edit is in the history now; clear the target so the next one is typed afresh.
    el.target.value = '';
    pushHistory(r, r.label, entry.base ? {latent: entry.base.latent, edits: [...entry.base.edits, edit]} : null);
    setStatus(`accepted: ${r.label} (${r.channelsMoved} channels)`);
  }),
);

// ---- jobs (optimisation, mapper training) with SSE progress and a summary at the end

interface JobUi {
  /** The control that starts the job (disabled while it runs). */
  start: HTMLButtonElement | HTMLInputElement;
  cancel: HTMLButtonElement;
  progress: HTMLProgressElement;
  status: HTMLElement;
}

/** Loss terms a job's progress may carry: optimisation and mapper training (clip, l2, id), inversion (pixel, perceptual). */
const TERMS = ['clip', 'l2', 'id', 'pixel', 'perceptual'] as const;
type Progress = Pick<JobProgress, 'step' | 'steps' | 'loss' | 'image'> & Partial<Record<(typeof TERMS)[number], number>>;

function lossTerms(p: Progress): string {
  return TERMS.filter((k) => p[k] !== undefined).map((k) => `${k} ${p[k]!.toFixed(4)}`).join(', ');
}

/** "100 steps in 12.3 s; final loss 0.7123 (clip 0.7042, l2 0.0081)" */
function jobSummary(last: Progress | null, seconds: number, ofSteps?: number): string {
  const steps = `${last?.step ?? 0}${ofSteps === undefined ? '' : `/${ofSteps}`} steps in ${seconds.toFixed(1)} s`;
  return last ? `${steps}; final loss ${last.loss.toFixed(4)} (${lossTerms(last)})` : steps;
}

function runJob(ui: JobUi, id: string, slot: 'optJob' | 'trainJob' | 'photoJob', onDone: (data: Record<string, unknown>, summary: string) => void | Promise<void>): void {
  state[slot] = id;
  ui.start.disabled = true;
  ui.cancel.disabled = false;
  ui.progress.value = 0;
  ui.status.className = 'muted';
  let started = performance.now();
  let last: Progress | null = null;
  const end = (msg: string, kind: 'muted' | 'error' | 'summary') => {
    state[slot] = null;
    ui.start.disabled = false;
    ui.cancel.disabled = true;
    ui.status.textContent = msg;
    ui.status.className = kind;
  };
  const seconds = () => (performance.now() - started) / 1000;
  followJob(id, (event, data) => {
    switch (event) {
      case 'queued':
        ui.status.textContent = Number(data.position) > 0 ? `queued (position ${String(data.position)})` : 'starting…';
        break;
      case 'started':
        started = performance.now();
        ui.status.textContent = 'started';
        break;
      case 'progress': {
        const p = data as unknown as Progress;
        last = p;
        ui.progress.max = p.steps;
        ui.progress.value = p.step;
        ui.status.textContent = `step ${p.step}/${p.steps}: loss ${p.loss.toFixed(4)}, ${lossTerms(p)}`;
        if (typeof p.image === 'string') showAfter(p.image, `step ${p.step}`);
        break;
      }
      case 'done': {
        const summary = `done: ${jobSummary(last, seconds())}`;
        end(summary, 'summary');
        void Promise.resolve(onDone(data, summary)).catch((e: unknown) => end(messageOf(e), 'error'));
        break;
      }
      case 'failed':
        end(`failed after ${jobSummary(last, seconds())}: ${String(data.message)}`, 'error');
        break;
      case 'cancelled':
        end(`cancelled after ${jobSummary(last, seconds(), last?.steps)}`, 'summary');
        if (current()) showAfter(current()!.latent.image, '');
        break;
    }
  });
}

const optUi: JobUi = {start: el.optStart, cancel: el.optCancel, progress: el.optProgress, status: el.optStatus};
el.optStart.addEventListener('click', () => {
  void (async () => {
    try {
      clearError(slots.optimize);
      const entry = current();
      if (!entry) throw new ApiError(0, 'sample or upload an image first');
      const steps = numberOf(el.optSteps, 'steps');
      const prompt = el.optPrompt.value;
      const r = await api.optimize({
        latentId: entry.latent.latentId,
        prompt,
        steps,
        lr: numberOf(el.optLr, 'lr'),
        lambdaL2: numberOf(el.optL2, 'lambdaL2'),
        lambdaId: numberOf(el.optId, 'lambdaId'),
        saveEvery: Math.max(1, Math.round(steps / 25)),
        client,
      });
      runJob(optUi, r.job, 'optJob', (data, summary) => {
        const latent = data as unknown as LatentResult;
        pushHistory(latent, latent.label, null);
        el.optStatus.textContent = summary;
        setStatus(`optimized: ${latent.label}`);
      });
    } catch (e) {
      showError(slots.optimize, e);
    }
  })();
});
el.optCancel.addEventListener('click', () => {
  if (state.optJob) void api.cancelJob(state.optJob).catch((e: unknown) => showError(slots.optimize, e));
});

// ---- mappers

function fillMappers(info: InfoResponse, select?: string): void {
  el.mapperSelect.replaceChildren(
    ...info.mappers.map((m) => {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent = m.prompt ? `${m.name} — ${m.prompt}` : m.name;
      return o;
    }),
  );
  if (select) el.mapperSelect.value = select;
  updateMapperNote();
}

/** Whether Apply can act on the current image, and if it does something other than the plain thing, say what. */
function updateMapperNote(): void {
  const entry = current();
  let note = '';
  let can = el.mapperSelect.options.length > 0 && entry !== undefined;
  if (el.mapperSelect.options.length === 0) {
    note = 'No mappers are loaded; train one below.';
  } else if (entry && !entry.latent.wPlus) {
    if (entry.base) {
      const n = entry.base.edits.length;
      note = `Mappers act on W+ latents, and this image's last ${n === 1 ? 'edit is a global direction' : `${n} edits are global directions`} (StyleSpace only): Apply runs the mapper on the image before ${n === 1 ? 'it' : 'them'}, then re-applies ${n === 1 ? 'it' : 'them'}.`;
    } else {
      can = false;
      note = "Mappers act on W+ latents, and this image was optimised in StyleSpace (after a global edit), which has no W+ to return to: undo the optimisation to apply a mapper.";
    }
  }
  el.mapperNote.textContent = note;
  el.mapperApply.disabled = !can;
}

el.mapperApply.addEventListener('click', () =>
  void withBusy(el.mapperApply, slots.mapper, async () => {
    const entry = current();
    if (!entry) throw new ApiError(0, 'sample or upload an image first');
    const mapper = el.mapperSelect.value;
    if (entry.latent.wPlus) {
      const r = await api.applyMapper({latentId: entry.latent.latentId, mapper});
      pushHistory(r, r.label, null);
      setStatus(`applied ${r.label}`);
      return;
    }
    if (!entry.base) throw new ApiError(0, 'this image has no W+ latent to apply a mapper to (it was optimised in StyleSpace); undo the optimisation first');
    // A global edit moves StyleSpace by a fixed amount whatever the image, so mapper-then-edits is well defined.
    const mapped = await api.applyMapper({latentId: entry.base.latent.latentId, mapper});
    let r = mapped;
    for (const edit of entry.base.edits) r = await api.accept({latentId: r.latentId, ...edit});
    const n = entry.base.edits.length;
    const label = `${mapped.label}, then ${n === 1 ? 'the global edit' : `the ${n} global edits`} again`;
    pushHistory(r, label, {latent: mapped, edits: entry.base.edits});
    setStatus(`applied ${mapped.label} to the image before its global edit${n === 1 ? '' : 's'}, then re-applied ${n === 1 ? 'it' : 'them'}`);
  }),
);

const trainUi: JobUi = {start: el.trainStart, cancel: el.trainCancel, progress: el.trainProgress, status: el.trainStatus};
el.trainStart.addEventListener('click', () => {
  void (async () => {
    try {
      clearError(slots.train);
      const r = await api.trainMapper({prompt: el.trainPrompt.value, steps: numberOf(el.trainSteps, 'steps'), lambdaL2: numberOf(el.trainL2, 'lambdaL2'), client});
      runJob(trainUi, r.job, 'trainJob', async (data, summary) => {
        const done = data as unknown as MapperTrained;
        state.info = await api.info();
        fillMappers(state.info, done.mapper);
        el.trainStatus.textContent = `mapper ${done.mapper} trained: ${summary.replace(/^done: /, '')}; selected above`;
      });
    } catch (e) {
      showError(slots.train, e);
    }
  })();
});
el.trainCancel.addEventListener('click', () => {
  if (state.trainJob) void api.cancelJob(state.trainJob).catch((e: unknown) => showError(slots.train, e));
});

// ---- start-up: every default and range comes from /api/info

async function init(): Promise<void> {
  const info = await api.info();
  state.info = info;
  const d = info.defaults;
  el.modelInfo.textContent = `${info.model.name} · ${info.model.size}px · CLIP ${info.clip.embedDim}-d${info.global ? '' : ' · no relevance file'}`;
  el.truncation.value = String(d.truncation);
  el.neutral.value = d.neutral;
  for (const input of [el.neutral, el.target, el.optPrompt, el.trainPrompt]) input.maxLength = info.limits.maxPrompt;
  [el.alpha.min, el.alpha.max] = info.limits.alpha.map(String) as [string, string];
  [el.beta.min, el.beta.max] = info.limits.beta.map(String) as [string, string];
  setAlpha(d.alpha);
  // Auto β when the relevance file recommends it (the demo models), else the fixed β slider at the default.
  el.betaAuto.checked = d.minChannels !== null;
  el.minChannels.value = String(d.minChannels ?? 20);
  el.beta.value = String(d.beta ?? d.official.global.beta);
  syncBetaMode();
  el.optSteps.value = String(d.optimize.steps);
  el.optLr.value = String(d.optimize.lr);
  el.optL2.value = String(d.optimize.lambdaL2);
  el.optId.value = String(d.optimize.lambdaId);
  el.optIdLabel.title = `identity loss weight (${d.identity}; StyleCLIP uses ${d.official.optimize.lambdaId} for faces with ArcFace)`;
  el.trainSteps.value = String(d.mapperTrain.steps);
  const photo = info.photo;
  el.photoSteps.value = String(photo.steps);
  el.photoSteps.min = photo.method === 'encoder' ? '0' : '1';
  el.photoSteps.max = String(photo.maxSteps);
  el.photoStepsName.textContent = photo.method === 'encoder' ? 'Refine steps' : 'Projection steps';
  el.photoMethod.textContent =
    photo.method === 'encoder'
      ? `Photos are inverted with the encoder ${photo.encoder} (refine steps add projection after it).`
      : `This server has no encoder: photos are inverted by projection from the mean latent (${photo.steps} steps by default).`;
  el.trainL2.value = String(d.mapperTrain.lambdaL2);
  fillExamples(info.examples);
  if (!info.global) {
    el.globalPanel.classList.add('disabled');
    for (const c of el.globalPanel.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button')) c.disabled = true;
  }
  setSplit(50);
  fillMappers(info);
  await sample();
  document.body.dataset.ready = 'true';
}

void init().catch((e: unknown) => setStatus(messageOf(e)));
