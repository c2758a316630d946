/**
 * The v2 demo world's factor space: every attribute of a face is a handful of continuous factors, so every point
 * between two faces is itself a clean face (render.ts). The named values of today's vocabulary (src/demo/attributes.ts)
 * are regions of this space — unions of boxes, bounds on a few factors each — and a value is *named* (by a caption,
 * or as a label) only when the factors lie inside its region by at least a margin. Points between regions are valid
 * faces that no value names; captions leave those attributes out.
 *
 * Colours are OKLCh (lightness L, chroma C, hue h in degrees; oklab.ts). Factor ranges, margins and regions are data,
 * so captions, the sampler, the classifier labels and the tests read one table.
 */
import {type AttributeName, attributeNames, attributeSchema} from '../../src/demo/attributes.js';
import type {Rng} from '../../src/demo/rng.js';
import {hueDelta, oklchToOklab} from './oklab.js';

export interface FactorSpec {
  readonly min: number;
  readonly max: number;
  /** How far inside a region's bound a value must be to be named, in the factor's units. */
  readonly margin: number;
  /** Hue in degrees: wraps at 360 (min 0, max 360). */
  readonly circular?: boolean;
  /** The attribute the factor belongs to; 'layout' for pose, face shape and the colours no attribute names. */
  readonly attribute: AttributeName | 'layout';
}

const hue = (attribute: AttributeName | 'layout'): FactorSpec => ({min: 0, max: 360, margin: 6, circular: true, attribute});
const unit = (attribute: AttributeName, margin = 0.05): FactorSpec => ({min: 0, max: 1, margin, attribute});
const layout = (min: number, max: number): FactorSpec => ({min, max, margin: (max - min) / 20, attribute: 'layout'});

export const factorSpecs = {
  // hair colour, OKLCh
  hairL: {min: 0.12, max: 0.95, margin: 0.03, attribute: 'hairColor'},
  hairC: {min: 0, max: 0.28, margin: 0.015, attribute: 'hairColor'},
  hairH: hue('hairColor'),
  // hair style: length 0 = cut at the temples, 0.45 = jaw (bob), 0.75 = shoulders, 1 = the bottom of the image
  hairLength: unit('hairStyle'),
  hairVolume: unit('hairStyle'),
  /** curl amplitude: bumps on the outline and ring texture */
  hairCurl: unit('hairStyle'),
  /** fringe: how far the hair comes down over the forehead */
  hairFringe: unit('hairStyle'),
  /** mohawk crest height */
  hairCrest: unit('hairStyle'),
  /** side coverage: 1 = full head of hair, 0 = shaved sides (a strip in the middle) */
  hairSides: unit('hairStyle'),
  /** scalp coverage: 1 = full, 0 = bald (the hair recedes from the crown outward) */
  hairCoverage: unit('hairStyle'),
  // glasses
  glassesFrame: unit('glasses'),
  /** lens darkness; the lens shape follows it from round to the sunglasses' rounded box */
  glassesDark: unit('glasses'),
  // beard: coverage per region, and density (opacity over the skin)
  beardMoustache: unit('beard'),
  beardChin: unit('beard'),
  /** jaw and cheeks: the upper edge of the beard rises from below the chin to the cheekbones */
  beardJaw: unit('beard'),
  beardDensity: unit('beard'),
  // mouth
  smile: unit('mouth'),
  mouthOpen: unit('mouth'),
  // lipstick
  lipstickIntensity: unit('lipstick'),
  lipstickHue: hue('lipstick'),
  // skin tone along the light → dark curve through the v1 palette
  skinTone: unit('skinTone', 0.04),
  // eye colour, OKLCh
  eyeL: {min: 0.2, max: 0.8, margin: 0.03, attribute: 'eyeColor'},
  eyeC: {min: 0, max: 0.25, margin: 0.015, attribute: 'eyeColor'},
  eyeH: hue('eyeColor'),
  // background, OKLCh
  bgL: {min: 0.6, max: 1, margin: 0.02, attribute: 'background'},
  bgC: {min: 0, max: 0.16, margin: 0.01, attribute: 'background'},
  bgH: hue('background'),
  // layout (the v1 renderer's per-face jitter, now factors too)
  offsetX: layout(-2, 2), offsetY: layout(-2, 2), angle: layout(-0.09, 0.09), scale: layout(0.93, 1.06),
  faceRx: layout(13.6, 15.6), faceRy: layout(17.2, 19.3), eyeY: layout(-0.7, 0.7), eyeDx: layout(6.5, 7.5),
  browLift: layout(-0.4, 0.4), browTilt: layout(-0.35, 0.35), noseY: layout(-0.4, 0.4), mouthY: layout(-0.6, 0.6),
  mouthW: layout(0.9, 1.1), hairline: layout(-1, 1), hairPart: layout(-2.5, 2.5), curlPhase: layout(0, 1),
  shirtL: layout(0.35, 0.55), shirtC: layout(0.03, 0.1), shirtH: hue('layout'),
  frameL: layout(0.15, 0.35), frameC: layout(0, 0.07), frameH: hue('layout'),
} as const satisfies Record<string, FactorSpec>;

