/**
 * Image generation with a StyleGAN2 generator: from z (or a seed), from W / W+, or directly from StyleSpace S.
 * Compiled programs are cached per (generator, batch size), so repeated calls only run ORT.
 */
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {input} from '../engine/tensor.js';
import {check} from '../errors.js';
import {type HostTensor, assertFinite} from '../io/host-tensor.js';
import {mulberry32Normal} from '../random.js';
import type {NoiseMode, StyleGAN2} from './stylegan2.js';
import {checkStyles, styleInputs} from './stylespace.js';

export type LatentSpace = 'z' | 'w' | 'w+' | 's';

export interface GenerateOptions {
  /** Latent codes: z [N,D] (space 'z'), W [N,D] ('w'), W+ [N,L,D] ('w+'), or one [N,C_k] tensor per S layer ('s'). */
  latent?: HostTensor | HostTensor[];
  space?: LatentSpace;
  /** Sample z ~ N(0, I) from this seed when no latent is given. */
  seed?: number;
  /** Batch size when sampling from a seed. */
  batch?: number;
  /** ψ: w' = avg + ψ (w − avg). Applies to z and W inputs. */
  truncation?: number;
  /** Truncate only the W+ rows before this one (StyleGAN2-ADA's truncation_cutoff); default: every row. */
  truncationCutoff?: number;
  /** 'const' = the checkpoint's noise buffers, 'random' = seeded N(0,1), 'zero' = none. */
  noise?: NoiseMode;
  noiseSeed?: number;
  /** Also return S (StyleSpace) vectors. */
  returnStyles?: boolean;
}

export interface GenerateResult {
  /** Raw generator output [N,3,H,W], nominally [-1, 1], not clamped. */
  image: HostTensor;
  /** The W+ latent used [N,L,D] (null when generating from S). */
  wPlus: HostTensor | null;
  /** StyleSpace vectors, when requested or when generating from S. */
  styles: HostTensor[] | null;
}

/** Sample z [N,D] from a seed (standard normal; not PyTorch's RNG stream). */
export function sampleZ(g: StyleGAN2, n: number, seed: number): HostTensor {
  const rng = mulberry32Normal(seed);
  const D = g.config.styleDim;
  const data = new Float32Array(n * D);
  for (let i = 0; i < data.length; i++) data[i] = rng();
  return {dtype: 'float32', shape: [n, D], data};
}

function shapeStr(s: readonly number[]) {
  return `[${s.join(', ')}]`;
}

/**
 * Map z or W to W+ with truncation (of the rows before `cutoff` only, when given, as StyleGAN2-ADA's
 * truncation_cutoff): one cached program per batch size.
 */
export async function toWPlus(g: StyleGAN2, latent: HostTensor, space: 'z' | 'w', truncation = 1, cutoff?: number): Promise<HostTensor> {
  const D = g.config.styleDim;
  const L = g.nLatent;
  check(cutoff === undefined || (Number.isInteger(cutoff) && cutoff >= 0), `truncation cutoff must be a non-negative integer, got ${cutoff}`);
  check(latent.shape.length === 2 && latent.shape[1] === D, `a ${space === 'z' ? 'z' : 'W'} latent must have shape [N, ${D}], got ${shapeStr(latent.shape)}`);
  check(truncation === 1 || g.latentAvg, 'truncation needs latent_avg, which this checkpoint does not have');
  const N = latent.shape[0]!;
  const x = input('x', [N, D]);
  const psi = input('psi', [1]);
  const w = space === 'z' ? g.mapping(x) : x;
  const k = Math.min(cutoff ?? L, L); // rows 0…k−1 are truncated
  const truncating = g.latentAvg !== null && k > 0;
  let rows = g.broadcast(w);
  if (truncating) {
    const wt = g.broadcast(g.truncateBy(w, psi));
    rows = k === L ? wt : F.concat([F.slice(wt, {1: [0, k]}), F.slice(rows, {1: [k, L]})], 1);
  }
  const prog = await compile(truncating ? [x, psi] : [x], [rows]);
  const feeds = truncating ? [latent.data as Float32Array, new Float32Array([truncation])] : [latent.data as Float32Array];
  const [wp] = await prog.run(feeds);
  return {dtype: 'float32', shape: wp!.shape, data: wp!.data as Float32Array};
}

/** Generate images. See GenerateOptions for the inputs; W+ is returned so edits can start from it. */
export async function generate(g: StyleGAN2, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const {truncation = 1, noise = 'const', noiseSeed = 0, returnStyles = false} = opts;
  check(Number.isFinite(truncation), 'truncation must be a finite number');
  let space = opts.space ?? (Array.isArray(opts.latent) ? 's' : 'z');
  let latent = opts.latent;
  if (latent === undefined) {
    const batch = opts.batch ?? 1;
    check(Number.isInteger(batch) && batch >= 1, `batch must be a positive integer, got ${batch}`);
    latent = sampleZ(g, batch, opts.seed ?? 0);
    space = 'z';
  }
  if (space === 's') {
    check(Array.isArray(latent), 'an S latent is a list of per-layer tensors');
    return generateFromStyles(g, latent, noise, noiseSeed);
  }
  check(!Array.isArray(latent), `a ${space} latent is a single tensor`);
  check(latent.data.length > 0, `a ${space} latent needs at least one value, got shape ${shapeStr(latent.shape)}`);
  assertFinite(latent, 'latent');
  let wPlus: HostTensor;
  if (space === 'w+') {
    const [L, D] = [g.nLatent, g.config.styleDim];
    check(latent.shape.length === 3 && latent.shape[1] === L && latent.shape[2] === D, `a W+ latent must have shape [N, ${L}, ${D}], got ${shapeStr(latent.shape)}`);
    wPlus = latent;
  } else {
    wPlus = await toWPlus(g, latent, space, truncation, opts.truncationCutoff);
  }
  const N = wPlus.shape[0]!;
  const wp = input('wplus', wPlus.shape);
  const nz = g.noiseInputs(N);
  const s = g.styles(wp);
  const img = g.synthesis(s, nz);
  const prog = await compile([wp, ...nz], returnStyles ? [img, ...s] : [img]);
  const out = await prog.run([wPlus.data as Float32Array, ...g.noiseArrays(noise, N, noiseSeed)]);
  const image: HostTensor = {dtype: 'float32', shape: out[0]!.shape, data: out[0]!.data as Float32Array};
  const styles = returnStyles ? out.slice(1).map((o) => ({dtype: 'float32' as const, shape: o.shape, data: o.data as Float32Array})) : null;
  return {image, wPlus, styles};
}

async function generateFromStyles(g: StyleGAN2, s: HostTensor[], noise: NoiseMode, noiseSeed: number): Promise<GenerateResult> {
  const N = checkStyles(g, s);
  const sIn = styleInputs(g, N);
  const nz = g.noiseInputs(N);
  const prog = await compile([...sIn, ...nz], [g.synthesis(sIn, nz)]);
  const out = await prog.run([...s.map((t) => t.data as Float32Array), ...g.noiseArrays(noise, N, noiseSeed)]);
  return {image: {dtype: 'float32', shape: out[0]!.shape, data: out[0]!.data as Float32Array}, wPlus: null, styles: s};
}
