/**
 * The part of ftfy ("fixes text for you", R. Speer; github.com/rspeer/python-ftfy, Apache-2.0) that CLIP's tokenizer
 * runs: `ftfy.fix_text(text)` with ftfy 6.3.1's defaults, the first step of openai/CLIP simple_tokenizer.py
 * `basic_clean`. Written from ftfy 6.3.1's __init__.py, fixes.py, chardata.py, badness.py and bad_codecs/; each
 * function names the ftfy function it follows. Mojibake repair is heuristic by design; what matters here is that it
 * is ftfy's heuristic, since the token ids must match those of the real CLIP tokenizer.
 *
 * fix_text, per line: unescape HTML entities (unless the text has a '<'), repair mojibake (UTF-8 read as a
 * single-byte encoding), C1 controls as Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line
 * breaks, lone surrogates, terminal escapes, invisible control characters, then NFC; repeated until nothing changes.
 */
import {CHARMAP_HIGH_HALVES, MOJIBAKE_CATEGORIES as C, UTF8_CLUES} from './ftfy-data.js';
import {html5Entities} from './tokenizer-html-entities.js';
import {htmlUnescape} from './tokenizer-html.js';

/** Python's `re` `\s` for str patterns (str.isspace); JavaScript's `\s` differs (it has U+FEFF, lacks U+1C..1F, U+85). */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `re` `\w` for str patterns. */
const PY_WORD = '\\p{L}\\p{N}_';

/** Longest run of characters fixed in one piece (`TextFixerConfig.max_decode_length`). */
const MAX_DECODE_LENGTH = 1_000_000;

// ---------------------------------------------------------------------------------------------------------------
// Single-byte codecs (chardata.py CHARMAP_ENCODINGS, bad_codecs/sloppy.py). Text is turned into a "binary string",
// one char per byte (code 0..255), so byte-level regexes are plain JS regexes.

interface Charmap {
  name: string;
  /** Byte -> character. */
  decodeTable: string[];
  /** Code point -> byte, for the characters this codec can produce. */
  encodeTable: Map<number, number>;
}

function buildCharmap(name: string): Charmap {
  const high = CHARMAP_HIGH_HALVES[name]!;
  const encodeTable = new Map<number, number>();
  for (let b = 0; b < 0x80; b++) encodeTable.set(b, b);
  // ftfy's sloppy codecs decode byte 0x1A as U+FFFD, so they can carry "a character that was lost" through a
  // round trip; U+001A itself is then not encodable.
  if (name.startsWith('sloppy-')) {
    encodeTable.delete(0x1a);
    encodeTable.set(0xfffd, 0x1a);
  }
  [...high].forEach((ch, i) => encodeTable.set(ch.codePointAt(0)!, 0x80 + i));
  const decodeTable: string[] = [];
  for (const [cp, b] of encodeTable) decodeTable[b] = String.fromCodePoint(cp);
  return {name, decodeTable, encodeTable};
}

/** In the order ftfy tries them. */
const CHARMAPS: readonly Charmap[] = Object.keys(CHARMAP_HIGH_HALVES).map(buildCharmap);
const SLOPPY_1252 = CHARMAPS.find((c) => c.name === 'sloppy-windows-1252')!;

/** chardata.possible_encoding: could `text` have been decoded from this single-byte encoding? */
function possibleEncoding(text: string, cm: Charmap): boolean {
  for (const ch of text) if (!cm.encodeTable.has(ch.codePointAt(0)!)) return false;
  return true;
}

/** `text.encode(cm)` as a binary string; the text must pass `possibleEncoding`. */
function encodeBinary(text: string, cm: Charmap): string {
  let out = '';
  for (const ch of text) out += String.fromCharCode(cm.encodeTable.get(ch.codePointAt(0)!)!);
  return out;
}

function binaryToBytes(bin: string): Uint8Array {
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const STRICT_UTF8 = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true});

/** Strict UTF-8 decoding of a binary string, or null where Python would raise UnicodeDecodeError. */
function decodeUtf8(bin: string): string | null {
  try {
    return STRICT_UTF8.decode(binaryToBytes(bin));
  } catch {
    return null;
  }
}