export type FactorName = keyof typeof factorSpecs;
export type Factors = Record<FactorName, number>;
export const factorNames = Object.keys(factorSpecs) as FactorName[];

/** The factors of one attribute ('layout' for the rest). */
export function factorsOf(attribute: AttributeName | 'layout'): FactorName[] {
  return factorNames.filter((n) => factorSpecs[n].attribute === attribute);
}

// ---------------------------------------------------------------------------------------------------------------
// Regions

/** lo ≤ factor ≤ hi (either side may be open). A circular factor's bound is the arc from lo up to hi (it may wrap). */
export interface Bound {
  readonly factor: FactorName;
  readonly lo?: number;
  readonly hi?: number;
}
/** All bounds hold. */
export type Box = readonly Bound[];
/** Any box holds. */
export type Region = readonly Box[];

/** Signed distance of a value inside a bound, in margins (≥ 0 inside, ≥ 1 clearly inside). */
export function boundSlack(f: Factors, b: Bound): number {
  const spec: FactorSpec = factorSpecs[b.factor];
  const v = f[b.factor];
  if (spec.circular) {
    const lo = b.lo ?? 0;
    const hi = b.hi ?? 360;
    const width = (((hi - lo) % 360) + 360) % 360;
    const p = (((v - lo) % 360) + 360) % 360;
    const d = p <= width ? Math.min(p, width - p) : -Math.min(p - width, 360 - p);
    return d / spec.margin;
  }
  let d = Infinity;
  if (b.lo !== undefined) d = Math.min(d, v - b.lo);
  if (b.hi !== undefined) d = Math.min(d, b.hi - v);
  return d / spec.margin;
}

/** How far inside a region the factors are, in margins: max over boxes of the min over their bounds. */
export function regionSlack(f: Factors, region: Region): number {
  let best = -Infinity;
  for (const box of region) {
    let s = Infinity;
    for (const b of box) s = Math.min(s, boundSlack(f, b));
    best = Math.max(best, s);
  }
  return best;
}

type Bounds = Partial<Record<FactorName, readonly [number | undefined, number | undefined]>>;
const box = (b: Bounds): Box => Object.entries(b).map(([factor, [lo, hi]]) => ({factor: factor as FactorName, ...(lo === undefined ? {} : {lo}), ...(hi === undefined ? {} : {hi})}));
const U = undefined;

/** Hair that is neither shaved nor a mohawk crest, and covers the scalp (the common part of four styles). */
const fullHead: Bounds = {hairCrest: [U, 0.3], hairSides: [0.65, U], hairCoverage: [0.6, U]};
const colour = (L: [number | undefined, number | undefined], C: [number | undefined, number | undefined], h?: [number, number], prefix = 'hair') => ({
  [`${prefix}L`]: L, [`${prefix}C`]: C, ...(h ? {[`${prefix}H`]: h} : {}),
}) as Bounds;

