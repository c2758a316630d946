/**
 * ToonGAN v2's latent decoding: z → the v2 world's factors (factors.ts) with no thresholds, so the distilled generator's
 * W can be near-linear in the factors and any W it reaches renders a valid face.
 *
 * As in v1 (lab/demo/toon-gan.ts) the decoding reads z after the mapping network's PixelNorm and turns each coordinate
 * into an exact uniform q ∈ (0, 1) with the sphere-coordinate CDF. Each attribute owns a few coordinates, one per
 * factor (colours: one per OKLab coordinate L, a, b); layout factors own one each. An attribute's factors follow a
 * mixture over its named values — each value a smooth box (a box convolved with a logistic of width `s`) around
 * the value's typical ranges (factors.ts `typicalRanges`; colours: an (a, b) square inside the typical chroma × hue
 * wedge), weighted by the value's schema probability — plus a thin uniform part (`GAP_SHARE`) over the whole range,
 * so the gaps between values have non-zero density. The decoding is the Knothe–Rosenblatt map of that mixture:
 * the attribute's first factor is the quantile of its marginal at q₁, the second the quantile of its conditional
 * given the first at q₂, and so on. Each factor is then a smooth function of its attribute's coordinates, strictly
 * increasing in its own one; samples follow the mixture, so most attributes land inside a named value's margin,
 * and crossing a gap takes a short but finite step in z. Colours come out as OKLab points (L, C = |(a, b)|, h = atan2).
 *
 * Layout factors are uniform in their ranges (geometry narrowed to GEOMETRY_RANGE around the middle, as in v1: a
 * small generator cannot resolve ±2 px of jitter and only blurs it); the curl phase is fixed.
 *
 * Style mixing: W+ rows own factor groups (`MIX_OWNER_V2`); a mixed latent's factors take each group from z1 when the
 * crossover lies above the group's owner, else from z2. Since each group's factors depend only on its own
 * coordinates, a mixed face is the decoding of the spliced uniforms.
 */
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {type AttributeName, attributeNames, attributeSchema} from '../../src/demo/attributes.js';
import {loadDemoClassifier, topValues} from '../../src/demo/classifier.js';
import {StyleclipError} from '../../src/errors.js';
import {readBytes} from '../../src/io/files.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {GEOMETRY_RANGE, type GanWorld, LATENT_DECODING_VERSION, sphereCoordinateCdf} from '../demo/toon-gan.js';
import {REGRESSION_WIDTH, regressionTargets} from './classifier.js';
import {type FactorName, type Factors, factorNames, factorSpecs, factorsOf, lerpFactors, namedValue, typicalRanges} from './factors.js';
import {renderFactorsTensor} from './render.js';

/** Version tag of the v2 latent decoding; stored in the asset's metadata. */
export const LATENT_DECODING_V2 = 'toongan-decode-world2-v2';

/** Share of each attribute's mass spread uniformly over its whole factor box (the gaps between values). */
export const GAP_SHARE = 0.08;
/**
 * Colours' share of uniform mass. Their L, a and b are decoded separably (each the quantile of its own marginal), so
 * a colour's region has a box as its preimage in q and W can stay linear in OKLab; a wider uniform part keeps each
 * one-dimensional map gentle across the gaps between the values' ranges.
 */
export const COLOUR_GAP_SHARE = 0.2;

/** One coordinate of an attribute's decoding: a factor, or an OKLab coordinate of a colour triple. */
interface Coordinate {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Logistic width of the components' edges. */
  readonly s: number;
}

/** A smooth box of one component along one coordinate (truncated to the coordinate's range). */
interface SoftBox {
  readonly lo: number;
  readonly hi: number;
}