/**
 * ftfy's "utf-8-variants" codec (bad_codecs/utf8_variants.py): strict UTF-8, plus CESU-8 (a UTF-16 surrogate pair
 * written as two 3-byte sequences ED A0-AF xx ED B0-BF xx) and Java's C0 80 for U+0000. Null on anything else invalid.
 */
function decodeUtf8Variants(bin: string): string | null {
  const b = binaryToBytes(bin);
  const parts: string[] = [];
  let start = 0;
  const flush = (end: number): boolean => {
    if (end === start) return true;
    const s = decodeUtf8(bin.slice(start, end));
    if (s === null) return false;
    parts.push(s);
    return true;
  };
  const cont = (x: number | undefined, lo = 0x80, hi = 0xbf) => x !== undefined && x >= lo && x <= hi;
  for (let i = 0; i < b.length; ) {
    if (b[i] === 0xc0 && b[i + 1] === 0x80) {
      if (!flush(i)) return null;
      parts.push('\0');
      i += 2;
      start = i;
    } else if (b[i] === 0xed && cont(b[i + 1], 0xa0, 0xaf) && cont(b[i + 2]) && b[i + 3] === 0xed && cont(b[i + 4], 0xb0, 0xbf) && cont(b[i + 5])) {
      if (!flush(i)) return null;
      const cp = ((b[i + 1]! & 0x0f) << 16) + ((b[i + 2]! & 0x3f) << 10) + ((b[i + 4]! & 0x0f) << 6) + (b[i + 5]! & 0x3f) + 0x10000;
      parts.push(String.fromCodePoint(cp));
      i += 6;
      start = i;
    } else {
      i++;
    }
  }
  return flush(b.length) ? parts.join('') : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte-level transcoders (fixes.py restore_byte_a0, replace_lossy_sequences; chardata.py ALTERED_UTF8_RE,
// LOSSY_UTF8_RE). These run on binary strings.

/** UTF-8 sequences that would be valid if a byte A0 had not been turned into a space (20). */
const ALTERED_UTF8 = [
    '[\\xc2\\xc3\\xc5\\xce\\xd0\\xd9][ ]',
    '[\\xe2\\xe3][ ][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf]',
    '[\\xe0-\\xe3][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf][ ]',
    '[\\xf0][ ][\\x80-\\xbf][\\x80-\\xbf]',
    '[\\xf0][\\x80-\\xbf][ ][\\x80-\\xbf]',
    '[\\xf0][\\x80-\\xbf][\\x80-\\xbf][ ]',
].join('|');
const ALTERED_UTF8_RE = new RegExp(ALTERED_UTF8);
const ALTERED_UTF8_GLOBAL_RE = new RegExp(ALTERED_UTF8, 'g');

/** "Ã " as a word is "à" plus a space, except before Portuguese contractions like "às" and "àquele". */
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;

/** fixes.restore_byte_a0 */
function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_GLOBAL_RE, (m) => m.replaceAll(' ', '\xa0'));
}

/** UTF-8 (and CESU-8) sequences where continuation bytes became 1A (a lost character, via the sloppy codecs) or '?'. */
const LOSSY_UTF8_RE = new RegExp(
  [
    '[\\xc2-\\xdf][\\x1a]',
    '[\\xc2-\\xc3][?]',
    '\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]',
    '\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]',
    '[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]',
    '[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]',
    '\\x1a',
  ].join('|'),
  'g',
);

/** fixes.replace_lossy_sequences: such sequences become the UTF-8 bytes of U+FFFD. */
function replaceLossySequences(bin: string): string {
  return bin.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
}

// ---------------------------------------------------------------------------------------------------------------
// The mojibake heuristic (badness.py BADNESS_RE, is_bad). Each alternative is an unlikely juxtaposition of the
// character roles in MOJIBAKE_CATEGORIES; Python's `\s`, `\w` and `.` are spelled out for JS.

