/**
 * CLIP tokenizer parity: every case of ../shared/fixtures/clip_tokenizer_cases.json (ids from the real
 * `clip.tokenize(truncate=True)`, decoder strings from simple_tokenizer) must come out exactly, plus truncation,
 * decoding, invalid UTF-8, the Python quirks the port reproduces (html.unescape, `regex` classes), and the ftfy
 * fixes CLIP's cleaning relies on.
 */
import {describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {fixEncoding, fixText, isBad, unescapeHtml} from '../../src/models/clip/ftfy.js';
import {htmlUnescape} from '../../src/models/clip/tokenizer-html.js';
import {ClipTokenizer, basicClean, bytesToUnicode, loadDefaultTokenizer, whitespaceClean} from '../../src/models/clip/tokenizer.js';
import {fixtureJson} from '../helpers/fixtures.js';

interface TokenizerCase {
  group: string;
  text: string;
  ids: number[];
  n_nonzero: number;
  untruncated_length: number;
  truncated: boolean;
  bpe_tokens?: string[];
  same_without_ftfy: boolean;
  same_with_nfc_only: boolean;
}

const {cases} = fixtureJson<{cases: TokenizerCase[]}>('clip_tokenizer_cases.json');
const tok = loadDefaultTokenizer();
const SOT = 49406;
const EOT = 49407;

function fixtureCase(text: string): TokenizerCase {
  const c = cases.find((x) => x.text === text);
  if (!c) throw new Error(`no fixture case ${JSON.stringify(text)}`);
  return c;
}

function idsOf(text: string, options?: Parameters<ClipTokenizer['tokenize']>[1]): number[] {
  return Array.from(tok.tokenize([text], options));
}

describe('CLIP tokenizer: fixture parity', () => {
  it('has the 135 cases and CLIP vocabulary layout', () => {
    expect(cases).toHaveLength(135);
    expect(tok.vocabSize).toBe(49408);
    expect([tok.sot, tok.eot]).toEqual([SOT, EOT]);
    expect(tok.decoder[0]).toBe('!');
    expect(tok.decoder[256]).toBe('!</w>');
    expect(tok.decoder[512]).toBe('in');  // the first merge, line 'i n'
  });

  it.each(cases.map((c, i) => [`${c.group} #${i} ${JSON.stringify(c.text).slice(0, 60)}`, c] as const))('%s', (_name, c) => {
    const ids = idsOf(c.text);
    expect(ids).toEqual(c.ids);
    const nonzero = ids.filter((id) => id !== 0);
    expect(nonzero).toHaveLength(c.n_nonzero);
    if (c.bpe_tokens) expect(nonzero.map((id) => tok.decoder[id])).toEqual(c.bpe_tokens);
    expect(tok.encode(c.text).length + 2).toBe(c.untruncated_length);
    expect(c.truncated).toBe(c.untruncated_length > 77);
  });

  it('tokenizes a batch into one [T, 77] Int32Array', () => {
    const some = cases.slice(0, 5);
    const out = tok.tokenize(some.map((c) => c.text));
    expect(out).toBeInstanceOf(Int32Array);
    expect(out.length).toBe(5 * 77);
    some.forEach((c, i) => expect(Array.from(out.subarray(i * 77, (i + 1) * 77))).toEqual(c.ids));
  });
});

describe('CLIP tokenizer: the five cases that need ftfy', () => {
  const ftfyCases = cases.filter((c) => !c.same_without_ftfy).map((c) => c.text);

  it('are exactly the fixture cases flagged as changing without ftfy', () => {
    expect(ftfyCases.sort()).toEqual(
      ['“smart quotes” and ‘single’', 'ﬁne ﬂower ﬀ', 'Ｆｕｌｌｗｉｄｔｈ １２３', 'cafÃ© crÃ¨me', 'cafe\u0301 e\u0301le\u0300ve (combining accents)'].sort(),
    );
  });

  it('curly quotes become straight quotes (uncurl_quotes)', () => {
    const c = fixtureCase('“smart quotes” and ‘single’');
    expect(fixText(c.text)).toBe(`"smart quotes" and 'single'`);
    expect(idsOf(c.text)).toEqual(c.ids);
  });

  it('Latin ligatures become letters (fix_latin_ligatures)', () => {
    const c = fixtureCase('ﬁne ﬂower ﬀ');
    expect(fixText(c.text)).toBe('fine flower ff');
    expect(idsOf(c.text)).toEqual(c.ids);
  });

  it('full-width characters become ASCII (fix_character_width)', () => {
    const c = fixtureCase('Ｆｕｌｌｗｉｄｔｈ １２３');
    expect(fixText(c.text)).toBe('Fullwidth 123');
    expect(idsOf(c.text)).toEqual(c.ids);
  });

  it('UTF-8 mojibake read as Windows-1252 is repaired (fix_encoding)', () => {
    const c = fixtureCase('cafÃ© crÃ¨me');
    expect(isBad(c.text)).toBe(true);
    expect(fixText(c.text)).toBe('café crème');
    expect(idsOf(c.text)).toEqual(c.ids);
  });

  it('combining accents are composed (NFC)', () => {
    const c = fixtureCase('cafe\u0301 e\u0301le\u0300ve (combining accents)');
    expect(fixText(c.text)).toBe('café élève (combining accents)');
    expect(idsOf(c.text)).toEqual(c.ids);
  });
});

describe('CLIP tokenizer: truncation and context length', () => {
  const fits = cases.find((c) => c.group === 'length' && c.untruncated_length === 77)!;
  const over = cases.find((c) => c.group === 'length' && c.untruncated_length === 78)!;

  it('keeps the first 76 ids and forces EOT last when truncating (the default)', () => {
    const ids = idsOf(over.text);
    expect(ids).toEqual(over.ids);
    expect(ids[76]).toBe(EOT);
    expect(ids.slice(0, 76)).toEqual([SOT, ...tok.encode(over.text).slice(0, 75)]);
  });

  it('rejects a too-long text with truncate: false, naming the text and its length', () => {
    expect(() => idsOf(over.text, {truncate: false})).toThrow(StyleclipError);
    expect(() => idsOf(over.text, {truncate: false})).toThrow(/^text "a a a .*…" is 78 tokens with SOT\/EOT, more than the context length 77/);
    const grey = cases.find((c) => c.untruncated_length === 202)!;
    expect(() => tok.tokenize([grey.text], {truncate: false})).toThrow(/is 202 tokens/);
  });

  it('accepts exactly 77 ids with truncate: false', () => {
    expect(idsOf(fits.text, {truncate: false})).toEqual(fits.ids);
  });

  it('honours another context length', () => {
    expect(idsOf('a face with grey hair', {contextLength: 10})).toEqual([SOT, 320, 1710, 593, 5046, 2225, EOT, 0, 0, 0]);
    expect(idsOf('a face with grey hair', {contextLength: 4})).toEqual([SOT, 320, 1710, EOT]);
    expect(() => idsOf('a', {contextLength: 0})).toThrow(/context length must be a positive integer/);
  });

  it('gives SOT EOT for an empty or blank prompt', () => {
    expect(idsOf('').slice(0, 3)).toEqual([SOT, EOT, 0]);
    expect(idsOf(' \t\n ')).toEqual(idsOf(''));
    expect(tok.encode('')).toEqual([]);
  });
});

describe('CLIP tokenizer: decode', () => {
  it('round-trips plain text (as CLIP: each word ends in a space)', () => {
    for (const text of ['a face with grey hair', 'Portrait Of A Smiling Woman', 'café crème brûlée', '一个白发的人', 'emoji 😀 and flags 🇺🇸']) {
      expect(tok.decode(tok.encode(text)).trimEnd()).toBe(whitespaceClean(text).toLowerCase());
    }
    expect(tok.decode(tok.encode('a face'))).toBe('a face ');
  });

  it('decodes SOT/EOT to their names and rejects ids outside the vocabulary', () => {
    expect(tok.decode([SOT, 320, EOT])).toBe('<|startoftext|>a <|endoftext|>');
    expect(() => tok.decode([49408])).toThrow(/token id 49408 is outside the vocabulary \(0\.\.49407\)/);
  });
});

describe('CLIP tokenizer: bytes and invalid UTF-8', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);

  it('tokenizes valid UTF-8 bytes like the string', () => {
    expect(Array.from(tok.tokenizeBytes(utf8('café élève')))).toEqual(idsOf('café élève'));
  });

  it.each([
    ['a stray 0xFF', [0x61, 0xff, 0x62], /byte 0xff at offset 1/],
    ['a truncated sequence', [0x61, 0x62, 0xe2, 0x82], /byte 0xe2 at offset 2/],
    ['an overlong NUL (Java style)', [0xc0, 0x80], /byte 0xc0 at offset 0/],
    ['an encoded surrogate (CESU-8)', [0x78, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x8d], /byte 0xed at offset 1/],
    ['a bare continuation byte', [0x41, 0x80], /byte 0x80 at offset 1/],
  ] as const)('rejects %s with a named error', (_name, bytes, where) => {
    const run = () => tok.tokenizeBytes(new Uint8Array(bytes));
    expect(run).toThrow(StyleclipError);
    expect(run).toThrow(/^text is not valid UTF-8 /);
    expect(run).toThrow(where);
  });

  it('rejects a malformed vocabulary', () => {
    expect(() => new ClipTokenizer('#version: 0.2\ni n\n')).toThrow(/BPE merges file has 2 merge lines, CLIP needs 48894/);
    expect(() => new ClipTokenizer(new Uint8Array([0x23, 0xff]))).toThrow(/BPE merges file is not valid UTF-8/);
  });
});