interface AttributeModel {
  readonly attribute: AttributeName;
  readonly coords: readonly Coordinate[];
  /** Per value (schema order): its weight and its box per coordinate. */
  readonly components: readonly {weight: number; boxes: readonly SoftBox[]}[];
  /** Decode each coordinate from its own marginal (colours) instead of conditioning on the earlier ones. */
  readonly separable: boolean;
  /** Share of the uniform part over the whole box. */
  readonly gapShare: number;
  /** Write decoded coordinates into factors. */
  readonly apply: (x: readonly number[], f: Factors) => void;
}

const COLOUR_PREFIX: Partial<Record<AttributeName, 'hair' | 'eye' | 'bg'>> = {hairColor: 'hair', eyeColor: 'eye', background: 'bg'};
/** Half-range of the OKLab a and b coordinates of each colour (holds every typical colour of factors.ts). */
const AB_RANGE = {hair: 0.25, eye: 0.22, bg: 0.14} as const;
/** The lipstick hue as an unwrapped coordinate: [300°, 420°) covers pink, red and the hues of no lipstick. */
const LIPSTICK_HUE_RANGE = [300, 420] as const;
const rad = (d: number): number => (d * Math.PI) / 180;
const wrapWidth = (lo: number, hi: number): number => ((((hi - lo) % 360) + 360) % 360) || 360;

/**
 * How a decoding codes colours. 'lab': OKLab L, a and b, each the quantile of its own coordinate (the shipped
 * generator). 'polar': L and chroma C each from their own coordinate and the hue as the angle of a coordinate pair
 * (u, v) near the unit circle, chroma damped to 0 as (u, v) nears the origin (POLAR_CORE) so the map stays continuous:
 * a W linear in (L, C, u, v) makes "less chroma" one direction for every hue, and a long move toward a hue's (u, v)
 * end at that hue from any start.
 */
export type ColourCode = 'lab' | 'polar';
/** Radius of (u, v) below which a polar colour's chroma fades to 0 (smoothstep from 0 to this radius). */
export const POLAR_CORE = 0.35;
const smoothstep = (x: number): number => (x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x));

/** A polar colour's chroma and hue from its chroma coordinate c and hue pair (u, v). */
export function polarColour(c: number, u: number, v: number): {C: number; H: number} {
  return {C: c * smoothstep(Math.hypot(u, v) / POLAR_CORE), H: ((((Math.atan2(v, u) * 180) / Math.PI) % 360) + 360) % 360};
}

type Range = readonly [number, number];
/** Per value of a colour attribute (schema order): its weight and its typical L, C and h ranges. */
function colourValueRanges(attribute: AttributeName, [L, C, H]: readonly FactorName[]): {weight: number; l: Range; c: Range; h: Range}[] {
  const spec = attributeSchema[attribute];
  return spec.values.map((v, k) => {
    const r = (typicalRanges[attribute] as Record<string, Partial<Record<FactorName, readonly [number, number]>>>)[v]!;
    return {weight: spec.probs[k]!, l: r[L!]!, c: r[C!]!, h: r[H!]!};
  });
}

function colourModel(attribute: AttributeName, prefix: 'hair' | 'eye' | 'bg', code: ColourCode = 'lab'): AttributeModel {
  if (code === 'polar') return polarColourModel(attribute, prefix);
  const [L, C, H] = [`${prefix}L`, `${prefix}C`, `${prefix}H`] as FactorName[];
  const ab = AB_RANGE[prefix];
  const sAb = 0.1 * factorSpecs[C!].margin;
  const coords: Coordinate[] = [
    {name: L!, min: factorSpecs[L!].min, max: factorSpecs[L!].max, s: 0.1 * factorSpecs[L!].margin},
    {name: `${prefix}A`, min: -ab, max: ab, s: sAb},
    {name: `${prefix}B`, min: -ab, max: ab, s: sAb},
  ];
  const components = colourValueRanges(attribute, [L!, C!, H!]).map(({weight, l: [l0, l1], c: [c0, c1], h: [h0, h1]}) => {
    let ca = 0;
    let cb = 0;
    let half: number;
    if (c0 === 0) half = c1 / Math.SQRT2; // achromatic: a square inside the disc C ≤ c1
    else {
      const hw = wrapWidth(h0, h1) / 2;
      const cm = (c0 + c1) / 2;
      ca = cm * Math.cos(rad(h0 + hw));
      cb = cm * Math.sin(rad(h0 + hw));
      half = Math.min((c1 - c0) / 2, cm * Math.sin(rad(hw))) / Math.SQRT2; // a square inside the chroma × hue wedge
    }
    return {weight, boxes: [{lo: l0, hi: l1}, {lo: ca - half, hi: ca + half}, {lo: cb - half, hi: cb + half}]};
  });
  return {
    attribute, coords, components, separable: true, gapShare: COLOUR_GAP_SHARE,
    apply: ([l, a, b], f) => {
      f[L!] = l!;
      f[C!] = Math.hypot(a!, b!);
      f[H!] = ((((Math.atan2(b!, a!) * 180) / Math.PI) % 360) + 360) % 360;
    },
  };
}

