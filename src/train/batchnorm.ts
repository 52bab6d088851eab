import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../data/classes';
import { facesToTensor } from '../preprocess/normalize';
import { centreCrop, modelInputSize } from '../models/crops';

/**
 * "Precise BatchNorm" (as in Detectron/pycls): re-estimate every BatchNorm layer's moving mean and variance
 * as the exact average over `samples` un-augmented training faces, with the current weights and dropout off.
 *
 * Why: the augmentation resamples each face bilinearly, which blurs it slightly; the moving statistics gathered
 * during training therefore describe blurred faces, while validation and real use see sharp ones. Measured on
 * net 1 after 5 epochs: conv-output variances 1.2–1.4× the moving estimate on clean faces, and val accuracy
 * 35.5 % with the moving statistics vs 53.5 % after recalibrating on 2048 faces (5 s).
 */
interface MutableBatchNorm { momentum: number }
interface MutableDropout { rate: number }

export function recalibrateBatchNorm(model: tf.LayersModel, images: Uint8Array, count: number, samples: number, batchSize = 64): void {
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as MutableBatchNorm[];
  if (bns.length === 0 || count === 0 || samples <= 0) return;
  const dropouts = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as MutableDropout[];
  const n = Math.min(samples, count);
  const bs = Math.min(batchSize, n);
  const batches = Math.floor(n / bs);
  // Evenly spaced faces: a fixed, class-mixed subset that draws nothing from the run's RNG.
  const stride = Math.floor(count / (batches * bs));
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const buf = new Uint8Array(bs * px);
  const momenta = bns.map((b) => b.momentum);
  const rates = dropouts.map((d) => d.rate);
  try {
    for (const d of dropouts) d.rate = 0;
    for (let k = 0; k < batches; k++) {
      for (let i = 0; i < bs; i++) {
        const j = (k * bs + i) * stride;
        buf.set(images.subarray(j * px, (j + 1) * px), i * px);
      }
      // moving ← m·moving + (1 − m)·batch with m = k/(k+1) keeps the running mean of all batches so far.
      for (const b of bns) b.momentum = k / (k + 1);
      tf.tidy(() => {
        // A net trained on crops sees the centre crop, as evaluation and prediction give it.
        model.apply(centreCrop(facesToTensor(buf, bs), modelInputSize(model)), { training: true });
      });
    }
  } finally {
    bns.forEach((b, i) => { b.momentum = momenta[i]; });
    dropouts.forEach((d, i) => { d.rate = rates[i]; });
  }
}