const BADNESS_RE = new RegExp(
  [
    `[${C.c1}]`,
    `[${C.bad}${C.lowerAccented}${C.upperAccented}${C.box}${C.startPunctuation}${C.endPunctuation}${C.currency}${C.numeric}${C.law}][${C.bad}]`,
    `[a-zA-Z][${C.lowerCommon}${C.upperCommon}][${C.bad}]`,
    `[${C.bad}][${C.lowerAccented}${C.upperAccented}${C.box}${C.startPunctuation}${C.endPunctuation}${C.currency}${C.numeric}${C.law}]`,
    `[${C.lowerAccented}${C.lowerCommon}${C.box}${C.endPunctuation}${C.currency}${C.numeric}][${C.upperAccented}]`,
    `[${C.box}${C.endPunctuation}${C.currency}${C.numeric}][${C.lowerAccented}]`,
    `[${C.lowerAccented}${C.box}${C.endPunctuation}][${C.currency}]`,
    `[${PY_SPACE}][${C.upperAccented}][${C.currency}]`,
    `[${C.upperAccented}${C.box}][${C.numeric}${C.law}]`,
    `[${C.lowerAccented}${C.upperAccented}${C.box}${C.currency}${C.endPunctuation}][${C.startPunctuation}][${C.numeric}]`,
    `[${C.lowerAccented}${C.upperAccented}${C.currency}${C.numeric}${C.box}${C.law}][${C.endPunctuation}][${C.startPunctuation}]`,
    `[${C.currency}${C.numeric}${C.box}][${C.startPunctuation}]`,
    `[a-z][${C.upperAccented}][${C.startPunctuation}${C.currency}]`,
    `[${C.box}][${C.kaomoji}]`,
    `[${C.lowerAccented}${C.upperAccented}${C.currency}${C.numeric}${C.startPunctuation}${C.endPunctuation}${C.law}][${C.box}]`,
    `[${C.box}][${C.endPunctuation}]`,
    `[${C.lowerAccented}${C.upperAccented}][${C.startPunctuation}${C.endPunctuation}][${PY_WORD}]`,
    // The ligature œ when not followed by an unaccented Latin letter
    `[Œœ][^A-Za-z]`,
    // Degree signs after capital letters
    `[${C.upperAccented}]°`,
    // Common Windows-1252 2-character mojibake that isn't covered by the cases above
    `[ÂÃÎÐ][€œŠš¢£Ÿž\\xa0\\xad®©°·»${C.startPunctuation}${C.endPunctuation}–—´]`,
    `×[²³]`,
    // Windows-1252 mojibake of Arabic words needs the 'common' characters; so it takes four characters to match
    `[ØÙ][${C.common}${C.currency}${C.bad}${C.numeric}${C.startPunctuation}ŸŠ®°µ»][ØÙ][${C.common}${C.currency}${C.bad}${C.numeric}${C.startPunctuation}ŸŠ®°µ»]`,
    // Windows-1252 mojibake that starts 3-character sequences for some South Asian alphabets
    `à[²µ¹¼½¾]`,
    // MacRoman mojibake that isn't covered by the cases above
    `√[±∂†≠®™´≤≥¥µø]`,
    `≈[°¢]`,
    `‚Ä[ìîïòôúùû†°¢π]`,
    `‚[âó][àä°ê]`,
    // Windows-1251 mojibake of characters in the U+2000 range
    `вЂ`,
    // Windows-1251 mojibake of Latin-1 characters and/or the Cyrillic alphabet (3 characters, to be sure)
    `[ВГРС][${C.c1}${C.bad}${C.startPunctuation}${C.endPunctuation}${C.currency}°µ][ВГРС]`,
    // Windows-1251 on top of Latin-1 mojibake of Windows-1252 characters, near a Latin letter (Python's '.' is [^\n])
    `ГўВЂВ[^\\n][A-Za-z ]`,
    // Windows-1252 encodings of 'à' and 'á', as well as \xa0 itself
    `Ã[\\xa0¡]`,
    `[a-z][${PY_SPACE}]?[ÃÂ][ ]`,
    `^[ÃÂ][ ]`,
    // Â before a character as an encoding of exactly the same character, for common ones
    `[a-z.,?!${C.endPunctuation}]Â[ ${C.startPunctuation}${C.endPunctuation}]`,
    // Windows-1253 mojibake of characters in the U+2000 range
    `β€[™\\xa0Ά\\xad®°]`,
    // Windows-1253 mojibake of Latin-1 characters and/or the Greek alphabet
    `[ΒΓΞΟ][${C.c1}${C.bad}${C.startPunctuation}${C.endPunctuation}${C.currency}°][ΒΓΞΟ]`,
    // Windows-1257 mojibake of characters in the U+2000 range
    `ā€`,
  ].join('|'),
  'u',
);

