import * as tf from '@tensorflow/tfjs';
import { Backend, KernelScope, withScope } from './kernelUtil';

/**
 * Both gradients of a 2-D convolution written as forward convolutions, so that they run on the backend's
 * fast (XNNPACK) Conv2D instead of slow or missing backprop kernels:
 *
 *  - filter gradient: correlate the input with dy. Put the input channels in the batch position and the
 *    batch in the channel position; dy becomes the filter (its batch is the reduced axis) and the forward
 *    stride becomes the dilation: dW[i,j,c,o] = Σ_{n,y,x} x[n, s·y+i−pad, s·x+j−pad, c] · dy[n,y,x,o].
 *  - input gradient: a full correlation of dy (with s−1 zeros between its rows and columns when the stride
 *    is s) with the spatially flipped filter whose in/out channels are swapped.
 */

interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  channelsLast: boolean;
}

function geometry(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): ConvGeometry {
  const dataFormat = tf.backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW') ?? 'NHWC');
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    dataFormat,
  );
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    channelsLast: info.dataFormat === 'channelsLast',
  };
}

/** A stride-1 NHWC Conv2D with explicit padding (each side may be given; negative sides are cropped after). */
function conv(
  s: KernelScope,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: { top: number; bottom: number; left: number; right: number },
  dilations: [number, number],
  want: [number, number],
): tf.TensorInfo {
  const pad = [[0, 0], [pads.top, Math.max(0, pads.bottom)], [pads.left, Math.max(0, pads.right)], [0, 0]];
  const y = s.run('Conv2D', { x, filter }, { strides: [1, 1], pad, dilations, dataFormat: 'NHWC', dimRoundingMode: 'floor' });
  if (y.shape[1] === want[0] && y.shape[2] === want[1]) return y;
  return s.slice(y, [0, 0, 0, 0], [y.shape[0], want[0], want[1], y.shape[3]]);
}

/**
 * The filter gradient with x as the filter and dy as the input (stride 1 only). The backend copies and packs
 * the filter operand on every call (it is a new tensor each step), so the smaller of x and dy should be it:
 * e.g. x is half of dy when a layer doubles its channels.
 *   dW[i,j,c,o] = Σ_{n,u,v} x[n,u,v,c] · dy[n, u−i+padTop, v−j+padLeft, o]
 * is a correlation of dy laid out as (outC, outH, outW, batch) with x laid out as (inH, inW, batch, inC),
 * whose output is dW flipped in i and j.
 */
function filterGradXAsFilter(s: KernelScope, g: ConvGeometry, x: tf.TensorInfo, dy: tf.TensorInfo): tf.TensorInfo {
  const dyT = s.transpose(dy, g.channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0]);
  const xT = s.transpose(x, g.channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1]);
  const top = g.kH - 1 - g.padTop;
  const left = g.kW - 1 - g.padLeft;
  const pads = { top, bottom: g.kH - 1 - top + g.inH - g.outH, left, right: g.kW - 1 - left + g.inW - g.outW };
  const flippedT = conv(s, dyT, xT, pads, [1, 1], [g.kH, g.kW]); // (outC, kH, kW, inC), flipped in kH, kW
  return s.transpose(s.run('Reverse', { x: flippedT }, { dims: [1, 2] }), [1, 2, 3, 0]);
}

/** Input channels below which a layer (a first layer: 1 grey channel) takes the im2col paths below. */
const FEW_CHANNELS = 8;

/** A constant tensor on the backend (small: one-hot tap filters). */
function constant(s: KernelScope, values: Float32Array, shape: number[]): tf.TensorInfo {
  const t = s.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  (s.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t).set(values);
  return t;
}

/**
 * Input gradient for few input channels (a first layer: 1 grey channel), stride 1. The general path is a
 * convolution with only inC output channels, a fraction of XNNPACK's 8-wide GEMM tiles. Here a 1×1
 * convolution Z = dy · Wᵀ gives each tap's contribution (kH·kW·inC wide), and col2im adds the taps' shifted
 * planes with a depthwise convolution whose one-hot filters pick, per channel, the tap landing on each pixel,
 * followed by a sum over the taps.
 */
