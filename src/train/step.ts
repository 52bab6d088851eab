import * as tf from '@tensorflow/tfjs';
import { EXIT, FerError } from '../util/errors';
import { NUM_CLASSES } from '../data/classes';
import { facesToTensor } from '../preprocess/normalize';
import { Adam } from './adam';
import { Sgd } from './sgd';

/** Distillation targets for a batch: the teachers' probabilities (n × 7) and their share of the target. */
export interface SoftTargets {
  probs: tf.Tensor2D;
  weight: number;
}

/**
 * Keras' categorical cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7]), averaged over the batch,
 * each sample weighted by its class's weight when given (Keras' class_weight: sum(w·l) / n). With `soft` the
 * target is (1 − weight)·(the smoothed one-hot) + weight·probs (knowledge distillation at temperature 1).
 */
export function crossEntropy(p: tf.Tensor2D, labels: tf.Tensor1D, classWeights: Float32Array | null, labelSmoothing = 0, soft?: SoftTargets): tf.Scalar {
  return tf.tidy(() => {
    let target: tf.Tensor = tf.oneHot(labels, NUM_CLASSES).toFloat();
    // Label smoothing as Keras does it: (1 − ε)·one-hot + ε/K.
    if (labelSmoothing > 0) target = target.mul(1 - labelSmoothing).add(labelSmoothing / NUM_CLASSES);
    if (soft) target = target.mul(1 - soft.weight).add(soft.probs.mul(soft.weight));
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
  /** Distillation: the teachers' share of the target (the batch's probabilities come with each step). */
  teacherWeight?: number;
}

/** One optimisation step; returns the batch's mean loss and its number of correct predictions. */
export function trainStep(model: tf.LayersModel, vars: tf.Variable[], optimizer: Adam | Sgd, batch: Uint8Array, labels: Uint8Array, n: number,
  lr: number, o: StepOptions, teacherProbs?: Float32Array): [number, number] {
  let correctT: tf.Tensor | undefined;
  const lossT = tf.tidy(() => {
    const x = facesToTensor(batch, n, o.size);
    const y = tf.tensor1d(labels, 'int32');
    const soft = teacherProbs && o.teacherWeight ? { probs: tf.tensor2d(teacherProbs.subarray(0, n * NUM_CLASSES), [n, NUM_CLASSES]), weight: o.teacherWeight } : undefined;
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(x, { training: true }) as tf.Tensor2D;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), y), 'int32')));
      return crossEntropy(p, y, o.classWeights, o.labelSmoothing, soft);
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
