/**
 * The v2 evaluation classifier's data: labels and regression targets of a face's factors, the training batches and
 * the held-out evaluation. The network is src/demo's classifier (the same convs and attribute heads) with a linear
 * regression head on the same features (`ClassifierConfig.regression`); lab/demo/train-classifier.ts trains it with
 * `world: 'v2'`.
 *
 * Labels: `regionValue` (the region that holds the factors, no margin), only where the attribute can be seen (the
 * visibility region holds, no margin); faces in the gaps between regions get no label for that attribute (masked).
 *
 * Regression targets (`regressionTargets`), each in about [−1, 1]: unit factors as they are; each OKLCh colour as
 * its OKLab point (L scaled to the factor's range, a = C·cos h and b = C·sin h over the factor's chroma range: the
 * hue as cos/sin, weighted by chroma, which stays defined on achromatic colours); the lipstick hue as cos/sin. A target
 * is masked where it cannot be seen: hair colour on (nearly) bald heads, eye colour behind dark glasses, the
 * lipstick hue without lipstick, the lens darkness without glasses, beard density without beard coverage and the
 * coverages without density, hair shape on a bald head.
 */
import {type AttributeName, attributeNames, attributeValues} from '../../src/demo/attributes.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {type FactorName, type Factors, factorSpecs, namedValue, regionSlack, regionValue, sampleFactors, visibilityRegions} from './factors.js';
import {renderFactorsTensor} from './render.js';

/** A regression target: its name and which factor (or colour) it reads. */
export interface RegressionTarget {
  readonly name: string;
  /** The factor it measures (for colours: the triple's L, C or H factor, by the component). */
  readonly factor: FactorName;
  readonly encode: (f: Factors) => number;
  /** Whether the target can be seen on this face. */
  readonly visible: (f: Factors) => boolean;
}

const rad = (deg: number): number => (deg * Math.PI) / 180;
const span = (n: FactorName): number => factorSpecs[n].max - factorSpecs[n].min;
const hairSeen = (f: Factors): boolean => regionSlack(f, visibilityRegions.hairColor!) >= 0;
const eyeSeen = (f: Factors): boolean => regionSlack(f, visibilityRegions.eyeColor!) >= 0;
const always = (): boolean => true;

function colourTargets(prefix: 'hair' | 'eye' | 'bg', visible: (f: Factors) => boolean): RegressionTarget[] {
  const [L, C, H] = [`${prefix}L`, `${prefix}C`, `${prefix}H`] as FactorName[];
  const cmax = factorSpecs[C!].max;
  return [
    {name: L!, factor: L!, encode: (f) => (2 * (f[L!] - factorSpecs[L!].min)) / span(L!) - 1, visible},
    {name: `${prefix}A`, factor: C!, encode: (f) => (f[C!] * Math.cos(rad(f[H!]))) / cmax, visible},
    {name: `${prefix}B`, factor: H!, encode: (f) => (f[C!] * Math.sin(rad(f[H!]))) / cmax, visible},
  ];
}

const unitTarget = (n: FactorName, visible: (f: Factors) => boolean = always): RegressionTarget => ({name: n, factor: n, encode: (f) => f[n], visible});
const hairShape = (f: Factors): boolean => f.hairCoverage >= 0.3;
const lipstickSeen = (f: Factors): boolean => f.lipstickIntensity >= 0.35;

/** The classifier's regression outputs, in order. */
export const regressionTargets: readonly RegressionTarget[] = [
  ...colourTargets('hair', hairSeen),
  ...(['hairLength', 'hairVolume', 'hairCurl', 'hairFringe', 'hairCrest', 'hairSides'] as const).map((n) => unitTarget(n, hairShape)),
  unitTarget('hairCoverage'),
  unitTarget('glassesFrame'),
  unitTarget('glassesDark', (f) => f.glassesFrame >= 0.3),
  ...(['beardMoustache', 'beardChin', 'beardJaw'] as const).map((n) => unitTarget(n, (f) => f.beardDensity >= 0.2)),
  unitTarget('beardDensity', (f) => Math.max(f.beardMoustache, f.beardChin, f.beardJaw) >= 0.2),
  unitTarget('smile'),
  unitTarget('mouthOpen'),
  unitTarget('lipstickIntensity'),
  {name: 'lipstickCos', factor: 'lipstickHue', encode: (f) => Math.cos(rad(f.lipstickHue)), visible: lipstickSeen},
  {name: 'lipstickSin', factor: 'lipstickHue', encode: (f) => Math.sin(rad(f.lipstickHue)), visible: lipstickSeen},
  unitTarget('skinTone'),
  ...colourTargets('eye', eyeSeen),
  ...colourTargets('bg', always),
];
export const REGRESSION_WIDTH = regressionTargets.length;
export const regressionTargetNames = (): string[] => regressionTargets.map((t) => t.name);

