/**
 * StyleCLIP global directions, the edit (StyleCLIP.py GetDt/GetBoundary/SplitS @ f87a47f): R = fs3·Δt; zero |R| < β;
 * R /= max|R|; Δs_c = R_c·σ_c; s' = s + α·Δs (only the selected channels move). Δt is the CLIP text direction of a
 * prompt pair; fs3 and σ come from a relevance file (global-relevance-file.ts).
 *
 * Legend: N images, C_sel selected channels, E CLIP embedding width.
 */
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, toFloat32} from '../io/host-tensor.js';
import {promptDirection, type TextTokenizer} from '../models/clip/encode.js';
import type {CLIP} from '../models/clip/model.js';
import {generate} from '../models/generate.js';
import type {NoiseMode, StyleGAN2} from '../models/stylegan2.js';
import {checkStyles, locateChannel} from '../models/stylespace.js';
import {GLOBAL_DEFAULTS} from './global-defaults.js';
import {type Relevance, RelevanceMismatchError, checkGeneratorFingerprint} from './global-relevance-file.js';

/** R = fs3 · Δt [C_sel] (float64 accumulation). */
export function relevanceScores(rel: Relevance, direction: ArrayLike<number>): Float32Array {
  const E = rel.meta.clipEmbedDim;
  check(direction.length === E, `text direction has ${direction.length} values, the relevance is in a ${E}-d CLIP space`);
  const C = rel.channels.length;
  const r = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    const base = c * E;
    for (let e = 0; e < E; e++) s += rel.fs3[base + e]! * direction[e]!;
    r[c] = s;
  }
  return r;
}

/** The largest β that still moves ≥ k channels: the k-th largest |R| (all channels when fewer than k). */
export function autoBeta(scores: ArrayLike<number>, minChannels: number): number {
  check(Number.isInteger(minChannels) && minChannels >= 1, `min channels must be a positive integer, got ${minChannels}`);
  const a = Float64Array.from(scores, Math.abs).sort().reverse();
  check(a.length > 0, 'no channels in the relevance');
  return a[Math.min(minChannels, a.length) - 1]!;
}

export function checkBeta(beta: number): void {
  if (!(Number.isFinite(beta) && beta >= 0 && beta <= 1)) throw new StyleclipError(`beta must be in [0, 1] (|R| is a cosine; the official slider is 0.08…0.4), got ${beta}`);
}

/** A sparse StyleSpace step: flat S indices and Δs values (unit α). */
export interface StyleDelta {
  channels: Int32Array;
  delta: Float32Array;
  beta: number;
  /** max |R| before thresholding. */
  maxScore: number;
}

/**
 * GetBoundary + SplitS(if_std): keep |R| ≥ β, divide by max|R| of the kept, multiply by σ_c. Empty when nothing
 * passes β.
 */
export function styleDelta(rel: Relevance, scores: Float32Array, beta: number): StyleDelta {
  checkBeta(beta);
  let maxAbs = 0;
  let maxScore = 0;
  const keep: number[] = [];
  for (let c = 0; c < scores.length; c++) {
    const a = Math.abs(scores[c]!);
    maxScore = Math.max(maxScore, a);
    if (a >= beta && a > 0) {
      keep.push(c);
      maxAbs = Math.max(maxAbs, a);
    }
  }
  const channels = Int32Array.from(keep, (c) => rel.channels[c]!);
  const delta = Float32Array.from(keep, (c) => (scores[c]! / maxAbs) * rel.sStd[rel.channels[c]!]!);
  return {channels, delta, beta, maxScore};
}

/** s' = s + α·Δs on host S tensors (one [N, C_l] per layer); untouched channels are copied bit for bit. */
export function applyStyleDelta(g: StyleGAN2, styles: readonly HostTensor[], d: StyleDelta, alpha: number): HostTensor[] {
  check(Number.isFinite(alpha), `alpha must be a finite number, got ${alpha}`);
  const N = checkStyles(g, styles);
  const out = styles.map((t): HostTensor => ({dtype: 'float32', shape: [N, t.shape[1]!], data: Float32Array.from(toFloat32(t))}));
  if (alpha === 0) return out;
  for (let i = 0; i < d.channels.length; i++) {
    const {layer, index} = locateChannel(g, d.channels[i]!);
    const C = g.layers[layer]!.inChannels;
    const data = out[layer]!.data as Float32Array;
    for (let n = 0; n < N; n++) data[n * C + index]! += alpha * d.delta[i]!;
  }
  return out;
}

export interface EditStylesOptions {
  /** Edit strength α (default: the relevance's editDefaults, else the official 4.1; slider −10…10). 0 returns the input exactly. */
  alpha?: number;
  /** Threshold β (default: the relevance's editDefaults, else the official 0.15). Ignored when minChannels is given. */
  beta?: number;
  /** Auto β: the largest β that moves at least this many channels (AUTO_BETA_MIN_CHANNELS: 20 faces, 100 otherwise). */
  minChannels?: number;
}

export interface EditStylesResult {
  styles: HostTensor[];
  channelsMoved: number;
  beta: number;
  /** The α used. */
  alpha: number;
  /** max |R| over the selected channels (a β above it moves nothing). */
  maxScore: number;
}

