/**
 * Captions for the demo world's render/caption pairs: each caption describes a random
 * non-empty subset of a face's visible attributes, in varied phrasing, and is always true of the render.
 * `promptFor` gives the canonical text prompt of one attribute value, used for edits and evaluation.
 *
 * Phrases come from `attributeSchema[...].phrases`; a colour word is always followed by the noun it
 * describes ("grey hair", "blue eyes", "pink background", "red lipstick"), so a caption can be parsed back
 * into attributes without ambiguity (the tests do exactly that).
 */
import {attributeNames, attributeValues, isAttributeVisible, valuePhrases, type AttributeName, type AttributeValue, type FaceAttributes} from './attributes.js';
import type {Rng} from './rng.js';

/** How often an attribute is picked for a caption; values that are the default look ('none', 'neutral')
 *  are rarely worth saying. */
function mentionProbability(attrs: FaceAttributes, name: AttributeName): number {
  const value: string = attrs[name];
  if (value === 'none' || value === 'neutral') return 0.12;
  if (name === 'skinTone' || name === 'eyeColor' || name === 'background') return 0.3;
  return 0.55;
}

/** One caption part: words that go before the noun ('smiling', 'bald'), after "with", or after "wearing". */
interface Part {
  kind: 'adjective' | 'with' | 'wearing' | 'background';
  text: string;
}

function phrase<K extends AttributeName>(rng: Rng, name: K, value: AttributeValue<K>): string {
  return rng.choice(valuePhrases(name, value));
}

function withArticle(np: string): string {
  return /^[aeiou]/.test(np) ? `an ${np}` : `a ${np}`;
}

function hairParts(attrs: FaceAttributes, mentionColor: boolean, mentionStyle: boolean, rng: Rng): Part[] {
  if (!mentionColor && !mentionStyle) return [];
  const style = attrs.hairStyle;
  const color = mentionColor ? phrase(rng, 'hairColor', attrs.hairColor) : '';
  if (style === 'bald') {
    if (!mentionStyle) return [];
    return [rng.bool() ? {kind: 'adjective', text: 'bald'} : {kind: 'with', text: rng.choice(['a bald head', 'a shaved head', 'no hair'])}];
  }
  if (!mentionStyle) return [{kind: 'with', text: `${color} hair`}];
  const styleWord = phrase(rng, 'hairStyle', style);
  const c = color ? `${color} ` : '';
  if (style === 'mohawk' || style === 'bob') {
    const noun = style === 'bob' && styleWord === 'bob' ? rng.choice(['bob', 'bob haircut']) : styleWord;
    return [{kind: 'with', text: withArticle(`${c}${noun}`)}];
  }
  return [{kind: 'with', text: `${styleWord} ${c}hair`}];
}

