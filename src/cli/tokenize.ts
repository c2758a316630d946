/** `styleclip tokenize`: CLIP token ids of texts, as `clip.tokenize` gives them (SOT … EOT, zero padded to 77). */
import type {Command} from 'commander';
import {check} from '../errors.js';
import {readBytes} from '../io/files.js';
import {CONTEXT_LENGTH, loadDefaultTokenizer} from '../models/clip/tokenizer.js';

interface TokenizeFlags {
  file?: string;
  truncate: boolean;
  json?: boolean;
}

export function registerTokenize(program: Command): void {
  program
    .command('tokenize')
    .description(`CLIP token ids of texts: ${CONTEXT_LENGTH} per text, <|startoftext|> (49406) … <|endoftext|> (49407), zero padded`)
    .argument('[text...]', 'texts to tokenize')
    .option('--file <file>', 'also tokenize each line of this UTF-8 text file')
    .option('--no-truncate', `fail on a text longer than ${CONTEXT_LENGTH} tokens instead of cutting it (keeping EOT last)`)
    .option('--json', 'print one JSON array of id arrays instead of one line of ids per text')
    .addHelpText(
      'after',
      `
Texts are cleaned as CLIP does (ftfy, HTML entities, whitespace, lower case); an empty text gives
49406 49407 and zeros.

Examples:
  styleclip tokenize "a face with grey hair"
  styleclip tokenize --json "a face" "a face with blond hair"
  styleclip tokenize --no-truncate --file prompts.txt`,
    )
    .action((texts: string[], flags: TokenizeFlags) => runTokenize(texts, flags));
}

function runTokenize(args: string[], flags: TokenizeFlags): void {
  const tokenizer = loadDefaultTokenizer();
  const rows: Int32Array[] = args.map((t) => tokenizer.tokenize([t], {truncate: flags.truncate}));
  if (flags.file) {
    const bytes = readBytes(flags.file, 'text file');
    const lines = splitLines(bytes);
    lines.forEach((line, i) => {
      try {
        rows.push(tokenizer.tokenizeBytes(line, {truncate: flags.truncate}));
      } catch (err) {
        if (err instanceof Error) err.message = `'${flags.file}' line ${i + 1}: ${err.message}`;
        throw err;
      }
    });
  }
  check(rows.length > 0, 'nothing to tokenize: give texts as arguments or --file');
  if (flags.json) console.log(JSON.stringify(rows.map((r) => Array.from(r))));
  else for (const r of rows) console.log(r.join(' '));
}

/** Lines of a file as bytes ('\n' or '\r\n' endings; a final newline ends the last line rather than starting one). */
function splitLines(bytes: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue;
    if (i === bytes.length && start === bytes.length) break;
    const end = i > start && bytes[i - 1] === 0x0d ? i - 1 : i;
    lines.push(bytes.subarray(start, end));
    start = i + 1;
  }
  return lines;
}
