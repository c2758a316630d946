/**
 * CLIP's byte-level BPE tokenizer: openai/CLIP clip/simple_tokenizer.py and `clip.tokenize` (commit d05afc43),
 * with the vocabulary bpe_simple_vocab_16e6.txt.gz shipped in assets/clip/.
 *
 *   text -> ftfy.fix_text -> html.unescape twice -> strip -> whitespace runs to ' ' -> lower-case
 *        -> regex split -> UTF-8 bytes as printable chars (bytes_to_unicode) -> BPE -> ids
 *   tokenize: [SOT] + ids + [EOT], zero padded to the context length (77); longer ones are cut to 77 with EOT last.
 *
 * Ids: 0..255 single bytes, 256..511 single bytes ending a word ('</w>'), 512..49405 the 48894 merges in rank order,
 * 49406 <|startoftext|>, 49407 <|endoftext|>. The text encoder reads its feature at the EOT, the largest id.
 */
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import {StyleclipError, check} from '../../errors.js';
import {PY_SPACE, fixText} from './ftfy.js';
import {htmlUnescape} from './tokenizer-html.js';

/** CLIP's context length: SOT + 75 tokens + EOT. */
export const CONTEXT_LENGTH = 77;
/** The BPE merges CLIP uses: the file's lines 1..48894 (`merges[1:49152-256-2+1]`; line 0 is a header). */
const N_MERGES = 49152 - 256 - 2;
const SOT_TOKEN = '<|startoftext|>';
const EOT_TOKEN = '<|endoftext|>';

/**
 * The token pattern, verbatim from simple_tokenizer.py (compiled there with `regex` and re.IGNORECASE). One change:
 * `\s` is spelled out as Python's (Unicode White_Space), because JavaScript's `\s` also matches U+FEFF.
 */
