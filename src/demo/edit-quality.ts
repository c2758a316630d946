/**
 * Edit-quality scoring with the evaluation classifier (never used by an edit method), as the paper measures
 * edits with attribute classifiers:
 *   - counted: faces that can show the target and do not have it before the edit (hair colour on a bald head
 *     cannot be seen, so such faces are left out);
 *   - success: the classifier sees the target value after the edit;
 *   - preservation: over the other attributes visible before and after, the share whose value is unchanged;
 *   - monotone strength: the classifier's probability of the target value rises with the edit strength.
 */
import {type AttributeName, type EditTarget, type FaceAttributes, attributeNames, isAttributeVisible} from './attributes.js';
import {promptFor} from './captions.js';

/** The text an edit target is edited toward: its own prompt, else the canonical one. */
export function targetPrompt(t: EditTarget): string {
  return t.prompt ?? promptFor(t.attribute, t.value as never);
}

export interface EditScore {
  /** Faces counted (see above). */
  counted: number;
  /** Share of the counted faces that show the target after the edit (0 when none is counted). */
  success: number;
  /** Share of the other visible attributes left unchanged (1 when nothing was compared). */
  preservation: number;
  /** Indices of the counted faces. */
  rows: number[];
  /** Per other attribute: the share of the counted faces (where it was visible before and after) whose value changed. */
  changed: Partial<Record<AttributeName, number>>;
}

/** Faces that could show `target` and do not have it yet. */
export function countedFaces(before: readonly FaceAttributes[], target: EditTarget): number[] {
  return before.flatMap((a, i) => (isAttributeVisible({...a, [target.attribute]: target.value} as FaceAttributes, target.attribute) && a[target.attribute] !== target.value ? [i] : []));
}

/** Score one edit from the classifier's top values before and after (same face order). */
export function scoreEdit(before: readonly FaceAttributes[], after: readonly FaceAttributes[], target: EditTarget): EditScore {
  const rows = countedFaces(before, target);
  let success = 0;
  let kept = 0;
  let compared = 0;
  const seen = new Map<AttributeName, {n: number; changed: number}>();
  for (const i of rows) {
    if (after[i]![target.attribute] === target.value) success++;
    for (const a of attributeNames as readonly AttributeName[]) {
      if (a === target.attribute || !isAttributeVisible(before[i]!, a) || !isAttributeVisible(after[i]!, a)) continue;
      compared++;
      const c = seen.get(a) ?? {n: 0, changed: 0};
      c.n++;
      if (after[i]![a] === before[i]![a]) kept++;
      else c.changed++;
      seen.set(a, c);
    }
  }
  const changed = Object.fromEntries([...seen].filter(([, c]) => c.changed > 0).map(([a, c]) => [a, c.changed / c.n]));
  return {counted: rows.length, success: rows.length ? success / rows.length : 0, preservation: compared ? kept / compared : 1, rows, changed};
}

/** Edit strengths at which monotonicity is measured, as multiples of a method's default strength. */
export const MONOTONE_STRENGTHS: readonly number[] = [0, 0.5, 1, 1.5, 2];

/** The largest drop of the target probability from one strength to the next that still counts as monotone. */
export const MONOTONE_TOLERANCE = 0.02;

/** The target probability the strongest edit must reach for a face to count as rising (a face whose probability
 *  creeps from 1e-9 to 1e-3 has not moved toward the target). */
export const MONOTONE_REACH = 0.5;

/**
 * Whether one face's target probabilities at increasing strengths (first: the unedited face) rise: no step drops by
 * more than `tolerance`, the last is above the first and reaches `MONOTONE_REACH`.
 */
export function isMonotone(probabilities: readonly number[], tolerance = MONOTONE_TOLERANCE): boolean {
  if (probabilities.length < 2) throw new RangeError(`monotonicity needs at least two strengths, got ${probabilities.length}`);
  for (let k = 1; k < probabilities.length; k++) if (probabilities[k]! < probabilities[k - 1]! - tolerance) return false;
  return probabilities.at(-1)! > probabilities[0]! && probabilities.at(-1)! >= MONOTONE_REACH;
}

/** Share of the faces in `rows` whose probabilities (`perFace[i]`: one per strength) are monotone (0 when none). */
export function monotoneShare(perFace: readonly (readonly number[])[], rows: readonly number[], tolerance = MONOTONE_TOLERANCE): number {
  return rows.length ? rows.filter((i) => isMonotone(perFace[i]!, tolerance)).length / rows.length : 0;
}
