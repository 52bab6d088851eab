import * as tf from '@tensorflow/tfjs';
import { EXIT, FerError } from '../util/errors';
import { NUM_CLASSES } from '../data/classes';
import { facesToTensor } from '../preprocess/normalize';
import { Adam } from './adam';
import { Sgd } from './sgd';

/**
 * Keras' categorical cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7]), averaged over the batch,
 * each sample weighted by its class's weight when given (Keras' class_weight: sum(w·l) / n).
 */
export function crossEntropy(p: tf.Tensor2D, labels: tf.Tensor1D, classWeights: Float32Array | null, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    let target: tf.Tensor = tf.oneHot(labels, NUM_CLASSES);
    // Label smoothing as Keras does it: (1 − ε)·one-hot + ε/K.
    if (labelSmoothing > 0) target = target.toFloat().mul(1 - labelSmoothing).add(labelSmoothing / NUM_CLASSES);
    let perSample = tf.neg(tf.sum(tf.mul(target, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1));
    if (classWeights) perSample = tf.mul(perSample, tf.gather(tf.tensor1d(classWeights), labels));
    return tf.mean(perSample) as tf.Scalar;
  });
}

export interface StepOptions {
  classWeights: Float32Array | null;
  /** Side of the (cropped) faces in `batch`. */
  size: number;
  labelSmoothing: number;
}

/** One optimisation step; returns the batch's mean loss and its number of correct predictions. */
export function trainStep(model: tf.LayersModel, vars: tf.Variable[], optimizer: Adam | Sgd, batch: Uint8Array, labels: Uint8Array, n: number,
  lr: number, o: StepOptions): [number, number] {
  let correctT: tf.Tensor | undefined;
  const lossT = tf.tidy(() => {
    const x = facesToTensor(batch, n, o.size);
    const y = tf.tensor1d(labels, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(x, { training: true }) as tf.Tensor2D;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), y), 'int32')));
      return crossEntropy(p, y, o.classWeights, o.labelSmoothing);
    }, vars);
    optimizer.apply(vars.map((v) => grads[v.name]), lr);
    return value;
  });
  const loss = lossT.dataSync()[0];
  lossT.dispose();
  const correct = correctT ? correctT.dataSync()[0] : 0;
  correctT?.dispose();
  if (!Number.isFinite(loss)) throw new FerError(`training diverged (loss ${loss}); try a lower --lr`, EXIT.ERROR);
  return [loss, correct];
}
