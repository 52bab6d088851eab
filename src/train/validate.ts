import * as tf from '@tensorflow/tfjs';
import { Split } from '../data/dataset';
import { DEFAULT_EVAL_BATCH, scoreSplit } from '../eval/evaluate';
import { argmaxRows, logLoss } from '../eval/metrics';

/**
 * Validation loss and accuracy in inference mode (no dropout, BatchNorm moving statistics; a cropped net sees the
 * centre crop), scored by `fer eval`'s own code: scoreSplit for the softmax scores, metrics.logLoss (clipped at
 * LOG_LOSS_EPS) and arg-max accuracy (lowest class on ties). So val_loss / val_acc equal `fer eval`'s log loss and
 * accuracy on the same split without TTA.
 */
export async function evaluateSplit(model: tf.LayersModel, split: Split, batchSize = DEFAULT_EVAL_BATCH): Promise<{ loss: number; acc: number }> {
  const { scores } = await scoreSplit(model, split, { batchSize });
  const predicted = argmaxRows(scores);
  let correct = 0;
  for (let i = 0; i < split.count; i++) if (predicted[i] === split.labels[i]) correct++;
  return { loss: logLoss(scores, split.labels), acc: split.count > 0 ? correct / split.count : 0 };
}
