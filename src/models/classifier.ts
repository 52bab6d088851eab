import * as tf from '@tensorflow/tfjs';
import { FerError, InvalidParameterError, invalidParameterError, EXIT } from '../util/errors';
import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { facesToTensor } from '../preprocess/normalize';
import { loadModelDir } from './io';
import { bestModelDir, findTrainedNets } from './checkpoints';
import { foldForInference } from './fold';
import { TtaMode, predictViews, ttaMode } from './crops';

export interface LoadedNet {
  net: number;
  model: tf.LayersModel;
}

/**
 * Load the `best` model of each requested net from a checkpoints directory. `nets` undefined = every net
 * found. Throws a FerError saying how to get models when none are there. Models are folded for inference
 * (batch-norm into convs, dropout removed: same scores, ~2× faster) unless `fold` is false.
 */
export async function loadNets(modelsDir: string, nets?: number[], opts: { fold?: boolean } = {}): Promise<LoadedNet[]> {
  const found = findTrainedNets(modelsDir);
  const want = nets ?? found;
  if (found.length === 0) {
    throw new InvalidParameterError('modelsDir', (n) => `no trained model in ${modelsDir} (expected net<k>/best/model.json): run \`fer train\` or point ${n('modelsDir')} at a checkpoints directory`, EXIT.ERROR);
  }
  const missing = want.filter((n) => !found.includes(n));
  if (missing.length > 0) {
    throw invalidParameterError('nets', `no trained model in ${modelsDir} for net ${missing.join(', ')} (found: ${found.join(', ')})`, missing.join(','), EXIT.ERROR);
  }
  const out: LoadedNet[] = [];
  try {
    for (const net of want) {
      const model = await loadModelDir(bestModelDir(modelsDir, net));
      const folded = opts.fold === false ? model : foldForInference(model);
      if (folded !== model) model.dispose();
      out.push({ net, model: folded });
    }
  } catch (e) {
    out.forEach((n) => n.model.dispose());
    throw e;
  }
  return out;
}

/**
 * Softmax scores (n × 7, row-major) of one model for `count` uint8 48×48 faces, in batches. A net trained on
 * crops (input smaller than 48) sees the centre crop. With `tta` the scores are averaged over views of each face:
 * true or 'flip' = the face and its mirror; '5crop' / '10crop' = corner and centre crops (± mirror), see crops.ts.
 */
export function predictScores(model: tf.LayersModel, faces: Uint8Array, count: number, opts: { tta?: boolean | TtaMode; batchSize?: number } = {}): Float32Array {
  const mode = ttaMode(opts.tta);
  const batchSize = opts.batchSize ?? 256;
  const out = new Float32Array(count * NUM_CLASSES);
  const px = IMAGE_SIZE * IMAGE_SIZE;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const scores = tf.tidy(() => {
      const x = facesToTensor(faces.subarray(start * px, (start + n) * px), n);
      return predictViews(model, x, mode);
    });
    out.set(scores.dataSync() as Float32Array, start * NUM_CLASSES);
    scores.dispose();
  }
  return out;
}

/** Mean of the nets' softmax outputs (optionally weighted): the ensemble's scores. */
export function ensembleScores(perNet: Float32Array[], weights?: number[]): Float32Array {
  if (perNet.length === 0) throw new FerError('ensemble of zero models');
  const w = weights ?? perNet.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  const out = new Float32Array(perNet[0].length);
  perNet.forEach((s, k) => {
    for (let i = 0; i < out.length; i++) out[i] += (s[i] * w[k]) / total;
  });
  return out;
}
