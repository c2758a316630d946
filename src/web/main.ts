/**
 * The StyleCLIP web app: plain DOM + the server API. State is one chain of latents: `origin` (sampled or uploaded,
 * the "before" image) and `current` (after accepted edits); the global-direction sliders preview edits of
 * `current` live, Accept makes the preview the new `current`, Reset goes back to `origin`.
 */
import {ApiError, type Info, type JobStarted, type LatentResult, type PreviewResult, followJob, getJson, postJson, uploadLatent} from './api.js';

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
  label: $('latent-label'),
  dlImage: $<HTMLAnchorElement>('download-image'),
  dlLatent: $<HTMLAnchorElement>('download-latent'),
  status: $('status'),
  seed: $<HTMLInputElement>('seed'),
  truncation: $<HTMLInputElement>('truncation'),
  sample: $<HTMLButtonElement>('sample'),
  random: $<HTMLButtonElement>('random'),
  upload: $<HTMLInputElement>('upload'),
  globalPanel: $('global-panel'),
  neutral: $<HTMLInputElement>('neutral'),
  target: $<HTMLInputElement>('target'),
  alpha: $<HTMLInputElement>('alpha'),
  alphaValue: $<HTMLOutputElement>('alpha-value'),
  beta: $<HTMLInputElement>('beta'),
  betaValue: $<HTMLOutputElement>('beta-value'),
  betaAuto: $<HTMLInputElement>('beta-auto'),
  minChannels: $<HTMLInputElement>('min-channels'),
  channels: $<HTMLOutputElement>('channels'),
  accept: $<HTMLButtonElement>('accept'),
  reset: $<HTMLButtonElement>('reset'),
  optPrompt: $<HTMLInputElement>('opt-prompt'),
  optL2: $<HTMLInputElement>('opt-l2'),
  optId: $<HTMLInputElement>('opt-id'),
  optLr: $<HTMLInputElement>('opt-lr'),
  optSteps: $<HTMLInputElement>('opt-steps'),
  optStart: $<HTMLButtonElement>('opt-start'),
  optCancel: $<HTMLButtonElement>('opt-cancel'),
  optProgress: $<HTMLProgressElement>('opt-progress'),
  optStatus: $('opt-status'),
  mapperSelect: $<HTMLSelectElement>('mapper-select'),
  mapperApply: $<HTMLButtonElement>('mapper-apply'),
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

const state = {
  info: null as Info | null,
  origin: null as LatentResult | null,
  current: null as LatentResult | null,
  optJob: null as string | null,
  trainJob: null as string | null,
};

function setStatus(msg: string, kind: 'info' | 'error' = 'info'): void {
  el.status.textContent = msg;
  el.status.className = kind;
}

function reportError(e: unknown): void {
  setStatus(e instanceof ApiError ? e.message : `error: ${(e as Error).message}`, 'error');
}

function numberOf(input: HTMLInputElement, name: string): number {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(v)) throw new ApiError(0, `${name} must be a number`);
  return v;
}

function showAfter(url: string, kind: string): void {
  el.after.src = url;
  el.afterKind.textContent = kind ? `(${kind})` : '';
  el.dlImage.href = url;
}

/** Make `r` the current latent; `origin` also resets the "before" side. */
function setCurrent(r: LatentResult, {origin = false} = {}): void {
  state.current = r;
  if (origin || !state.origin) {
    state.origin = r;
    el.before.src = r.image;
  }
  showAfter(r.image, '');
  el.label.textContent = r.label;
  el.dlLatent.href = `/api/latents/${r.latentId}/download`;
  el.dlLatent.download = `latent-${r.latentId}.${r.wPlus ? 'npy' : 'safetensors'}`;
  el.mapperApply.disabled = !r.wPlus || el.mapperSelect.options.length === 0;
  setAlpha(0);
  el.channels.textContent = '–';
}

function setAlpha(v: number): void {
  el.alpha.value = String(v);
  el.alphaValue.textContent = Number(el.alpha.value).toFixed(1);
}

async function withBusy(button: HTMLButtonElement, fn: () => Promise<void>): Promise<void> {
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    reportError(e);
  } finally {
    button.disabled = false;
  }
}

// ---- image source

async function sample(): Promise<void> {
  const seed = numberOf(el.seed, 'seed');
  const truncation = numberOf(el.truncation, 'ψ');
  setStatus(`sampling seed ${seed}…`);
  setCurrent(await postJson<LatentResult>('/api/sample', {seed, truncation}), {origin: true});
  setStatus(`seed ${seed}`);
}