function partsFor(attrs: FaceAttributes, picked: Set<AttributeName>, rng: Rng): Part[] {
  const parts: Part[] = [];
  parts.push(...hairParts(attrs, picked.has('hairColor'), picked.has('hairStyle'), rng));
  if (picked.has('mouth')) {
    const m = attrs.mouth;
    if (m === 'neutral') parts.push({kind: 'with', text: withArticle(phrase(rng, 'mouth', m))});
    else if (rng.bool(0.7)) parts.push({kind: 'adjective', text: phrase(rng, 'mouth', m)});
    else parts.push({kind: 'with', text: m === 'smiling' ? rng.choice(['a smile', 'a big smile', 'a grin']) : rng.choice(['an open mouth', 'a surprised look'])});
  }
  if (picked.has('glasses')) {
    const g = attrs.glasses;
    if (g === 'none') parts.push({kind: 'with', text: 'no glasses'});
    else parts.push({kind: rng.bool() ? 'wearing' : 'with', text: phrase(rng, 'glasses', g)});
  }
  if (picked.has('beard')) {
    const b = attrs.beard;
    if (b === 'none') parts.push(rng.bool() ? {kind: 'adjective', text: 'clean-shaven'} : {kind: 'with', text: 'no beard'});
    else parts.push({kind: 'with', text: withArticle(phrase(rng, 'beard', b))});
  }
  if (picked.has('lipstick')) {
    const l = attrs.lipstick;
    if (l === 'none') parts.push({kind: 'with', text: 'no lipstick'});
    else parts.push({kind: rng.bool() ? 'wearing' : 'with', text: phrase(rng, 'lipstick', l)});
  }
  if (picked.has('skinTone')) parts.push({kind: 'with', text: `${phrase(rng, 'skinTone', attrs.skinTone)} skin`});
  if (picked.has('eyeColor')) parts.push({kind: 'with', text: `${phrase(rng, 'eyeColor', attrs.eyeColor)} eyes`});
  if (picked.has('background')) {
    const bg = phrase(rng, 'background', attrs.background);
    parts.push({kind: 'background', text: rng.choice([`on a ${bg} background`, `against a ${bg} backdrop`, `in front of a ${bg} background`])});
  }
  return parts;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Pick a non-empty subset of the visible attributes (at least one that yields words). */
function pickAttributes(attrs: FaceAttributes, rng: Rng): Set<AttributeName> {
  const visible = attributeNames.filter((n) => isAttributeVisible(attrs, n));
  const picked = new Set(visible.filter((n) => rng.bool(mentionProbability(attrs, n))));
  if (picked.size === 0) picked.add(rng.choice(visible));
  return picked;
}

/** A caption that describes a random non-empty subset of the face's visible attributes. */
export function caption(attrs: FaceAttributes, rng: Rng): string {
  const parts = partsFor(attrs, pickAttributes(attrs, rng), rng);
  const adjectives = rng.shuffle(parts.filter((p) => p.kind === 'adjective').map((p) => p.text));
  const withs = rng.shuffle(parts.filter((p) => p.kind === 'with').map((p) => p.text));
  const wearings = rng.shuffle(parts.filter((p) => p.kind === 'wearing').map((p) => p.text));
  const background = parts.find((p) => p.kind === 'background')?.text;

  // A beard makes "man" truthful for these cartoons; otherwise stay neutral.
  const nouns = attrs.beard !== 'none' ? ['man', 'person', 'face'] : ['person', 'face', 'cartoon face', 'character'];
  const noun = rng.choice(nouns);
  const head = [...adjectives, noun].join(' ');
  const template = rng.int(0, 3);
  let text: string;
  if (template === 3 && adjectives.length === 0 && withs.length + wearings.length > 0) {
    // Telegraphic: "grey hair, round glasses, on a pink background"
    text = [...withs, ...wearings].join(', ');
  } else {
    const opener = rng.choice(['a ', 'a ', 'portrait of a ', 'a drawing of a ', 'a picture of a ']);
    const article = opener.endsWith('a ') && /^[aeiou]/.test(head) ? opener.replace(/a $/, 'an ') : opener;
    text = `${article}${head}`;
    if (withs.length > 0) text += ` with ${list(withs)}`;
    if (wearings.length > 0) text += `${withs.length > 0 ? ',' : ''} wearing ${list(wearings)}`;
  }
  if (background) text += `${text.includes(',') || template === 3 ? ',' : ''} ${background}`;
  return text;
}

/** Canonical prompt for one attribute value, e.g. ('hairColor', 'grey') -> "a face with grey hair". */
export function promptFor<K extends AttributeName>(name: K, value: AttributeValue<K>): string {
  const v: string = value;
  switch (name) {
    case 'hairColor':
      return `a face with ${v} hair`;
    case 'hairStyle':
      if (v === 'bald') return 'a bald face';
      if (v === 'mohawk') return 'a face with a mohawk';
      if (v === 'bob') return 'a face with a bob haircut';
      return `a face with ${v} hair`;
    case 'glasses':
      return v === 'none' ? 'a face with no glasses' : v === 'round' ? 'a face with glasses' : 'a face with sunglasses';
    case 'beard':
      return v === 'none' ? 'a clean-shaven face' : v === 'full' ? 'a face with a beard' : `a face with a ${v}`;
    case 'mouth':
      return v === 'neutral' ? 'a face with a neutral expression' : `a ${v} face`;
    case 'lipstick':
      return v === 'none' ? 'a face with no lipstick' : `a face with ${v} lipstick`;
    case 'skinTone':
      return `a face with ${v} skin`;
    case 'eyeColor':
      return `a face with ${v} eyes`;
    case 'background':
      return `a face on a ${v} background`;
    default:
      throw new RangeError(`unknown attribute '${String(name)}'`);
  }
}

/** The neutral prompt that edits are measured against (StyleCLIP global directions: "a face" -> target). */
export const neutralPrompt = 'a face';

export type CaptionConstraints = Map<AttributeName, Set<string>>;

/**
 * Read back what a grammar caption or promptFor prompt says about the face (the caption grammar is designed to
 * be parsed without ambiguity; this mirrors the parser the demo-world tests check captions with).
 */
export function captionConstraints(text: string): CaptionConstraints {
  const found: CaptionConstraints = new Map();
  const add = (a: AttributeName, v: string): void => {
    if (!found.has(a)) found.set(a, new Set());
    found.get(a)!.add(v);
  };
  const has = (re: string): boolean => new RegExp(`(^|[^\\w-])${re}($|[^\\w-])`).test(text);
  const nouns: Partial<Record<AttributeName, string>> = {
    hairColor: '(hair|mohawk|mohican|bob|bob cut|bob haircut)', skinTone: 'skin', eyeColor: 'eyes', background: '(background|backdrop)',
  };
  for (const [a, noun] of Object.entries(nouns) as [AttributeName, string][]) {
    for (const v of attributeValues(a)) for (const p of valuePhrases(a, v as never)) if (has(`${p} ${noun}`)) add(a, v);
  }
  const styleWords: Record<string, string[]> = {
    short: ['short', 'cropped'], long: ['long', 'shoulder-length'], curly: ['curly', 'frizzy'], bob: ['bob'], mohawk: ['mohawk', 'mohican'],
    bald: ['bald', 'shaved head', 'no hair'],
  };
  for (const [v, ws] of Object.entries(styleWords)) for (const w of ws) if (has(w)) add('hairStyle', v);
  if (has('no glasses')) add('glasses', 'none');
  if (has('(sunglasses|dark glasses|shades)')) add('glasses', 'sunglasses');
  if (/(^|[^\w-])(?<!no |dark )(glasses|eyeglasses|spectacles)/.test(text.replace(/round glasses/g, 'glasses'))) add('glasses', 'round');
  if (has('(clean-shaven|no beard)')) add('beard', 'none');
  if (has('(full beard|bushy beard|a beard)')) add('beard', 'full');
  if (has('goatee')) add('beard', 'goatee');
  if (has('(moustache|mustache)')) add('beard', 'moustache');
  if (has('man')) add('beard', 'not none');
  if (has('(smiling|happy|grinning|smile|big smile|grin)')) add('mouth', 'smiling');
  if (has('(surprised|shocked|open-mouthed|open mouth)')) add('mouth', 'surprised');
  if (has('(neutral expression|closed mouth|serious expression)')) add('mouth', 'neutral');
  if (has('no lipstick')) add('lipstick', 'none');
  if (has('(red|bright red) lipstick')) add('lipstick', 'red');
  if (has('pink lipstick')) add('lipstick', 'pink');
  return found;
}

/** Whether a face fits every constraint of a caption (a mentioned attribute must also be visible). */
export function satisfies(attrs: FaceAttributes, c: CaptionConstraints): boolean {
  for (const [a, values] of c) {
    if (!isAttributeVisible(attrs, a)) return false;
    for (const v of values) {
      if (v === 'not none' ? attrs[a] === 'none' : attrs[a] !== v) return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Model

/**
 * A freshly initialised ToonCLIP state dict (float32), following openai CLIP's initialize_parameters (normal
 * token/positional embeddings, width-scaled attention/MLP/projection weights) and its ViT's own inits, with the
 * same rule for the vision blocks. Logit scale ln(1/0.07).
 */