function inputGradCol2im(s: KernelScope, g: ConvGeometry, dy: tf.TensorInfo, filter: tf.TensorInfo): tf.TensorInfo {
  const rows = g.batch * g.outH * g.outW;
  const taps = g.kH * g.kW;
  const cols = taps * g.inC;
  // Columns ordered (c, i, j) so that each input channel's taps end up adjacent (innermost) for the sum.
  const wT = s.transpose(s.reshape(s.transpose(filter, [2, 0, 1, 3]), [cols, g.outC]), [1, 0]); // (outC, inC·taps)
  const z = s.run('Conv2D', { x: s.reshape(dy, [rows, 1, 1, g.outC]), filter: s.reshape(wT, [1, 1, g.outC, cols]) }, {
    strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC', dimRoundingMode: 'floor',
  });
  // dx[h, w] = Σ_{i,j} z[h + padTop − i, w + padLeft − j, (i, j)]: a correlation over z padded by k−1−pad,
  // where tap (i, j) sits at filter position (kH−1−i, kW−1−j).
  const oneHot = new Float32Array(g.kH * g.kW * cols);
  for (let a = 0; a < g.kH; a++) {
    for (let b = 0; b < g.kW; b++) {
      const tap = (g.kH - 1 - a) * g.kW + (g.kW - 1 - b);
      for (let c = 0; c < g.inC; c++) oneHot[(a * g.kW + b) * cols + c * taps + tap] = 1;
    }
  }
  const top = g.kH - 1 - g.padTop;
  const left = g.kW - 1 - g.padLeft;
  const zPadded = s.run('PadV2', { x: s.reshape(z, [g.batch, g.outH, g.outW, cols]) }, {
    paddings: [[0, 0], [top, g.inH - g.outH + g.padTop], [left, g.inW - g.outW + g.padLeft], [0, 0]], constantValue: 0,
  });
  const perTap = s.run('DepthwiseConv2dNative', { x: zPadded, filter: constant(s, oneHot, [g.kH, g.kW, cols, 1]) }, {
    strides: [1, 1], pad: 'valid', dilations: [1, 1], dimRoundingMode: 'floor',
  }); // (batch, inH, inW, inC·taps)
  const summed = s.run('Sum', { x: s.reshape(perTap, [g.batch, g.inH, g.inW, g.inC, taps]) }, { axis: [4], keepDims: false });
  return summed;
}

/** Conv2DBackpropFilter: inputs {x, dy}, attrs {strides, pad, dataFormat, dimRoundingMode, filterShape}. */
export function conv2dBackpropFilterAsConv(backend: Backend, backendName: string, x: tf.TensorInfo, dy: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const filterShape = attrs.filterShape as number[];
  const g = geometry(x.shape, filterShape, attrs);
  const elements = (t: tf.TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);
  const stride1 = g.strideH === 1 && g.strideW === 1;
  const padsFit = g.padTop <= g.kH - 1 && g.padLeft <= g.kW - 1;
  // With few input channels x is small but makes a GEMM only inC wide, which XNNPACK runs poorly.
  if (stride1 && padsFit && g.inC >= 8 && elements(x) < elements(dy)) {
    return withScope(backend, backendName, (s) => filterGradXAsFilter(s, g, x, dy));
  }
  return withScope(backend, backendName, (s) => {
    // x as (inC, inH, inW, batch); dy as a filter (outH, outW, batch, outC).
    const xT = s.transpose(x, g.channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0]);
    const dyT = s.transpose(dy, g.channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1]);
    // Rows of the padded input that the strided window reaches: kH + strideH·(outH−1).
    const pads = {
      top: g.padTop,
      bottom: g.kH + g.strideH * (g.outH - 1) - g.inH - g.padTop,
      left: g.padLeft,
      right: g.kW + g.strideW * (g.outW - 1) - g.inW - g.padLeft,
    };
    let input = xT;
    if (pads.bottom < 0 || pads.right < 0) {
      // The last rows/columns are never under the window: drop them instead of computing extra taps.
      const h = g.inH + Math.min(0, pads.bottom);
      const w = g.inW + Math.min(0, pads.right);
      input = s.slice(xT, [0, 0, 0, 0], [g.inC, h, w, g.batch]);
    }
    const dw = conv(s, input, dyT, pads, [g.strideH, g.strideW], [g.kH, g.kW]); // (inC, kH, kW, outC)
    return s.transpose(dw, [1, 2, 0, 3]);
  });
}

