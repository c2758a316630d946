/**
 * Example prompts the web page offers (clickable). Models with mappers offer their mappers' prompts first; then the
 * bundle's own list (the demo models: the edits the quality benchmark measures), else the official StyleCLIP
 * examples for FFHQ faces.
 */
import {editTargets} from '../demo/attributes.js';
import {promptFor} from '../demo/captions.js';
import type {ExamplePrompt} from './api-types.js';

/** The examples table of the official StyleCLIP README (global directions on FFHQ). */
export const OFFICIAL_EXAMPLES: readonly ExamplePrompt[] = [
  {neutral: 'face', target: 'smiling face'},
  {neutral: 'female face', target: 'male face'},
  {neutral: 'face with hair', target: 'face with blonde hair'},
  {neutral: 'face with hair', target: 'face with Hi-top fade hair'},
  {neutral: 'face with eyes', target: 'face with blue eyes'},
];

/** The demo world's edits, worded as the demo mappers were trained and the benchmark measures them. */
export function demoExamples(neutral = 'a face'): ExamplePrompt[] {
  return editTargets.map((t) => ({neutral, target: promptFor(t.attribute, t.value as never)}));
}

/** Mapper prompts (target against `neutral`), then `listed`, without repeats. */
export function examplePrompts(mapperPrompts: readonly (string | null)[], listed: readonly ExamplePrompt[], neutral: string): ExamplePrompt[] {
  const out: ExamplePrompt[] = [];
  const seen = new Set<string>();
  const add = (e: ExamplePrompt) => {
    if (seen.has(e.target)) return;
    seen.add(e.target);
    out.push(e);
  };
  for (const p of mapperPrompts) if (p) add({neutral, target: p});
  for (const e of listed) add(e);
  return out;
}