/** The classifier label of one attribute: the region holding the factors where the attribute can be seen; else undefined. */
export function labelOf(f: Factors, attribute: AttributeName): string | undefined {
  const vis = visibilityRegions[attribute];
  if (vis && regionSlack(f, vis) < 0) return undefined;
  return regionValue(f, attribute);
}

/** Width of the one-hot label block (all attributes, schema order). */
export const LABEL_WIDTH = attributeNames.reduce((n, a) => n + attributeValues(a).length, 0);

/** One-hot labels [n, Σ values] (a block is all zero where the label is masked), regression targets [n, R] and their masks. */
export function encodeFaces(faces: readonly Factors[]): {labels: Float32Array; regression: Float32Array; mask: Float32Array} {
  const n = faces.length;
  const labels = new Float32Array(n * LABEL_WIDTH);
  const regression = new Float32Array(n * REGRESSION_WIDTH);
  const mask = new Float32Array(n * REGRESSION_WIDTH);
  faces.forEach((f, i) => {
    let off = 0;
    for (const a of attributeNames) {
      const v = labelOf(f, a);
      const values: readonly string[] = attributeValues(a);
      if (v !== undefined) labels[i * LABEL_WIDTH + off + values.indexOf(v)] = 1;
      off += values.length;
    }
    regressionTargets.forEach((t, j) => {
      regression[i * REGRESSION_WIDTH + j] = t.encode(f);
      mask[i * REGRESSION_WIDTH + j] = t.visible(f) ? 1 : 0;
    });
  });
  return {labels, regression, mask};
}

/** Share of faces drawn between two values per attribute, in training and in the held-out "all faces" set. */
export const TRAIN_INTERMEDIATE = 0.5;

/** `n` faces of a seed stream: sampleFactors in order from Rng(seed). */
export function sampleFaces(n: number, seed: number, intermediate: number): Factors[] {
  const rng = new Rng(seed);
  return Array.from({length: n}, () => sampleFactors(rng, intermediate).factors);
}

/** Render faces as a batch [n, 3, size, size] in [-1, 1]. */
export function renderFaces(faces: readonly Factors[], size: number): Float32Array {
  const plane = 3 * size * size;
  const out = new Float32Array(faces.length * plane);
  faces.forEach((f, i) => renderFactorsTensor(f, size, out, i * plane));
  return out;
}

/**
 * The v2 training batch of a step (pure in (stream, seed, step)): faces from sampleFactors with in-between values,
 * rendered, with per-image Gaussian pixel noise σ uniform in [0, noise]; labels, regression targets and masks.
 */
export function trainingBatchV2(step: number, {batch, seed, noise, stream, size}: {batch: number; seed: number; noise: number; stream: number; size: number}): Float32Array[] {
  const faces = sampleFaces(batch, hashSeed(stream, seed, step, 2), TRAIN_INTERMEDIATE);
  const images = renderFaces(faces, size);
  if (noise > 0) {
    const rng = new Rng(hashSeed(stream, seed, step, 1));
    const per = images.length / batch;
    for (let i = 0; i < batch; i++) {
      const sigma = rng.uniform(0, noise);
      for (let j = i * per; j < (i + 1) * per; j++) images[j]! += sigma * rng.normal();
    }
  }
  const {labels, regression, mask} = encodeFaces(faces);
  return [images, labels, regression, mask];
}

/** Decode regression outputs into factor units: L, C and hue (degrees) of the colours, the lipstick hue, the unit factors. */
export function decodeRegression(r: ArrayLike<number>): Partial<Factors> {
  const out: Partial<Factors> = {};
  const at = (name: string): number => r[regressionTargets.findIndex((t) => t.name === name)]!;
  for (const p of ['hair', 'eye', 'bg'] as const) {
    const [L, C, H] = [`${p}L`, `${p}C`, `${p}H`] as FactorName[];
    out[L!] = factorSpecs[L!].min + ((at(L!) + 1) / 2) * span(L!);
    const a = at(`${p}A`) * factorSpecs[C!].max;
    const b = at(`${p}B`) * factorSpecs[C!].max;
    out[C!] = Math.hypot(a, b);
    out[H!] = (((Math.atan2(b, a) * 180) / Math.PI) % 360 + 360) % 360;
  }
  out.lipstickHue = (((Math.atan2(at('lipstickSin'), at('lipstickCos')) * 180) / Math.PI) % 360 + 360) % 360;
  for (const t of regressionTargets) if (t.name === t.factor && !(t.factor in out)) out[t.factor] = at(t.name);
  return out;
}

