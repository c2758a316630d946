import {describe, expect, it} from 'vitest';
import {f32, type StateDict} from '../../src/io/host-tensor.js';
import {renameKeys, selectPrefix} from '../../src/io/keymap.js';
import {checkStateDict, stateDictShapes} from '../../src/io/state-dict.js';
import {errorOf} from '../helpers/io.js';

const sd = (entries: Array<[string, number[]]>): StateDict => new Map(entries.map(([k, s]) => [k, f32(s)]));

describe('checkStateDict', () => {
  const expected: Array<[string, number[]]> = [['a.weight', [2, 3]], ['a.bias', [2]], ['b.weight', [4]], ['bn.num_batches_tracked', []]];

  it('passes when names and shapes agree', () => {
    const actual = sd(expected);
    expect(() => checkStateDict(expected, actual)).not.toThrow();
    expect(() => checkStateDict(stateDictShapes(actual), actual)).not.toThrow();
  });

  it('names every missing key, unexpected key and shape mismatch in one line', () => {
    const actual = sd([['a.weight', [3, 2]], ['b.weight', [4]], ['extra', [1]], ['extra2', [1]], ['bn.num_batches_tracked', []]]);
    const msg = errorOf(() => checkStateDict(expected, actual, {what: 'g_ema'}));
    expect(msg).toBe(
      'g_ema does not match the model: 1 missing key [a.bias]; 2 unexpected keys [extra, extra2]; ' +
        '1 shape mismatch [a.weight: expected [2, 3], got [3, 2]]',
    );
  });

  it('ignores keys by pattern and summarises long lists', () => {
    const actual = sd([['a.weight', [2, 3]], ['a.bias', [2]], ['b.weight', [4]]]);
    expect(() => checkStateDict(expected, actual, {ignore: [/num_batches_tracked$/]})).not.toThrow();
    const many = sd(Array.from({length: 25}, (_, i) => [`junk.${i}`, [1]] as [string, number[]]));
    const msg = errorOf(() => checkStateDict([], many));
    expect(msg).toMatch(/^state dict does not match the model: 25 unexpected keys \[junk\.0, .*junk\.9, … and 15 more\]$/);
    expect(msg).not.toContain('junk.10');
  });
});

describe('renameKeys / selectPrefix', () => {
  const src = sd([['conv1.weight', [1]], ['conv1.bias', [1]], ['to_rgb.weight', [1]], ['num_batches_tracked', []]]);

  it('renames in order with the first matching rule and drops null results', () => {
    const out = renameKeys(src, [
      [/^conv(\d+)\.(weight|bias)$/, (m) => `layers.${m[1]}.${m[2]}`],
      [/^to_rgb\.(.*)$/, (m) => `rgb.${m[1]}`],
      [/num_batches_tracked$/, () => null],
    ]);
    expect([...out.keys()]).toEqual(['layers.1.weight', 'layers.1.bias', 'rgb.weight']);
    expect(out.get('rgb.weight')).toBe(src.get('to_rgb.weight'));
  });

  it('fails naming every unmatched key and clashes', () => {
    const msg = errorOf(() => renameKeys(src, [[/^conv/, () => 'x']], {what: 'HF CLIP'}));
    expect(msg).toBe("HF CLIP: 2 keys matched no rename rule [to_rgb.weight, num_batches_tracked]; 1 rename clash ['conv1.weight' and 'conv1.bias' → 'x']");
  });

  it('selects a prefix (StyleCLIP get_keys)', () => {
    const ck = sd([['mapper.a', [1]], ['decoder.b', [1]], ['mapper.c', [2]]]);
    expect([...selectPrefix(ck, 'mapper.').keys()]).toEqual(['a', 'c']);
    expect(errorOf(() => selectPrefix(ck, 'nope.'))).toMatch(/no keys starting with 'nope\.' \(first keys: mapper\.a, decoder\.b, mapper\.c\)/);
  });
});