/** The polar code of a colour: coordinates L, C, u, v (see ColourCode). */
function polarColourModel(attribute: AttributeName, prefix: 'hair' | 'eye' | 'bg'): AttributeModel {
  const [L, C, H] = [`${prefix}L`, `${prefix}C`, `${prefix}H`] as FactorName[];
  const sC = 0.1 * factorSpecs[C!].margin;
  const coords: Coordinate[] = [
    {name: L!, min: factorSpecs[L!].min, max: factorSpecs[L!].max, s: 0.1 * factorSpecs[L!].margin},
    {name: C!, min: factorSpecs[C!].min, max: factorSpecs[C!].max, s: sC},
    {name: `${prefix}U`, min: -1, max: 1, s: 0.02},
    {name: `${prefix}V`, min: -1, max: 1, s: 0.02},
  ];
  const components = colourValueRanges(attribute, [L!, C!, H!]).map(({weight, l: [l0, l1], c: [c0, c1], h: [h0, h1]}) => {
    // Achromatic values take any hue; a chromatic one a square on the unit circle inside its hue wedge.
    let box: [SoftBox, SoftBox] = [{lo: -1, hi: 1}, {lo: -1, hi: 1}];
    if (c0 > 0) {
      const hw = wrapWidth(h0, h1) / 2;
      const [cu, cv] = [Math.cos(rad(h0 + hw)), Math.sin(rad(h0 + hw))];
      const half = Math.min(0.3, Math.sin(rad(hw)) / Math.SQRT2);
      const clip = (lo: number, hi: number): SoftBox => ({lo: Math.max(-1, lo), hi: Math.min(1, hi)});
      box = [clip(cu - half, cu + half), clip(cv - half, cv + half)];
    }
    return {weight, boxes: [{lo: l0, hi: l1}, {lo: c0, hi: c1}, ...box]};
  });
  return {
    attribute, coords, components, separable: true, gapShare: COLOUR_GAP_SHARE,
    apply: ([l, c, u, v], f) => {
      f[L!] = l!;
      const {C: chroma, H: hue} = polarColour(c!, u!, v!);
      f[C!] = chroma;
      f[H!] = hue;
    },
  };
}

/** The order in which an attribute's factors are decoded (the most telling first). */
const FACTOR_ORDER: Partial<Record<AttributeName, readonly FactorName[]>> = {
  hairStyle: ['hairCoverage', 'hairSides', 'hairCrest', 'hairCurl', 'hairLength', 'hairFringe', 'hairVolume'],
  beard: ['beardJaw', 'beardChin', 'beardMoustache', 'beardDensity'],
  lipstick: ['lipstickIntensity', 'lipstickHue'],
};

