import { CLASS_NAMES, ClassName } from '../data/classes';
import { argmax } from '../util/argmax';
import { FacePrediction } from './types';
import { EXIT, FerError } from '../util/errors';

export interface EmotionDifference {
  label: ClassName;
  a: number;
  b: number;
  /** b − a */
  diff: number;
}

/** How close two faces' emotion distributions are. */
export interface ExpressionComparison {
  /** Cosine similarity of the score vectors: 1 same direction, 0 orthogonal (scores are ≥ 0, so never < 0). */
  cosine: number;
  /** Jensen–Shannon divergence in bits: 0 identical, 1 disjoint. Symmetric, always finite. */
  jsDivergence: number;
  /** Whether both have the same top emotion. */
  labelsAgree: boolean;
  /** Every class, largest |b − a| first. */
  differences: EmotionDifference[];
}

function normalise(p: ArrayLike<number>, name: string): number[] {
  if (p.length !== CLASS_NAMES.length) throw new RangeError(`compareExpressions: ${name} has ${p.length} scores, expected ${CLASS_NAMES.length}`);
  const v = Array.from(p, (x) => Math.max(0, x));
  const total = v.reduce((s, x) => s + x, 0);
  if (!(total > 0)) throw new RangeError(`compareExpressions: ${name} has no positive score`);
  return v.map((x) => x / total);
}

/** Kullback–Leibler divergence in bits; terms with p = 0 contribute nothing. */
function kl(p: number[], q: number[]): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log2(p[i] / q[i]);
  return s;
}

/** Compare two 7-class score vectors (FER2013 order); they are renormalised to sum to 1. */
export function compareExpressions(scoresA: ArrayLike<number>, scoresB: ArrayLike<number>): ExpressionComparison {
  const a = normalise(scoresA, 'first');
  const b = normalise(scoresB, 'second');
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const m = a.map((x, i) => (x + b[i]) / 2);
  // Clamp float noise: identical inputs must give exactly 0 / 1.
  const jsDivergence = Math.min(1, Math.max(0, (kl(a, m) + kl(b, m)) / 2));
  const cosine = Math.min(1, dot / Math.sqrt(na * nb));
  const differences = CLASS_NAMES.map((label, i) => ({ label, a: a[i], b: b[i], diff: b[i] - a[i] }))
    .sort((x, y) => Math.abs(y.diff) - Math.abs(x.diff));
  return { cosine, jsDivergence, labelsAgree: argmax(a) === argmax(b), differences };
}

/** The `n` largest faces by box area, then left to right (so "A" is the left one of a pair). */
export function largestFaces(faces: FacePrediction[], n: number): FacePrediction[] {
  return [...faces].sort((p, q) => q.box.w * q.box.h - p.box.w * p.box.h).slice(0, n).sort((p, q) => p.box.x - q.box.x);
}

/** A face chosen for comparison and the file it came from. */
export interface ComparedSide {
  file: string;
  face: FacePrediction;
}

/**
 * The two faces `fer compare` compares: the largest face of each image, or with one image (`facesB`
 * undefined) its two largest faces. Throws a FerError (exit code NO_FACE) naming the image short of faces.
 */
export function pickComparedFaces(fileA: string, facesA: FacePrediction[], fileB?: string, facesB?: FacePrediction[]): [ComparedSide, ComparedSide] {
  if (fileB === undefined || facesB === undefined) {
    const two = largestFaces(facesA, 2);
    if (two.length < 2) throw new FerError(`${fileA}: found ${two.length} face${two.length === 1 ? '' : 's'}; comparing within one image needs two (or give two images)`, EXIT.NO_FACE);
    return [{ file: fileA, face: two[0] }, { file: fileA, face: two[1] }];
  }
  const a = largestFaces(facesA, 1);
  const b = largestFaces(facesB, 1);
  const missing = [a.length === 0 ? fileA : '', b.length === 0 ? fileB : ''].filter((f) => f !== '');
  if (missing.length > 0) throw new FerError(`no face found in ${missing.join(' or ')}`, EXIT.NO_FACE);
  return [{ file: fileA, face: a[0] }, { file: fileB, face: b[0] }];
}
