/**
 * Captions v2: a random subset of what is clearly true of a face, in the v1 vocabulary (src/demo/attributes.ts)
 * plus degrees ("dark brown hair", "very long hair", "a slight smile", "stubble"). An attribute is mentioned only
 * where its factors are inside a named region by the margin (factors.ts `namedValue`), a degree only where its own
 * region holds by the margin; faces between regions are captioned without that attribute. Each caption also returns
 * its mentions, which the tests check against the regions.
 */
import {type AttributeName, attributeNames, valuePhrases} from '../../src/demo/attributes.js';
import type {Rng} from '../../src/demo/rng.js';
import {type Degree, type Factors, degreesFor, isVisible, namedValue} from './factors.js';

export interface Mention {
  readonly attribute: AttributeName;
  /** The named value; undefined for a standalone degree ("stubble", "a slight smile"). */
  readonly value?: string;
  readonly degree?: string;
  /** The words that carry it in the caption. */
  readonly text: string;
}

export interface Caption {
  text: string;
  mentions: Mention[];
}

/** v1 phrases a v2 caption does not use for a value, because in v2 they are degrees with regions of their own. */
const degreePhrases: Partial<Record<AttributeName, readonly string[]>> = {
  hairColor: ['dark'],
  eyeColor: ['light blue', 'dark brown'],
  lipstick: ['bright red lipstick'],
};

/** The phrases a v2 caption may use for a value (v1's, less those that are degrees in v2). */
export function phrasesFor(attribute: AttributeName, value: string): readonly string[] {
  const drop = degreePhrases[attribute] ?? [];
  return valuePhrases(attribute, value as never).filter((p) => !drop.includes(p));
}

interface Part {
  kind: 'adjective' | 'with' | 'wearing' | 'background';
  text: string;
  mentions: Mention[];
}

const article = (np: string): string => (/^[aeiou]/.test(np) ? `an ${np}` : `a ${np}`);

/** A degree that holds for the value (or a standalone one), picked at random with probability p, else undefined. */
function pickDegree(rng: Rng, f: Factors, a: AttributeName, value: string | undefined, p = 0.6): Degree | undefined {
  const ds = degreesFor(f, a, value);
  return ds.length > 0 && rng.bool(p) ? rng.choice(ds) : undefined;
}

function hairParts(f: Factors, rng: Rng, withColour: boolean, withStyle: boolean): Part[] {
  const style = withStyle ? namedValue(f, 'hairStyle') : undefined;
  if (style === 'bald') {
    const text = rng.choice(['bald', 'a bald head', 'a shaved head']);
    return [{kind: text === 'bald' ? 'adjective' : 'with', text, mentions: [{attribute: 'hairStyle', value: 'bald', text}]}];
  }
  const mentions: Mention[] = [];
  let colour = '';
  if (withColour && isVisible(f, 'hairColor')) {
    const c = namedValue(f, 'hairColor');
    const d = pickDegree(rng, f, 'hairColor', c);
    if (c) {
      const word = rng.choice(phrasesFor('hairColor', c));
      colour = d ? `${d.word} ${word}` : word;
      mentions.push({attribute: 'hairColor', value: c, ...(d ? {degree: d.word} : {}), text: colour});
    } else if (d) {
      colour = d.word;
      mentions.push({attribute: 'hairColor', degree: d.word, text: colour});
    }
  }
  const c = colour ? `${colour} ` : '';
  if (!style) return colour ? [{kind: 'with', text: `${colour} hair`, mentions}] : [];
  const d = pickDegree(rng, f, 'hairStyle', style);
  const word = d ? d.word : rng.choice(phrasesFor('hairStyle', style));
  mentions.push({attribute: 'hairStyle', value: style, ...(d ? {degree: d.word} : {}), text: word});
  if (style === 'mohawk' || style === 'bob') {
    const noun = style === 'bob' && word === 'bob' ? rng.choice(['bob', 'bob haircut']) : word;
    return [{kind: 'with', text: article(`${c}${noun}`), mentions}];
  }
  return [{kind: 'with', text: `${word} ${c}hair`, mentions}];
}

