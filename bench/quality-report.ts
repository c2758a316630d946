/**
 * The quality benchmark's numbers → summaries, targets and tables (pure: no models, no files), for
 * bench/quality.ts. Per prompt and method a `PromptScore`; per method and prompt list a `MethodSummary` (the plain
 * mean over the prompts measured); the verdicts compare the summaries with `QUALITY_TARGETS`.
 */

import {type EditTarget, editTargets, heldOutEditTargets} from '../src/demo/attributes.js';
import {StyleclipError} from '../src/errors.js';

export type Method = 'global' | 'mapper' | 'optimization';
export const ALL_METHODS: readonly Method[] = ['global', 'mapper', 'optimization'];

export type PromptListName = 'benchmark' | 'held-out';
export const PROMPT_LISTS: readonly PromptListName[] = ['benchmark', 'held-out'];

/**
 * The targets of `--prompts benchmark|held-out|all`, kept to the names in `only` ("grey hair,bald"; empty: all), per
 * list; a bad list or an unknown name is a one-line error.
 */
export function chooseTargets(prompts: string, only: string): Record<PromptListName, readonly EditTarget[]> {
  const lists: Record<string, Record<PromptListName, readonly EditTarget[]>> = {
    benchmark: {benchmark: editTargets, 'held-out': []},
    'held-out': {benchmark: [], 'held-out': heldOutEditTargets},
    all: {benchmark: editTargets, 'held-out': heldOutEditTargets},
  };
  const chosen = lists[prompts];
  if (!chosen) throw new StyleclipError(`--prompts must be benchmark, held-out or all, got '${prompts}'`);
  const names = only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const all = [...chosen.benchmark, ...chosen['held-out']].map((t) => t.name);
  for (const n of names) if (!all.includes(n)) throw new StyleclipError(`unknown prompt '${n}' in --only; the chosen lists have: ${all.join(', ')}`);
  const keep = (ts: readonly EditTarget[]) => ts.filter((t) => names.length === 0 || names.includes(t.name));
  return {benchmark: keep(chosen.benchmark), 'held-out': keep(chosen['held-out'])};
}

/** face-api's same-person threshold on the Euclidean distance of two descriptors. */
export const FACE_API_SAME_PERSON = 0.6;

/** One method on one prompt, over the counted faces. */
export interface PromptScore {
  /** Faces that can show the target and did not before the edit. */
  counted: number;
  success: number;
  preservation: number;
  /** cos(E_eval(after), t) − cos(E_eval(before), t) with the evaluation CLIP. */
  clipGain: number;
  /** Mean face-api descriptor distance between input and edit. */
  identityDistance: number;
  /** Share of the counted faces whose target probability rises with the strength. */
  monotoneShare: number;
  /** Mean target probability at each strength (multiples of the default, `strengths` of the report). */
  targetProbability: number[];
  /** Per other attribute: the share of the counted faces whose value the edit changed (what preservation lost). */
  changed: Partial<Record<string, number>>;
  secondsPerEdit: number;
}

/** A (method, prompt) that was not run, and why (e.g. its mapper file is missing). */
export interface Skipped {
  skipped: string;
}

export interface PromptResult {
  name: string;
  prompt: string;
  attribute: string;
  value: string;
  methods: Partial<Record<Method, PromptScore | Skipped>>;
}

export interface MethodSummary {
  /** Prompts measured, of `of` in the list. */
  prompts: number;
  of: number;
  success: number;
  preservation: number;
  clipGain: number;
  identityDistance: number;
  monotoneShare: number;
  /** The prompt with the lowest monotone share. */
  worstMonotone: {prompt: string; share: number};
  secondsPerEdit: number;
}

/** The targets at default settings. */
export const QUALITY_TARGETS = {
  methods: {
    global: {success: 0.75, preservation: 0.9, secondsPerEdit: 0.05},
    mapper: {success: 0.85, preservation: 0.85, secondsPerEdit: 0.05},
    optimization: {success: 0.85, preservation: 0.85},
  } as Record<Method, {success: number; preservation: number; secondsPerEdit?: number}>,
  /** Monotone share on every benchmark prompt. */
  monotone: 0.9,
  /** The held-out list's success may be at most this far below the benchmark list's, per method. */
  heldOutGap: 0.1,
};