const TOKEN_PATTERN = String.raw`<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`;
const WHITE_SPACE = String.raw`\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
const TOKEN_RE = new RegExp(TOKEN_PATTERN.replace(String.raw`\s`, WHITE_SPACE), 'giu');
const PY_SPACE_RUN_RE = new RegExp(`[${PY_SPACE}]+`, 'g');
const PY_STRIP_RE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/**
 * GPT-2's reversible byte -> printable character map: printable Latin-1 bytes stand for themselves, the other 68
 * (controls, space, U+A0, soft hyphen) become U+0100.. in byte order, so no token holds whitespace or controls.
 * Index = byte. The vocabulary lists these characters in the order printable bytes first, then the others.
 */
export function bytesToUnicode(): {byteToChar: string[]; vocabOrder: number[]} {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const byteToChar: string[] = [];
  for (const b of bs) byteToChar[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (byteToChar[b] === undefined) {
      byteToChar[b] = String.fromCharCode(256 + n++);
      bs.push(b);
    }
  }
  return {byteToChar, vocabOrder: bs};
}

/** Python's `str.strip()`. */
function pyStrip(text: string): string {
  return text.replace(PY_STRIP_RE, '');
}

/** simple_tokenizer.basic_clean: ftfy.fix_text, then html.unescape twice, then strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** simple_tokenizer.whitespace_clean: every whitespace run becomes one space; strip. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(PY_SPACE_RUN_RE, ' '));
}

/** Options of `tokenize`, as `clip.tokenize(texts, context_length, truncate)`. */
export interface TokenizeOptions {
  /** Ids per text, SOT and EOT included (CLIP: 77). */
  contextLength?: number;
  /** Cut texts that are too long, keeping EOT last (true, as StyleCLIP calls it); false = error. */
  truncate?: boolean;
}

const UTF8 = new TextEncoder();

/** Entries kept in the per-word BPE cache before it is cleared (CLIP's grows without bound). */
const BPE_CACHE_LIMIT = 100_000;

/**
 * The CLIP tokenizer, built from the BPE merges text (bpe_simple_vocab_16e6.txt, gunzipped).
 *
 *     const tok = loadDefaultTokenizer();
 *     tok.encode('a face with grey hair');            // [320, 1710, 593, 5046, 2225]
 *     tok.tokenize(['a face', 'grey hair']);          // Int32Array [2 × 77]: 49406 320 1710 49407 0 …
 *     tok.decode(tok.encode('a face with grey hair')); // 'a face with grey hair '
 */
export class ClipTokenizer {
  /** Token string -> id. */
  readonly encoder: ReadonlyMap<string, number>;
  /** Id -> token string (the `bpe_tokens` form: byte characters, '</w>' ending a word). */
  readonly decoder: readonly string[];
  readonly sot: number;
  readonly eot: number;
  readonly vocabSize: number;
  private readonly byteToChar: readonly string[];
  private readonly charToByte: ReadonlyMap<string, number>;
  /** 'a b' (the two parts of a merge, which never hold a space) -> rank. */
  private readonly bpeRanks: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, readonly string[]>();

  /** `merges`: the vocabulary file's text, or its bytes (UTF-8, not gzipped). */
  constructor(merges: string | Uint8Array) {
    const text = typeof merges === 'string' ? merges : decodeUtf8(merges, 'BPE merges file');
    const lines = text.split('\n');
    check(lines.length > N_MERGES, `BPE merges file has ${Math.max(lines.length - 1, 0)} merge lines, CLIP needs ${N_MERGES}`);
    const {byteToChar, vocabOrder} = bytesToUnicode();
    const vocab = vocabOrder.map((b) => byteToChar[b]!);
    vocab.push(...vocab.map((v) => v + '</w>'));
    const bpeRanks = new Map<string, number>();
    for (let i = 1; i <= N_MERGES; i++) {
      const parts = lines[i]!.split(' ');
      check(parts.length === 2 && parts[0] !== '' && parts[1] !== '', () => `BPE merges file line ${i + 1} is not 'first second': ${JSON.stringify(lines[i]!.slice(0, 40))}`);
      bpeRanks.set(`${parts[0]} ${parts[1]}`, i - 1);
      vocab.push(parts[0]! + parts[1]!);
    }
    vocab.push(SOT_TOKEN, EOT_TOKEN);
    this.decoder = vocab;
    this.encoder = new Map(vocab.map((v, i) => [v, i]));
    this.vocabSize = vocab.length;
    this.sot = vocab.length - 2;
    this.eot = vocab.length - 1;
    this.byteToChar = byteToChar;
    this.charToByte = new Map(byteToChar.map((c, b) => [c, b]));
    this.bpeRanks = bpeRanks;
  }

  /** Byte-pair encoding of one pre-token (already in byte characters): its vocabulary strings. */
  private bpe(token: string): readonly string[] {
    if (token === SOT_TOKEN || token === EOT_TOKEN) return [token];
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = [...token];
    let word = [...chars.slice(0, -1), chars[chars.length - 1]! + '</w>'];
    while (word.length > 1) {
      // The adjacent pair with the lowest merge rank.
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.bpeRanks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < best) [best, first, second] = [r, word[i]!, word[i + 1]!];
      }
      if (best === Infinity) break;
      // Merge every occurrence, left to right.
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i++]!);
        }
      }
      word = merged;
    }
    if (this.cache.size >= BPE_CACHE_LIMIT) this.cache.clear();
    this.cache.set(token, word);
    return word;
  }

  /** The pre-tokens of a text after CLIP's cleaning, before BPE (strings of Unicode text). */
  preTokenize(text: string): string[] {
    const cleaned = whitespaceClean(basicClean(text)).toLowerCase();
    // Under `regex`'s IGNORECASE, U+0345 (combining ypogegrammeni, case-folds to ι) matches none of the branches and
    // so separates tokens; JavaScript's /iu would take it as a letter. A space behaves as `regex` does.
    return cleaned.replaceAll('\u0345', ' ').match(TOKEN_RE) ?? [];
  }

  /** BPE ids of a text, without SOT/EOT (simple_tokenizer.encode). */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const token of this.preTokenize(text)) {
      let chars = '';
      for (const b of UTF8.encode(token)) chars += this.byteToChar[b];
      for (const piece of this.bpe(chars)) ids.push(this.encoder.get(piece)!);
    }
    return ids;
  }

  /**
   * `clip.tokenize(texts, contextLength, truncate)`: [T, contextLength] int32, each row SOT, the BPE ids, EOT, then
   * zeros. A row too long is cut to `contextLength` ids and its last id set to EOT; with `truncate: false` it is an error.
   */
  tokenize(texts: readonly string[], {contextLength = CONTEXT_LENGTH, truncate = true}: TokenizeOptions = {}): Int32Array {
    check(Number.isInteger(contextLength) && contextLength >= 1, `context length must be a positive integer, got ${contextLength}`);
    const out = new Int32Array(texts.length * contextLength);
    texts.forEach((text, i) => {
      let ids = [this.sot, ...this.encode(text), this.eot];
      if (ids.length > contextLength) {
        if (!truncate) throw new StyleclipError(`text ${quote(text)} is ${ids.length} tokens with SOT/EOT, more than the context length ${contextLength}; shorten it or allow truncation`);
        ids = ids.slice(0, contextLength);
        ids[contextLength - 1] = this.eot;
      }
      out.set(ids, i * contextLength);
    });
    return out;
  }

  /** `tokenize` for one text given as bytes, which must be valid UTF-8. */
  tokenizeBytes(bytes: Uint8Array, options: TokenizeOptions = {}): Int32Array {
    return this.tokenize([decodeUtf8(bytes, 'text')], options);
  }

  /** Text of ids (simple_tokenizer.decode): '</w>' becomes a space; invalid UTF-8 becomes U+FFFD. Padding zeros
   *  are id 0 ('!'), so pass only the ids before EOT. */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = this.decoder[id];
      if (token === undefined) throw new StyleclipError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
      for (const ch of token) bytes.push(this.charToByte.get(ch)!);
    }
    return new TextDecoder('utf-8', {ignoreBOM: true}).decode(new Uint8Array(bytes)).replaceAll('</w>', ' ');
  }
}

/** A text for a one-line message: JSON-quoted, long ones shortened. */
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? text.slice(0, 57) + '…' : text);
}

/** Strict UTF-8 decoding; invalid bytes are a StyleclipError that says where. */
function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new StyleclipError(`${what} is not valid UTF-8 (byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at offset ${at} starts no well-formed character)`);
  }
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (Unicode Table 3-7). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const x = b[i]!;
    let n = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (x < 0x80) n = 0;
    else if (x >= 0xc2 && x <= 0xdf) n = 1;
    else if (x >= 0xe0 && x <= 0xef) [n, lo, hi] = [2, x === 0xe0 ? 0xa0 : 0x80, x === 0xed ? 0x9f : 0xbf];
    else if (x >= 0xf0 && x <= 0xf4) [n, lo, hi] = [3, x === 0xf0 ? 0x90 : 0x80, x === 0xf4 ? 0x8f : 0xbf];
    else return i;
    for (let k = 1; k <= n; k++) {
      const y = b[i + k];
      if (y === undefined || y < (k === 1 ? lo : 0x80) || y > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return 0;  // not reached for invalid input
}

/**
 * Read a BPE vocabulary file (gzipped, as CLIP ships it, or plain text) into a tokenizer. Node only.
 */
export function loadTokenizer(file: string | URL): ClipTokenizer {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new StyleclipError(`cannot read BPE vocabulary '${String(file)}': ${(err as Error).message}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new StyleclipError(`BPE vocabulary '${String(file)}' is not a valid gzip file: ${(err as Error).message}`);
    }
  }
  return new ClipTokenizer(bytes);
}

/** Where the shipped vocabulary is: <package root>/assets/clip, from src/models/clip (tsx, vitest) or dist/models/clip. */
const DEFAULT_VOCAB_URL = new URL('../../../assets/clip/bpe_simple_vocab_16e6.txt.gz', import.meta.url);

let defaultTokenizer: ClipTokenizer | undefined;

/** The tokenizer with CLIP's shipped vocabulary, built on first use and then shared. Node only. */
export function loadDefaultTokenizer(): ClipTokenizer {
  defaultTokenizer ??= loadTokenizer(DEFAULT_VOCAB_URL);
  return defaultTokenizer;
}
