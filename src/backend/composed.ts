import * as tf from '@tensorflow/tfjs';
import { Backend, KernelScope, withScope } from './kernelUtil';

/**
 * Per-channel kernels of training (batch-norm statistics, its forward pass and the sums of its gradient)
 * composed from the wasm backend's XNNPACK operators, which are SIMD and an order of magnitude faster than
 * its plain C++ kernels or JavaScript loops over the heap:
 *   - a sum or mean over leading axes is an average pooling whose window covers them,
 *   - (x − mean)·k + offset is a subtraction and a 1×1 depthwise convolution with bias.
 */

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * If reducing `axes` of `shape` leaves a trailing block (the axes are exactly the leading ones), the number of
 * rows reduced and the row length; otherwise undefined.
 */
export function leadingReduction(shape: number[], axis: number | number[]): { rows: number; cols: number } | undefined {
  const axes = tf.util.parseAxisParam(axis, shape).slice().sort((a, b) => a - b);
  if (axes.length === 0) return undefined;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return undefined;
  return { rows: size(shape.slice(0, axes.length)), cols: size(shape.slice(axes.length)) };
}

function reducedShape(shape: number[], axis: number | number[], keepDims: boolean): number[] {
  const axes = tf.util.parseAxisParam(axis, shape);
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Mean (or sum) over the leading `rows` of x seen as rows × cols, as a (1, cols) tensor. */
function columnMean(s: KernelScope, x: tf.TensorInfo, rows: number, cols: number, sum: boolean): tf.TensorInfo {
  // A 2-D window (first axis × the rest) pools faster than a rows × 1 column.
  const a = rows % x.shape[0] === 0 ? x.shape[0] : rows;
  const b = rows / a;
  const pooled = s.run('AvgPool', { x: s.reshape(x, [1, a, b, cols]) }, { filterSize: [a, b], strides: [1, 1], pad: 'valid', dimRoundingMode: 'floor' });
  const flat = s.reshape(pooled, [cols]);
  return sum ? s.run('Multiply', { a: flat, b: s.run('Fill', {}, { shape: [], value: rows, dtype: 'float32' }) }) : flat;
}

/** Sum or Mean over leading axes (`leadingReduction` must hold). */
export function reduceLeading(backend: Backend, backendName: string, x: tf.TensorInfo, axis: number | number[], keepDims: boolean, mean: boolean): tf.TensorInfo {
  const { rows, cols } = leadingReduction(x.shape, axis)!;
  return withScope(backend, backendName, (s) => s.reshape(columnMean(s, x, rows, cols, !mean), reducedShape(x.shape, axis, keepDims)));
}

/**
 * Per channel (last axis): [Σ dy, Σ dy·(x − mean)], the two reductions of the batch-norm gradient. Outputs
 * have mean's shape.
 */
export function batchNormSums(backend: Backend, backendName: string, x: tf.TensorInfo, mean: tf.TensorInfo, dy: tf.TensorInfo): tf.TensorInfo[] {
  const channels = size(mean.shape);
  const rows = size(x.shape) / channels;
  const sumDy = withScope(backend, backendName, (s) => s.reshape(columnMean(s, dy, rows, channels, true), mean.shape));
  const sumDyXc = withScope(backend, backendName, (s) => {
    const centred = s.run('Sub', { a: x, b: mean });
    return s.reshape(columnMean(s, s.run('Multiply', { a: dy, b: centred }), rows, channels, true), mean.shape);
  });
  return [sumDy, sumDyXc];
}

/**
 * FusedBatchNorm with per-channel (last axis) statistics: (x − mean)·scale/√(var + ε) + offset. Returns
 * undefined for other shapes (broadcast statistics), which keep the stock kernel.
 */
export function batchNorm(backend: Backend, backendName: string, inputs: tf.NamedTensorInfoMap, epsilon: number): tf.TensorInfo | undefined {
  const { x, mean, variance, offset, scale } = inputs;
  if (!x || !mean || !variance || x.dtype !== 'float32') return undefined;
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: tf.TensorInfo | undefined): boolean => !t || size(t.shape) === channels;
  if (![mean, variance, offset, scale].every(perChannel)) return undefined;
  return withScope(backend, backendName, (s) => {
    const flat = (t: tf.TensorInfo): tf.TensorInfo => s.reshape(t, [channels]);
    const eps = s.run('Fill', {}, { shape: [], value: epsilon, dtype: 'float32' });
    let k = s.run('Rsqrt', { x: s.run('Add', { a: flat(variance), b: eps }) });
    if (scale) k = s.run('Multiply', { a: k, b: flat(scale) });
    const bias = offset ? flat(offset) : s.run('Fill', {}, { shape: [channels], value: 0, dtype: 'float32' });
    const rows = size(x.shape) / channels;
    const centred = s.run('Sub', { a: s.reshape(x, [1, rows, 1, channels]), b: flat(mean) });
    const y = s.run('FusedDepthwiseConv2D', { x: centred, filter: s.reshape(k, [1, 1, channels, 1]), bias }, {
      strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: 'floor', activation: 'linear',
    });
    return s.reshape(y, x.shape);
  });
}