describe('CLIP tokenizer: Python behaviours reproduced', () => {
  it('maps bytes to printable characters as GPT-2/CLIP bytes_to_unicode', () => {
    const {byteToChar, vocabOrder} = bytesToUnicode();
    expect(byteToChar[0x41]).toBe('A');
    expect(byteToChar[0x20]).toBe('Ġ');  // space is U+0120
    expect(byteToChar[0x00]).toBe('Ā');
    expect(byteToChar[0xad]).toBe('Ń');
    expect(new Set(byteToChar).size).toBe(256);
    expect(vocabOrder.slice(0, 3)).toEqual([0x21, 0x22, 0x23]);
    expect(vocabOrder[188]).toBe(0x00);
  });

  it.each([
    ['&amp', '&'], ['&ampx;', '&x;'], ['&#150;', '–'], ['&#0;', '\ufffd'], ['&#xd800;', '\ufffd'], ['&#1114112;', '\ufffd'],
    ['&#1;', ''], ['&#xFFFE;', ''], ['&notin;', '∉'], ['&notit;', '¬it;'], ['&#65', 'A'], ['&#x41;b', 'Ab'], ['&AMP;', '&'],
    ['&nbsp;&NBSP;', '\u00a0&NBSP;'], ['&zzz;', '&zzz;'], ['no entity', 'no entity'],
  ])('html.unescape(%j) = %j', (input, expected) => {
    expect(htmlUnescape(input)).toBe(expected);
  });

  it('cleans as basic_clean + whitespace_clean (Python str.strip and \\s, not JavaScript trim)', () => {
    expect(basicClean('  &amp;amp;lt;3  ')).toBe('<3');  // ftfy unescapes once, html.unescape twice more
    expect(whitespaceClean('a\u2003\u3000b\n\tc\u00a0')).toBe('a b c');
    expect(whitespaceClean('\u200bzero\u200b')).toBe('\u200bzero\u200b');  // U+200B is not whitespace in Python
  });

  // Expected ids from simple_tokenizer.py with `regex` (ftfy leaves these texts unchanged).
  it.each([
    ['a<b &#65279;c', [320, 283, 321, 171, 119, 379, 322]],  // '<' turns ftfy's unescaping off; U+FEFF is a symbol, not \s
    ['a\u0345b', [320, 321]],  // U+0345 matches no branch under regex's IGNORECASE, so it splits the word
    ["it'\u017f", [585, 6, 129, 379]],  // long s matches 's case-insensitively
    ['tab\u3000space', [14724, 2138]],
  ] as const)('splits %j as CLIP does', (text, expected) => {
    expect(tok.encode(text)).toEqual(expected);
  });
});

