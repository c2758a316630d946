/**
 * One shared closeness assertion for golden-parity tests: |a - e| <= atol + rtol * |e|
 * elementwise, like numpy.allclose. On failure it reports the worst element (max |diff|, its index and
 * both values) and how many elements are out of tolerance, so a failing parity test says where it broke.
 */
import {expect} from 'vitest';

export interface AllCloseOptions {
  /** Absolute tolerance (default 0: exact). */
  atol?: number;
  /** Relative tolerance, against |expected| (default 0). */
  rtol?: number;
  /** Name of the quantity, printed in the failure message. */
  what?: string;
}

export interface AllCloseReport {
  ok: boolean;
  maxAbsDiff: number;
  maxIndex: number;
  bad: number;
  message: string;
}

/** Compare without asserting; NaN matches NaN, ±Infinity must match exactly. */
export function allCloseReport(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  {atol = 0, rtol = 0, what = ''}: AllCloseOptions = {},
): AllCloseReport {
  const label = what ? `${what}: ` : '';
  if (actual.length !== expected.length) {
    const message = `${label}length mismatch: actual has ${actual.length} elements, expected ${expected.length}`;
    return {ok: false, maxAbsDiff: Infinity, maxIndex: -1, bad: Math.max(actual.length, expected.length), message};
  }
  let maxAbsDiff = 0;
  let maxIndex = -1;
  let worstExcess = -Infinity;
  let worstIndex = -1;
  let bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]);
    const e = Number(expected[i]);
    let diff: number;
    let excess: number;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      diff = Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
      excess = diff;
    } else if (!Number.isFinite(a) || !Number.isFinite(e)) {
      diff = a === e ? 0 : Infinity;
      excess = diff;
    } else {
      diff = Math.abs(a - e);
      excess = diff - (atol + rtol * Math.abs(e));
    }
    if (diff > maxAbsDiff || maxIndex < 0) {
      maxAbsDiff = diff;
      maxIndex = i;
    }
    if (excess > 0) {
      bad++;
      if (excess > worstExcess) {
        worstExcess = excess;
        worstIndex = i;
      }
    }
  }
  const ok = bad === 0;
  const at = ok ? maxIndex : worstIndex;
  const message = ok
    ? `${label}ok, max |diff| ${maxAbsDiff} at index ${maxIndex}`
    : `${label}${bad} of ${actual.length} elements exceed atol=${atol} rtol=${rtol}; ` +
      `max |diff| ${maxAbsDiff} at index ${maxIndex} (actual ${actual[maxIndex]}, expected ${expected[maxIndex]}); ` +
      `worst relative to tolerance at index ${at} (actual ${actual[at]}, expected ${expected[at]})`;
  return {ok, maxAbsDiff, maxIndex, bad, message};
}

/** Assert |actual - expected| <= atol + rtol*|expected| everywhere; the failure names the worst element. */
export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: AllCloseOptions = {}): void {
  const r = allCloseReport(actual, expected, opts);
  if (!r.ok) expect.fail(r.message);
}