function factorModel(attribute: AttributeName): AttributeModel {
  const names = FACTOR_ORDER[attribute] ?? factorsOf(attribute);
  const coords: Coordinate[] = names.map((n) => {
    const sp = factorSpecs[n] as {min: number; max: number; margin: number; circular?: boolean};
    const [min, max] = sp.circular ? LIPSTICK_HUE_RANGE : [sp.min, sp.max];
    return {name: n, min, max, s: 0.1 * sp.margin};
  });
  const spec = attributeSchema[attribute];
  const components = spec.values.map((v, k) => {
    const r = (typicalRanges[attribute] as Record<string, Partial<Record<FactorName, readonly [number, number]>>>)[v]!;
    return {
      weight: spec.probs[k]!,
      boxes: names.map((n, i) => {
        const [lo, hi] = r[n] ?? [coords[i]!.min, coords[i]!.max];
        if (!(factorSpecs[n] as {circular?: boolean}).circular) return {lo, hi};
        // Unwrap the hue range into the coordinate's interval.
        const base = LIPSTICK_HUE_RANGE[0];
        const a = base + ((((lo - base) % 360) + 360) % 360);
        return {lo: a, hi: a + wrapWidth(lo, hi)};
      }),
    };
  });
  return {
    attribute, coords, components, separable: false, gapShare: GAP_SHARE,
    apply: (x, f) => names.forEach((n, i) => {
      f[n] = (factorSpecs[n] as {circular?: boolean}).circular ? x[i]! % 360 : x[i]!;
    }),
  };
}

/** Every attribute's decoding model, in schema order, with colours in `code`. */
const modelsOf = (code: ColourCode): readonly AttributeModel[] => attributeNames.map((a) => {
  const prefix = COLOUR_PREFIX[a];
  return prefix ? colourModel(a, prefix, code) : factorModel(a);
});
const models = modelsOf('lab');
const modelsPolar = modelsOf('polar');

/** Layout factors read from z (one coordinate each), and the ones held fixed. */
const LAYOUT_FROM_Z = factorsOf('layout').filter((n) => n !== 'curlPhase');
const LAYOUT_COLOURS = new Set<FactorName>(['shirtL', 'shirtC', 'shirtH', 'frameL', 'frameC', 'frameH']);

/** z coordinates of each attribute (schema order, consecutive), then the layout factors. */
export const ATTRIBUTE_COORDS_V2: Readonly<Record<AttributeName, readonly number[]>> = (() => {
  let k = 0;
  return Object.fromEntries(models.map((m) => [m.attribute, m.coords.map(() => k++)])) as Record<AttributeName, number[]>;
})();
const FIRST_LAYOUT_DIM = models.reduce((n, m) => n + m.coords.length, 0);
/** Number of z dimensions the v2 decoding reads. */
export const USED_DIMS_V2 = FIRST_LAYOUT_DIM + LAYOUT_FROM_Z.length;
/** The z coordinate of each layout factor read from z. */
export const LAYOUT_COORDS_V2: Readonly<Partial<Record<FactorName, number>>> = Object.fromEntries(LAYOUT_FROM_Z.map((n, i) => [n, FIRST_LAYOUT_DIM + i]));
/**
 * The polar code's z coordinates: the lab code's (a colour's L, C and u take its L, a and b coordinates), and each
 * colour's fourth coordinate (v) after the layout's, so every other attribute keeps its coordinates.
 */
export const ATTRIBUTE_COORDS_POLAR: Readonly<Record<AttributeName, readonly number[]>> = (() => {
  let extra = USED_DIMS_V2;
  return Object.fromEntries(attributeNames.map((a) => [a, COLOUR_PREFIX[a] ? [...ATTRIBUTE_COORDS_V2[a], extra++] : ATTRIBUTE_COORDS_V2[a]])) as Record<AttributeName, number[]>;
})();
/** Number of z dimensions the polar decoding reads. */
export const USED_DIMS_POLAR = Math.max(...Object.values(ATTRIBUTE_COORDS_POLAR).flat()) + 1;

// ---------------------------------------------------------------------------------------------------------------
// The mixture's one-dimensional pieces

