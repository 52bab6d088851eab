import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { leadingReduction } from './composed';
import { BATCH_NORM_SUMS } from './batchNormGrad';

/**
 * The optional native accelerator: fer's oneDNN addon (native/fer_onednn.cc, built by `npm run build:native`)
 * takes over the wasm backend's hot kernels — convolution forward and both its gradients, matrix products,
 * pooling and its gradients, batch-norm and its sums, reductions over leading axes — and runs them in place on
 * the wasm heap: tensors stay where tfjs-wasm keeps them (channels last), the addon gets byte offsets. Every
 * other kernel (element-wise ops, the optimizer, the loss) stays on wasm, so checkpoints, tensors and results
 * are the wasm backend's. Inputs a native kernel does not cover go to the wasm kernel it wraps.
 */

/** The addon's entry points (see native/fer_onednn.cc). Offsets are bytes into the heap; -1 means none. */
export interface NativeAddon {
  conv2dForward(heap: Uint8Array, x: number, filter: number, filterId: number, bias: number, y: number, act: number, alpha: number, ...shape: number[]): void;
  conv2dBackwardData(heap: Uint8Array, dy: number, filter: number, dx: number, ...shape: number[]): void;
  conv2dBackwardWeights(heap: Uint8Array, x: number, dy: number, dw: number, ...shape: number[]): void;
  matMul(heap: Uint8Array, a: number, b: number, c: number, bias: number, batch: number, batchA: number, batchB: number,
    m: number, n: number, k: number, transA: number, transB: number, act: number, alpha: number, biasLength: number): void;
  pool(heap: Uint8Array, x: number, y: number, isMax: number, ...shape: number[]): void;
  maxPoolGrad(heap: Uint8Array, dy: number, x: number, y: number, dx: number, ...shape: number[]): void;
  avgPoolGrad(heap: Uint8Array, dy: number, dx: number, ...shape: number[]): void;
  batchNorm(heap: Uint8Array, x: number, mean: number, variance: number, scale: number, offset: number, y: number, rows: number, channels: number, epsilon: number): void;
  batchNormSums(heap: Uint8Array, x: number, mean: number, dy: number, sumDy: number, sumDyXc: number, rows: number, channels: number): void;
  columnSum(heap: Uint8Array, x: number, out: number, rows: number, cols: number, scale: number): void;
  binary(heap: Uint8Array, op: number, a: number, aLength: number, b: number, bLength: number, out: number, n: number): void;
  unary(heap: Uint8Array, op: number, x: number, out: number, n: number): void;
  softmax(heap: Uint8Array, x: number, y: number, rows: number, cols: number): void;
  reverse(heap: Uint8Array, x: number, y: number, outer: number, length: number, inner: number): void;
  setThreads(n: number): void;
  setWinograd(on: boolean): void;
  /**
   * `primitives`: oneDNN primitives cached; `winograd`: forward convolutions that have a Winograd version;
   * `cachedFilters`: filters kept in oneDNN's layouts; `abi`: the entry points' version (NATIVE_ABI).
   */
  /** A number never returned before in this process (the base of fer's filter ids). */
  idBlock(): number;
  info(): { version: string; isa: string; threads: number; primitives: number; winograd: number; cachedFilters: number; abi: number };
}

/** Where `npm run build:native` puts the addon (same path from src/backend and dist/backend). */
export const NATIVE_ADDON_PATH = path.join(__dirname, '..', '..', 'native', 'build', 'fer_onednn.node');
export const NATIVE_BUILD_HINT = 'apt-get install -y libdnnl-dev && npm run build:native';
/** The addon's entry-point version this file calls (FER_NATIVE_ABI in native/fer_onednn.cc). */
export const NATIVE_ABI = 5;

export type NativeLoad = { addon: NativeAddon } | { addon?: undefined; missing: boolean; reason: string };

let loaded: NativeLoad | undefined;

/**
 * Load the addon once. `missing`: it was never built (no note needed); otherwise `reason` says why a built
 * addon cannot be used (e.g. libdnnl.so.2 is gone). FER_NATIVE_ADDON overrides the path (tests).
 */
