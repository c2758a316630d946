/** Progress without a TTY: a plain line at least every interval (also while nothing reports), never more often, and one at the end. */
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import {createProgress} from '../../src/cli/progress.js';

function sink() {
  const lines: string[] = [];
  return {lines, stream: {isTTY: false, write: (s: string) => (lines.push(...s.split('\n').filter(Boolean)), true)}};
}

describe('createProgress without a TTY', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prints at most one line per interval while steps are fast, and the last step', () => {
    const {lines, stream} = sink();
    const p = createProgress('optimize', 300, {stream, intervalMs: 2000});
    for (let step = 1; step <= 300; step++) {
      vi.advanceTimersByTime(100); // 10 steps a second: 30 s in all
      p.update(step, {loss: 1 / step});
    }
    p.stop();
    // One line every 2 s with the latest step (30 s in all), and the final one at 300/300.
    const elapsed = lines.map((l) => Number(/elapsed (\d+\.\d)s/.exec(l)![1]));
    expect(elapsed).toEqual([...Array.from({length: 15}, (_, i) => 2 * (i + 1)), 30]);
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^optimize \d+\/300  loss \d\.\d{4}  elapsed \d+\.0s  eta \d+\.\ds$/);
    expect(lines.at(-1)).toBe('optimize 300/300  loss 0.0033  elapsed 30.0s  eta 0.0s');
  });

  it('keeps printing where the job is while one step takes long, and stops with stop()', () => {
    const {lines, stream} = sink();
    const p = createProgress('mapper', 10, {stream, intervalMs: 2000});
    vi.advanceTimersByTime(5000); // compiling: no step yet
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toBe('mapper 0/10  elapsed 2.0s  eta ?');
    p.update(1, {loss: 0.5});
    const before = lines.length;
    vi.advanceTimersByTime(7000); // a slow step
    expect(lines.length - before).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)).toMatch(/^mapper 1\/10  loss 0\.5000  elapsed \d+\.\ds  eta \d+\.\ds$/);
    p.stop();
    const stopped = lines.length;
    vi.advanceTimersByTime(10_000);
    expect(lines.length).toBe(stopped);
  });

  it('prints nothing when quiet', () => {
    const {lines, stream} = sink();
    const p = createProgress('x', 5, {stream, quiet: true});
    vi.advanceTimersByTime(10_000);
    p.update(5);
    expect(lines).toEqual([]);
  });
});
