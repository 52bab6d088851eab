import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../data/classes';

/**
 * The one normalisation used by training, evaluation and prediction: uint8 grey 48×48 faces → float32 in
 * [0, 1], NHWC with one channel. Keeping it in one place is what makes shipped models valid for predict.
 */
export function facesToTensor(faces: Uint8Array, count: number): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(faces.subarray(0, count * IMAGE_SIZE * IMAGE_SIZE), [count, IMAGE_SIZE, IMAGE_SIZE, 1], 'int32').toFloat().div(255) as tf.Tensor4D);
}