const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Untruncated CDF and density of a smooth box (box [lo, hi] convolved with a logistic of width s). */
const boxCdf = (x: number, b: SoftBox, s: number): number => (s * (softplus((x - b.lo) / s) - softplus((x - b.hi) / s))) / (b.hi - b.lo);
const boxDensity = (x: number, b: SoftBox, s: number): number => (sigmoid((x - b.lo) / s) - sigmoid((x - b.hi) / s)) / (b.hi - b.lo);

/**
 * Truncated to [c.min, c.max]: CDF and density of a component along a coordinate. Box edges inside the range move
 * inward by 3 logistic widths (at most 30 % of the box), so the smooth edge spills little past the typical range.
 */
function truncated(c: Coordinate, box: SoftBox): {cdf: (x: number) => number; density: (x: number) => number} {
  const inset = Math.min(3 * c.s, 0.3 * (box.hi - box.lo));
  const b = {lo: box.lo > c.min ? box.lo + inset : box.lo, hi: box.hi < c.max ? box.hi - inset : box.hi};
  const c0 = boxCdf(c.min, b, c.s);
  const mass = boxCdf(c.max, b, c.s) - c0;
  return {cdf: (x) => (boxCdf(x, b, c.s) - c0) / mass, density: (x) => boxDensity(x, b, c.s) / mass};
}

type Pieces = {weight: number; coords: {cdf: (x: number) => number; density: (x: number) => number}[]}[];
/** Per model: per component, per coordinate, the truncated CDF/density (component 0 is the uniform gap part). */
const piecesOf = (ms: readonly AttributeModel[]): Pieces[] => ms.map((m) => {
  const uniform = m.coords.map((c) => ({cdf: (x: number) => (x - c.min) / (c.max - c.min), density: () => 1 / (c.max - c.min)}));
  const total = m.components.reduce((s, k) => s + k.weight, 0);
  return [
    {weight: m.gapShare, coords: uniform},
    ...m.components.map((k) => ({weight: ((1 - m.gapShare) * k.weight) / total, coords: m.coords.map((c, i) => truncated(c, k.boxes[i]!))})),
  ];
});
const pieces = piecesOf(models);
const piecesPolar = piecesOf(modelsPolar);

/**
 * Decode one attribute from its uniforms: the Knothe–Rosenblatt map of its mixture, or for a separable model (colours)
 * each coordinate's own marginal quantile.
 */
function decodeAttribute(m: AttributeModel, comps: Pieces, q: readonly number[]): number[] {
  const w = comps.map((c) => c.weight);
  const x: number[] = [];
  m.coords.forEach((c, j) => {
    const total = w.reduce((s, v) => s + v, 0);
    const cdf = (v: number): number => {
      let s = 0;
      for (let k = 0; k < comps.length; k++) s += w[k]! * comps[k]!.coords[j]!.cdf(v);
      return s / total;
    };
    const target = q[j]!;
    let lo = c.min;
    let hi = c.max;
    for (let it = 0; it < 48; it++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid) < target) lo = mid;
      else hi = mid;
    }
    const v = (lo + hi) / 2;
    x.push(v);
    if (!m.separable) for (let k = 0; k < comps.length; k++) w[k]! *= comps[k]!.coords[j]!.density(v);
  });
  return x;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/** The uniforms of a latent row: q_i = CDF(PixelNorm(z)_i) for the used coordinates. */
export function latentUniforms(z: ArrayLike<number>, D = z.length, used = USED_DIMS_V2): Float64Array {
  if (D < used) throw new StyleclipError(`the ToonGAN v2 latent decoding needs style_dim ≥ ${used}, got ${D}`);
  let ss = 0;
  for (let i = 0; i < D; i++) ss += z[i]! * z[i]!;
  const inv = 1 / Math.sqrt(ss / D + 1e-8); // PixelNorm, as the mapping network applies it
  const q = new Float64Array(used);
  for (let i = 0; i < used; i++) q[i] = Math.min(1 - 1e-12, Math.max(1e-12, sphereCoordinateCdf(z[i]! * inv, D)));
  return q;
}