/** Every value of today's vocabulary as a region of the factor space (pairwise disjoint within an attribute). */
export const namedRegions: {readonly [A in AttributeName]: Readonly<Record<(typeof attributeSchema)[A]['values'][number], Region>>} = {
  hairColor: {
    black: [box(colour([0, 0.34], [U, 0.045]))],
    brown: [box(colour([0.3, 0.56], [0.05, 0.12], [40, 75]))],
    blonde: [box(colour([0.7, 0.95], [0.07, 0.2], [72, 105]))],
    red: [box(colour([0.42, 0.7], [0.125, 0.26], [22, 50]))],
    grey: [box(colour([0.58, 0.92], [U, 0.035]))],
    purple: [box(colour([0.3, 0.72], [0.11, U], [285, 330]))],
    blue: [box(colour([0.3, 0.75], [0.1, U], [235, 275]))],
    pink: [box(colour([0.6, 0.9], [0.09, U], [335, 10]))],
    green: [box(colour([0.35, 0.8], [0.09, U], [125, 165]))],
  },
  hairStyle: {
    short: [box({...fullHead, hairLength: [U, 0.2], hairCurl: [U, 0.3], hairFringe: [U, 0.4]})],
    long: [box({...fullHead, hairLength: [0.6, U], hairCurl: [U, 0.3]})],
    curly: [box({...fullHead, hairCurl: [0.6, U]})],
    bob: [box({...fullHead, hairLength: [0.28, 0.55], hairCurl: [U, 0.3], hairFringe: [0.55, U]})],
    mohawk: [box({hairCrest: [0.55, U], hairSides: [U, 0.35], hairCoverage: [0.6, U]})],
    bald: [box({hairCoverage: [U, 0.2]})],
  },
  glasses: {
    none: [box({glassesFrame: [U, 0.15]})],
    round: [box({glassesFrame: [0.6, U], glassesDark: [U, 0.3]})],
    sunglasses: [box({glassesFrame: [0.6, U], glassesDark: [0.7, U]})],
  },
  beard: {
    none: [box({beardDensity: [U, 0.1]}), box({beardMoustache: [U, 0.1], beardChin: [U, 0.1], beardJaw: [U, 0.1]})],
    full: [box({beardJaw: [0.65, U], beardDensity: [0.5, U]})],
    goatee: [box({beardJaw: [U, 0.25], beardChin: [0.6, U], beardMoustache: [0.5, U], beardDensity: [0.5, U]})],
    moustache: [box({beardJaw: [U, 0.25], beardChin: [U, 0.25], beardMoustache: [0.6, U], beardDensity: [0.5, U]})],
  },
  mouth: {
    neutral: [box({smile: [U, 0.25], mouthOpen: [U, 0.2]})],
    smiling: [box({smile: [0.6, U]})],
    surprised: [box({smile: [U, 0.3], mouthOpen: [0.6, U]})],
  },
  lipstick: {
    none: [box({lipstickIntensity: [U, 0.12]})],
    red: [box({lipstickIntensity: [0.6, U], lipstickHue: [10, 40]})],
    pink: [box({lipstickIntensity: [0.6, U], lipstickHue: [335, 5]})],
  },
  skinTone: {
    light: [box({skinTone: [U, 0.2]})],
    medium: [box({skinTone: [0.27, 0.48]})],
    tan: [box({skinTone: [0.52, 0.72]})],
    dark: [box({skinTone: [0.8, U]})],
  },
  eyeColor: {
    brown: [box(colour([0.25, 0.5], [0.04, 0.13], [35, 80], 'eye'))],
    blue: [box(colour([0.4, 0.75], [0.09, U], [230, 275], 'eye'))],
    green: [box(colour([0.4, 0.75], [0.09, U], [125, 165], 'eye'))],
  },
  background: {
    white: [box(colour([0.9, U], [U, 0.03], undefined, 'bg'))],
    yellow: [box(colour([0.8, U], [0.06, U], [88, 112], 'bg'))],
    blue: [box(colour([0.7, U], [0.035, U], [225, 265], 'bg'))],
    green: [box(colour([0.75, U], [0.04, U], [125, 160], 'bg'))],
    pink: [box(colour([0.75, U], [0.04, U], [335, 10], 'bg'))],
    orange: [box(colour([0.72, U], [0.06, U], [50, 78], 'bg'))],
  },
};

