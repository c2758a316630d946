/**
 * Tests of the procedural demo world: seeded PRNG, attribute schema and sampler, renderer
 * (determinism, fast path equals the reference rasteriser, attributes change the right image regions) and
 * captions (always truthful: parsed back into attributes over many seeds). Speed is measured by the bench,
 * not asserted here.
 */
import {describe, expect, it} from 'vitest';
import {
  attributeNames, attributeProbs, attributeSchema, attributeValues, decodeAttributes, editTargets, encodeAttributes,
  isAttributeVisible, sampleAttributes, valueIndex, type FaceAttributes,
} from '../../src/demo/attributes.js';
import {caption, captionConstraints, promptFor} from '../../src/demo/captions.js';
import {renderBatch, renderFace, renderFaceTensor} from '../../src/demo/render.js';
import {hashSeed, Rng} from '../../src/demo/rng.js';

const size = 64;

const base: FaceAttributes = {
  hairColor: 'brown', hairStyle: 'short', glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none',
  skinTone: 'light', eyeColor: 'brown', background: 'blue',
};

/** Per-row count of pixels that differ between two HWC images. */
function diffRows(a: Uint8Array, b: Uint8Array, x0 = 0, x1 = size - 1): number[] {
  const rows = new Array<number>(size).fill(0);
  for (let y = 0; y < size; y++) {
    for (let x = x0; x <= x1; x++) {
      const o = (y * size + x) * 3;
      if (a[o] !== b[o] || a[o + 1] !== b[o + 1] || a[o + 2] !== b[o + 2]) rows[y]!++;
    }
  }
  return rows;
}

const sum = (xs: number[], y0: number, y1: number): number => xs.slice(y0, y1 + 1).reduce((s, v) => s + v, 0);

/** Random attributes with some fields forced, from one seed. */
function faceWith(seed: number, forced: Partial<FaceAttributes>): FaceAttributes {
  return {...sampleAttributes(new Rng(hashSeed(seed, 99))), ...forced};
}

describe('rng', () => {
  it('is deterministic and in range', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({length: 1000}, () => a.next());
    expect(xs).toEqual(Array.from({length: 1000}, () => b.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(new Rng(43).next()).not.toBe(new Rng(42).next());
    const r = new Rng(1);
    for (let i = 0; i < 1000; i++) {
      const k = r.int(2, 5);
      expect(k >= 2 && k <= 5 && Number.isInteger(k)).toBe(true);
    }
  });

  it('has the right moments and weights', () => {
    const r = new Rng(7);
    const n = 20000;
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal(1, 2);
      m += x;
      v += (x - 1) ** 2;
    }
    expect(m / n).toBeCloseTo(1, 1);
    expect(Math.sqrt(v / n)).toBeCloseTo(2, 1);
    const counts = {a: 0, b: 0, c: 0};
    for (let i = 0; i < n; i++) counts[r.weighted(['a', 'b', 'c'] as const, [0.7, 0.2, 0.1])]++;
    expect(counts.a / n).toBeCloseTo(0.7, 1);
    expect(counts.c / n).toBeCloseTo(0.1, 1);
    expect(() => r.choice([])).toThrow(RangeError);
  });
});