/** The factors of uniforms q ∈ (0, 1)^USED_DIMS_V2 (the decoding without PixelNorm and the sphere CDF); `code` 'polar' reads USED_DIMS_POLAR. */
export function decodeUniforms(q: ArrayLike<number>, code: ColourCode = 'lab'): Factors {
  const f = Object.fromEntries(factorNames.map((n) => [n, 0])) as Factors;
  const [ms, ps, coords] = code === 'polar' ? [modelsPolar, piecesPolar, ATTRIBUTE_COORDS_POLAR] : [models, pieces, ATTRIBUTE_COORDS_V2];
  ms.forEach((m, mi) => m.apply(decodeAttribute(m, ps[mi]!, coords[m.attribute].map((i) => q[i]!)), f));
  for (const n of factorsOf('layout')) {
    const {min, max} = factorSpecs[n];
    const dim = LAYOUT_COORDS_V2[n];
    if (dim === undefined) f[n] = (min + max) / 2;
    else {
      const u = q[dim]!;
      f[n] = LAYOUT_COLOURS.has(n) ? min + u * (max - min) : (min + max) / 2 + GEOMETRY_RANGE * (u - 0.5) * (max - min);
    }
  }
  return f;
}

/** The factors a latent z (one row of length D ≥ USED_DIMS_V2) stands for. Deterministic and pure. */
export function decodeLatentV2(z: ArrayLike<number>, D = z.length): Factors {
  return decodeUniforms(latentUniforms(z, D));
}

/** The factors a latent z stands for in the polar colour code (see ColourCode). */
export function decodeLatentPolar(z: ArrayLike<number>, D = z.length): Factors {
  return decodeUniforms(latentUniforms(z, D, USED_DIMS_POLAR), 'polar');
}

/** Factor groups of style mixing: the attributes, the layout geometry and the clothes/frame colours. */
export type FactorGroup = AttributeName | 'geometry' | 'clothes';

/**
 * The W+ index that owns each factor group: coarse layers the shapes (hair style at 8 px, glasses and beard, the mouth
 * at 16 px), the 32 px layers the colours, as in v1's MIX_OWNER; the geometry (index 0) always comes from z1.
 */
export const MIX_OWNER_V2: Readonly<Record<FactorGroup, number>> = Object.freeze({
  geometry: 0, hairStyle: 1, glasses: 2, beard: 2, mouth: 3, hairColor: 5, skinTone: 5, background: 5, clothes: 5, lipstick: 6, eyeColor: 7,
});

/** The group of a factor. */
export function factorGroup(n: FactorName): FactorGroup {
  const a = factorSpecs[n].attribute;
  if (a !== 'layout') return a;
  return LAYOUT_COLOURS.has(n) ? 'clothes' : 'geometry';
}

/** The z coordinates of each group. */
const groupCoordsOf = (coords: Readonly<Record<AttributeName, readonly number[]>>): Record<FactorGroup, number[]> => {
  const g = Object.fromEntries(Object.keys(MIX_OWNER_V2).map((k) => [k, [] as number[]])) as Record<FactorGroup, number[]>;
  for (const a of attributeNames) g[a].push(...coords[a]);
  for (const [n, d] of Object.entries(LAYOUT_COORDS_V2)) g[factorGroup(n as FactorName)].push(d!);
  return g;
};
const groupCoords = {lab: groupCoordsOf(ATTRIBUTE_COORDS_V2), polar: groupCoordsOf(ATTRIBUTE_COORDS_POLAR)};

/**
 * The factors of a mixed latent: W+ indices below `crossover` from z1, the rest from z2 (crossover in 1…L; a
 * crossover above every owner is decodeLatentV2(z1)). Each group comes whole from z1 or z2.
 */