el.sample.addEventListener('click', () => void withBusy(el.sample, sample));
el.random.addEventListener('click', () => {
  el.seed.value = String(Math.floor(Math.random() * 100_000));
  void withBusy(el.random, sample);
});
el.upload.addEventListener('change', () => {
  const file = el.upload.files?.[0];
  if (!file) return;
  void (async () => {
    try {
      setStatus(`uploading ${file.name}…`);
      setCurrent(await uploadLatent(file), {origin: true});
      setStatus(`loaded ${file.name}`);
    } catch (e) {
      reportError(e);
    } finally {
      el.upload.value = '';
    }
  })();
});

// ---- global directions: live preview, at most one request in flight, the latest slider value wins

let previewBusy = false;
let previewDirty = false;

function globalParams(): Record<string, unknown> | null {
  const neutral = el.neutral.value.trim();
  const target = el.target.value.trim();
  if (!state.current || !neutral || !target) return null;
  const threshold = el.betaAuto.checked ? {minChannels: Math.max(1, Math.round(Number(el.minChannels.value) || 1))} : {beta: Number(el.beta.value)};
  return {latentId: state.current.latentId, neutral, target, alpha: Number(el.alpha.value), ...threshold};
}

async function preview(): Promise<void> {
  if (previewBusy) {
    previewDirty = true;
    return;
  }
  const params = globalParams();
  if (!params) return;
  previewBusy = true;
  try {
    const r = await postJson<PreviewResult>('/api/global/preview', params);
    showAfter(r.image, `preview α ${r.alpha.toFixed(1)}`);
    el.channels.textContent = String(r.channelsMoved);
    if (el.betaAuto.checked) el.betaValue.textContent = `${r.beta.toFixed(2)} (auto)`;
    el.channels.title = `β ${r.beta.toFixed(3)}, max |R| ${r.maxScore.toFixed(3)}`;
    if (el.status.className === 'error') setStatus('');
  } catch (e) {
    reportError(e);
  } finally {
    previewBusy = false;
  }
  if (previewDirty) {
    previewDirty = false;
    await preview();
  }
}