describe('attributes', () => {
  it('schema probabilities sum to 1 and phrases cover every value', () => {
    for (const name of attributeNames) {
      const spec = attributeSchema[name];
      expect(spec.probs.length).toBe(spec.values.length);
      expect(spec.probs.reduce((s: number, p: number) => s + p, 0)).toBeCloseTo(1, 9);
      for (const v of spec.values) expect((spec.phrases as Record<string, readonly string[]>)[v]!.length).toBeGreaterThan(0);
    }
  });

  it('the sampler covers every value over 5000 draws, near its probability', () => {
    const rng = new Rng(2024);
    const n = 5000;
    const counts = Object.fromEntries(attributeNames.map((a) => [a, new Map<string, number>()]));
    for (let i = 0; i < n; i++) {
      const attrs = sampleAttributes(rng);
      for (const a of attributeNames) counts[a]!.set(attrs[a], (counts[a]!.get(attrs[a]) ?? 0) + 1);
    }
    for (const a of attributeNames) {
      const values = attributeValues(a);
      const probs = attributeProbs(a);
      values.forEach((v, i) => {
        const c = counts[a]!.get(v) ?? 0;
        expect(c, `${a}=${v}`).toBeGreaterThan(0);
        const p = probs[i]!;
        expect(Math.abs(c / n - p), `${a}=${v}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
      });
    }
  });

  it('encodes and decodes class indices; unknown values name the choices', () => {
    const attrs = sampleAttributes(new Rng(3));
    expect(decodeAttributes(encodeAttributes(attrs))).toEqual(attrs);
    expect(() => valueIndex('hairColor', 'plaid')).toThrow(/valid values are: black, brown/);
    expect(isAttributeVisible({...base, hairStyle: 'bald'}, 'hairColor')).toBe(false);
    expect(isAttributeVisible({...base, glasses: 'sunglasses'}, 'eyeColor')).toBe(false);
  });

  it('edit targets name real values and have canonical prompts', () => {
    for (const t of editTargets) {
      expect(attributeValues(t.attribute)).toContain(t.value);
    }
    expect(promptFor('hairColor', 'grey')).toBe('a face with grey hair');
    expect(promptFor('hairStyle', 'mohawk')).toBe('a face with a mohawk');
    expect(promptFor('hairStyle', 'curly')).toBe('a face with curly hair');
    expect(promptFor('glasses', 'round')).toBe('a face with glasses');
    expect(promptFor('beard', 'full')).toBe('a face with a beard');
    expect(promptFor('mouth', 'smiling')).toBe('a smiling face');
    for (const a of attributeNames) for (const v of attributeValues(a)) expect(promptFor(a, v)).toMatch(/face/);
  });
});

describe('renderFace', () => {
  it('is deterministic: same seed gives identical bytes, different seeds differ', () => {
    const attrs = faceWith(1, {});
    const a = renderFace(attrs, {seed: 5});
    expect(a.length).toBe(size * size * 3);
    expect(renderFace(attrs, {seed: 5})).toEqual(a);
    expect(renderFace(attrs, {seed: 6})).not.toEqual(a);
    expect(renderFace(attrs, {seed: 5, size: 96}).length).toBe(96 * 96 * 3);
  });

  it('the run-skipping rasteriser equals the per-pixel reference', () => {
    for (let s = 0; s < 30; s++) {
      const attrs = faceWith(s, {});
      for (const sz of [64, 80]) {
        expect(renderFace(attrs, {seed: s, size: sz})).toEqual(renderFace(attrs, {seed: s, size: sz, reference: true}));
      }
    }
  });

  it('renderFaceTensor is CHW in [-1, 1] and matches the bytes', () => {
    const attrs = faceWith(2, {});
    const bytes = renderFace(attrs, {seed: 9});
    const t = renderFaceTensor(attrs, {seed: 9});
    expect(t.length).toBe(3 * size * size);
    for (const [y, x, c] of [[0, 0, 0], [31, 32, 1], [50, 10, 2], [63, 63, 0]] as const) {
      expect(t[c * size * size + y * size + x]).toBeCloseTo(bytes[(y * size + x) * 3 + c]! / 127.5 - 1, 6);
    }
    expect(Math.min(...t)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...t)).toBeLessThanOrEqual(1);
  });

  it('renderBatch is reproducible and each image matches renderFaceTensor', () => {
    const a = renderBatch(6, 11);
    const b = renderBatch(6, 11);
    expect(a.images).toEqual(b.images);
    expect(a.attributes).toEqual(b.attributes);
    expect(a.images.length).toBe(6 * 3 * size * size);
    const plane = 3 * size * size;
    for (let i = 0; i < 6; i++) {
      expect(a.images.subarray(i * plane, (i + 1) * plane)).toEqual(renderFaceTensor(a.attributes[i]!, {seed: a.seeds[i]!}));
    }
    expect(renderBatch(6, 12).images).not.toEqual(a.images);
  });

  it('rejects bad sizes', () => {
    expect(() => renderFace(base, {size: 8})).toThrow(RangeError);
    expect(() => renderFace(base, {size: 64.5})).toThrow(RangeError);
  });

  it('glasses change the eye band and nothing above the brows or below the nose', () => {
    for (let s = 0; s < 20; s++) {
      const attrs = faceWith(s, {glasses: 'none'});
      const plain = renderFace(attrs, {seed: s});
      for (const glasses of ['round', 'sunglasses'] as const) {
        const rows = diffRows(plain, renderFace({...attrs, glasses}, {seed: s}));
        expect(sum(rows, 0, 17), `seed ${s} ${glasses}: hair top`).toBe(0);
        expect(sum(rows, 42, 63), `seed ${s} ${glasses}: chin`).toBe(0);
        expect(sum(rows, 24, 36), `seed ${s} ${glasses}: eye band`).toBeGreaterThan(glasses === 'round' ? 40 : 80);
      }
    }
  });

  it('hair colour changes the hair (and brows) but not the mouth and chin', () => {
    for (let s = 0; s < 20; s++) {
      const style = (['short', 'long', 'curly', 'bob', 'mohawk'] as const)[s % 5]!;
      const attrs = faceWith(s, {hairStyle: style, hairColor: 'brown', beard: 'none'});
      for (const hairColor of ['grey', 'purple', 'blonde'] as const) {
        const before = renderFace(attrs, {seed: s});
        const after = renderFace({...attrs, hairColor}, {seed: s});
        expect(sum(diffRows(before, after, 24, 40), 0, 20), `seed ${s} ${style} ${hairColor}: head top`).toBeGreaterThan(25);
        // Mouth and chin, inside the face outline (long hair shows beside the neck further out).
        expect(sum(diffRows(before, after, 27, 37), 37, 45), `seed ${s} ${style} ${hairColor}: mouth/chin`).toBe(0);
      }
    }
  });

  it('a bald head shows no hair colour above the brows', () => {
    const attrs = faceWith(3, {hairStyle: 'bald'});
    const rows = diffRows(renderFace(attrs, {seed: 3}), renderFace({...attrs, hairColor: 'purple'}, {seed: 3}));
    expect(sum(rows, 0, 21)).toBe(0);
  });

  it('smiling changes only the mouth region; a beard only the lower face', () => {
    for (let s = 0; s < 20; s++) {
      const attrs = faceWith(s, {mouth: 'neutral', beard: 'none'});
      const plain = renderFace(attrs, {seed: s});
      const smile = diffRows(plain, renderFace({...attrs, mouth: 'smiling'}, {seed: s}));
      expect(sum(smile, 0, 35), `seed ${s}: smile above mouth`).toBe(0);
      expect(sum(smile, 36, 55), `seed ${s}: smile`).toBeGreaterThan(40);
      const beard = diffRows(plain, renderFace({...attrs, beard: 'full'}, {seed: s}));
      expect(sum(beard, 0, 26), `seed ${s}: beard above cheeks`).toBe(0);
      expect(sum(beard, 30, 60), `seed ${s}: beard`).toBeGreaterThan(150);
    }
  });

  it('a mohawk rises above the top of short hair and of a bald head', () => {
    /** Rows (top first) of the pixels in columns 20..44 that differ from the background at (0, 0). */
    const figureRows = (img: Uint8Array): number[] => {
      const rows = new Array<number>(size).fill(0);
      for (let y = 0; y < size; y++) {
        for (let x = 20; x <= 44; x++) {
          const o = (y * size + x) * 3;
          if (Math.abs(img[o]! - img[0]!) + Math.abs(img[o + 1]! - img[1]!) + Math.abs(img[o + 2]! - img[2]!) > 6) rows[y]!++;
        }
      }
      return rows;
    };
    for (let s = 0; s < 20; s++) {
      const attrs = faceWith(s, {});
      const mohawk = figureRows(renderFace({...attrs, hairStyle: 'mohawk'}, {seed: s}));
      for (const other of ['short', 'bald'] as const) {
        const top = figureRows(renderFace({...attrs, hairStyle: other}, {seed: s})).findIndex((n) => n > 0);
        expect(sum(mohawk, 0, top - 1), `seed ${s} vs ${other}`).toBeGreaterThan(15);
      }
    }
  });
});

const parseCaption = captionConstraints;

describe('captions', () => {
  it('only name attributes the render shows, with their true values', () => {
    const rng = new Rng(77);
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const attrs = sampleAttributes(rng);
      const text = caption(attrs, rng);
      const found = parseCaption(text);
      expect(found.size, text).toBeGreaterThan(0);
      for (const [a, values] of found) {
        expect(isAttributeVisible(attrs, a), `${text}: ${a} is not visible`).toBe(true);
        for (const v of values) {
          if (v === 'not none') expect(attrs[a], text).not.toBe('none');
          else expect(attrs[a], `${text}: ${a}`).toBe(v);
          seen.add(`${a}=${v}`);
        }
      }
    }
    // Every visible value is mentioned at least once across the run (captions are not stuck on a subset).
    for (const a of attributeNames) for (const v of attributeValues(a)) expect(seen, `${a}=${v}`).toContain(`${a}=${v}`);
  });

  it('vary in phrasing and are deterministic given the rng', () => {
    const attrs: FaceAttributes = {...base, hairColor: 'grey', mouth: 'smiling', glasses: 'round'};
    const texts = new Set<string>();
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) texts.add(caption(attrs, rng));
    expect(texts.size).toBeGreaterThan(50);
    expect(caption(attrs, new Rng(4))).toBe(caption(attrs, new Rng(4)));
  });
});