/** Parts for the attributes other than hair. */
function otherParts(f: Factors, rng: Rng, a: AttributeName): Part[] {
  const v = namedValue(f, a);
  const d = pickDegree(rng, f, a, v);
  const m = (text: string, value = v, degree = d?.word): Mention[] => [{attribute: a, ...(value ? {value} : {}), ...(degree ? {degree} : {}), text}];
  if (!v) {
    // Only a standalone degree can be said of a face between values.
    if (!d) return [];
    const text = a === 'mouth' ? article(d.word) : a === 'glasses' ? `${d.word} glasses` : a === 'lipstick' ? `${d.word} lipstick` : d.word;
    return [{kind: a === 'glasses' ? 'wearing' : 'with', text, mentions: m(text, undefined)}];
  }
  const phrase = rng.choice(phrasesFor(a, v));
  const q = d ? `${d.word} ` : '';
  switch (a) {
    case 'mouth': {
      if (v === 'neutral') return [{kind: 'with', text: article(phrase), mentions: m(phrase, v, undefined)}];
      if (d) return [{kind: 'with', text: article(d.word), mentions: m(d.word)}];
      return [{kind: 'adjective', text: phrase, mentions: m(phrase, v, undefined)}];
    }
    case 'glasses':
      return v === 'none' ? [{kind: 'with', text: 'no glasses', mentions: m('no glasses')}] : [{kind: rng.bool() ? 'wearing' : 'with', text: phrase, mentions: m(phrase)}];
    case 'beard': {
      if (v === 'none') return [rng.bool() ? {kind: 'adjective', text: 'clean-shaven', mentions: m('clean-shaven')} : {kind: 'with', text: 'no beard', mentions: m('no beard')}];
      const text = d ? `${d.word} beard` : phrase;
      return [{kind: 'with', text: article(text), mentions: m(text)}];
    }
    case 'lipstick':
      return v === 'none' ? [{kind: 'with', text: 'no lipstick', mentions: m('no lipstick')}] : [{kind: rng.bool() ? 'wearing' : 'with', text: `${q}${phrase}`, mentions: m(`${q}${phrase}`)}];
    case 'skinTone':
      return [{kind: 'with', text: `${q}${phrase} skin`, mentions: m(`${q}${phrase}`)}];
    case 'eyeColor':
      return [{kind: 'with', text: `${q}${phrase} eyes`, mentions: m(`${q}${phrase}`)}];
    case 'background': {
      const text = rng.choice([`on a ${phrase} background`, `against a ${phrase} backdrop`, `in front of a ${phrase} background`]);
      return [{kind: 'background', text, mentions: m(phrase)}];
    }
    default:
      return [];
  }
}

/** How often an attribute is picked: the default looks are rarely worth saying. */
function mentionProbability(f: Factors, a: AttributeName): number {
  const v = namedValue(f, a);
  if (v === 'none' || v === 'neutral') return 0.12;
  if (a === 'skinTone' || a === 'eyeColor' || a === 'background') return 0.3;
  return 0.55;
}

const list = (xs: string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** A caption of a random subset of what is clearly true of the face (at least one part when anything is). */
export function captionFactors(f: Factors, rng: Rng): Caption {
  const picked = new Set(attributeNames.filter((a) => rng.bool(mentionProbability(f, a))));
  const build = (): Part[] => [
    ...hairParts(f, rng, picked.has('hairColor'), picked.has('hairStyle')),
    ...attributeNames.filter((a) => a !== 'hairColor' && a !== 'hairStyle' && picked.has(a)).flatMap((a) => otherParts(f, rng, a)),
  ];
  let parts = build();
  if (parts.length === 0) {
    for (const a of attributeNames) picked.add(a);
    parts = build().slice(0, 1);
  }
  const of = (k: Part['kind']): string[] => rng.shuffle(parts.filter((p) => p.kind === k).map((p) => p.text));
  const adjectives = of('adjective');
  const withs = of('with');
  const wearings = of('wearing');
  const background = parts.find((p) => p.kind === 'background')?.text;
  const bearded = parts.some((p) => p.mentions.some((m) => m.attribute === 'beard' && (m.value ? m.value !== 'none' : true)));
  const noun = rng.choice(bearded ? ['man', 'person', 'face'] : ['person', 'face', 'cartoon face', 'character']);
  const head = [...adjectives, noun].join(' ');
  let text = `${rng.choice(['a ', 'a ', 'portrait of a ', 'a picture of a '])}${head}`.replace(/\ba ([aeiou])/, 'an $1');
  if (withs.length > 0) text += ` with ${list(withs)}`;
  if (wearings.length > 0) text += `${withs.length > 0 ? ',' : ''} wearing ${list(wearings)}`;
  if (background) text += `${text.includes(',') ? ',' : ''} ${background}`;
  return {text, mentions: parts.flatMap((p) => p.mentions)};
}