let textTimer: ReturnType<typeof setTimeout> | undefined;
for (const input of [el.neutral, el.target]) {
  input.addEventListener('input', () => {
    clearTimeout(textTimer);
    textTimer = setTimeout(() => void preview(), 400);
  });
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

el.accept.addEventListener('click', () =>
  void withBusy(el.accept, async () => {
    const params = globalParams();
    if (!params) throw new ApiError(0, 'type a neutral and a target text first');
    const r = await postJson<LatentResult & {channelsMoved: number}>('/api/global/accept', params);
    setCurrent(r);
    setStatus(`accepted: ${r.label} (${r.channelsMoved} channels)`);
  }),
);

el.reset.addEventListener('click', () => {
  if (!state.origin) return;
  setCurrent(state.origin, {origin: true});
  setStatus('reset to the original image');
});

// ---- jobs (optimisation, mapper training) with SSE progress

interface JobUi {
  start: HTMLButtonElement;
  cancel: HTMLButtonElement;
  progress: HTMLProgressElement;
  status: HTMLElement;
}

function runJob(ui: JobUi, id: string, onDone: (data: Record<string, unknown>) => void | Promise<void>, slot: 'optJob' | 'trainJob'): void {
  state[slot] = id;
  ui.start.disabled = true;
  ui.cancel.disabled = false;
  ui.progress.value = 0;
  const end = (msg: string, kind: 'info' | 'error' = 'info') => {
    state[slot] = null;
    ui.start.disabled = false;
    ui.cancel.disabled = true;
    ui.status.textContent = msg;
    ui.status.className = kind === 'error' ? 'error' : 'muted';
  };
  followJob(id, (event, data) => {
    switch (event) {
      case 'queued':
        ui.status.textContent = Number(data.position) > 0 ? `queued (position ${String(data.position)})` : 'starting…';
        break;
      case 'started':
        ui.status.textContent = 'started';
        break;
      case 'progress': {
        const step = Number(data.step);
        const steps = Number(data.steps);
        ui.progress.max = steps;
        ui.progress.value = step;
        const terms = ['loss', 'clip', 'l2', 'id'].filter((k) => data[k] !== undefined).map((k) => `${k} ${Number(data[k]).toFixed(4)}`).join(', ');
        ui.status.textContent = `step ${step}/${steps}: ${terms}`;
        if (typeof data.image === 'string') showAfter(data.image, `step ${step}`);
        break;
      }
      case 'done':
        end('done');
        void Promise.resolve(onDone(data)).catch(reportError);
        break;
      case 'failed':
        end(`failed: ${String(data.message)}`, 'error');
        break;
      case 'cancelled':
        end('cancelled');
        if (state.current) showAfter(state.current.image, '');
        break;
    }
  });
}

const optUi: JobUi = {start: el.optStart, cancel: el.optCancel, progress: el.optProgress, status: el.optStatus};
el.optStart.addEventListener('click', () => {
  void (async () => {
    try {
      if (!state.current) throw new ApiError(0, 'sample or upload an image first');
      const steps = numberOf(el.optSteps, 'steps');
      const body = {
        latentId: state.current.latentId,
        prompt: el.optPrompt.value,
        steps,
        lr: numberOf(el.optLr, 'lr'),
        lambdaL2: numberOf(el.optL2, 'λ_L2'),
        lambdaId: numberOf(el.optId, 'λ_ID'),
        saveEvery: Math.max(1, Math.round(steps / 25)),
        client,
      };
      const r = await postJson<JobStarted>('/api/optimize', body);
      runJob(optUi, r.job, (data) => {
        setCurrent(data as unknown as LatentResult);
        setStatus(`optimized: ${String(data.label)}`);
      }, 'optJob');
    } catch (e) {
      el.optStatus.textContent = e instanceof Error ? e.message : String(e);
      el.optStatus.className = 'error';
    }
  })();
});
el.optCancel.addEventListener('click', () => {
  if (state.optJob) void postJson(`/api/jobs/${state.optJob}/cancel`, {}).catch(reportError);
});

// ---- mappers

function fillMappers(info: Info, select?: string): void {
  el.mapperSelect.replaceChildren(
    ...info.mappers.map((m) => {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent = m.prompt ? `${m.name} — ${m.prompt}` : m.name;
      return o;
    }),
  );
  if (select) el.mapperSelect.value = select;
  el.mapperApply.disabled = info.mappers.length === 0 || !state.current?.wPlus;
}

el.mapperApply.addEventListener('click', () =>
  void withBusy(el.mapperApply, async () => {
    if (!state.current) throw new ApiError(0, 'sample or upload an image first');
    const r = await postJson<LatentResult>('/api/mapper/apply', {latentId: state.current.latentId, mapper: el.mapperSelect.value});
    setCurrent(r);
    setStatus(`applied ${r.label}`);
  }),
);

const trainUi: JobUi = {start: el.trainStart, cancel: el.trainCancel, progress: el.trainProgress, status: el.trainStatus};
el.trainStart.addEventListener('click', () => {
  void (async () => {
    try {
      const body = {prompt: el.trainPrompt.value, steps: numberOf(el.trainSteps, 'steps'), lambdaL2: numberOf(el.trainL2, 'λ_L2'), client};
      const r = await postJson<JobStarted>('/api/mapper/train', body);
      runJob(trainUi, r.job, async (data) => {
        state.info = await getJson<Info>('/api/info');
        fillMappers(state.info, String(data.mapper));
        el.trainStatus.textContent = `trained ${String(data.mapper)}`;
      }, 'trainJob');
    } catch (e) {
      el.trainStatus.textContent = e instanceof Error ? e.message : String(e);
      el.trainStatus.className = 'error';
    }
  })();
});
el.trainCancel.addEventListener('click', () => {
  if (state.trainJob) void postJson(`/api/jobs/${state.trainJob}/cancel`, {}).catch(reportError);
});

// ---- start-up

async function init(): Promise<void> {
  const info = await getJson<Info>('/api/info');
  state.info = info;
  el.modelInfo.textContent = `${info.model.name} · ${info.model.size}px · CLIP ${info.clip.embedDim}-d${info.global ? '' : ' · no relevance file'}`;
  el.truncation.value = String(info.defaults.truncation);
  el.neutral.value = info.defaults.neutral;
  // Auto β when the relevance file recommends it (the demo models), else the fixed β slider.
  el.betaAuto.checked = info.defaults.minChannels !== null;
  if (info.defaults.minChannels !== null) el.minChannels.value = String(info.defaults.minChannels);
  el.beta.value = String(info.defaults.beta ?? 0.15);
  syncBetaMode();
  el.optSteps.value = String(info.defaults.optimize.steps);
  el.optLr.value = String(info.defaults.optimize.lr);
  el.optL2.value = String(info.defaults.optimize.lambdaL2);
  el.optId.value = String(info.defaults.optimize.lambdaId);
  el.trainSteps.value = String(info.defaults.mapperTrain.steps);
  el.trainL2.value = String(info.defaults.mapperTrain.lambdaL2);
  if (!info.global) {
    el.globalPanel.classList.add('disabled');
    for (const c of el.globalPanel.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button')) c.disabled = true;
  }
  fillMappers(info);
  await sample();
  document.body.dataset.ready = 'true';
}

void init().catch(reportError);
