/**
 * ToonGAN, the demo StyleGAN2 of the offline demo world: its architecture config, the latent
 * decoding that defines what it was trained to draw, and its loader.
 *
 * ToonGAN is distilled from the renderer: a deterministic decoding maps every z ∈ R^D to renderer inputs
 * (attributes + continuous jitter), and G is trained so that G(z) ≈ render(decode(z)). The decoding reads z
 * after the mapping network's PixelNorm (z' = z / rms(z), exactly what the mapping sees), so the target is a
 * function of G's input. Each coordinate of z' has the marginal of a √D-scaled uniform point on the sphere;
 * its CDF turns it into an exact uniform q ∈ (0, 1), and
 *   - z'[0..8]  → the 9 attributes (schema order), value k where q falls in [P_{k−1}, P_k) of the cumulative
 *                 schema probabilities (so samples follow the renderer's attribute distribution);
 *   - z'[9..40] → the renderer's jitter uniforms (pose, face shape, feature placement, colours), in its slot
 *                 order; the rotation takes one dimension as an exact normal (Box–Muller pair set so that
 *                 angle = 0.04·Φ⁻¹(q)); the curl-texture hash seed is fixed (a hash is not learnable).
 *                 Geometric slots (pose, face shape, feature placement, hair shape; slots 0–18) are narrowed
 *                 to GEOMETRY_RANGE of their range around the middle (u = ½ + GEOMETRY_RANGE·(q − ½)): a small
 *                 generator trained for an hour on one core cannot resolve ±2 px of pose jitter and only
 *                 blurs it, while colours and attributes are what edits act on. Colour jitter keeps its range;
 *   - z'[41..]  → unused (G learns to ignore them).
 * One dimension per attribute makes the attributes independent, axis-aligned factors of z, which the mapping
 * network carries into W.
 */
import {existsSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {StyleclipError} from '../../src/errors.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import type {StyleGAN2, StyleGAN2Config} from '../../src/models/stylegan2.js';
import {type AttributeName, type FaceAttributes, attributeNames, attributeSchema, encodeAttributes} from '../../src/demo/attributes.js';
import {JITTER_UNIFORMS, jitterSlots, renderFaceTensor} from '../../src/demo/render.js';

/** Version tag of the latent decoding; stored in the asset's metadata. */
export const LATENT_DECODING_VERSION = 'toongan-decode-v2';

/** ToonGAN's architecture: 64 px, style_dim 64, 4 mapping layers, modest channels. */
export const toonGanConfig: StyleGAN2Config = {
  size: 64,
  styleDim: 64,
  nMlp: 4,
  channels: {4: 256, 8: 128, 16: 96, 32: 48, 64: 24},
  lrMlp: 0.01,
  blurKernel: [1, 3, 3, 1],
};

/** z dimensions of the attributes (schema order) and the first jitter dimension. */
export const ATTRIBUTE_DIMS: Readonly<Record<AttributeName, number>> = Object.fromEntries(attributeNames.map((n, i) => [n, i])) as Record<AttributeName, number>;
export const FIRST_JITTER_DIM = attributeNames.length;
/** Jitter slots fed from z (all but the rotation's second Box–Muller uniform and the texture seed). */
const JITTER_FROM_Z = Array.from({length: JITTER_UNIFORMS}, (_, k) => k).filter((k) => k !== jitterSlots.angleV && k !== jitterSlots.textureSeed);
/** Fraction of the renderer's geometric jitter range kept (slots before the colour jitter). */
export const GEOMETRY_RANGE = 0.3;
const LAST_GEOMETRY_SLOT = 18;

/** Number of z dimensions the decoding reads. */
export const USED_DIMS = FIRST_JITTER_DIM + JITTER_FROM_Z.length;

// ---------------------------------------------------------------------------------------------------------
// The CDF of one coordinate of z' = √D·u, u uniform on S^{D−1}: density ∝ (1 − t²/D)^((D−3)/2) on [−√D, √D].

const cdfTables = new Map<number, {lo: number; step: number; cdf: Float64Array}>();

function cdfTable(D: number) {
  let t = cdfTables.get(D);
  if (!t) {
    const n = 1 << 14;
    const lo = -Math.sqrt(D);
    const step = (2 * Math.sqrt(D)) / n;
    const dens = (x: number) => Math.max(0, 1 - (x * x) / D) ** ((D - 3) / 2);
    const cdf = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      const a = lo + i * step;
      cdf[i + 1] = cdf[i]! + (step / 6) * (dens(a) + 4 * dens(a + step / 2) + dens(a + step)); // Simpson per cell
    }
    const total = cdf[n]!;
    for (let i = 0; i <= n; i++) cdf[i]! /= total;
    cdfTables.set(D, (t = {lo, step, cdf}));
  }
  return t;
}

