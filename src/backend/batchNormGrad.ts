import * as tf from '@tensorflow/tfjs';

/** Kernel computing [Σ dy, Σ dy·(x − mean)] per channel (registered for wasm in wasmTraining.ts). */
export const BATCH_NORM_SUMS = 'FerBatchNormSums';

/**
 * Gradient of FusedBatchNorm (per-channel mean/variance, channels last) with broadcasting instead of tfjs'
 * Tile of rsqrt(variance) to the input's full size, and with its four channel reductions done by two
 * single-pass sums. Same formulas as tfjs-core:
 *   dx = dy·γ·r,  dmean = −γ·r·Σdy,  dvar = −½·γ·r³·Σdy(x−μ),  dγ = r·Σdy(x−μ),  dβ = Σdy,  r = 1/√(var+ε)
 * Only on backends that have the sums kernel; elsewhere (and for other shapes) the stock gradient runs.
 */
export function fastBatchNormGradient(stock: tf.GradConfig, backends: string[]): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: stock.inputsToSave ?? ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const channels = x.shape[x.rank - 1];
      const perChannel = (t: tf.Tensor | undefined): boolean => t === undefined || (t.rank === 1 && t.shape[0] === channels);
      if (!backends.includes(tf.getBackend()) || Array.isArray(dy) || !perChannel(mean) || !perChannel(variance) || !perChannel(scale)) {
        return stock.gradFunc(dy, saved, attrs);
      }
      const r = tf.rsqrt(tf.add(variance, (attrs.varianceEpsilon as number) ?? 0.001));
      const gamma = scale ?? tf.onesLike(r);
      const gammaR = tf.mul(gamma, r);
      // Both sums in one pass, here rather than in the per-input closures (each runs in its own tidy); they
      // are per-channel vectors, freed with the rest of the backward pass.
      const [sumDy, sumDyXc] = tf.engine().runKernel(BATCH_NORM_SUMS, { x, mean, dy }) as tf.Tensor[];
      return {
        x: () => tf.mul(dy, gammaR),
        mean: () => tf.neg(tf.mul(gammaR, sumDy)),
        variance: () => tf.mul(tf.mul(tf.mul(gammaR, tf.square(r)), -0.5), sumDyXc),
        scale: () => tf.mul(r, sumDyXc),
        offset: () => tf.clone(sumDy),
      };
    },
  };
}

/** Kernel broadcasting a vector over leading rows (registered for wasm in wasmTraining.ts). */
export const REPEAT_ROWS = 'FerRepeatRows';

/**
 * Gradients of Sum and Mean over leading axes (batch-norm moments, bias gradients): one broadcast of dy
 * instead of tfjs' ones(x.shape) · dy / n, three full-size passes. Other axes use the stock gradient.
 */
export function broadcastReductionGradient(stock: tf.GradConfig, backends: string[], leading: (shape: number[], axis: number | number[]) => { rows: number } | undefined): tf.GradConfig {
  const isMean = stock.kernelName === tf.Mean;
  return {
    kernelName: stock.kernelName,
    inputsToSave: stock.inputsToSave ?? ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const reduction = leading(x.shape, attrs.axis as number | number[]);
      if (!backends.includes(tf.getBackend()) || Array.isArray(dy) || !reduction || x.dtype !== 'float32') return stock.gradFunc(dy, saved, attrs);
      const scale = isMean ? 1 / reduction.rows : 1;
      return { x: () => tf.engine().runKernel(REPEAT_ROWS, { x: dy }, { shape: x.shape, scale }) as tf.Tensor };
    },
  };
}