/** Insert s−1 zeros after every row/column of an NHWC tensor (the last ones too), for strided input grads. */
function spreadOut(s: KernelScope, dy: tf.TensorInfo, strideH: number, strideW: number): tf.TensorInfo {
  if (strideH === 1 && strideW === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const six = s.reshape(dy, [n, h, 1, w, 1, c]);
  const padded = s.run('PadV2', { x: six }, { paddings: [[0, 0], [0, 0], [0, strideH - 1], [0, 0], [0, strideW - 1], [0, 0]], constantValue: 0 });
  return s.reshape(padded, [n, h * strideH, w * strideW, c]);
}

/** Conv2DBackpropInput: inputs {dy, filter}, attrs {strides, pad, dataFormat, dimRoundingMode, inputShape}. */
export function conv2dBackpropInputAsConv(backend: Backend, backendName: string, dy: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const inputShape = attrs.inputShape as number[];
  const g = geometry(inputShape, filter.shape, attrs);
  if (g.channelsLast && g.inC < FEW_CHANNELS && g.strideH === 1 && g.strideW === 1 && g.padTop <= g.kH - 1 && g.padLeft <= g.kW - 1) {
    return withScope(backend, backendName, (s) => inputGradCol2im(s, g, dy, filter));
  }
  return withScope(backend, backendName, (s) => {
    const dyNHWC = g.channelsLast ? dy : s.transpose(dy, [0, 2, 3, 1]);
    // Flipped filter with in/out swapped: (kH, kW, outC, inC).
    const flipped = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
    const spread = spreadOut(s, dyNHWC, g.strideH, g.strideW);
    const top = g.kH - 1 - g.padTop;
    const left = g.kW - 1 - g.padLeft;
    // Output rows = spreadRows + top + bottom − kH + 1 must equal inH.
    const pads = {
      top,
      bottom: g.inH + g.kH - 1 - top - spread.shape[1],
      left,
      right: g.inW + g.kW - 1 - left - spread.shape[2],
    };
    if (top < 0 || left < 0) throw new Error(`conv input gradient: padding larger than the filter (${g.padTop}, ${g.padLeft})`);
    const dx = conv(s, spread, flipped, pads, [1, 1], [g.inH, g.inW]);
    return g.channelsLast ? dx : s.transpose(dx, [0, 3, 1, 2]);
  });
}

/**
 * BatchMatMul with a batch of 1 as a 1×1 convolution: XNNPACK's GEMM, and transposed operands are transposed
 * once up front (tfjs-wasm sends any transposed product to a scalar triple loop). The convolution copies and
 * packs its filter operand on every call (about 17 ns per element, against 1–4 ns to transpose), so the
 * smaller side becomes the filter: C = A·B, or C = (Bᵀ·Aᵀ)ᵀ when A is the smaller one. Returns undefined for
 * real batches, which keep the stock kernel.
 */
export function matMulAsConv(backend: Backend, backendName: string, a: tf.TensorInfo, b: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo | undefined {
  const batchOf = (t: tf.TensorInfo): number => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  if (batchOf(a) !== 1 || batchOf(b) !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const n = transposeB ? rb : cb;
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2).map(() => 1), m, n];
  const PACK = 17;
  const MOVE = 3;
  const costBFilter = PACK * k * n + (transposeA ? MOVE * m * k : 0) + (transposeB ? MOVE * k * n : 0);
  const costAFilter = PACK * m * k + (transposeA ? 0 : MOVE * m * k) + (transposeB ? 0 : MOVE * k * n) + MOVE * m * n;
  const conv = (s: KernelScope, input: tf.TensorInfo, rows: number, filter: tf.TensorInfo, cols: number): tf.TensorInfo =>
    s.run('Conv2D', { x: s.reshape(input, [rows, 1, 1, k]), filter: s.reshape(filter, [1, 1, k, cols]) }, {
      strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC', dimRoundingMode: 'floor',
    });
  return withScope(backend, backendName, (s) => {
    const a2 = s.reshape(a, [ra, ca]);
    const b2 = s.reshape(b, [rb, cb]);
    if (costBFilter <= costAFilter) {
      // rows of A (m × k) through the filter B (k × n)
      const y = conv(s, transposeA ? s.transpose(a2, [1, 0]) : a2, m, transposeB ? s.transpose(b2, [1, 0]) : b2, n);
      return s.reshape(y, outShape);
    }
    // rows of Bᵀ (n × k) through the filter Aᵀ (k × m), then transposed back
    const y = conv(s, transposeB ? b2 : s.transpose(b2, [1, 0]), n, transposeA ? a2 : s.transpose(a2, [1, 0]), m);
    return s.reshape(s.transpose(s.reshape(y, [n, m]), [1, 0]), outShape);
  });
}
