/**
 * Python's `html.unescape` (CPython Lib/html/__init__.py), which CLIP's `basic_clean` applies twice. Ported rule
 * for rule, since the ids depend on its quirks: legacy names without ';' (`&amp` → '&'), the longest legacy prefix of
 * an unknown name (`&ampx;` → '&x;'), Windows-1252 meanings for numeric references to C1 controls (`&#150;` → '–'),
 * U+FFFD for surrogates, zero and numbers past U+10FFFF, and nothing for the noncharacters and most control codes.
 */
import {html5Entities} from './tokenizer-html-entities.js';

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Numeric references that the HTML5 spec maps to something else (0x80..0x9F read as Windows-1252). */
const INVALID_CHARREFS = new Map<number, string>([
  [0x00, '\ufffd'], [0x0d, '\r'], [0x80, '\u20ac'], [0x81, '\x81'], [0x82, '\u201a'], [0x83, '\u0192'],
  [0x84, '\u201e'], [0x85, '\u2026'], [0x86, '\u2020'], [0x87, '\u2021'], [0x88, '\u02c6'], [0x89, '\u2030'],
  [0x8a, '\u0160'], [0x8b, '\u2039'], [0x8c, '\u0152'], [0x8d, '\x8d'], [0x8e, '\u017d'], [0x8f, '\x8f'],
  [0x90, '\x90'], [0x91, '\u2018'], [0x92, '\u2019'], [0x93, '\u201c'], [0x94, '\u201d'], [0x95, '\u2022'],
  [0x96, '\u2013'], [0x97, '\u2014'], [0x98, '\u02dc'], [0x99, '\u2122'], [0x9a, '\u0161'], [0x9b, '\u203a'],
  [0x9c, '\u0153'], [0x9d, '\x9d'], [0x9e, '\u017e'], [0x9f, '\u0178'],
]);

/** Code points that a numeric reference decodes to nothing (Python's `_invalid_codepoints`). */
function isInvalidCodepoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;  // U+xFFFE and U+xFFFF in every plane
}

function replaceCharref(match: string, s: string): string {
  if (s[0] === '#') {
    const hex = s[1] === 'x' || s[1] === 'X';
    const digits = s.slice(hex ? 2 : 1).replace(/;$/, '');
    const num = parseInt(digits, hex ? 16 : 10);  // may be imprecise or Infinity for huge numbers: still > 0x10FFFF
    const mapped = INVALID_CHARREFS.get(num);
    if (mapped !== undefined) return mapped;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isInvalidCodepoint(num)) return '';
    return String.fromCodePoint(num);
  }
  const entities = html5Entities();
  const full = entities.get(s);
  if (full !== undefined) return full;
  // The longest prefix that is a name, as the HTML5 tokenizer does; only the legacy names lack ';', so only they
  // can match here, and every prefix is ASCII, so code-unit and code-point indices agree.
  for (let x = s.length - 1; x > 1; x--) {
    const prefix = entities.get(s.slice(0, x));
    if (prefix !== undefined) return prefix + s.slice(x);
  }
  return match;
}

/** Python's `html.unescape(s)`: replace named and numeric character references with the characters they name. */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, replaceCharref);
}
