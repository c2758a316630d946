/**
 * The quality benchmark's summaries, verdicts and tables from given numbers (bench/quality-report.ts); the expected
 * means and cells are worked out by hand from the numbers below.
 */
import {describe, expect, it} from 'vitest';
import {type PromptResult, type PromptScore, buildListReports, heldOutVerdict, markdownTable, promptTable, summarise} from '../../bench/quality-report.js';

function score(success: number, preservation: number, identityDistance: number, monotoneShare: number, clipGain: number, secondsPerEdit: number): PromptScore {
  return {counted: 8, success, preservation, clipGain, identityDistance, monotoneShare, targetProbability: [0, 0.5, 1, 1, 1], changed: {}, secondsPerEdit};
}

const benchmark: PromptResult[] = [
  {name: 'A', prompt: 'a face with a', attribute: 'hairColor', value: 'grey', methods: {global: score(0.75, 0.875, 0.25, 1, 0.125, 0.01), mapper: score(1, 1, 0.5, 1, 0.5, 0.01)}},
  {name: 'B', prompt: 'a face with b', attribute: 'mouth', value: 'smiling', methods: {global: score(0.875, 0.9375, 0.75, 0.875, 0.375, 0.03), mapper: {skipped: 'no mappers/b.safetensors'}}},
];
const heldOut: PromptResult[] = [
  {name: 'C', prompt: 'someone c', attribute: 'beard', value: 'goatee', methods: {global: score(0.75, 0.5, 1, 0.5, 0, 0.02), mapper: {skipped: 'no mappers/c.safetensors'}}},
];

describe('quality report', () => {
  it('averages a method over the prompts it was measured on', () => {
    const g = summarise(benchmark, 'global')!;
    expect(g.prompts).toBe(2);
    expect(g.success).toBeCloseTo(0.8125, 12);
    expect(g.preservation).toBeCloseTo(0.90625, 12);
    expect(g.identityDistance).toBeCloseTo(0.5, 12);
    expect(g.monotoneShare).toBeCloseTo(0.9375, 12);
    expect(g.worstMonotone).toEqual({prompt: 'B', share: 0.875});
    expect(g.secondsPerEdit).toBeCloseTo(0.02, 12);
    const m = summarise(benchmark, 'mapper')!;
    expect([m.prompts, m.of, m.success]).toEqual([1, 2, 1]);
    expect(summarise(heldOut, 'mapper')).toBeNull();
  });

  it('judges every target, a partly measured list, and the held-out gap', () => {
    const [b, h] = buildListReports({benchmark, 'held-out': heldOut}, ['global', 'mapper']);
    // Global: success 81 % ≥ 75 %, preservation 91 % ≥ 90 %, 0.02 s ≤ 0.05 s, but prompt B is monotone on 88 % < 90 %.
    expect(b!.verdicts.global).toMatchObject({met: false, missed: ['monotone']});
    // Mapper: every number is met, on one of its two prompts.
    expect(b!.verdicts.mapper).toMatchObject({met: false, missed: ['1 of 2 prompts not measured']});
    // Held-out global 75 % ≥ 81.25 % − 10 points.
    expect(h!.verdicts.global).toMatchObject({met: true, missed: []});
    expect(h!.summary.mapper).toEqual({skipped: 'no mappers/c.safetensors'});
    const lower = summarise([{...heldOut[0]!, methods: {global: score(0.625, 1, 0, 1, 0, 0)}}], 'global')!;
    expect(heldOutVerdict(summarise(benchmark, 'global'), lower)).toMatchObject({met: false, missed: ['success']});
    expect(heldOutVerdict(null, lower)).toMatchObject({met: false, missed: ['benchmark list not measured']});
  });

  it('writes one markdown row per method and list, skipped rows included', () => {
    const md = markdownTable(buildListReports({benchmark, 'held-out': heldOut}, ['global', 'mapper']), ['global', 'mapper']).split('\n');
    expect(md).toHaveLength(2 + 4);
    expect(md[0]).toBe('| method | prompts | success | preservation | identity distance | monotone (worst prompt) | CLIP gain | s / edit | target |  |');
    expect(md[2]).toBe('| global | benchmark (2) | 81 % | 91 % | 0.50 | 94 % (88 % B) | 0.250 | 0.020 | success ≥ 75 %, preservation ≥ 90 %, monotone ≥ 90 % on every prompt, ≤ 0.05 s / edit | **MISSED: monotone** |');
    expect(md[3]).toBe('| global | held-out (1) | 75 % | 50 % | 1.00 | 50 % (50 % C) | 0.000 | 0.020 | success ≥ 71 % (benchmark − 10 points) | met |');
    expect(md[4]).toBe('| mapper | benchmark (1 of 2) | 100 % | 100 % | 0.50 | 100 % (100 % A) | 0.500 | 0.010 | success ≥ 85 %, preservation ≥ 85 %, monotone ≥ 90 % on every prompt, ≤ 0.05 s / edit | **MISSED: 1 of 2 prompts not measured** |');
    expect(md[5]).toBe('| mapper | held-out (1) | skipped: no mappers/c.safetensors |  |  |  |  |  |  |  |');
  });

  it('prints skipped prompts in the per-prompt table', () => {
    const [b] = buildListReports({benchmark}, ['mapper']);
    const lines = promptTable(b!, ['mapper']).split('\n');
    expect(lines[2]).toMatch(/^mapper +A +8 +100 % +100 % +0\.500 +100 % +0\.5000 +0\.010$/);
    expect(lines[3]).toMatch(/^mapper +B +skipped: no mappers\/b\.safetensors$/);
  });
});