export function loadNative(): NativeLoad {
  if (loaded) return loaded;
  const file = process.env.FER_NATIVE_ADDON || NATIVE_ADDON_PATH;
  if (!fs.existsSync(file)) {
    const relative = path.relative(process.cwd(), file);
    loaded = { missing: true, reason: `the oneDNN addon is not built (${relative && !relative.startsWith('..') ? relative : file})` };
    return loaded;
  }
  try {
    // OpenMP's idle threads spin by default, taking the core the wasm kernels between oneDNN calls need.
    // libgomp reads the variable once, when it loads; child processes (ffmpeg, python) must not inherit it.
    const setPolicy = process.env.OMP_WAIT_POLICY === undefined;
    if (setPolicy) process.env.OMP_WAIT_POLICY = 'PASSIVE';
    let addon: NativeAddon;
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      addon = require(file) as NativeAddon;
    } finally {
      if (setPolicy) delete process.env.OMP_WAIT_POLICY;
    }
    if (typeof addon.conv2dForward !== 'function' || typeof addon.info !== 'function') throw new Error('not fer\'s oneDNN addon (rebuild it)');
    const abi = addon.info().abi;
    if (abi !== NATIVE_ABI) throw new Error(`built from other sources (interface ${abi ?? 1}, need ${NATIVE_ABI}): rebuild it with npm run build:native`);
    loaded = { addon };
  } catch (e) {
    loaded = { missing: false, reason: `the oneDNN addon failed to load: ${String((e as Error)?.message ?? e).split('\n')[0]}` };
  }
  return loaded;
}

/** The parts of tfjs-backend-wasm's BackendWasm the native kernels use. */
interface WasmBackendLike extends tf.KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: tf.DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

let active = false;
let addonInUse: NativeAddon | undefined;
const calls = new Map<string, number>();

/** Whether the native kernels run (true after initBackend('native'), false after initBackend('wasm')). */
export function nativeActive(): boolean {
  return active && addonInUse !== undefined;
}

/** Turn the native kernels on or off (they stay registered; off means the wasm kernels run). */
export function setNativeActive(on: boolean): void {
  active = on;
}

/**
 * Whether forward convolutions may switch to oneDNN's Winograd kernel once their filter has been seen twice
 * (inference; default on). Off: every convolution is direct, as in training (to compare the two).
 */
export function setNativeWinograd(on: boolean): void {
  const native = loadNative();
  if (native.addon) native.addon.setWinograd(on);
}

/** How many times each native kernel ran since the last reset (tests check the native path was taken). */
export function nativeCalls(reset = false): Record<string, number> {
  const out = Object.fromEntries(calls);
  if (reset) calls.clear();
  return out;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * An id per tensor data (tfjs' dataId object), new for every tensor: tfjs never changes a tensor's data (a
 * variable's update gives it a new dataId), so the addon may keep a filter reordered into oneDNN's layout
 * under this id and reuse it whenever the id comes back (a model's weights, call after call). Heap offsets
 * cannot serve: a disposed tensor's memory is reused by the next one.
 */
const dataIds = new WeakMap<object, number>();
// The addon and its filter cache are loaded once per process, while this module may be loaded several times
// (worker threads, test runners that reset modules): ids start at a block the addon hands out once per module.
let idBase: number | undefined;
let lastDataId = 0;
function dataIdNumber(addon: NativeAddon, t: tf.TensorInfo): number {
  const key = t.dataId as object;
  let id = dataIds.get(key);
  if (id === undefined) {
    idBase ??= addon.idBlock() * 2 ** 32;
    id = idBase + ++lastDataId;
    dataIds.set(key, id);
  }
  return id;
}

function offset(backend: WasmBackendLike, t: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('native kernel: tensor data not on the wasm heap');
  return data.memoryOffset;
}

type Run = (addon: NativeAddon, backend: WasmBackendLike, heap: () => Uint8Array, at: (t: tf.TensorInfo) => number) => tf.TensorInfo | tf.TensorInfo[] | undefined;

/** Activation codes of the addon; undefined = not supported natively. */
const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, sigmoid: 4, elu: 5 };

/** oneDNN's output size rule (floor); tfjs' rounding modes and explicit pads can differ: those stay on wasm. */
function outputFits(input: number, pads: number, filter: number, stride: number, output: number): boolean {
  return Math.floor((input + pads - filter) / stride) + 1 === output;
}

function convShape(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): number[] | undefined {
  const format = (attrs.dataFormat as string | undefined) ?? 'NHWC';
  if (format !== 'NHWC' && format !== 'channelsLast') return undefined;
  const dilations = (attrs.dilations as number | [number, number] | undefined) ?? 1;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as number | [number, number], dilations, attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined, false, 'channelsLast');
  const p = info.padInfo;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0 || info.outHeight < 1 || info.outWidth < 1) return undefined;
  if (size(xShape) === 0 || !outputFits(info.inHeight, p.top + p.bottom, info.effectiveFilterHeight, info.strideHeight, info.outHeight)
    || !outputFits(info.inWidth, p.left + p.right, info.effectiveFilterWidth, info.strideWidth, info.outWidth)) return undefined;
  return [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    p.top, p.left, p.bottom, p.right];
}

function poolShape(xShape: number[], attrs: tf.NamedAttrMap): number[] | undefined {
  if (xShape.length !== 4 || size(xShape) === 0) return undefined;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number], 1, attrs.pad as 'same' | 'valid' | number, attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
  const p = info.padInfo;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0 || info.outHeight < 1 || info.outWidth < 1) return undefined;
  if (!outputFits(info.inHeight, p.top + p.bottom, info.filterHeight, info.strideHeight, info.outHeight)
    || !outputFits(info.inWidth, p.left + p.right, info.filterWidth, info.strideWidth, info.outWidth)) return undefined;
  // oneDNN wants every window to start inside the padded input.
  if ((info.outHeight - 1) * info.strideHeight >= info.inHeight + p.top || (info.outWidth - 1) * info.strideWidth >= info.inWidth + p.left) return undefined;
  return [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right];
}