export function decodeMixedV2(z1: ArrayLike<number>, z2: ArrayLike<number>, crossover: number, D = z1.length, code: ColourCode = 'lab'): Factors {
  if (!(Number.isInteger(crossover) && crossover >= 1)) throw new StyleclipError(`style-mixing crossover must be an integer ≥ 1, got ${crossover}`);
  const used = code === 'polar' ? USED_DIMS_POLAR : USED_DIMS_V2;
  const q = latentUniforms(z1, D, used);
  const q2 = latentUniforms(z2, D, used);
  for (const [g, dims] of Object.entries(groupCoords[code])) if (crossover <= MIX_OWNER_V2[g as FactorGroup]) for (const d of dims) q[d] = q2[d]!;
  return decodeUniforms(q, code);
}

/**
 * The v2 world for the ToonGAN trainer (lab/demo/train-gan.ts): this decoding, renderer v2, pixel weights on the small
 * features, and an auxiliary linear regression from W to the classifier's factor targets (every factor kept linearly
 * readable from W).
 */
export const toonGanV2World: GanWorld<Factors> = {
  name: 'v2',
  decodingVersion: LATENT_DECODING_V2,
  decodingDoc:
    `z' = PixelNorm(z); q_i = CDF of a sqrt(D)-scaled uniform-sphere coordinate at z'_i; z'[0..${FIRST_LAYOUT_DIM - 1}] -> the attributes' factors (lab/world2/toon-gan.ts: per attribute the Knothe-Rosenblatt map of a mixture of smooth boxes around the named values' typical ranges, ${GAP_SHARE} spread uniformly over the gaps; colours as OKLab L, a, b, each the quantile of its own marginal with ${COLOUR_GAP_SHARE} uniform); ` +
    `z'[${FIRST_LAYOUT_DIM}..${USED_DIMS_V2 - 1}] -> layout factors (geometry narrowed to ${GEOMETRY_RANGE} of its range); z'[${USED_DIMS_V2}..] unused`,
  decode: (z, D) => decodeLatentV2(z, D),
  decodeMixed: (z1, z2, c, D) => decodeMixedV2(z1, z2, c, D),
  interpolate: (a, b, t) => lerpFactors(a, b, t),
  render: (f, size) => renderFactorsTensor(f, size),
  bare: (f) => ({...f, glassesFrame: 0, beardDensity: 0, smile: 0, mouthOpen: 0, lipstickIntensity: 0}),
  aux: {kind: 'regression', width: REGRESSION_WIDTH},
  auxTargets: (f) => Float32Array.from(regressionTargets, (t) => t.encode(f)),
  namedAgreement: async (images, renders, faces, size) => {
    const file = fileURLToPath(new URL('../../assets/demo/classifier.safetensors', import.meta.url));
    if (!existsSync(file)) return null;
    const c = loadDemoClassifier(file);
    const shape = [faces.length, 3, size, size];
    const [ps, pr] = [await c.classify({dtype: 'float32', shape, data: images}), await c.classify({dtype: 'float32', shape, data: renders})];
    const out: Record<string, {samples: number; renders: number; n: number}> = {};
    for (const a of attributeNames) {
      let n = 0;
      let okS = 0;
      let okR = 0;
      faces.forEach((f, i) => {
        const v = namedValue(f, a);
        if (v === undefined) return;
        n++;
        if (topValues(ps[i]!)[a] === v) okS++;
        if (topValues(pr[i]!)[a] === v) okR++;
      });
      out[a] = {samples: okS / Math.max(1, n), renders: okR / Math.max(1, n), n};
    }
    return out;
  },
};

/** The demo world a ToonGAN file was distilled from, read from its `latent_decoding` metadata (a named error otherwise). */
export function generatorWorld(file: string): 'v1' | 'v2' {
  const version = parseSafetensors(readBytes(file, 'generator')).metadata.latent_decoding;
  if (version === LATENT_DECODING_VERSION) return 'v1';
  if (version === LATENT_DECODING_V2 || version === LATENT_DECODING_V2_POLAR) return 'v2';
  throw new StyleclipError(`${file}: not a demo-world generator (latent decoding '${version ?? ''}', expected ${LATENT_DECODING_VERSION}, ${LATENT_DECODING_V2} or ${LATENT_DECODING_V2_POLAR})`);
}