/** Apply a global-direction edit to S (any number of rows; chains on already edited S). */
export function editStyles(g: StyleGAN2, rel: Relevance, styles: readonly HostTensor[], direction: ArrayLike<number>, opts: EditStylesOptions = {}): EditStylesResult {
  checkGeneratorFingerprint(g, rel);
  const {alpha, beta, d} = resolveEdit(rel, relevanceScores(rel, direction), opts);
  return {styles: applyStyleDelta(g, styles, d, alpha), channelsMoved: d.channels.length, beta, alpha, maxScore: d.maxScore};
}

/** The settings an edit uses when it names none: the file's recommendation, else the official defaults. */
export function editDefaultsOf(rel: Relevance): {alpha: number; beta?: number; minChannels?: number} {
  const d = rel.meta.editDefaults ?? {};
  const alpha = d.alpha ?? GLOBAL_DEFAULTS.alpha;
  if (d.minChannels !== undefined) return {alpha, minChannels: d.minChannels};
  return {alpha, beta: d.beta ?? GLOBAL_DEFAULTS.beta};
}


/** α, β and the sparse step of an edit: what the options name, else the relevance's defaults (editDefaultsOf). */
function resolveEdit(rel: Relevance, scores: Float32Array, opts: EditStylesOptions): {alpha: number; beta: number; d: StyleDelta} {
  const dflt = editDefaultsOf(rel);
  const alpha = opts.alpha ?? dflt.alpha;
  let beta: number;
  if (opts.minChannels !== undefined) beta = autoBeta(scores, opts.minChannels);
  else if (opts.beta !== undefined) beta = opts.beta;
  else beta = dflt.minChannels !== undefined ? autoBeta(scores, dflt.minChannels) : dflt.beta!;
  return {alpha, beta, d: styleDelta(rel, scores, beta)};
}

export interface GlobalEditOptions extends EditStylesOptions {
  neutral: string;
  target: string;
  /** Base S (one [N, C_l] tensor per layer), e.g. from generate({returnStyles: true}) or a previous edit. */
  styles: readonly HostTensor[];
  noise?: NoiseMode;
  templates?: readonly string[];
}

export interface GlobalEditResult extends EditStylesResult {
  image: HostTensor;
  direction: Float32Array;
}

function checkPrompt(text: string, which: string): void {
  if (typeof text !== 'string' || text.trim() === '') throw new StyleclipError(`the ${which} prompt is empty`);
}

/**
 * Interactive global-direction edits: holds the models and the relevance, caches text directions per
 * (neutral, target), and generates from S with the cached program, so a slider move costs one matvec and one
 * generator pass.
 */
export class GlobalEditor {
  readonly g: StyleGAN2;
  readonly clip: CLIP;
  readonly tokenizer: TextTokenizer;
  readonly relevance: Relevance;
  private readonly directions = new Map<string, Promise<Float32Array>>();
  private readonly scores = new Map<string, Float32Array>();

  constructor(g: StyleGAN2, clip: CLIP, tokenizer: TextTokenizer, relevance: Relevance) {
    checkGeneratorFingerprint(g, relevance);
    if (relevance.meta.clipEmbedDim !== clip.config.embedDim) {
      throw new RelevanceMismatchError(`relevance is in a ${relevance.meta.clipEmbedDim}-d CLIP space; this CLIP embeds to ${clip.config.embedDim}`);
    }
    this.g = g;
    this.clip = clip;
    this.tokenizer = tokenizer;
    this.relevance = relevance;
  }

  /** Δt for a prompt pair (79 templates averaged), cached. */
  direction(neutral: string, target: string, templates?: readonly string[]): Promise<Float32Array> {
    checkPrompt(neutral, 'neutral');
    checkPrompt(target, 'target');
    const key = JSON.stringify([neutral, target, templates ?? null]);
    let p = this.directions.get(key);
    if (!p) {
      p = promptDirection(this.clip, this.tokenizer, neutral, target, templates);
      this.directions.set(key, p);
      p.catch(() => this.directions.delete(key));
    }
    return p;
  }

  /** The settings an edit that names none uses (the relevance's editDefaults, else the official ones). */
  get defaults(): {alpha: number; beta?: number; minChannels?: number} {
    return editDefaultsOf(this.relevance);
  }

  /** R = fs3·Δt for a prompt pair, cached. */
  async scoresFor(neutral: string, target: string, templates?: readonly string[]): Promise<Float32Array> {
    const key = JSON.stringify([neutral, target, templates ?? null]);
    let r = this.scores.get(key);
    if (!r) {
      r = relevanceScores(this.relevance, await this.direction(neutral, target, templates));
      this.scores.set(key, r);
    }
    return r;
  }

  /** Edit S and render the result. */
  async edit(opts: GlobalEditOptions): Promise<GlobalEditResult> {
    const {noise = 'const'} = opts;
    const direction = await this.direction(opts.neutral, opts.target, opts.templates);
    const scores = await this.scoresFor(opts.neutral, opts.target, opts.templates);
    const {alpha, beta, d} = resolveEdit(this.relevance, scores, opts);
    const styles = applyStyleDelta(this.g, opts.styles, d, alpha);
    const {image} = await generate(this.g, {latent: styles, space: 's', noise});
    return {styles, image, direction, channelsMoved: d.channels.length, beta, alpha, maxScore: d.maxScore};
  }
}

/** One-shot global-direction edit: Δt from the prompts, edit S, render. For repeated edits use GlobalEditor. */
export async function globalEdit(g: StyleGAN2, clip: CLIP, tokenizer: TextTokenizer, rel: Relevance, opts: GlobalEditOptions): Promise<GlobalEditResult> {
  return new GlobalEditor(g, clip, tokenizer, rel).edit(opts);
}