/** badness.is_bad: does the text look like it contains mojibake? */
export function isBad(text: string): boolean {
  return BADNESS_RE.test(text);
}

/**
 * chardata.UTF8_DETECTOR_RE: runs of what look like UTF-8 sequences decoded as Latin-1-like text, not right after a
 * character that would itself continue such a sequence (so we don't fix a few characters inside a huge garble).
 */
const U = UTF8_CLUES;
const UTF8_DETECTOR =
  `(?<![${U.utf8ContinuationStrict}])` +
  `(?:[${U.utf8FirstOf2}][${U.utf8Continuation}]|[${U.utf8FirstOf3}][${U.utf8Continuation}]{2}|[${U.utf8FirstOf4}][${U.utf8Continuation}]{3})+`;
const UTF8_DETECTOR_RE = new RegExp(UTF8_DETECTOR, 'u');
const UTF8_DETECTOR_GLOBAL_RE = new RegExp(UTF8_DETECTOR, 'gu');

// ---------------------------------------------------------------------------------------------------------------
// fix_encoding (ftfy/__init__.py fix_encoding_and_explain, _fix_encoding_one_step_and_explain)

/** ftfy.fix_encoding: undo UTF-8 that was decoded in a single-byte encoding, as many times as it applies. */
export function fixEncoding(text: string): string {
  for (;;) {
    const fixed = fixEncodingOneStep(text);
    if (fixed === text) return text;
    text = fixed;
  }
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || /^[\x00-\x7f]*$/.test(text) || !isBad(text)) return text;
  // The most likely fix: the text was UTF-8, decoded with one of these single-byte encodings.
  for (const cm of CHARMAPS) {
    if (!possibleEncoding(text, cm)) continue;
    let bin = encodeBinary(text, cm);
    // Not in MacRoman, where it would match an en dash followed by a space.
    if (cm.name !== 'macroman' && ALTERED_UTF8_RE.test(bin)) bin = restoreByteA0(bin);
    if (cm.name.startsWith('sloppy-')) bin = replaceLossySequences(bin);
    const fixed = bin.includes('\xed') || bin.includes('\xc0') ? decodeUtf8Variants(bin) : decodeUtf8(bin);
    if (fixed !== null) return fixed;
  }
  // UTF-8 mojibake embedded in otherwise fine (or differently broken) text: fix the pieces on their own.
  if (UTF8_DETECTOR_RE.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // ftfy next re-reads Latin-1 text as Windows-1252 (which succeeds only where the C1 characters are defined there,
  // and then gives what fix_c1_controls gives) and finally applies fix_c1_controls: both come to this.
  return fixC1Controls(text);
}

/** fixes.decode_inconsistent_utf8: fix each mojibake-looking run that `is_bad` on its own. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_GLOBAL_RE, (m) => (m.length < text.length && isBad(m) ? fixEncoding(m) : m));
}

// ---------------------------------------------------------------------------------------------------------------
// The character-level fixers (fixes.py)

/** fixes.fix_c1_controls: C1 control characters (U+80..9F) as their Windows-1252 characters, like browsers do. */
function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (ch) => SLOPPY_1252.decodeTable[ch.charCodeAt(0)]!);
}

const LIGATURES: Readonly<Record<string, string>> = {
  'Ĳ': 'IJ', 'ĳ': 'ij',  // Dutch
  'ŉ': 'ʼn',  // Afrikaans digraph meant to avoid an auto-curled quote
  'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž',  // Serbian/Croatian digraphs for Cyrillic conversion
  'Ǉ': 'LJ', 'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj',
  'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',  // typographic ligatures
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'gu');

