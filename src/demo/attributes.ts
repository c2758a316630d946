/**
 * Attribute schema of the procedural demo world: every attribute a rendered face carries, its
 * values, their sampling probabilities and the phrases captions may use for them. The schema is plain data
 * so that the caption generator, the evaluation classifier and the quality benchmark all iterate over the
 * same table. Attributes are sampled independently, so no attribute predicts another (edits can then be
 * measured one attribute at a time without spurious correlations).
 */
import type {Rng} from './rng.js';

export interface AttributeSpec {
  /** Allowed values, in a fixed order (the class index of a value is its position here). */
  readonly values: readonly string[];
  /** Sampling probability of each value, same order as `values`; sums to 1. */
  readonly probs: readonly number[];
  /** Words a caption may use for each value (the first is the canonical one used by `promptFor`). */
  readonly phrases: Readonly<Record<string, readonly string[]>>;
}

export const attributeSchema = {
  hairColor: {
    values: ['black', 'brown', 'blonde', 'red', 'grey', 'purple', 'blue', 'pink', 'green'],
    probs: [0.18, 0.17, 0.14, 0.1, 0.12, 0.08, 0.07, 0.08, 0.06],
    phrases: {
      black: ['black', 'jet black', 'dark'],
      brown: ['brown', 'chestnut', 'brunette'],
      blonde: ['blonde', 'blond', 'golden'],
      red: ['red', 'ginger', 'copper'],
      grey: ['grey', 'gray', 'silver'],
      purple: ['purple', 'violet'],
      blue: ['blue', 'bright blue'],
      pink: ['pink', 'hot pink'],
      green: ['green', 'bright green'],
    },
  },
  hairStyle: {
    values: ['short', 'long', 'curly', 'bob', 'mohawk', 'bald'],
    probs: [0.26, 0.22, 0.16, 0.14, 0.1, 0.12],
    phrases: {
      short: ['short', 'cropped'],
      long: ['long', 'shoulder-length'],
      curly: ['curly', 'frizzy'],
      bob: ['bob', 'bob cut'],
      mohawk: ['mohawk', 'mohican'],
      bald: ['bald', 'shaved'],
    },
  },
  glasses: {
    values: ['none', 'round', 'sunglasses'],
    probs: [0.6, 0.25, 0.15],
    phrases: {
      none: ['no glasses'],
      round: ['glasses', 'round glasses', 'eyeglasses', 'spectacles'],
      sunglasses: ['sunglasses', 'dark glasses', 'shades'],
    },
  },
  beard: {
    values: ['none', 'full', 'goatee', 'moustache'],
    probs: [0.65, 0.17, 0.09, 0.09],
    phrases: {
      none: ['clean-shaven', 'no beard'],
      full: ['beard', 'full beard', 'bushy beard'],
      goatee: ['goatee'],
      moustache: ['moustache', 'mustache'],
    },
  },
  mouth: {
    values: ['neutral', 'smiling', 'surprised'],
    probs: [0.45, 0.4, 0.15],
    phrases: {
      neutral: ['neutral expression', 'closed mouth', 'serious expression'],
      smiling: ['smiling', 'happy', 'grinning'],
      surprised: ['surprised', 'shocked', 'open-mouthed'],
    },
  },
  lipstick: {
    values: ['none', 'red', 'pink'],
    probs: [0.75, 0.15, 0.1],
    phrases: {
      none: ['no lipstick'],
      red: ['red lipstick', 'bright red lipstick'],
      pink: ['pink lipstick'],
    },
  },
  skinTone: {
    values: ['light', 'medium', 'tan', 'dark'],
    probs: [0.3, 0.3, 0.2, 0.2],
    phrases: {
      light: ['light', 'pale', 'fair'],
      medium: ['medium', 'olive'],
      tan: ['tan', 'tanned'],
      dark: ['dark', 'dark brown'],
    },
  },
  eyeColor: {
    values: ['brown', 'blue', 'green'],
    probs: [0.45, 0.3, 0.25],
    phrases: {
      brown: ['brown', 'dark brown'],
      blue: ['blue', 'light blue'],
      green: ['green'],
    },
  },
  background: {
    values: ['white', 'yellow', 'blue', 'green', 'pink', 'orange'],
    probs: [0.2, 0.16, 0.18, 0.16, 0.15, 0.15],
    phrases: {
      white: ['white', 'plain white'],
      yellow: ['yellow', 'pale yellow'],
      blue: ['blue', 'light blue', 'sky blue'],
      green: ['green', 'mint green'],
      pink: ['pink', 'light pink'],
      orange: ['orange', 'peach'],
    },
  },
} as const satisfies Record<string, AttributeSpec>;

export type AttributeName = keyof typeof attributeSchema;
export type AttributeValue<K extends AttributeName> = (typeof attributeSchema)[K]['values'][number];
export type FaceAttributes = {[K in AttributeName]: AttributeValue<K>};

/** Attribute names in schema order (the classifier's heads follow this order). */
export const attributeNames = Object.keys(attributeSchema) as AttributeName[];

/** The values of one attribute, in class-index order. */
export function attributeValues<K extends AttributeName>(name: K): readonly AttributeValue<K>[] {
  return attributeSchema[name].values as readonly AttributeValue<K>[];
}

