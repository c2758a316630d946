/**
 * The quality benchmark's pure parts on the demo side: the monotone-strength criterion and the held-out prompt list
 * (every prompt names one schema value in the schema's own words, yet is not the canonical prompt).
 */
import {describe, expect, it} from 'vitest';
import {type AttributeName, attributeValues, editTargets, heldOutEditTargets, valueIndex, valuePhrases} from '../../src/demo/attributes.js';
import {mapperSlug} from '../../src/demo/assets.js';
import {promptFor} from '../../src/demo/captions.js';
import {isMonotone, monotoneShare, scoreEdit, targetPrompt} from '../../src/demo/edit-quality.js';
import type {FaceAttributes} from '../../src/demo/attributes.js';

describe('edit score', () => {
  const face = (o: Partial<FaceAttributes> = {}): FaceAttributes => ({
    hairColor: 'brown', hairStyle: 'short', glasses: 'none', beard: 'none', mouth: 'neutral', lipstick: 'none', skinTone: 'light', eyeColor: 'brown', background: 'blue', ...o,
  });
  const grey = editTargets.find((t) => t.attribute === 'hairColor' && t.value === 'grey')!;

  it('counts success over faces that could show the target and did not, and tallies what else changed', () => {
    // face 0: brown → grey, skin changed; face 1: already grey (not counted); face 2: bald (hair colour unseen, not
    // counted); face 3: brown → purple, eyes hidden by sunglasses after the edit (eye colour not compared).
    const before = [face(), face({hairColor: 'grey'}), face({hairStyle: 'bald'}), face()];
    const after = [face({hairColor: 'grey', skinTone: 'dark'}), face({hairColor: 'grey'}), face({hairStyle: 'bald'}), face({hairColor: 'purple', glasses: 'sunglasses'})];
    const q = scoreEdit(before, after, grey);
    expect(q.rows).toEqual([0, 3]);
    expect(q.success).toBe(0.5);
    // compared: 8 other attributes on face 0 (1 changed), 7 on face 3 (glasses changed, eye colour not seen after)
    expect(q.preservation).toBeCloseTo(13 / 15, 12);
    expect(q.changed).toEqual({skinTone: 0.5, glasses: 0.5});
  });
});

describe('monotone strength', () => {
  it('accepts a rise, and dips of at most 0.02 on the way', () => {
    expect(isMonotone([0.1, 0.2, 0.3, 0.4, 0.5])).toBe(true);
    expect(isMonotone([0.6, 0.7, 0.8, 0.8, 0.8])).toBe(true);
    expect(isMonotone([0.1, 0.3, 0.285, 0.4, 0.5])).toBe(true);
    expect(isMonotone([0, 0.9, 0.9, 0.9, 0.9])).toBe(true);
  });

  it('rejects a larger dip, a cycle and a flat or falling end', () => {
    expect(isMonotone([0.1, 0.3, 0.27, 0.4, 0.5])).toBe(false);
    expect(isMonotone([0.1, 0.9, 0.95, 0.6, 0.96])).toBe(false);
    expect(isMonotone([0.5, 0.5, 0.5, 0.5, 0.5])).toBe(false);
    expect(isMonotone([0.2, 0.19, 0.18, 0.17, 0.16])).toBe(false);
    // rising but never reaching the target: not a rise toward it
    expect(isMonotone([6e-9, 1e-6, 1e-5, 1e-4, 1e-3])).toBe(false);
    expect(isMonotone([0.1, 0.2, 0.3, 0.4, 0.49])).toBe(false);
  });

  it('takes the tolerance as given and needs two strengths', () => {
    expect(isMonotone([0.1, 0.3, 0.27, 0.6], 0.05)).toBe(true);
    expect(() => isMonotone([0.3])).toThrow(/two strengths/);
  });

  it('counts the share over the given faces only', () => {
    const perFace = [
      [0, 0.5, 1],
      [0, 0.5, 1],
      [0.5, 0.1, 0.9],
      [0.9, 0.5, 0.1],
    ];
    expect(monotoneShare(perFace, [0, 2, 3])).toBeCloseTo(1 / 3, 12);
    expect(monotoneShare(perFace, [0, 1])).toBe(1);
    expect(monotoneShare(perFace, [])).toBe(0);
  });
});

/** The schema phrases of `attribute` that occur in `text` as whole words, with the value they name. */
function phrasesIn(text: string, attribute: AttributeName): {value: string; phrase: string}[] {
  return attributeValues(attribute).flatMap((value) =>
    valuePhrases(attribute, value as never)
      .filter((phrase) => new RegExp(`(^|\\W)${phrase.replace(/[-]/g, '\\-')}(\\W|$)`).test(text))
      .map((phrase) => ({value, phrase})),
  );
}

describe('held-out prompts', () => {
  it('each names one valid schema value, in the schema’s words for that value only', () => {
    expect(heldOutEditTargets.length).toBeGreaterThanOrEqual(10);
    for (const t of heldOutEditTargets) {
      expect(() => valueIndex(t.attribute, t.value)).not.toThrow();
      const found = phrasesIn(targetPrompt(t), t.attribute);
      expect(found.length, t.name).toBeGreaterThan(0);
      expect(new Set(found.map((f) => f.value)), t.name).toEqual(new Set([t.value]));
    }
  });

  it('are phrased otherwise than the canonical prompts and the benchmark list', () => {
    const benchmarkPrompts = new Set(editTargets.map(targetPrompt));
    for (const t of heldOutEditTargets) {
      expect(t.prompt, t.name).toBeDefined();
      expect(t.prompt).not.toBe(promptFor(t.attribute, t.value as never));
      expect(benchmarkPrompts.has(t.prompt!)).toBe(false);
    }
    // Several attributes, not only hair colour.
    expect(new Set(heldOutEditTargets.map((t) => t.attribute)).size).toBeGreaterThanOrEqual(5);
  });

  it('have names and mapper file names of their own', () => {
    const slugs = [...editTargets, ...heldOutEditTargets].map((t) => mapperSlug(t.name));
    expect(new Set(slugs).size).toBe(slugs.length);
  });

  it('the benchmark list keeps its canonical prompts', () => {
    for (const t of editTargets) expect(targetPrompt(t)).toBe(promptFor(t.attribute, t.value as never));
  });
});