/** The v2 decoding of a v2 ToonGAN file (lab or polar colour code, by its `latent_decoding`). */
export function v2DecoderOf(file: string): (z: ArrayLike<number>, D: number) => Factors {
  return parseSafetensors(readBytes(file, 'generator')).metadata.latent_decoding === LATENT_DECODING_V2_POLAR ? decodeLatentPolar : decodeLatentV2;
}

// ---------------------------------------------------------------------------------------------------------------
// The polar colour code (an experiment: lab/world2/README.md, session 12)

/** Version tag of the polar-colour decoding. */
export const LATENT_DECODING_V2_POLAR = 'toongan-decode-world2-polar';
const POLAR_PREFIXES = ['hair', 'eye', 'bg'] as const;

/**
 * A share t of the way from a to b in the polar code: L and chroma on straight lines, the hue pair on the straight line
 * between the two unit hue vectors (chroma fading through POLAR_CORE when it passes near the origin); other factors as
 * lerpFactors.
 */
export function lerpPolar(a: Factors, b: Factors, t: number): Factors {
  const colourFactors = new Set<FactorName>(POLAR_PREFIXES.flatMap((p) => [`${p}L`, `${p}C`, `${p}H`] as FactorName[]));
  const out = lerpFactors(a, b, t, factorNames.filter((n) => !colourFactors.has(n)));
  for (const p of POLAR_PREFIXES) {
    const [L, C, H] = [`${p}L`, `${p}C`, `${p}H`] as FactorName[];
    const u = (1 - t) * Math.cos(rad(a[H!])) + t * Math.cos(rad(b[H!]));
    const v = (1 - t) * Math.sin(rad(a[H!])) + t * Math.sin(rad(b[H!]));
    const col = polarColour(a[C!] + t * (b[C!] - a[C!]), u, v);
    out[L!] = a[L!] + t * (b[L!] - a[L!]);
    out[C!] = col.C;
    out[H!] = col.H;
  }
  return out;
}

/** Auxiliary targets of the polar code: the classifier's, with each colour's (a, b) pair replaced by (C, cos h, sin h). */
const polarAuxEncoders: readonly ((f: Factors) => number)[] = regressionTargets.flatMap((t) => {
  const m = t.name.match(/^(hair|eye|bg)([AB])$/);
  if (!m) return [t.encode];
  const [C, H] = [`${m[1]}C`, `${m[1]}H`] as FactorName[];
  return m[2] === 'A' ? [(f: Factors) => f[C!] / factorSpecs[C!].max, (f: Factors) => Math.cos(rad(f[H!]))] : [(f: Factors) => Math.sin(rad(f[H!]))];
});

/**
 * The v2 world with the polar colour code: the same renderer, pixel weights and classifier evaluation; W kept
 * linearly readable in (L, C, cos h, sin h) per colour.
 */
export const toonGanV2PolarWorld: GanWorld<Factors> = {
  ...toonGanV2World,
  decodingVersion: LATENT_DECODING_V2_POLAR,
  decodingDoc:
    `as ${LATENT_DECODING_V2} (lab/world2/toon-gan.ts) but colours in the polar code: L, chroma and a hue pair (u, v) from their own coordinates (hue = atan2(v, u), chroma × smoothstep(|(u, v)| / ${POLAR_CORE})); ` +
    `the v coordinates of hair, eye and background colour are z'[${USED_DIMS_V2}..${USED_DIMS_POLAR - 1}]`,
  decode: (z, D) => decodeLatentPolar(z, D),
  decodeMixed: (z1, z2, c, D) => decodeMixedV2(z1, z2, c, D, 'polar'),
  interpolate: (a, b, t) => lerpPolar(a, b, t),
  aux: {kind: 'regression', width: polarAuxEncoders.length},
  auxTargets: (f) => Float32Array.from(polarAuxEncoders, (e) => e(f)),
};
