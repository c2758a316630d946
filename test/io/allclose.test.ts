import {describe, expect, it} from 'vitest';
import {allCloseReport, expectAllClose} from '../helpers/allclose.js';

describe('expectAllClose (shared test helper)', () => {
  it('passes within tolerance and reports the worst element otherwise', () => {
    expectAllClose([1, 2, 3], Float32Array.from([1, 2, 3]));
    expectAllClose([1, 2.001], [1, 2], {atol: 1e-2});
    expectAllClose([100.5], [100], {rtol: 1e-2});
    expectAllClose([NaN, Infinity], [NaN, Infinity]);
    const r = allCloseReport([1, 2, 3.5, 4], [1, 2, 3, 4.1], {atol: 0.01, what: 'img'});
    expect(r.ok).toBe(false);
    expect(r.maxAbsDiff).toBe(0.5);
    expect(r.maxIndex).toBe(2);
    expect(r.bad).toBe(2);
    expect(r.message).toMatch(/^img: 2 of 4 elements exceed atol=0\.01 rtol=0; max \|diff\| 0\.5 at index 2 \(actual 3\.5, expected 3\)/);
    expect(() => expectAllClose([1, 2, 3.5], [1, 2, 3], {what: 'x'})).toThrow(/x: 1 of 3 elements .* at index 2/);
    expect(() => expectAllClose([1], [1, 2])).toThrow(/length mismatch/);
    expect(() => expectAllClose([Infinity], [1e30])).toThrow();
  });
});
