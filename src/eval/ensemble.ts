import { NUM_CLASSES } from '../data/classes';
import { ensembleScores } from '../models/classifier';
import { FerError } from '../util/errors';
import { logLoss } from './metrics';

export interface FittedWeights {
  /** One weight per net, summing to 1. */
  weights: number[];
  /** Log loss of the weighted ensemble on the fitting split. */
  logLoss: number;
  /** Log loss of the plain mean on the same split, for comparison. */
  equalLogLoss: number;
}

/** Every weight vector on the simplex with coordinates that are multiples of 1/steps. */
function* simplexGrid(dims: number, steps: number): Generator<number[]> {
  const parts = new Array<number>(dims).fill(0);
  function* fill(i: number, left: number): Generator<number[]> {
    if (i === dims - 1) {
      parts[i] = left;
      yield parts.map((p) => p / steps);
      return;
    }
    for (let v = left; v >= 0; v--) {
      parts[i] = v;
      yield* fill(i + 1, left - v);
    }
  }
  yield* fill(0, steps);
}

/**
 * Ensemble weights that minimise log loss on a held-out split (normally val), by exhaustive search on a
 * simplex grid. Log loss rather than accuracy: it is smooth in the weights, so the optimum is not an
 * artefact of a few borderline images. The plain mean wins ties (within 1e-6, float32 rounding), so weights only move when that really helps.
 */
export function fitEnsembleWeights(perNet: Float32Array[], labels: ArrayLike<number>, opts: { steps?: number; numClasses?: number } = {}): FittedWeights {
  if (perNet.length === 0) throw new FerError('cannot fit ensemble weights for zero models');
  if (labels.length === 0) throw new FerError('cannot fit ensemble weights on an empty split');
  const k = perNet.length;
  const numClasses = opts.numClasses ?? NUM_CLASSES;
  // 20 steps = 0.05 resolution: 231 candidates for three nets, finer than val noise can justify.
  const steps = opts.steps ?? (k <= 3 ? 20 : k === 4 ? 12 : 6);
  const equal = new Array<number>(k).fill(1 / k);
  const equalLogLoss = logLoss(ensembleScores(perNet, equal), labels, numClasses);
  let best = { weights: equal, logLoss: equalLogLoss };
  for (const w of simplexGrid(k, steps)) {
    const loss = logLoss(ensembleScores(perNet, w), labels, numClasses);
    if (loss < best.logLoss - 1e-6) best = { weights: w, logLoss: loss };
  }
  return { weights: best.weights, logLoss: best.logLoss, equalLogLoss };
}