const f32 = (...ts: (tf.TensorInfo | undefined)[]): boolean => ts.every((t) => t === undefined || t.dtype === 'float32');

/**
 * Element-wise ops of any size run natively: on a threaded wasm backend even a tiny op (a classifier's
 * 64×7 bias) wakes XNNPACK's thread pool, whose workers then spin: about 1.5 ms of CPU per op (measured:
 * 1.9 ms of CPU for a [64,7] + [7] Add with 2 wasm threads, 0.33 ms natively, tfjs' overhead included).
 * The results are the same bits (one IEEE operation per element either way).
 */
const ELEMENTWISE_MIN = 1;

/**
 * For a binary op's operand, the period with which it repeats along the output (its size), when it is the
 * output's full size or its trailing dimensions (a per-channel vector, a scalar); undefined otherwise.
 */
function period(t: tf.TensorInfo, outShape: number[]): number | undefined {
  const dims = t.shape.slice(t.shape.findIndex((d) => d !== 1) < 0 ? t.shape.length : t.shape.findIndex((d) => d !== 1));
  const tail = outShape.slice(outShape.length - dims.length);
  if (dims.length > outShape.length || dims.some((d, i) => d !== tail[i])) return undefined;
  return size(t.shape);
}

const BINARY: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };
const UNARY: Record<string, number> = { Relu: 0, Square: 1, Neg: 2, Sqrt: 3, Step: 4 };

