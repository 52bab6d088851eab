import * as tf from '@tensorflow/tfjs';

/**
 * Kernels written in JavaScript over the wasm backend's heap, for the memory-bound steps of training where the
 * stock wasm kernels do extra work: channel reductions (they transpose the whole tensor first), max-pool
 * gradients (a per-pixel search over all covering windows) and batch-norm gradient sums. Each one is a single
 * streaming pass; sums accumulate in float64.
 */

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
export interface HeapBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function f32(backend: HeapBackend, info: tf.TensorInfo): Float32Array {
  // Views are taken after every output is allocated: growing a non-shared heap detaches older views.
  return backend.typedArrayFromHeap(info) as Float32Array;
}

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

/** Column sums (or means) of x seen as rows × cols. */
export function reduceLeading(backend: HeapBackend, x: tf.TensorInfo, axis: number | number[], keepDims: boolean, mean: boolean): tf.TensorInfo {
  const { rows, cols } = leadingReduction(x.shape, axis)!;
  const out = backend.makeOutput(reducedShape(x.shape, axis, keepDims), 'float32');
  const src = f32(backend, x);
  const dst = f32(backend, out);
  if (cols === 1) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += src[i];
    dst[0] = mean ? s / rows : s;
    return out;
  }
  const acc = new Float64Array(cols);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) acc[c] += src[o + c];
  }
  for (let c = 0; c < cols; c++) dst[c] = mean ? acc[c] / rows : acc[c];
  return out;
}

/**
 * Per channel (last axis): Σ dy and Σ dy·(x − mean), the two reductions of the batch-norm gradient, in one pass.
 * Outputs have mean's shape.
 */
export function batchNormSums(backend: HeapBackend, x: tf.TensorInfo, mean: tf.TensorInfo, dy: tf.TensorInfo): tf.TensorInfo[] {
  const channels = mean.shape.reduce((a, b) => a * b, 1);
  const sumDy = backend.makeOutput(mean.shape, 'float32');
  const sumDyXc = backend.makeOutput(mean.shape, 'float32');
  const xs = f32(backend, x);
  const ds = f32(backend, dy);
  const mu = f32(backend, mean);
  const s1 = new Float64Array(channels);
  const s2 = new Float64Array(channels);
  const n = xs.length;
  for (let o = 0; o < n; o += channels) {
    for (let c = 0; c < channels; c++) {
      const d = ds[o + c];
      s1[c] += d;
      s2[c] += d * (xs[o + c] - mu[c]);
    }
  }
  f32(backend, sumDy).set(s1);
  f32(backend, sumDyXc).set(s2);
  return [sumDy, sumDyXc];
}

/**
 * MaxPoolGrad (NHWC): each window's gradient goes to its first maximum (row-major), as on tfjs' cpu backend
 * and in TensorFlow; overlapping windows add up.
 */
export function maxPoolGrad(backend: HeapBackend, dy: tf.TensorInfo, x: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const out = backend.makeOutput(x.shape, 'float32');
  const dx = f32(backend, out);
  const xs = f32(backend, x);
  const dys = f32(backend, dy);
  dx.fill(0);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  const rowStride = inWidth * C;
  for (let b = 0; b < batchSize; b++) {
    const xBase = b * inHeight * rowStride;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = Math.max(0, yr * strideHeight - padTop);
      const r1 = Math.min(inHeight, yr * strideHeight - padTop + filterHeight);
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = Math.max(0, yc * strideWidth - padLeft);
        const c1 = Math.min(inWidth, yc * strideWidth - padLeft + filterWidth);
        best.fill(-Infinity);
        where.fill(xBase + r0 * rowStride + c0 * C);
        for (let r = r0; r < r1; r++) {
          for (let col = c0; col < c1; col++) {
            const p = xBase + r * rowStride + col * C;
            for (let c = 0; c < C; c++) {
              const v = xs[p + c];
              if (v > best[c]) {
                best[c] = v;
                where[c] = p;
              }
            }
          }
        }
        const d = ((b * outHeight + yr) * outWidth + yc) * C;
        for (let c = 0; c < C; c++) dx[where[c] + c] += dys[d + c];
      }
    }
  }
  return out;
}

/** `v` (any shape, `cols` values) times `scale`, repeated as the rows of a tensor of `shape`: a broadcast. */
export function repeatRows(backend: HeapBackend, v: tf.TensorInfo, shape: number[], scale: number): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  const dst = f32(backend, out);
  const src = f32(backend, v);
  const cols = src.length;
  for (let c = 0; c < cols; c++) dst[c] = src[c] * scale;
  // Doubling copies run at memcpy speed.
  for (let filled = cols; filled < dst.length; filled *= 2) dst.copyWithin(filled, 0, Math.min(filled, dst.length - filled));
  return out;
}
