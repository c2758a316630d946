/**
 * Strict state-dict checking, the `load_state_dict(strict=True)` contract (PyTorch nn.Module
 * `_load_from_state_dict` / `load_state_dict`): every missing key, unexpected key and shape mismatch is
 * reported together in one line, so a bad key map is visible at once instead of one key per run.
 */
import {StyleclipError} from '../errors.js';
import type {HostTensor, StateDict} from './host-tensor.js';

export interface CheckStateDictOptions {
  /** Keys matching any of these are ignored on both sides (e.g. /num_batches_tracked$/). */
  ignore?: RegExp[];
  /** What is being loaded, for the message (default "state dict"). */
  what?: string;
}

/** How many names of each kind an error lists before summarising the rest as a count. */
const LIST_LIMIT = 10;

function listNames(items: string[]): string {
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  return items.length > LIST_LIMIT ? `${shown}, … and ${items.length - LIST_LIMIT} more` : shown;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Name → shape of every tensor of a state dict, in order. */
export function stateDictShapes(sd: StateDict): Map<string, number[]> {
  return new Map([...sd].map(([k, t]) => [k, t.shape]));
}

/**
 * Throw one StyleclipError naming every missing key, unexpected key and shape mismatch of `actual` against
 * `expected` (name → shape), or return when they agree. At most 10 names of each kind are listed, plus a count.
 */
export function checkStateDict(
  expected: Map<string, number[]> | Array<[string, number[]]>,
  actual: StateDict | Map<string, HostTensor>,
  {ignore = [], what = 'state dict'}: CheckStateDictOptions = {},
): void {
  const exp = expected instanceof Map ? expected : new Map(expected);
  const skip = (k: string): boolean => ignore.some((re) => {
    re.lastIndex = 0;
    return re.test(k);
  });
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [k, shape] of exp) {
    if (skip(k)) continue;
    const t = actual.get(k);
    if (t === undefined) missing.push(k);
    else if (!sameShape(t.shape, shape)) mismatched.push(`${k}: expected [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
  const unexpected = [...actual.keys()].filter((k) => !exp.has(k) && !skip(k));
  if (missing.length + unexpected.length + mismatched.length === 0) return;
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`${plural(missing.length, 'missing key', 'missing keys')} [${listNames(missing)}]`);
  if (unexpected.length > 0) parts.push(`${plural(unexpected.length, 'unexpected key', 'unexpected keys')} [${listNames(unexpected)}]`);
  if (mismatched.length > 0) parts.push(`${plural(mismatched.length, 'shape mismatch', 'shape mismatches')} [${listNames(mismatched)}]`);
  throw new StyleclipError(`${what} does not match the model: ${parts.join('; ')}`.replace(/[\r\n]+/g, ' '));
}