function binaryKernel(op: number) {
  return ({ inputs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { a, b } = inputs;
    if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
    let outShape: number[];
    try {
      outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      return undefined;
    }
    const n = size(outShape);
    const pa = period(a, outShape);
    const pb = period(b, outShape);
    if (n < ELEMENTWISE_MIN || pa === undefined || pb === undefined || (pa !== n && pb !== n) || pa === 0 || pb === 0) return undefined;
    return (addon, backend, heap, at) => {
      const y = backend.makeOutput(outShape, 'float32');
      addon.binary(heap(), op, at(a), pa, at(b), pb, at(y), n);
      return y;
    };
  };
}

function unaryKernel(op: number) {
  return ({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { x } = inputs;
    if (!x || x.dtype !== 'float32' || size(x.shape) < ELEMENTWISE_MIN) return undefined;
    if (op === UNARY.Step && ((attrs.alpha as number | undefined) ?? 0) !== 0) return undefined;
    return (addon, backend, heap, at) => {
      const y = backend.makeOutput(x.shape, 'float32');
      addon.unary(heap(), op, at(x), at(y), size(x.shape));
      return y;
    };
  };
}

/** The native version of each kernel: returns undefined for inputs it does not cover. */
function nativeKernels(): Record<string, (args: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }) => Run | undefined> {
  const conv = (fused: boolean) => ({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { x, filter, bias, preluActivationWeights } = inputs;
    if (!x || !filter || !f32(x, filter, bias) || preluActivationWeights || x.shape.length !== 4) return undefined;
    const act = fused ? ACTIVATIONS[(attrs.activation as string | undefined) ?? 'linear'] : 0;
    if (act === undefined) return undefined;
    const shape = convShape(x.shape, filter.shape, attrs);
    if (!shape) return undefined;
    const outC = filter.shape[3];
    if (bias && size(bias.shape) !== outC) return undefined;
    const alpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
    return (addon, backend, heap, at) => {
      const y = backend.makeOutput([shape[0], shape[4], shape[5], outC], 'float32');
      addon.conv2dForward(heap(), at(x), at(filter), dataIdNumber(addon, filter), bias ? at(bias) : -1, at(y), act, alpha, ...shape);
      return y;
    };
  };
  const pool = (isMax: boolean) => ({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { x } = inputs;
    if (!x || !f32(x)) return undefined;
    const shape = poolShape(x.shape, attrs);
    if (!shape) return undefined;
    return (addon, backend, heap, at) => {
      const y = backend.makeOutput([shape[0], shape[4], shape[5], shape[3]], 'float32');
      addon.pool(heap(), at(x), at(y), isMax ? 1 : 0, ...shape);
      return y;
    };
  };
  const matMul = ({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { a, b, bias, preluActivationWeights } = inputs;
    if (!a || !b || !f32(a, b, bias) || preluActivationWeights || a.shape.length < 2 || b.shape.length < 2) return undefined;
    const act = ACTIVATIONS[(attrs.activation as string | undefined) ?? 'linear'];
    if (act === undefined) return undefined;
    const transA = Boolean(attrs.transposeA);
    const transB = Boolean(attrs.transposeB);
    const [ra, ca] = a.shape.slice(-2);
    const [rb, cb] = b.shape.slice(-2);
    const [m, k] = transA ? [ca, ra] : [ra, ca];
    const [k2, n] = transB ? [cb, rb] : [rb, cb];
    if (k !== k2 || m * n * k === 0) return undefined;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return undefined;
    }
    const batch = size(outer);
    const batchA = size(outerA);
    const batchB = size(outerB);
    // Each side is one matrix (broadcast) or a full batch laid out as the output's.
    const fits = (sides: number[], count: number): boolean => count === 1
      || (count === batch && [...Array(outer.length - sides.length).fill(1), ...sides].every((d, i) => d === outer[i]));
    if (!fits(outerA, batchA) || !fits(outerB, batchB)) return undefined;
    if (bias && size(bias.shape) !== n && size(bias.shape) !== 1) return undefined;
    const alpha = (attrs.leakyreluAlpha as number | undefined) ?? 0.2;
    const outShape = [...outer, m, n];
    return (addon, backend, heap, at) => {
      const c = backend.makeOutput(outShape, 'float32');
      addon.matMul(heap(), at(a), at(b), at(c), bias ? at(bias) : -1, batch, batchA, batchB, m, n, k, transA ? 1 : 0, transB ? 1 : 0, act, alpha, bias ? size(bias.shape) : 0);
      return c;
    };
  };
  const reduce = (mean: boolean) => ({ inputs, attrs }: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap }): Run | undefined => {
    const { x } = inputs;
    if (!x || !f32(x) || size(x.shape) === 0) return undefined;
    const axis = attrs.axis as number | number[];
    const r = leadingReduction(x.shape, axis);
    if (!r) return undefined;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const keepDims = Boolean(attrs.keepDims);
    const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    return (addon, backend, heap, at) => {
      const y = backend.makeOutput(shape, 'float32');
      addon.columnSum(heap(), at(x), at(y), r.rows, r.cols, mean ? 1 / r.rows : 1);
      return y;
    };
  };
  return {
    Conv2D: conv(false),
    FusedConv2D: conv(true),
    Conv2DBackpropInput: ({ inputs, attrs }) => {
      const { dy, filter } = inputs;
      if (!dy || !filter || !f32(dy, filter)) return undefined;
      const inputShape = attrs.inputShape as number[];
      const shape = convShape(inputShape, filter.shape, attrs);
      if (!shape || shape[4] !== dy.shape[1] || shape[5] !== dy.shape[2]) return undefined;
      return (addon, backend, heap, at) => {
        const dx = backend.makeOutput(inputShape, 'float32');
        addon.conv2dBackwardData(heap(), at(dy), at(filter), at(dx), ...shape);
        return dx;
      };
    },
    Conv2DBackpropFilter: ({ inputs, attrs }) => {
      const { x, dy } = inputs;
      if (!x || !dy || !f32(x, dy)) return undefined;
      const filterShape = attrs.filterShape as number[];
      const shape = convShape(x.shape, filterShape, attrs);
      if (!shape || shape[4] !== dy.shape[1] || shape[5] !== dy.shape[2]) return undefined;
      return (addon, backend, heap, at) => {
        const dw = backend.makeOutput(filterShape, 'float32');
        addon.conv2dBackwardWeights(heap(), at(x), at(dy), at(dw), ...shape);
        return dw;
      };
    },
    BatchMatMul: matMul,
    _FusedMatMul: matMul,
    MaxPool: pool(true),
    AvgPool: pool(false),
    MaxPoolGrad: ({ inputs, attrs }) => {
      const { dy, input, output } = inputs;
      if (!dy || !input || !output || !f32(dy, input, output)) return undefined;
      const shape = poolShape(input.shape, attrs);
      if (!shape) return undefined;
      return (addon, backend, heap, at) => {
        const dx = backend.makeOutput(input.shape, 'float32');
        addon.maxPoolGrad(heap(), at(dy), at(input), at(output), at(dx), ...shape);
        return dx;
      };
    },
    AvgPoolGrad: ({ inputs, attrs }) => {
      const { dy, input } = inputs;
      if (!dy || !input || !f32(dy, input)) return undefined;
      const shape = poolShape(input.shape, attrs);
      if (!shape) return undefined;
      return (addon, backend, heap, at) => {
        const dx = backend.makeOutput(input.shape, 'float32');
        addon.avgPoolGrad(heap(), at(dy), at(dx), ...shape);
        return dx;
      };
    },
    FusedBatchNorm: ({ inputs, attrs }) => {
      const { x, mean, variance, offset: off, scale } = inputs;
      if (!x || !mean || !variance || !f32(x, mean, variance, off, scale) || size(x.shape) === 0) return undefined;
      const channels = x.shape[x.shape.length - 1];
      if (![mean, variance, off, scale].every((t) => t === undefined || size(t.shape) === channels)) return undefined;
      const epsilon = (attrs.varianceEpsilon as number | undefined) ?? 0.001;
      return (addon, backend, heap, at) => {
        const y = backend.makeOutput(x.shape, 'float32');
        addon.batchNorm(heap(), at(x), at(mean), at(variance), scale ? at(scale) : -1, off ? at(off) : -1, at(y), size(x.shape) / channels, channels, epsilon);
        return y;
      };
    },
    [BATCH_NORM_SUMS]: ({ inputs }) => {
      const { x, mean, dy } = inputs;
      if (!x || !mean || !dy || !f32(x, mean, dy) || size(x.shape) === 0) return undefined;
      const channels = size(mean.shape);
      if (x.shape[x.shape.length - 1] !== channels || size(dy.shape) !== size(x.shape)) return undefined;
      return (addon, backend, heap, at) => {
        const sumDy = backend.makeOutput(mean.shape, 'float32');
        const sumDyXc = backend.makeOutput(mean.shape, 'float32');
        addon.batchNormSums(heap(), at(x), at(mean), at(dy), at(sumDy), at(sumDyXc), size(x.shape) / channels, channels);
        return [sumDy, sumDyXc];
      };
    },
    Sum: reduce(false),
    Mean: reduce(true),
    ...Object.fromEntries(Object.entries(BINARY).map(([name, op]) => [name, binaryKernel(op)])),
    ...Object.fromEntries(Object.entries(UNARY).map(([name, op]) => [name, unaryKernel(op)])),
    // Softmax over the last axis (the classifier's output; wasm's wakes its thread pool for a few rows).
    Softmax: ({ inputs, attrs }) => {
      const { logits } = inputs;
      if (!logits || !f32(logits) || size(logits.shape) === 0) return undefined;
      const rank = logits.shape.length;
      const dims = attrs.dim as number | number[] | undefined;
      const dim = Array.isArray(dims) ? dims[0] : dims ?? -1;
      if (dim !== -1 && dim !== rank - 1) return undefined;
      const cols = logits.shape[rank - 1];
      return (addon, backend, heap, at) => {
        const y = backend.makeOutput(logits.shape, 'float32');
        addon.softmax(heap(), at(logits), at(y), size(logits.shape) / cols, cols);
        return y;
      };
    },
    // Reverse along one axis of 4-byte values (TTA's flip; wasm's is an element-by-element loop).
    Reverse: ({ inputs, attrs }) => {
      const { x } = inputs;
      if (!x || (x.dtype !== 'float32' && x.dtype !== 'int32') || size(x.shape) === 0) return undefined;
      const axes = [...new Set(tf.util.parseAxisParam(attrs.dims as number | number[], x.shape))].filter((d) => x.shape[d] > 1);
      if (axes.length !== 1) return undefined;
      const axis = axes[0];
      const outer = size(x.shape.slice(0, axis));
      const inner = size(x.shape.slice(axis + 1));
      return (addon, backend, heap, at) => {
        const y = backend.makeOutput(x.shape, x.dtype);
        addon.reverse(heap(), at(x), at(y), outer, x.shape[axis], inner);
        return y;
      };
    },
    // A slice that is one contiguous block (e.g. a batch out of a bigger one, as model.predict takes them) is
    // a memory copy; wasm's Slice walks it element by element.
    Slice: ({ inputs, attrs }) => {
      const { x } = inputs;
      if (!x || x.dtype === 'string' || x.dtype === 'complex64') return undefined;
      const [begin, sizes] = tf.slice_util.parseSliceParams(x, attrs.begin as number | number[], attrs.size as number | number[]);
      // Contiguous: ones up to some axis, then that axis' range, then whole axes.
      const partial = sizes.findIndex((d) => d !== 1);
      const axis = partial < 0 ? sizes.length - 1 : partial;
      if (size(sizes) === 0 || sizes.some((d, i) => i > axis && d !== x.shape[i])) return undefined;
      const bytesPer = x.dtype === 'bool' ? 1 : 4;
      let start = 0;
      for (let i = 0; i < x.shape.length; i++) start = start * x.shape[i] + begin[i];
      return (_addon, backend, heap, at) => {
        const y = backend.makeOutput(sizes, x.dtype);
        const from = at(x) + start * bytesPer;
        heap().copyWithin(at(y), from, from + size(sizes) * bytesPer);
        return y;
      };
    },
  };
}

let installedNames: string[] | undefined;

/**
 * Register the native kernels on the wasm backend, each in front of the kernel registered there now (fer's
 * wasm training kernels or tfjs' own), which still runs while the accelerator is off and for inputs it does
 * not cover. Idempotent; call after the wasm backend and its training kernels are installed.
 */
export function installNativeKernels(addon: NativeAddon): string[] {
  addonInUse = addon;
  if (installedNames) return installedNames;
  const names: string[] = [];
  for (const [name, plan] of Object.entries(nativeKernels())) {
    const previous = tf.getKernel(name, 'wasm');
    if (!previous) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: (args) => {
        const run = nativeActive() ? plan({ inputs: args.inputs, attrs: args.attrs ?? {} }) : undefined;
        if (!run) return previous.kernelFunc(args);
        const backend = args.backend as WasmBackendLike;
        // Outputs are allocated first; the heap view is read after, as allocation may grow the heap.
        const out = run(addonInUse!, backend, () => backend.wasm.HEAPU8, (t) => offset(backend, t));
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return out as tf.TensorInfo | tf.TensorInfo[];
      },
      ...(previous.setupFunc ? { setupFunc: previous.setupFunc } : {}),
      ...(previous.disposeFunc ? { disposeFunc: previous.disposeFunc } : {}),
    });
    names.push(name);
  }
  installedNames = names;
  return names;
}