/** The region of one value. */
export function regionOf(attribute: AttributeName, value: string): Region {
  const r = (namedRegions[attribute] as Record<string, Region>)[value];
  if (!r) throw new RangeError(`no region for ${attribute} '${value}'`);
  return r;
}

/** When an attribute can be seen at all: hair colour needs hair on the head, eye colour lenses that are not dark. */
export const visibilityRegions: Partial<Record<AttributeName, Region>> = {
  hairColor: [box({hairCoverage: [0.4, U]})],
  eyeColor: [box({glassesFrame: [U, 0.3]}), box({glassesDark: [U, 0.5]})],
};

/** Whether an attribute is clearly visible (always, for those without a visibility region). */
export function isVisible(f: Factors, attribute: AttributeName): boolean {
  const r = visibilityRegions[attribute];
  return !r || regionSlack(f, r) >= 1;
}

/** The value a caption may name: the one whose region holds the factors by at least the margin, if the attribute is
 *  clearly visible; undefined in the gaps between regions (regions are disjoint, so at most one qualifies). */
export function namedValue(f: Factors, attribute: AttributeName): string | undefined {
  if (!isVisible(f, attribute)) return undefined;
  for (const [value, region] of Object.entries(namedRegions[attribute] as Record<string, Region>)) if (regionSlack(f, region) >= 1) return value;
  return undefined;
}