export function isSkipped(x: object | undefined): x is Skipped {
  return x !== undefined && 'skipped' in x;
}

/** A method's mean over the prompts of a list it was measured on; null when it was measured on none. */
export function summarise(prompts: readonly PromptResult[], method: Method): MethodSummary | null {
  const rows = prompts.flatMap((p) => {
    const s = p.methods[method];
    return s === undefined || isSkipped(s) ? [] : [{name: p.name, s}];
  });
  if (rows.length === 0) return null;
  const mean = (k: 'success' | 'preservation' | 'clipGain' | 'identityDistance' | 'monotoneShare' | 'secondsPerEdit') => rows.reduce((a, r) => a + r.s[k], 0) / rows.length;
  const worst = rows.reduce((w, r) => (r.s.monotoneShare < w.s.monotoneShare ? r : w));
  return {
    prompts: rows.length,
    of: prompts.length,
    success: mean('success'),
    preservation: mean('preservation'),
    clipGain: mean('clipGain'),
    identityDistance: mean('identityDistance'),
    monotoneShare: mean('monotoneShare'),
    worstMonotone: {prompt: worst.name, share: worst.s.monotoneShare},
    secondsPerEdit: mean('secondsPerEdit'),
  };
}

export interface Verdict {
  /** The target in words. */
  target: string;
  met: boolean;
  /** The parts missed (empty when met). */
  missed: string[];
}

export const pct = (x: number): string => `${(100 * x).toFixed(0)} %`;

/** The benchmark list against the method's targets (success, preservation, monotone on every prompt, speed). */
export function benchmarkVerdict(method: Method, s: MethodSummary): Verdict {
  const t = QUALITY_TARGETS.methods[method];
  const parts: Part[] = [
    [`success ≥ ${pct(t.success)}`, 'success', s.success >= t.success],
    [`preservation ≥ ${pct(t.preservation)}`, 'preservation', s.preservation >= t.preservation],
    [`monotone ≥ ${pct(QUALITY_TARGETS.monotone)} on every prompt`, 'monotone', s.worstMonotone.share >= QUALITY_TARGETS.monotone],
  ];
  if (t.secondsPerEdit !== undefined) parts.push([`≤ ${t.secondsPerEdit} s / edit`, 's / edit', s.secondsPerEdit <= t.secondsPerEdit]);
  return verdict(parts, s);
}

/** The held-out list's success within `heldOutGap` of the benchmark list's (null: the benchmark was not measured). */
export function heldOutVerdict(benchmark: MethodSummary | null, heldOut: MethodSummary): Verdict {
  const points = Math.round(100 * QUALITY_TARGETS.heldOutGap);
  if (!benchmark) return verdict([[`success within ${points} points of the benchmark list`, 'benchmark list not measured', false]], heldOut);
  const floor = benchmark.success - QUALITY_TARGETS.heldOutGap;
  return verdict([[`success ≥ ${pct(Math.max(0, floor))} (benchmark − ${points} points)`, 'success', heldOut.success >= floor - 1e-9]], heldOut);
}

/** A part of a target: its words, its short name when missed, whether it is met. */
type Part = [string, string, boolean];

/** A list measured on only some of its prompts cannot meet its targets. */
function verdict(parts: readonly Part[], s: MethodSummary): Verdict {
  const all: Part[] = [...parts, ...(s.prompts < s.of ? [['', `${s.of - s.prompts} of ${s.of} prompts not measured`, false] as Part] : [])];
  return {target: parts.map(([words]) => words).join(', '), met: all.every(([, , ok]) => ok), missed: all.filter(([, , ok]) => !ok).map(([, short]) => short)};
}

/** What the table prints for a verdict. */
export function verdictText(v: Verdict): string {
  return v.met ? 'met' : `MISSED: ${v.missed.join(', ')}`;
}

export interface ListReport {
  list: PromptListName;
  prompts: PromptResult[];
  summary: Partial<Record<Method, MethodSummary | Skipped>>;
  verdicts: Partial<Record<Method, Verdict>>;
}