// Cases from ftfy's own test suite (tests/test-cases/*.json and docstrings, ftfy 6.3.1, Apache-2.0).
describe('ftfy port', () => {
  it.each([
    ['âœ” No problems', '✔ No problems'],
    ['The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.', "The Mona Lisa doesn't have eyebrows."],
    ['РґРѕСЂРѕРіРµ Р\u0098Р·-РїРѕРґ #С„СѓС‚Р±РѕР»', 'дороге Из-под #футбол'],
    ['Hi guys í\u00a0½í¸\u008d', 'Hi guys 😍'],
    ['#╨┐╤Ç╨░╨▓╨╕╨╗╤î╨╜╨╛╨╡╨┐╨╕╤é╨░╨╜╨╕╨╡', '#правильноепитание'],
    ['Le Schtroumpf Docteur conseille g√¢teaux et baies schtroumpfantes pour un r√©gime √©quilibr√©.', 'Le Schtroumpf Docteur conseille gâteaux et baies schtroumpfantes pour un régime équilibré.'],
    ['MĂĄm dost tĹ\u0099etĂ\u00adho tisĂ\u00adciletĂ\u00ad', 'Mám dost třetího tisíciletí'],
    ['Ã perturber la rÃ©flexion des thÃ©ologiens jusqu\'Ã nos jours', "à perturber la réflexion des théologiens jusqu'à nos jours"],
    ['com especial atenÃ§Ã£o Ã s crianÃ§as', 'com especial atenção às crianças'],
    ['Ecuadorâ\u0080\u0099s â\u0080\u0098purely political decision on Assangeâ\u0080\u0099 is likely result of â\u0080\u0098US pressureâ\u0080\u0099\u0085', "Ecuador's 'purely political decision on Assange' is likely result of 'US pressure'…"],
    ['â€œlossy decodingâ€�', '"lossy decoding�'],
    ['10Î&frac14;s', '10μs'],
    ['Ningboï¼ŒChina', 'Ningbo,China'],
    ['ŉ Chloroplas is ŉ organel', "'n Chloroplas is 'n organel"],
    ["\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m", "I'm blue, da ba dee da ba doo..."],
    // Negative cases: plausible text that must stay as it is.
    ['Bremer/Mccoy – DrÃ¥ber', 'Bremer/Mccoy – DrÃ¥ber'],
    ['PARCE QUE SUR LEURS PLAQUES IL Y MARQUÉ…', 'PARCE QUE SUR LEURS PLAQUES IL Y MARQUÉ…'],
    ['NESTLÉ® requiere contratar personal', 'NESTLÉ® requiere contratar personal'],
    ['├┤a┼┐a┼┐a┼┐a┼┐a', '├┤a┼┐a┼┐a┼┐a┼┐a'],
    ['(-1/2)! = √π', '(-1/2)! = √π'],
    ['ВІКІ is Ukrainian for WIKI', 'ВІКІ is Ukrainian for WIKI'],
    ['café crème brûlée naïve Zoë Ångström Straße', 'café crème brûlée naïve Zoë Ångström Straße'],
  ])('fix_text(%j)', (input, expected) => {
    expect(fixText(input)).toBe(expected);
  });

  it('unescapes only complete entities, including all-caps ones, and only outside HTML', () => {
    expect(unescapeHtml('P&EACUTE;REZ &ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('PÉREZ ñ Ñ Ñ &nTILDE;');
    expect(unescapeHtml('BUNDESSTRA&SZLIG;E this&not that &#x2019;')).toBe('BUNDESSTRASSE this&not that \u2019');
    expect(fixText('<b>HTML entities &lt;3</b>')).toBe('<b>HTML entities &lt;3</b>');
    expect(fixText('HTML entities &lt;3')).toBe('HTML entities <3');
  });

  it('leaves fix_encoding alone on text that is not mojibake', () => {
    expect(fixEncoding('&ATILDE;&SUP3;')).toBe('&ATILDE;&SUP3;');
    expect(fixEncoding('Ã³')).toBe('ó');
    expect(isBad('an ordinary sentence, with “quotes” — and dashes')).toBe(false);
  });
});