/** Sampling probabilities of one attribute's values, in class-index order. */
export function attributeProbs(name: AttributeName): readonly number[] {
  return attributeSchema[name].probs;
}

/** Caption phrases of one value (first = canonical). */
export function valuePhrases<K extends AttributeName>(name: K, value: AttributeValue<K>): readonly string[] {
  return (attributeSchema[name].phrases as Record<string, readonly string[]>)[value]!;
}

/** Class index of a value; throws with the valid choices if the value is unknown. */
export function valueIndex(name: AttributeName, value: string): number {
  const values: readonly string[] = attributeSchema[name].values;
  const i = values.indexOf(value);
  if (i < 0) throw new RangeError(`unknown ${name} '${value}'; valid values are: ${values.join(', ')}`);
  return i;
}

/** Draw every attribute independently from its distribution (one `weighted` draw each, in schema order). */
export function sampleAttributes(rng: Rng): FaceAttributes {
  const out: Record<string, string> = {};
  for (const name of attributeNames) {
    const spec: AttributeSpec = attributeSchema[name];
    out[name] = rng.weighted(spec.values, spec.probs);
  }
  return out as FaceAttributes;
}

/** Whether an attribute can be seen in the render: hair colour is invisible on a bald head, eye colour
 *  behind sunglasses. The evaluation classifier should mask these labels and captions never mention them. */
export function isAttributeVisible(attrs: FaceAttributes, name: AttributeName): boolean {
  if (name === 'hairColor') return attrs.hairStyle !== 'bald';
  if (name === 'eyeColor') return attrs.glasses !== 'sunglasses';
  return true;
}

/** Attributes as class indices in `attributeNames` order: [9] integers. */
export function encodeAttributes(attrs: FaceAttributes): number[] {
  return attributeNames.map((name) => valueIndex(name, attrs[name]));
}

/** Inverse of `encodeAttributes`. */
export function decodeAttributes(indices: readonly number[]): FaceAttributes {
  if (indices.length !== attributeNames.length) {
    throw new RangeError(`expected ${attributeNames.length} attribute indices, got ${indices.length}`);
  }
  const out: Record<string, string> = {};
  attributeNames.forEach((name, i) => {
    const values: readonly string[] = attributeSchema[name].values;
    const v = values[indices[i]!];
    if (v === undefined) throw new RangeError(`${name} index ${indices[i]} out of range 0..${values.length - 1}`);
    out[name] = v;
  });
  return out as FaceAttributes;
}

/** A text edit the demo must be able to perform and the classifier must be able to measure. */
export interface EditTarget {
  /** Short name, e.g. 'grey hair'. */
  readonly name: string;
  readonly attribute: AttributeName;
  /** The value the edit should produce. */
  readonly value: string;
  /** The exact prompt text (default: the canonical `promptFor(attribute, value)`). */
  readonly prompt?: string;
}

/** The edits the demo models demonstrate (the quality benchmark's prompts). */
export const editTargets: readonly EditTarget[] = [
  {name: 'grey hair', attribute: 'hairColor', value: 'grey'},
  {name: 'purple hair', attribute: 'hairColor', value: 'purple'},
  {name: 'blonde hair', attribute: 'hairColor', value: 'blonde'},
  {name: 'mohawk', attribute: 'hairStyle', value: 'mohawk'},
  {name: 'curly hair', attribute: 'hairStyle', value: 'curly'},
  {name: 'glasses', attribute: 'glasses', value: 'round'},
  {name: 'beard', attribute: 'beard', value: 'full'},
  {name: 'smiling', attribute: 'mouth', value: 'smiling'},
];

/**
 * A second prompt list that nothing was ever tuned on (no edit default, relevance setting or training choice looked
 * at it): prompts as a new user types them — other colours, styles, accessories and expressions, in other phrasings
 * than the captions' canonical ones. Each names one schema value, so the evaluation classifier can score it.
 */
export const heldOutEditTargets: readonly EditTarget[] = [
  {name: 'ginger hair', attribute: 'hairColor', value: 'red', prompt: 'a person with ginger hair'},
  {name: 'blue hair', attribute: 'hairColor', value: 'blue', prompt: 'someone with bright blue hair'},
  {name: 'jet black hair', attribute: 'hairColor', value: 'black', prompt: 'a face with jet black hair'},
  {name: 'bald', attribute: 'hairStyle', value: 'bald', prompt: 'a bald man'},
  {name: 'long hair', attribute: 'hairStyle', value: 'long', prompt: 'a person with long hair'},
  {name: 'bob cut', attribute: 'hairStyle', value: 'bob', prompt: 'a face with a bob cut'},
  {name: 'sunglasses', attribute: 'glasses', value: 'sunglasses', prompt: 'a person wearing sunglasses'},
  {name: 'surprised', attribute: 'mouth', value: 'surprised', prompt: 'a face that looks surprised'},
  {name: 'moustache', attribute: 'beard', value: 'moustache', prompt: 'a man with a moustache'},
  {name: 'goatee', attribute: 'beard', value: 'goatee', prompt: 'a man with a goatee'},
  {name: 'red lipstick', attribute: 'lipstick', value: 'red', prompt: 'a woman wearing red lipstick'},
];