/** The value whose region holds the factors at all (no margin), for labels of a classifier; undefined in the gaps. */
export function regionValue(f: Factors, attribute: AttributeName): string | undefined {
  for (const [value, region] of Object.entries(namedRegions[attribute] as Record<string, Region>)) if (regionSlack(f, region) >= 0) return value;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Degrees: the words people add ("dark", "very long", "a slight smile"). A degree qualifies some values of one
// attribute (`values`), or stands alone (`values` empty: the phrase is said instead of a value).

export interface Degree {
  readonly attribute: AttributeName;
  readonly word: string;
  readonly values: readonly string[];
  readonly region: Region;
}

/** Lower (dark) or upper (light) 35 % of a colour region's lightness range. */
function lightness(attribute: AttributeName, value: string, side: 'dark' | 'light'): Region {
  const base = regionOf(attribute, value)[0]!;
  const lb = base.find((b) => b.factor.endsWith('L'))!;
  const lo = lb.lo ?? factorSpecs[lb.factor].min;
  const hi = lb.hi ?? factorSpecs[lb.factor].max;
  const cut = side === 'dark' ? lo + 0.35 * (hi - lo) : hi - 0.35 * (hi - lo);
  return [[...base.filter((b) => b !== lb), side === 'dark' ? {factor: lb.factor, lo, hi: cut} : {factor: lb.factor, lo: cut, hi}]];
}

const within = (attribute: AttributeName, value: string, extra: Bounds): Region => [[...regionOf(attribute, value)[0]!, ...box(extra)]];

export const degrees: readonly Degree[] = [
  ...(['brown', 'blonde', 'red', 'grey', 'purple', 'blue', 'pink', 'green'] as const).flatMap((v) =>
    (['dark', 'light'] as const).map((side) => ({attribute: 'hairColor' as const, word: side, values: [v], region: lightness('hairColor', v, side)}))),
  {attribute: 'hairColor', word: 'dark', values: [], region: [box({hairL: [U, 0.36]})]},
  {attribute: 'hairStyle', word: 'very long', values: ['long'], region: within('hairStyle', 'long', {hairLength: [0.9, U]})},
  {attribute: 'hairStyle', word: 'very short', values: ['short'], region: within('hairStyle', 'short', {hairLength: [U, 0.1], hairVolume: [U, 0.35]})},
  {attribute: 'hairStyle', word: 'very curly', values: ['curly'], region: within('hairStyle', 'curly', {hairCurl: [0.88, U]})},
  {attribute: 'glasses', word: 'tinted', values: [], region: [box({glassesFrame: [0.6, U], glassesDark: [0.4, 0.6]})]},
  {attribute: 'beard', word: 'stubble', values: [], region: [box({beardJaw: [0.65, U], beardDensity: [0.15, 0.4]})]},
  {attribute: 'beard', word: 'thick', values: ['full'], region: within('beard', 'full', {beardDensity: [0.85, U]})},
  {attribute: 'mouth', word: 'slight smile', values: [], region: [box({smile: [0.3, 0.5], mouthOpen: [U, 0.3]})]},
  {attribute: 'mouth', word: 'big smile', values: ['smiling'], region: within('mouth', 'smiling', {smile: [0.85, U], mouthOpen: [0.5, U]})},
  {attribute: 'lipstick', word: 'bright', values: ['red', 'pink'], region: [box({lipstickIntensity: [0.88, U]})]},
  {attribute: 'lipstick', word: 'subtle', values: [], region: [box({lipstickIntensity: [0.3, 0.5]})]},
  {attribute: 'skinTone', word: 'very pale', values: ['light'], region: within('skinTone', 'light', {skinTone: [U, 0.06]})},
  {attribute: 'skinTone', word: 'very dark', values: ['dark'], region: within('skinTone', 'dark', {skinTone: [0.94, U]})},
  {attribute: 'eyeColor', word: 'light', values: ['blue', 'green'], region: [box({eyeL: [0.63, U]})]},
  {attribute: 'eyeColor', word: 'dark', values: ['brown'], region: [box({eyeL: [U, 0.36]})]},
];

/** The degrees that clearly hold for a named value (or, with value undefined, the standalone ones). */
export function degreesFor(f: Factors, attribute: AttributeName, value: string | undefined): Degree[] {
  return degrees.filter((d) => d.attribute === attribute && (value === undefined ? d.values.length === 0 : d.values.includes(value)) && regionSlack(f, d.region) >= 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling

type Ranges = Partial<Record<FactorName, readonly [number, number]>>;
const shapeOf = (r: Ranges): Ranges => ({hairVolume: [0, 0.8], hairCurl: [0, 0.2], hairFringe: [0, 0.3], hairCrest: [0, 0.2], hairSides: [0.75, 1], hairCoverage: [0.72, 1], ...r});

/** Where the sampler draws a clean face of each value (inside the region's margin; the tests check it). A hue
 *  range [a, b] with b < a wraps through 360. */
export const typicalRanges: {readonly [A in AttributeName]: Readonly<Record<(typeof attributeSchema)[A]['values'][number], Ranges>>} = {
  hairColor: {
    black: {hairL: [0.16, 0.29], hairC: [0, 0.03], hairH: [20, 80]},
    brown: {hairL: [0.34, 0.52], hairC: [0.065, 0.105], hairH: [47, 68]},
    blonde: {hairL: [0.75, 0.9], hairC: [0.09, 0.17], hairH: [80, 97]},
    red: {hairL: [0.47, 0.65], hairC: [0.15, 0.22], hairH: [29, 43]},
    grey: {hairL: [0.63, 0.87], hairC: [0, 0.018], hairH: [60, 280]},
    purple: {hairL: [0.36, 0.66], hairC: [0.14, 0.24], hairH: [292, 323]},
    blue: {hairL: [0.36, 0.69], hairC: [0.13, 0.22], hairH: [242, 268]},
    pink: {hairL: [0.65, 0.85], hairC: [0.11, 0.2], hairH: [342, 3]},
    green: {hairL: [0.42, 0.74], hairC: [0.11, 0.2], hairH: [132, 158]},
  },
  hairStyle: {
    short: shapeOf({hairLength: [0, 0.13], hairVolume: [0, 0.7]}),
    long: shapeOf({hairLength: [0.68, 1], hairFringe: [0, 0.7]}),
    curly: shapeOf({hairLength: [0.1, 0.6], hairVolume: [0.4, 1], hairCurl: [0.68, 1], hairFringe: [0, 0.4]}),
    bob: shapeOf({hairLength: [0.34, 0.49], hairVolume: [0.1, 0.7], hairFringe: [0.62, 1]}),
    mohawk: shapeOf({hairLength: [0, 0.15], hairVolume: [0.2, 0.9], hairFringe: [0, 0.2], hairCrest: [0.63, 1], hairSides: [0, 0.27]}),
    bald: shapeOf({hairLength: [0, 0.3], hairVolume: [0, 0.5], hairCoverage: [0, 0.14]}),
  },
  glasses: {
    none: {glassesFrame: [0, 0.09], glassesDark: [0, 1]},
    round: {glassesFrame: [0.68, 1], glassesDark: [0, 0.22]},
    sunglasses: {glassesFrame: [0.68, 1], glassesDark: [0.78, 1]},
  },
  beard: {
    none: {beardMoustache: [0, 0.05], beardChin: [0, 0.05], beardJaw: [0, 0.05], beardDensity: [0.3, 1]},
    full: {beardMoustache: [0.6, 1], beardChin: [0.6, 1], beardJaw: [0.73, 1], beardDensity: [0.6, 1]},
    goatee: {beardMoustache: [0.6, 1], beardChin: [0.68, 1], beardJaw: [0, 0.18], beardDensity: [0.6, 1]},
    moustache: {beardMoustache: [0.68, 1], beardChin: [0, 0.18], beardJaw: [0, 0.18], beardDensity: [0.6, 1]},
  },
  mouth: {
    neutral: {smile: [0, 0.18], mouthOpen: [0, 0.13]},
    smiling: {smile: [0.68, 1], mouthOpen: [0.2, 0.9]},
    surprised: {smile: [0, 0.22], mouthOpen: [0.68, 1]},
  },
  lipstick: {
    none: {lipstickIntensity: [0, 0.06], lipstickHue: [330, 45]},
    red: {lipstickIntensity: [0.7, 1], lipstickHue: [17, 33]},
    pink: {lipstickIntensity: [0.7, 1], lipstickHue: [342, 358]},
  },
  skinTone: {light: {skinTone: [0, 0.15]}, medium: {skinTone: [0.32, 0.43]}, tan: {skinTone: [0.57, 0.67]}, dark: {skinTone: [0.85, 1]}},
  eyeColor: {
    brown: {eyeL: [0.3, 0.46], eyeC: [0.06, 0.11], eyeH: [42, 73]},
    blue: {eyeL: [0.45, 0.7], eyeC: [0.11, 0.2], eyeH: [240, 265]},
    green: {eyeL: [0.45, 0.7], eyeC: [0.11, 0.2], eyeH: [135, 155]},
  },
  background: {
    white: {bgL: [0.94, 1], bgC: [0, 0.012], bgH: [60, 120]},
    yellow: {bgL: [0.85, 0.96], bgC: [0.08, 0.13], bgH: [96, 104]},
    blue: {bgL: [0.78, 0.9], bgC: [0.05, 0.08], bgH: [235, 255]},
    green: {bgL: [0.82, 0.93], bgC: [0.06, 0.1], bgH: [134, 151]},
    pink: {bgL: [0.82, 0.93], bgC: [0.055, 0.085], bgH: [344, 1]},
    orange: {bgL: [0.77, 0.88], bgC: [0.085, 0.13], bgH: [57, 71]},
  },
};

function drawIn(rng: Rng, factor: FactorName, [lo, hi]: readonly [number, number]): number {
  if ((factorSpecs[factor] as FactorSpec).circular) {
    const width = (((hi - lo) % 360) + 360) % 360 || 360;
    return (lo + rng.uniform(0, width)) % 360;
  }
  return rng.uniform(lo, hi);
}

/** Draw the factors of one value of one attribute into `f`. */
export function drawValue(rng: Rng, f: Factors, attribute: AttributeName, value: string): void {
  const ranges = (typicalRanges[attribute] as Record<string, Ranges>)[value];
  if (!ranges) throw new RangeError(`no sampling ranges for ${attribute} '${value}'`);
  for (const factor of factorsOf(attribute)) f[factor] = drawIn(rng, factor, ranges[factor] ?? [factorSpecs[factor].min, factorSpecs[factor].max]);
}

/** The OKLCh triples among the factors: they interpolate along straight lines in OKLab. */
export const colourTriples: readonly (readonly [FactorName, FactorName, FactorName])[] = [['hairL', 'hairC', 'hairH'], ['eyeL', 'eyeC', 'eyeH'], ['bgL', 'bgC', 'bgH']];

/**
 * Linear interpolation of two factor vectors: colours along the straight OKLab line (so an achromatic end, whose
 * hue means nothing, does not drag the path through other hues), other hues along the shorter arc, the rest linearly.
 */
export function lerpFactors(a: Factors, b: Factors, t: number, only: readonly FactorName[] = factorNames): Factors {
  const out = {...a};
  const todo = new Set(only);
  for (const [l, c, h] of colourTriples) {
    if (!(todo.has(l) && todo.has(c) && todo.has(h))) continue;
    const [pl, pa, pb] = oklchToOklab(a[l], a[c], a[h]);
    const [, qa, qb] = oklchToOklab(b[l], b[c], b[h]);
    const x = pa + t * (qa - pa);
    const y = pb + t * (qb - pb);
    out[l] = pl + t * (b[l] - pl);
    out[c] = Math.sqrt(x * x + y * y);
    // At zero chroma the hue is immaterial; keep it continuous by falling back to the arc.
    out[h] = out[c] > 1e-9 ? ((((Math.atan2(y, x) * 180) / Math.PI) % 360) + 360) % 360 : (((a[h] + t * hueDelta(a[h], b[h])) % 360) + 360) % 360;
    todo.delete(l);
    todo.delete(c);
    todo.delete(h);
  }
  for (const n of todo) {
    out[n] = (factorSpecs[n] as FactorSpec).circular ? (((a[n] + t * hueDelta(a[n], b[n])) % 360) + 360) % 360 : a[n] + t * (b[n] - a[n]);
  }
  return out;
}

export interface SampledFace {
  factors: Factors;
  /** The value each attribute was drawn from; for an in-between attribute the pair and the blend t. */
  drawn: Record<AttributeName, string | {from: string; to: string; t: number}>;
}

/**
 * Draw a face for training: every attribute a value from its schema probability, its factors uniform in the value's
 * typical ranges; with probability `intermediate` per attribute instead a point on the line between two values
 * (t uniform in [0, 1]), which the captions name only where it is clearly inside some region. Layout factors are
 * uniform in their ranges. Draws in a fixed order, so a face is a pure function of the Rng state.
 */
export function sampleFactors(rng: Rng, intermediate = 0): SampledFace {
  const f = Object.fromEntries(factorNames.map((n) => [n, 0])) as Factors;
  for (const n of factorsOf('layout')) f[n] = drawIn(rng, n, [factorSpecs[n].min, factorSpecs[n].max]);
  const drawn = {} as SampledFace['drawn'];
  for (const a of attributeNames) {
    const spec = attributeSchema[a];
    const pick = (): string => rng.weighted(spec.values, spec.probs);
    const v = pick();
    drawValue(rng, f, a, v);
    const blendU = rng.next();
    const w = pick();
    const t = rng.next();
    if (blendU < intermediate && w !== v) {
      const g = {...f};
      drawValue(rng, g, a, w);
      Object.assign(f, lerpFactors(f, g, t, factorsOf(a)));
      drawn[a] = {from: v, to: w, t};
    } else drawn[a] = v;
  }
  return {factors: f, drawn};
}

/** A mid-range face (every factor at a fixed value of a named value): the reference of tests and contact sheets. */
export function prototypeFactors(values: Partial<Record<AttributeName, string>> = {}): Factors {
  const f = Object.fromEntries(factorNames.map((n) => [n, (factorSpecs[n].min + factorSpecs[n].max) / 2])) as Factors;
  f.angle = 0;
  f.offsetX = 0;
  f.offsetY = 0;
  f.scale = 1;
  const defaults: Record<AttributeName, string> = {
    hairColor: 'brown', hairStyle: 'short', glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none', skinTone: 'light', eyeColor: 'brown', background: 'blue',
  };
  for (const a of attributeNames) {
    const ranges = (typicalRanges[a] as Record<string, Ranges>)[values[a] ?? defaults[a]!]!;
    for (const n of factorsOf(a)) {
      const [lo, hi] = ranges[n] ?? [factorSpecs[n].min, factorSpecs[n].max];
      f[n] = (factorSpecs[n] as FactorSpec).circular ? ((lo + ((((hi - lo) % 360) + 360) % 360 || 360) / 2) % 360) : (lo + hi) / 2;
    }
  }
  return f;
}