/** P(z'_i ≤ x) for a PixelNormed standard-normal z of width D: maps z'_i to a uniform in (0, 1). */
export function sphereCoordinateCdf(x: number, D: number): number {
  const {lo, step, cdf} = cdfTable(D);
  const f = (x - lo) / step;
  const n = cdf.length - 1;
  if (f <= 0) return 0;
  if (f >= n) return 1;
  const i = Math.floor(f);
  return cdf[i]! + (cdf[i + 1]! - cdf[i]!) * (f - i);
}

/** Φ⁻¹ (Acklam's rational approximation, |rel. error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - pl) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

// ---------------------------------------------------------------------------------------------------------

export interface DecodedLatent {
  attributes: FaceAttributes;
  /** The renderer's jitter uniforms (RenderOptions.jitter). */
  jitter: Float64Array;
}

const cumulative = new Map<AttributeName, number[]>(
  attributeNames.map((n) => {
    let acc = 0;
    return [n, attributeSchema[n].probs.map((p) => (acc += p))];
  }),
);

const ONE_MINUS = 1 - 2 ** -40;

/** The renderer inputs a latent z (one row of length D ≥ USED_DIMS) stands for. Deterministic and pure. */
export function decodeLatent(z: ArrayLike<number>, D = z.length): DecodedLatent {
  if (D < USED_DIMS) throw new StyleclipError(`the ToonGAN latent decoding needs style_dim ≥ ${USED_DIMS}, got ${D}`);
  let ss = 0;
  for (let i = 0; i < D; i++) ss += z[i]! * z[i]!;
  const inv = 1 / Math.sqrt(ss / D + 1e-8); // PixelNorm, as the mapping network applies it
  const q = (i: number) => Math.min(ONE_MINUS, Math.max(0, sphereCoordinateCdf(z[i]! * inv, D)));
  const attrs: Record<string, string> = {};
  for (const name of attributeNames) {
    const cum = cumulative.get(name)!;
    const u = q(ATTRIBUTE_DIMS[name]) * cum[cum.length - 1]!;
    let k = cum.findIndex((c) => u < c);
    if (k < 0) k = cum.length - 1;
    attrs[name] = attributeSchema[name].values[k]!;
  }
  const jitter = new Float64Array(JITTER_UNIFORMS);
  JITTER_FROM_Z.forEach((slot, j) => {
    const u = q(FIRST_JITTER_DIM + j);
    if (slot === jitterSlots.angleU) {
      // normal() = √(−2 ln(1 − u))·cos(2πv): |g| from u, the sign from v ∈ {0, ½}.
      const g = GEOMETRY_RANGE * normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, u)));
      jitter[slot] = -Math.expm1(-(g * g) / 2);
      jitter[jitterSlots.angleV] = g < 0 ? 0.5 : 0;
    } else jitter[slot] = slot <= LAST_GEOMETRY_SLOT ? 0.5 + GEOMETRY_RANGE * (u - 0.5) : u;
  });
  jitter[jitterSlots.textureSeed] = 0.5;
  return {attributes: attrs as FaceAttributes, jitter};
}

