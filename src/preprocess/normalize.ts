import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../data/classes';

/**
 * The one normalisation used by training, evaluation and prediction: uint8 grey 48×48 faces → float32 in
 * [0, 1], NHWC with one channel. Keeping it in one place is what makes shipped models valid for predict.
 */
export function facesToTensor(faces: Uint8Array, count: number, size = IMAGE_SIZE): tf.Tensor4D {
  // `size` < 48: faces already cropped (training on random crops).
  return tf.tidy(() => tf.tensor4d(faces.subarray(0, count * size * size), [count, size, size, 1], 'int32').toFloat().div(255) as tf.Tensor4D);
}
