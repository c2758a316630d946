/**
 * Declarative state-dict key renames: an ordered table of regex → function rules, where a key no rule matches
 * is an error (the pattern of NVlabs stylegan3 legacy.py `_populate_module_params`, which fails on leftovers,
 * instead of silently dropping weights).
 */
import {StyleclipError} from '../errors.js';
import type {HostTensor, StateDict} from './host-tensor.js';

/** A rename rule: the first rule whose pattern matches a key decides its new name; null drops the key. */
export type RenameRule = [RegExp, (m: RegExpMatchArray) => string | null];

export interface RenameOptions {
  /** What is being renamed, for error messages (default "state dict"). */
  what?: string;
}

const LIST_LIMIT = 10;

function listNames(items: string[]): string {
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  return items.length > LIST_LIMIT ? `${shown}, … and ${items.length - LIST_LIMIT} more` : shown;
}

/**
 * Rename every key of `sd` with the first matching rule (order of `sd` kept). Fails naming every key that no
 * rule matched, and any two keys renamed to the same name.
 */
export function renameKeys(sd: StateDict, rules: RenameRule[], {what = 'state dict'}: RenameOptions = {}): StateDict {
  const out: StateDict = new Map();
  const from = new Map<string, string>();
  const unmatched: string[] = [];
  const clashes: string[] = [];
  for (const [key, t] of sd) {
    let matched = false;
    for (const [re, fn] of rules) {
      re.lastIndex = 0;
      const m = key.match(re);
      if (m === null) continue;
      matched = true;
      const name = fn(m);
      if (name !== null) {
        const prev = from.get(name);
        if (prev !== undefined) clashes.push(`'${prev}' and '${key}' → '${name}'`);
        from.set(name, key);
        out.set(name, t);
      }
      break;
    }
    if (!matched) unmatched.push(key);
  }
  const parts: string[] = [];
  if (unmatched.length > 0) parts.push(`${unmatched.length} key${unmatched.length === 1 ? '' : 's'} matched no rename rule [${listNames(unmatched)}]`);
  if (clashes.length > 0) parts.push(`${clashes.length} rename clash${clashes.length === 1 ? '' : 'es'} [${listNames(clashes)}]`);
  if (parts.length > 0) throw new StyleclipError(`${what}: ${parts.join('; ')}`);
  return out;
}

/**
 * The entries whose key starts with `prefix`, with the prefix removed (StyleCLIP's `get_keys(ckpt, 'mapper')`
 * with prefix 'mapper.'). Fails when nothing has the prefix.
 */
export function selectPrefix(sd: StateDict | Map<string, HostTensor>, prefix: string, {what = 'state dict'}: RenameOptions = {}): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of sd) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
  if (out.size === 0) {
    const keys = [...sd.keys()];
    throw new StyleclipError(`${what} has no keys starting with '${prefix}' (first keys: ${listNames(keys.slice(0, 5))}${keys.length > 5 ? ', …' : ''})`);
  }
  return out;
}