/**
 * Style mixing for distillation. StyleGAN2 trains on mixed W+ latents (the layers below a crossover take w(z1), the
 * rest w(z2)), which ties each layer to what it controls. A distilled generator needs a target for such a latent: each attribute
 * is owned by a W+ index and rendered from z1 when the crossover lies above its owner, else from z2. Coarse layers
 * decide the shapes (hair style at 8 px, glasses and beard, the mouth at 16 px), the 32 px layers the colours, as
 * StyleGAN's own layers come to do on faces. The face geometry (index 0) always comes from z1.
 */
export const MIX_OWNER: Readonly<Record<AttributeName, number>> = Object.freeze({
  hairStyle: 1, glasses: 2, beard: 2, mouth: 3, hairColor: 5, skinTone: 5, background: 5, lipstick: 6, eyeColor: 7,
});
/** Owner of the colour jitter (shades, the glasses frame colour): the colour layers. */
const COLOUR_JITTER_OWNER = 5;

/**
 * The renderer inputs of a mixed latent: W+ indices below `crossover` from z1, the rest from z2 (crossover in
 * 1…L; crossover ≥ L, or any crossover above every owner, is decodeLatent(z1)).
 */
export function decodeMixed(z1: ArrayLike<number>, z2: ArrayLike<number>, crossover: number, D = z1.length): DecodedLatent {
  if (!(Number.isInteger(crossover) && crossover >= 1)) throw new StyleclipError(`style-mixing crossover must be an integer ≥ 1, got ${crossover}`);
  const a = decodeLatent(z1, D);
  const b = decodeLatent(z2, D);
  const attrs: Record<string, string> = {};
  for (const name of attributeNames) attrs[name] = (crossover > MIX_OWNER[name] ? a : b).attributes[name];
  const jitter = Float64Array.from(a.jitter);
  if (crossover <= COLOUR_JITTER_OWNER) {
    for (let slot = LAST_GEOMETRY_SLOT + 1; slot < JITTER_UNIFORMS; slot++) if (slot !== jitterSlots.textureSeed) jitter[slot] = b.jitter[slot]!;
  }
  return {attributes: attrs as FaceAttributes, jitter};
}

/** The target image of one latent: render(decode(z)) as CHW floats in [−1, 1]. */
export function renderLatent(z: ArrayLike<number>, size = 64, D = z.length): Float32Array {
  const {attributes, jitter} = decodeLatent(z, D);
  return renderFaceTensor(attributes, {size, jitter});
}

/** Targets of a batch z [N·D]: [N, 3, size, size]. */
export function renderLatents(z: Float32Array, D: number, size = 64): Float32Array {
  const N = z.length / D;
  const plane = 3 * size * size;
  const out = new Float32Array(N * plane);
  for (let n = 0; n < N; n++) out.set(renderLatent(z.subarray(n * D, (n + 1) * D), size, D), n * plane);
  return out;
}

/**
 * What ToonGAN is distilled from: a latent decoding, its style-mixing targets and a renderer. The trainer
 * (train-gan.ts) reads only this, so the v1 world (here) and the v2 world (lab/world2/toon-gan.ts) share one trainer.
 */