/** Hue errors are measured only on clearly chromatic colours (C at least this, in OKLCh units). */
const CHROMATIC = 0.06;

/** When a decoded factor's error counts: where its targets are visible (hues: also chromatic). */
function factorVisible(f: Factors, n: FactorName): boolean {
  const targets = regressionTargets.filter((t) => t.factor === n || (n.endsWith('L') && t.name === n));
  const seen = targets.length === 0 ? true : targets.every((t) => t.visible(f));
  if (n === 'hairH' || n === 'eyeH' || n === 'bgH') return seen && f[(n.slice(0, -1) + 'C') as FactorName] >= CHROMATIC;
  if (n === 'hairC' || n === 'eyeC' || n === 'bgC') return regressionTargets.find((t) => t.name === `${n.slice(0, -1)}A`)!.visible(f);
  return seen;
}

export interface ClassifierV2Evaluation {
  /** Per attribute: accuracy on faces with a label (any point of a region), on named faces (inside by the margin), and their counts. */
  accuracy: Record<AttributeName, {labelled: number; named: number; nLabelled: number; nNamed: number}>;
  /** Per factor: mean absolute error in the factor's units (hues in degrees, on chromatic colours) and its count. */
  regression: Record<string, {mae: number; n: number}>;
}

/**
 * Evaluate a v2 classifier on `n` faces from `seed` (sampleFactors with `intermediate`), rendered at its input size.
 * `run` maps images [m, 3, s, s] to probabilities and regression outputs (DemoClassifier.run).
 */
export async function evaluateClassifierV2(
  run: (images: {dtype: 'float32'; shape: number[]; data: Float32Array}) => Promise<{probabilities: Record<AttributeName, Record<string, number>>[]; regression: Float32Array[] | null}>,
  {n, seed, intermediate, size = 64}: {n: number; seed: number; intermediate: number; size?: number},
): Promise<ClassifierV2Evaluation> {
  const faces = sampleFaces(n, seed, intermediate);
  const acc = Object.fromEntries(attributeNames.map((a) => [a, {ok: 0, n: 0, okNamed: 0, nNamed: 0}])) as Record<AttributeName, {ok: number; n: number; okNamed: number; nNamed: number}>;
  const err: Record<string, {sum: number; n: number}> = {};
  const factorsMeasured = [...new Set(regressionTargets.flatMap((t) => (t.name === t.factor ? [t.factor] : [])).concat(['hairL', 'hairC', 'hairH', 'eyeL', 'eyeC', 'eyeH', 'bgL', 'bgC', 'bgH', 'lipstickHue'] as FactorName[]))];
  for (let s = 0; s < n; s += 100) {
    const chunk = faces.slice(s, s + 100);
    const {probabilities, regression} = await run({dtype: 'float32', shape: [chunk.length, 3, size, size], data: renderFaces(chunk, size)});
    chunk.forEach((f, i) => {
      for (const a of attributeNames) {
        const top = Object.entries(probabilities[i]![a]).reduce((b, e) => (e[1] > b[1] ? e : b))[0];
        const label = labelOf(f, a);
        if (label !== undefined) {
          acc[a].n++;
          if (top === label) acc[a].ok++;
        }
        const named = namedValue(f, a);
        if (named !== undefined) {
          acc[a].nNamed++;
          if (top === named) acc[a].okNamed++;
        }
      }
      if (!regression) return;
      const d = decodeRegression(regression[i]!);
      for (const fn of factorsMeasured) {
        if (!factorVisible(f, fn)) continue;
        const spec = factorSpecs[fn] as {circular?: boolean};
        const e = spec.circular ? Math.abs(((((d[fn]! - f[fn]) % 360) + 540) % 360) - 180) : Math.abs(d[fn]! - f[fn]);
        (err[fn] ??= {sum: 0, n: 0}).sum += e;
        err[fn].n++;
      }
    });
  }
  return {
    accuracy: Object.fromEntries(attributeNames.map((a) => [a, {labelled: acc[a].ok / Math.max(1, acc[a].n), named: acc[a].okNamed / Math.max(1, acc[a].nNamed), nLabelled: acc[a].n, nNamed: acc[a].nNamed}])) as ClassifierV2Evaluation['accuracy'],
    regression: Object.fromEntries(Object.entries(err).map(([k, v]) => [k, {mae: v.sum / Math.max(1, v.n), n: v.n}])),
  };
}