/** Summaries and verdicts of the measured lists (the held-out verdict needs the benchmark summary when both ran). */
export function buildListReports(lists: Partial<Record<PromptListName, PromptResult[]>>, methods: readonly Method[]): ListReport[] {
  const out: ListReport[] = [];
  for (const list of PROMPT_LISTS) {
    const prompts = lists[list];
    if (!prompts) continue;
    const report: ListReport = {list, prompts, summary: {}, verdicts: {}};
    for (const m of methods) {
      const s = summarise(prompts, m);
      if (!s) {
        const reasons = [...new Set(prompts.map((p) => p.methods[m]).filter(isSkipped).map((x) => x.skipped))];
        report.summary[m] = {skipped: reasons.join('; ') || 'not run'};
        continue;
      }
      report.summary[m] = s;
      if (list === 'benchmark') report.verdicts[m] = benchmarkVerdict(m, s);
      else {
        const b = out.find((r) => r.list === 'benchmark')?.summary[m];
        report.verdicts[m] = heldOutVerdict(b && !isSkipped(b) ? b : null, s);
      }
    }
    out.push(report);
  }
  return out;
}

const seconds = (x: number): string => (x >= 0.1 ? x.toFixed(2) : x.toFixed(3));

/** The README-ready table: one row per method × list, with the targets and whether each is met. */
export function markdownTable(reports: readonly ListReport[], methods: readonly Method[]): string {
  const header = ['method', 'prompts', 'success', 'preservation', 'identity distance', 'monotone (worst prompt)', 'CLIP gain', 's / edit', 'target', ''];
  const lines = [`| ${header.join(' | ')} |`, `| ${['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---', '---'].join(' | ')} |`];
  for (const m of methods) {
    for (const r of reports) {
      const s = r.summary[m];
      const promptsCell = `${r.list} (${s && !isSkipped(s) && s.prompts < s.of ? `${s.prompts} of ${s.of}` : r.prompts.length})`;
      if (!s || isSkipped(s)) {
        lines.push(`| ${[m, promptsCell, `skipped: ${s ? s.skipped : 'not run'}`, '', '', '', '', '', '', ''].join(' | ')} |`);
        continue;
      }
      const v = r.verdicts[m]!;
      lines.push(`| ${[m, promptsCell, pct(s.success), pct(s.preservation), s.identityDistance.toFixed(2), `${pct(s.monotoneShare)} (${pct(s.worstMonotone.share)} ${s.worstMonotone.prompt})`, s.clipGain.toFixed(3), seconds(s.secondsPerEdit), v.target, v.met ? 'met' : `**${verdictText(v)}**`].join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** The legend under the tables. */
export function legend(seeds: number, strengths: readonly number[], inputs = 'faces sampled at ψ 0.7'): string {
  return (
    `${seeds} ${inputs} per prompt, counted where the face can show the target and did not before; success and preservation by the ` +
    `evaluation classifier, CLIP gain by the evaluation CLIP; identity distance: mean face-api descriptor distance between input and edit ` +
    `(face-api's same-person threshold is ${FACE_API_SAME_PERSON}); monotone: share of faces whose target probability never drops by more than ` +
    `0.02 from one strength to the next over ${strengths.join(', ')} × the default, ends above where it started and reaches at least one half.`
  );
}

/** The per-prompt console table of one list (skipped cells say so). */
export function promptTable(r: ListReport, methods: readonly Method[]): string {
  const head = ['method'.padEnd(13), 'prompt'.padEnd(15), 'n'.padStart(3), 'success', 'preserv', 'identity', 'monotone', 'CLIP gain', 's/edit'];
  const lines = [`${r.list} prompts`, head.join('  ')];
  for (const m of methods) {
    for (const p of r.prompts) {
      const s = p.methods[m];
      if (s === undefined || isSkipped(s)) {
        lines.push([m.padEnd(13), p.name.padEnd(15), '', `skipped${s ? `: ${s.skipped}` : ''}`].join('  '));
        continue;
      }
      lines.push([m.padEnd(13), p.name.padEnd(15), String(s.counted).padStart(3), pct(s.success).padStart(7), pct(s.preservation).padStart(7), s.identityDistance.toFixed(3).padStart(8), pct(s.monotoneShare).padStart(8), s.clipGain.toFixed(4).padStart(9), seconds(s.secondsPerEdit).padStart(6)].join('  '));
    }
  }
  return lines.join('\n');
}
