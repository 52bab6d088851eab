import * as tf from '@tensorflow/tfjs';

/**
 * Kernels written in JavaScript over the wasm backend's heap, where no XNNPACK operator fits: the max-pool
 * gradient (the stock kernel searches all covering windows per input pixel; this is one pass over the windows)
 * and a row broadcast done with doubling memory copies. Plain JS loops run at about 3 ns per element, several
 * times slower than XNNPACK's SIMD operators, so everything else is composed from those (composed.ts).
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

/**
 * MaxPoolGrad (NHWC): each window's gradient goes to its first maximum (row-major), as on tfjs' cpu backend
 * and in TensorFlow; overlapping windows add up. `y` is the forward output (the windows' maxima); a window
 * whose maximum is NaN gives its gradient to its first pixel.
 */
export function maxPoolGrad(backend: HeapBackend, dy: tf.TensorInfo, x: tf.TensorInfo, y: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo {
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
  const ys = f32(backend, y);
  if (filterHeight === 2 && filterWidth === 2 && strideHeight === 2 && strideWidth === 2 && padTop === 0 && padLeft === 0
    && inHeight === 2 * outHeight && inWidth === 2 * outWidth) {
    pairPoolGrad(dx, xs, dys, batchSize * outHeight, outWidth, C);
    return out;
  }
  dx.fill(0);
  const rowStride = inWidth * C;
  for (let b = 0; b < batchSize; b++) {
    const xBase = b * inHeight * rowStride;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = Math.max(0, yr * strideHeight - padTop);
      const r1 = Math.min(inHeight, yr * strideHeight - padTop + filterHeight);
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = Math.max(0, yc * strideWidth - padLeft);
        const c1 = Math.min(inWidth, yc * strideWidth - padLeft + filterWidth);
        const d = ((b * outHeight + yr) * outWidth + yc) * C;
        const first = xBase + r0 * rowStride + c0 * C;
        for (let c = 0; c < C; c++) {
          // The window's max is y (the forward output, one of its values exactly): find its first occurrence
          // in row-major order, which ends the scan early, typically halfway or at once on ReLU zeros.
          const target = ys[d + c];
          let found = first;
          search: for (let r = r0; r < r1; r++) {
            for (let p = xBase + r * rowStride + c0 * C + c, end = p + (c1 - c0) * C; p < end; p += C) {
              if (xs[p] === target) {
                found = p - c;
                break search;
              }
            }
          }
          dx[found + c] += dys[d + c];
        }
      }
    }
  }
  return out;
}

/**
 * The common 2×2 stride-2 pool tiling the input exactly: windows do not overlap, so every input pixel is
 * written once (the window's first maximum gets dy, the others 0) and no zero fill is needed.
 */
function pairPoolGrad(dx: Float32Array, xs: Float32Array, dys: Float32Array, outRows: number, outWidth: number, C: number): void {
  const rowStride = 2 * outWidth * C;
  let d = 0;
  for (let r = 0; r < outRows; r++) {
    let p = 2 * r * rowStride;
    for (let col = 0; col < outWidth; col++, p += 2 * C) {
      for (let c = 0; c < C; c++, d++) {
        const i0 = p + c;
        const i1 = i0 + C;
        const i2 = i0 + rowStride;
        const i3 = i2 + C;
        const v0 = xs[i0];
        const v1 = xs[i1];
        const v2 = xs[i2];
        const v3 = xs[i3];
        // First maximum in row-major order, NaN never wins; as in the general loop below.
        let k = 0;
        let best = -Infinity;
        if (v0 > best) best = v0;
        if (v1 > best) { k = 1; best = v1; }
        if (v2 > best) { k = 2; best = v2; }
        if (v3 > best) k = 3;
        const g = dys[d];
        dx[i0] = k === 0 ? g : 0;
        dx[i1] = k === 1 ? g : 0;
        dx[i2] = k === 2 ? g : 0;
        dx[i3] = k === 3 ? g : 0;
      }
    }
  }
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

