/**
 * The v2 demo world (lab/world2): the factor renderer is deterministic and continuous (a small factor step is a small
 * pixel step, and zooming into any step never finds a jump), the named regions cover today's vocabulary and are
 * disjoint, the sampler's clean faces land inside their values' margins, and captions never name a value or a degree
 * outside its margin.
 */
import {describe, expect, it} from 'vitest';
import {attributeNames, attributeSchema, editTargets, valuePhrases, type AttributeName, type FaceAttributes} from '../../src/demo/attributes.js';
import {renderFace} from '../../src/demo/render.js';
import {Rng, hashSeed} from '../../src/demo/rng.js';
import {captionFactors, phrasesFor} from '../world2/captions.js';
import {
  type Factors, degrees, drawValue, factorNames, factorSpecs, isVisible, lerpFactors, namedRegions, namedValue, prototypeFactors,
  regionOf, regionSlack, regionValue, sampleFactors, typicalRanges,
} from '../world2/factors.js';
import {renderFactors, renderFactorsFloat} from '../world2/render.js';

/** Mean absolute difference of two renders (bytes, or the unrounded floats). */
function mad(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/**
 * Zoom into the interval [a, b] of a one-parameter family of images: split it in 4, keep the quarter with the largest
 * change, 5 times (1024× finer). A continuous family's change vanishes with the interval; a jump survives every zoom.
 * Returns the change across the last, finest quarter. (Measured on unrounded renders: rounding to bytes flips a whole
 * flat-coloured area by one level at once, a quantisation step and not a discontinuity of the drawing.)
 */
function zoomedChange(img: (t: number) => ArrayLike<number>, a: number, b: number): number {
  let lo = a;
  let hi = b;
  let change = 0;
  for (let level = 0; level < 5; level++) {
    const ts = Array.from({length: 5}, (_, i) => lo + ((hi - lo) * i) / 4);
    const ims = ts.map(img);
    let best = 0;
    for (let i = 0; i < 4; i++) {
      const d = mad(ims[i]!, ims[i + 1]!);
      if (d >= best) [best, lo, hi] = [d, ts[i]!, ts[i + 1]!];
    }
    change = best;
  }
  return change;
}

/** A face with a factor set to a fraction t of its range. */
const withFactor = (f: Factors, n: (typeof factorNames)[number], t: number): Factors => ({...f, [n]: factorSpecs[n].min + t * (factorSpecs[n].max - factorSpecs[n].min)});

describe('renderer v2', () => {
  it('is deterministic, and the run-skipping rasteriser equals the per-pixel reference', () => {
    const rng = new Rng(1);
    for (let k = 0; k < 12; k++) {
      const f = sampleFactors(rng, 0.5).factors;
      const a = renderFactors(f);
      expect(a.length).toBe(64 * 64 * 3);
      expect(renderFactors({...f})).toEqual(a);
      expect(renderFactors(f, {reference: true})).toEqual(a);
      expect(renderFactors(f, {size: 80})).toEqual(renderFactors(f, {size: 80, reference: true}));
    }
  });

  it('is Lipschitz-like: a step of 1 % of the factor ranges in a random direction moves pixels by a bounded amount', () => {
    const rng = new Rng(2);
    const eps = 0.01;
    let worst = 0;
    for (let k = 0; k < 120; k++) {
      const f = sampleFactors(rng, 0.5).factors;
      const dir = factorNames.map(() => rng.normal());
      const norm = Math.hypot(...dir);
      const g = {...f};
      factorNames.forEach((n, i) => {
        const s = factorSpecs[n];
        const v = f[n] + (eps * dir[i]! * (s.max - s.min)) / norm;
        g[n] = 'circular' in s ? v : Math.min(s.max, Math.max(s.min, v));
      });
      worst = Math.max(worst, mad(renderFactors(f), renderFactors(g)) / eps);
    }
    // Measured: worst 106 bytes per unit step, median 27 (a background hue change moves every background pixel).
    expect(worst).toBeLessThan(150);
  });

  it('has no jumps: along every factor, zooming 1024× into the largest step leaves (almost) nothing', () => {
    const rng = new Rng(3);
    const steps = 20;
    for (const n of factorNames) {
      const f = sampleFactors(rng, 0.3).factors;
      const img = (t: number): Float32Array => renderFactorsFloat(withFactor(f, n, t));
      let prev = img(0);
      let worst = 0;
      let at = 0;
      for (let i = 1; i <= steps; i++) {
        const cur = img(i / steps);
        const d = mad(prev, cur);
        if (d > worst) [worst, at] = [d, i];
        prev = cur;
      }
      const residual = zoomedChange(img, (at - 1) / steps, at / steps);
      // Continuous: the residual is ~1/1000 of the step (measured: at most 9e-3 after a step of 8.8, the background hue).
      // A jump of size J keeps a residual ≥ J, so any jump above ~0.005 + step/200 fails.
      expect(residual, `${n}: step ${worst.toFixed(3)} at ${at}/${steps}`).toBeLessThan(0.005 + worst / 200);
    }
  });

  it('the zoom test catches a category switch (the v1 renderer drawing glasses from t = 0.5 on)', () => {
    const attrs: FaceAttributes = {hairColor: 'brown', hairStyle: 'short', glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none', skinTone: 'light', eyeColor: 'brown', background: 'blue'};
    const img = (t: number): Uint8Array => renderFace({...attrs, glasses: t < 0.5 ? 'none' : 'round'}, {seed: 4});
    expect(zoomedChange(img, 0, 1)).toBeGreaterThan(0.5);
  });

  it('draws the hair colour its factors name (the hair fill is the OKLCh colour of the factors)', () => {
    const f = prototypeFactors({hairColor: 'red', hairStyle: 'long'});
    const img = renderFactors({...f, angle: 0});
    const g = renderFactors({...f, angle: 0, hairH: (f.hairH + 180) % 360});
    // Beside the jaw (x 16, y 44) only hair is drawn; it changes with the hue, the face does not.
    const o = (44 * 64 + 16) * 3;
    expect(Math.abs(img[o]! - g[o]!) + Math.abs(img[o + 2]! - g[o + 2]!)).toBeGreaterThan(60);
    const c = (36 * 64 + 32) * 3;
    expect([img[c], img[c + 1], img[c + 2]]).toEqual([g[c], g[c + 1], g[c + 2]]);
  });
});

describe('named regions', () => {
  it('cover today\'s vocabulary: every value and every edit target has a region, every v1 phrase a value or a degree', () => {
    for (const a of attributeNames) {
      for (const v of attributeSchema[a].values) {
        expect(() => regionOf(a, v), `${a}=${v}`).not.toThrow();
        expect((typicalRanges[a] as Record<string, unknown>)[v], `${a}=${v}`).toBeDefined();
        for (const p of valuePhrases(a, v as never)) {
          const asDegree = degrees.some((d) => d.attribute === a && p.split(' ').includes(d.word));
          expect(phrasesFor(a, v).includes(p) || asDegree, `${a} '${p}'`).toBe(true);
        }
      }
      expect(Object.keys(namedRegions[a]).sort()).toEqual([...attributeSchema[a].values].sort());
    }
    for (const t of editTargets) expect(regionOf(t.attribute, t.value).length).toBeGreaterThan(0);
  });

  it('are disjoint within an attribute (20 000 uniform points: at most one region holds each)', () => {
    const rng = new Rng(5);
    for (let k = 0; k < 20000; k++) {
      const f = Object.fromEntries(factorNames.map((n) => [n, rng.uniform(factorSpecs[n].min, factorSpecs[n].max)])) as Factors;
      for (const a of attributeNames) {
        const holding = Object.values(namedRegions[a] as Record<string, Parameters<typeof regionSlack>[1]>).filter((r) => regionSlack(f, r) >= 0);
        expect(holding.length, a).toBeLessThanOrEqual(1);
      }
    }
  });

  it('the sampler\'s clean faces lie inside their value\'s margin', () => {
    const rng = new Rng(6);
    for (const a of attributeNames) {
      for (const v of attributeSchema[a].values) {
        for (let k = 0; k < 200; k++) {
          const f = prototypeFactors();
          drawValue(rng, f, a, v);
          expect(namedValue(f, a), `${a}=${v} ${k}`).toBe(v);
        }
      }
    }
  });

  it('interpolations between two values are named neither in the middle of a gap, and labelled by region with no margin', () => {
    // short → long passes through bob-length hair without a fringe, which no value names.
    const a = prototypeFactors({hairStyle: 'short'});
    const b = prototypeFactors({hairStyle: 'long'});
    const mid = lerpFactors(a, b, 0.5);
    expect(namedValue(mid, 'hairStyle')).toBeUndefined();
    expect(regionValue(mid, 'hairStyle')).toBeUndefined();
    expect(namedValue(lerpFactors(a, b, 0), 'hairStyle')).toBe('short');
    expect(namedValue(lerpFactors(a, b, 1), 'hairStyle')).toBe('long');
    // Colours interpolate in OKLab: black → blonde keeps a warm hue (no detour through green).
    const c = lerpFactors(prototypeFactors({hairColor: 'black'}), prototypeFactors({hairColor: 'blonde'}), 0.5);
    expect(c.hairH).toBeGreaterThan(40);
    expect(c.hairH).toBeLessThan(100);
  });
});

describe('captions v2', () => {
  it('never name a value or degree outside its margin, nor an attribute that is not clearly visible (3000 faces, half in between)', () => {
    const rng = new Rng(7);
    let mentioned = 0;
    let inBetween = 0;
    for (let k = 0; k < 3000; k++) {
      const {factors: f, drawn} = sampleFactors(new Rng(hashSeed(7, k)), 0.5);
      const cap = captionFactors(f, rng);
      expect(cap.text.length).toBeGreaterThan(0);
      for (const m of cap.mentions) {
        mentioned++;
        expect(cap.text, cap.text).toContain(m.text);
        expect(isVisible(f, m.attribute), `${cap.text}: ${m.attribute}`).toBe(true);
        if (m.value !== undefined) expect(regionSlack(f, regionOf(m.attribute, m.value)), `${cap.text}: ${m.attribute}=${m.value}`).toBeGreaterThanOrEqual(1);
        if (m.degree !== undefined) {
          const d = degrees.filter((x) => x.attribute === m.attribute && x.word === m.degree && (m.value === undefined ? x.values.length === 0 : x.values.includes(m.value)));
          expect(d.length, `${cap.text}: degree ${m.degree}`).toBe(1);
          expect(regionSlack(f, d[0]!.region), `${cap.text}: degree ${m.degree}`).toBeGreaterThanOrEqual(1);
        }
        const how = drawn[m.attribute];
        if (typeof how !== 'string' && m.value !== undefined) inBetween++;
      }
    }
    expect(mentioned).toBeGreaterThan(6000);
    // In-between faces are still captioned where they fall clearly inside some region (e.g. near an end of the line).
    expect(inBetween).toBeGreaterThan(100);
  });

  it('use degrees and the v1 phrases', () => {
    const texts = new Set<string>();
    const rng = new Rng(8);
    for (let k = 0; k < 2000; k++) texts.add(captionFactors(sampleFactors(rng, 0.3).factors, rng).text);
    const all = [...texts].join('\n');
    for (const w of ['dark brown hair', 'very long', 'grey hair', 'a mohawk', 'sunglasses', 'goatee', 'smiling', 'red lipstick', 'skin', 'eyes', 'background']) {
      expect(all, w).toContain(w);
    }
  });

  it('leave out an attribute whose factors sit between two regions', () => {
    const f = lerpFactors(prototypeFactors({glasses: 'round'}), prototypeFactors({glasses: 'sunglasses'}), 0.5);
    expect(namedValue(f, 'glasses')).toBeUndefined();
    const rng = new Rng(9);
    for (let k = 0; k < 200; k++) {
      for (const m of captionFactors(f, rng).mentions) if (m.attribute === 'glasses') expect(m.value).toBeUndefined();
    }
  });
});

// Attribute list in one place for readers: every attribute has factors.
it('every attribute has factors', () => {
  for (const a of attributeNames) expect(factorNames.some((n) => (factorSpecs[n].attribute as AttributeName | 'layout') === a), a).toBe(true);
});
