/**
 * Edit-quality scoring with the evaluation classifier (never used by an edit method), as the paper measures
 * edits with attribute classifiers:
 *   - counted: faces that can show the target and do not have it before the edit (hair colour on a bald head
 *     cannot be seen, so such faces are left out);
 *   - success: the classifier sees the target value after the edit;
 *   - preservation: over the other attributes visible before and after, the share whose value is unchanged.
 */
import {type AttributeName, type EditTarget, type FaceAttributes, attributeNames, isAttributeVisible} from './attributes.js';

export interface EditScore {
  /** Faces counted (see above). */
  counted: number;
  /** Share of the counted faces that show the target after the edit (0 when none is counted). */
  success: number;
  /** Share of the other visible attributes left unchanged (1 when nothing was compared). */
  preservation: number;
  /** Indices of the counted faces. */
  rows: number[];
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
  for (const i of rows) {
    if (after[i]![target.attribute] === target.value) success++;
    for (const a of attributeNames as readonly AttributeName[]) {
      if (a === target.attribute || !isAttributeVisible(before[i]!, a) || !isAttributeVisible(after[i]!, a)) continue;
      compared++;
      if (after[i]![a] === before[i]![a]) kept++;
    }
  }
  return {counted: rows.length, success: rows.length ? success / rows.length : 0, preservation: compared ? kept / compared : 1, rows};
}
