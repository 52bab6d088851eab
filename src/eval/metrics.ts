import { CLASS_NAMES, NUM_CLASSES } from '../data/classes';
import { FerError } from '../util/errors';
import { argmax } from '../util/argmax';

/**
 * Classification metrics from softmax scores (n × k, row-major) and true labels.
 *
 * Conventions (so no metric is ever NaN):
 * - The predicted class is the arg-max; on a tie the lower class index wins.
 * - Top-k: the true class counts as a hit when fewer than k classes rank above it (ties ranked like arg-max).
 * - A ratio whose denominator is zero is 0: precision of a class never predicted, recall of a class with no
 *   support (scikit-learn's `zero_division=0`).
 * - Macro averages are over the classes that occur in the labels or in the predictions (scikit-learn's default
 *   label set); a class absent from both has nothing to measure and would only drag the mean to 0.
 *   Weighted averages weight by support, so a class with no support adds nothing.
 * - Log loss is the mean of −ln p(true class), with p clipped to [1e-7, 1] so one confident miss stays finite.
 * - A confusion-matrix row with no support is all zeros when row-normalised.
 */
export const LOG_LOSS_EPS = 1e-7;

export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose true label is this class. */
  support: number;
  /** Rows predicted as this class. */
  predicted: number;
}

export interface ConfusionMatrix {
  classes: string[];
  /** counts[true][predicted]. */
  counts: number[][];
  /** Each row of `counts` divided by its sum (the class's recall on the diagonal); an empty row stays 0. */
  normalized: number[][];
}

export interface Metrics {
  count: number;
  accuracy: number;
  top2Accuracy: number;
  logLoss: number;
  macroPrecision: number;
  macroRecall: number;
  macroF1: number;
  weightedF1: number;
  perClass: ClassMetrics[];
  confusion: ConfusionMatrix;
}

function checkShapes(scores: Float32Array, labels: ArrayLike<number>, numClasses: number): void {
  if (scores.length !== labels.length * numClasses) {
    throw new Error(`scores has ${scores.length} values, expected ${labels.length} × ${numClasses}`);
  }
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= numClasses) throw new FerError(`label ${l} at index ${i} is out of range 0..${numClasses - 1}`);
  }
}

/** Arg-max of each row (lowest index on ties). */
export function argmaxRows(scores: Float32Array, numClasses: number = NUM_CLASSES): Uint8Array {
  const n = scores.length / numClasses;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = argmax(scores, i * numClasses, numClasses);
  return out;
}

/** Fraction of rows whose true class is among the k highest scores. */
export function topKAccuracy(scores: Float32Array, labels: ArrayLike<number>, k: number, numClasses: number = NUM_CLASSES): number {
  checkShapes(scores, labels, numClasses);
  if (labels.length === 0) return 0;
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    const o = i * numClasses;
    const t = labels[i];
    const st = scores[o + t];
    let above = 0;
    for (let c = 0; c < numClasses; c++) {
      const s = scores[o + c];
      if (s > st || (s === st && c < t)) above++;
    }
    if (above < k) hits++;
  }
  return hits / labels.length;
}

/** Mean negative log-likelihood of the true class, probabilities clipped to [LOG_LOSS_EPS, 1]. */
export function logLoss(scores: Float32Array, labels: ArrayLike<number>, numClasses: number = NUM_CLASSES): number {
  checkShapes(scores, labels, numClasses);
  if (labels.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1, Math.max(LOG_LOSS_EPS, scores[i * numClasses + labels[i]]));
    sum -= Math.log(p);
  }
  return sum / labels.length;
}

export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: readonly string[] = CLASS_NAMES): ConfusionMatrix {
  const k = classes.length;
  if (labels.length !== predictions.length) throw new Error(`${labels.length} labels but ${predictions.length} predictions`);
  const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) counts[labels[i]][predictions[i]]++;
  const normalized = counts.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (total === 0 ? 0 : v / total));
  });
  return { classes: [...classes], counts, normalized };
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Every metric `fer eval` reports, for one model's scores on one split. */
export function classificationMetrics(scores: Float32Array, labels: ArrayLike<number>, classes: readonly string[] = CLASS_NAMES): Metrics {
  const k = classes.length;
  checkShapes(scores, labels, k);
  if (labels.length === 0) throw new FerError('no rows to evaluate');
  const predictions = argmaxRows(scores, k);
  const confusion = confusionMatrix(labels, predictions, classes);
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion.counts[c][c];

  const perClass: ClassMetrics[] = classes.map((name, c) => {
    const support = confusion.counts[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.counts.reduce((a, row) => a + row[c], 0);
    const tp = confusion.counts[c][c];
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { name, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support, predicted };
  });
  const present = perClass.filter((m) => m.support > 0 || m.predicted > 0);
  const mean = (f: (m: ClassMetrics) => number): number => ratio(present.reduce((a, m) => a + f(m), 0), present.length);
  const n = labels.length;
  return {
    count: n,
    accuracy: correct / n,
    top2Accuracy: topKAccuracy(scores, labels, 2, k),
    logLoss: logLoss(scores, labels, k),
    macroPrecision: mean((m) => m.precision),
    macroRecall: mean((m) => m.recall),
    macroF1: mean((m) => m.f1),
    weightedF1: perClass.reduce((a, m) => a + m.f1 * m.support, 0) / n,
    perClass,
    confusion,
  };
}