/** fixes.fix_latin_ligatures: 'ﬁ' -> 'fi' and the like (not 'æ', which is usually meant). */
function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (ch) => LIGATURES[ch]!);
}

let widthMap: Map<string, string> | undefined;

/** fixes.fix_character_width: full-width Latin and half-width katakana/Hangul to standard width; U+3000 to ' '. */
function fixCharacterWidth(text: string): string {
  if (!/[\u3000\uff01-\uffef]/.test(text)) return text;
  if (!widthMap) {
    widthMap = new Map([['\u3000', ' ']]);
    for (let i = 0xff01; i < 0xfff0; i++) {
      const ch = String.fromCharCode(i);
      const alt = ch.normalize('NFKC');
      if (alt !== ch) widthMap.set(ch, alt);
    }
  }
  return text.replace(/[\u3000\uff01-\uffef]/g, (ch) => widthMap!.get(ch) ?? ch);
}

/** fixes.uncurl_quotes: curly quotes (and U+02BC) to straight ones. */
function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

/** fixes.fix_line_breaks: CRLF, CR, U+2028, U+2029 and U+85 to '\n'. */
function fixLineBreaks(text: string): string {
  return text.replaceAll('\r\n', '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');
}

/** fixes.fix_surrogates: lone UTF-16 surrogates to U+FFFD (pairs are already single characters in JS). */
function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** fixes.remove_terminal_escapes: ANSI colour codes and the like (Python's `\d` is any decimal digit). */
function removeTerminalEscapes(text: string): string {
  return text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
}

/** fixes.remove_control_chars: C0 controls but tab/LF/FF/CR, DEL, deprecated Arabic format controls, BOM,
 *  interlinear annotation and object replacement characters. */
function removeControlChars(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

let ftfyEntities: Map<string, string> | undefined;

/** chardata.HTML_ENTITIES: every HTML5 name with ';', plus an upper-case form of the all-lower-case ones
 *  (&EACUTE; for &eacute;) where that is not an entity already. */
function ftfyEntityTable(): Map<string, string> {
  if (!ftfyEntities) {
    ftfyEntities = new Map();
    for (const [name, char] of html5Entities()) {
      if (!name.endsWith(';')) continue;
      ftfyEntities.set('&' + name, char);
      if (name === name.toLowerCase()) {
        const upper = '&' + name.toUpperCase();
        if (htmlUnescape(upper) === upper) ftfyEntities.set(upper, char.toUpperCase());
      }
    }
  }
  return ftfyEntities;
}

/** fixes.unescape_html: only complete entities ending in ';' (so "this&not that" stays), plus all-caps ones. */
export function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntityTable();
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (m) => {
    const named = table.get(m);
    if (named !== undefined) return named;
    if (m.startsWith('&#')) {
      const unescaped = htmlUnescape(m);
      return unescaped.includes(';') ? m : unescaped;  // only whole references
    }
    return m;
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** ftfy.fix_and_explain on one segment: apply every fixer until the text stops changing. */
function fixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const orig = text;
    if (unescape) text = unescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/**
 * `ftfy.fix_text(text)` with ftfy 6.3.1's default configuration. Lines are fixed independently; once a line holds a
 * '<' (so the text may be HTML), entities are left alone from there on.
 *
 *     fixText('âœ” No problems')  // '✔ No problems'
 *     fixText('ＬＯＵＤ　ＮＯＩＳＥＳ')  // 'LOUD NOISES'
 */
export function fixText(text: string): string {
  let unescape = true;
  const out: string[] = [];
  for (let pos = 0; pos < text.length; ) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > MAX_DECODE_LENGTH) end = pos + MAX_DECODE_LENGTH;
    const segment = text.slice(pos, end);
    if (unescape && segment.includes('<')) unescape = false;
    out.push(fixSegment(segment, unescape));
    pos = end;
  }
  return out.join('');
}
