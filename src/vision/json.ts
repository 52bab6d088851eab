import { CLASS_NAMES } from '../data/classes';
import { FileResult } from './batch';
import { ComparedSide, ExpressionComparison } from './compare';
import { FacePrediction } from './types';

/**
 * The JSON documents of `fer predict --json` and `fer compare --json`, as plain objects. `fer serve` returns
 * the same documents, so a script can switch between the CLI and the HTTP API without changes.
 */

/** Scores are printed to 6 decimals: enough to rank and compare, stable across platforms. */
export const round6 = (x: number): number => Number(x.toFixed(6));

/** One face: {box:{x,y,w,h}, detectScore, landmarks? (when the detector gives them), label, scores:{Angry..Neutral}}. */
export function faceJson(f: FacePrediction): object {
  const { x, y, w, h } = f.box;
  return {
    box: { x, y, w, h }, detectScore: round6(f.box.score ?? 1), ...(f.box.landmarks ? { landmarks: f.box.landmarks } : {}),
    label: f.label, scores: Object.fromEntries(CLASS_NAMES.map((c) => [c, round6(f.scores[c])])),
  };
}

/** One element of `fer predict --json`'s array: {file, faces} or, for an unreadable file, {file, error}. */
export function fileResultJson(r: FileResult): object {
  return r.error && r.width === 0 ? { file: r.file, error: r.error } : { file: r.file, faces: r.faces.map(faceJson), ...(r.error ? { error: r.error } : {}) };
}

/** `fer compare --json`: {a, b, cosine, jsDivergence, differences:[{label, a, b, diff}]}. */
export function comparisonJson(a: ComparedSide, b: ComparedSide, cmp: ExpressionComparison): object {
  const side = (s: ComparedSide) => ({ file: s.file, ...faceJson(s.face) });
  return {
    a: side(a), b: side(b),
    cosine: round6(cmp.cosine), jsDivergence: round6(cmp.jsDivergence),
    differences: cmp.differences.map((d) => ({ label: d.label, a: round6(d.a), b: round6(d.b), diff: round6(d.diff) })),
  };
}