export interface GanWorld<Face = unknown> {
  readonly name: 'v1' | 'v2';
  /** Stored as the asset's `latent_decoding`. */
  readonly decodingVersion: string;
  /** One line on the decoding, stored as the asset's `latent_decoding_doc`. */
  readonly decodingDoc: string;
  decode(z: ArrayLike<number>, D: number): Face;
  decodeMixed(z1: ArrayLike<number>, z2: ArrayLike<number>, crossover: number, D: number): Face;
  /**
   * A continuous world's face a share t of the way from a to b (every factor moved along its own straight line), for
   * interpolation training; absent in a categorical world.
   */
  interpolate?(a: Face, b: Face, t: number): Face;
  /** CHW floats in [−1, 1]. */
  render(face: Face, size: number): Float32Array;
  /** The same face without its small features (glasses, beard, mouth expression, lipstick): for the pixel weights. */
  bare(face: Face): Face;
  /**
   * Auxiliary targets on W (kept linearly readable by a head trained with G): one-hot blocks of the given widths
   * (softmax cross-entropy per block) or `width` regression values (squared error).
   */
  readonly aux: {readonly kind: 'softmax'; readonly widths: readonly number[]; readonly names: readonly string[]} | {readonly kind: 'regression'; readonly width: number};
  auxTargets(face: Face): Float32Array;
  /**
   * Optional evaluation with the world's own classifier: per attribute, on the faces whose decoded value is named, the
   * share of generated images and of their renders that the classifier reads as that value (null without a classifier).
   */
  namedAgreement?(images: Float32Array, renders: Float32Array, faces: readonly Face[], size: number): Promise<Record<string, {samples: number; renders: number; n: number}> | null>;
}

/** The small attributes whose pixels the pixel weights emphasise, and their 'absent' values. */
const SMALL_ATTRIBUTES = {beard: 'none', mouth: 'neutral', lipstick: 'none', glasses: 'none'} as const;
const LABEL_WIDTHS = attributeNames.map((n) => attributeSchema[n].values.length);

/** The v1 world: categorical attributes, the v1 renderer. */
export const toonGanV1World: GanWorld<DecodedLatent> = {
  name: 'v1',
  decodingVersion: LATENT_DECODING_VERSION,
  get decodingDoc() {
    return `z' = PixelNorm(z); q_i = CDF of a sqrt(D)-scaled uniform-sphere coordinate at z'_i; z'[0..8] -> attributes (${attributeNames.join(', ')}) by the schema's cumulative probabilities; ` +
      `z'[9..${USED_DIMS - 1}] -> renderer jitter slots (geometric slots 0-18 narrowed to ${GEOMETRY_RANGE} of their range around the middle, rotation = 0.04*${GEOMETRY_RANGE}*Phi^-1(q), curl texture seed fixed); z'[${USED_DIMS}..] unused`;
  },
  decode: (z, D) => decodeLatent(z, D),
  decodeMixed: (z1, z2, c, D) => decodeMixed(z1, z2, c, D),
  render: (f, size) => renderFaceTensor(f.attributes, {size, jitter: f.jitter}),
  bare: (f) => ({attributes: {...f.attributes, ...SMALL_ATTRIBUTES}, jitter: f.jitter}),
  aux: {kind: 'softmax', widths: LABEL_WIDTHS, names: attributeNames},
  auxTargets: (f) => {
    const out = new Float32Array(LABEL_WIDTHS.reduce((a, b) => a + b, 0));
    let off = 0;
    encodeAttributes(f.attributes).forEach((k, i) => {
      out[off + k] = 1;
      off += LABEL_WIDTHS[i]!;
    });
    return out;
  },
};

/** Width of a world's auxiliary target row. */
export function auxWidth(world: GanWorld): number {
  return world.aux.kind === 'softmax' ? world.aux.widths.reduce((a, b) => a + b, 0) : world.aux.width;
}

/** Default location of the shipped demo generator (assets/demo/generator.safetensors). */
export function defaultToonGanPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = path.resolve(here, up, 'assets/demo/generator.safetensors');
    if (existsSync(p)) return p;
  }
  return path.resolve(here, '../..', 'assets/demo/generator.safetensors');
}

/** Load ToonGAN (the shipped asset by default). */
export function loadToonGan(file = defaultToonGanPath()): StyleGAN2 {
  if (!existsSync(file)) throw new StyleclipError(`ToonGAN weights not found at '${file}' (train them with lab/scripts/train-gan.ts)`);
  return loadGenerator(file);
}
