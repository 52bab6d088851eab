import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterAsConv, conv2dBackpropInputAsConv, matMulAsConv } from './convGrad';
import { BATCH_NORM_SUMS, REPEAT_ROWS, broadcastReductionGradient, fastBatchNormGradient } from './batchNormGrad';
import { batchNorm, batchNormSums, leadingReduction, reduceLeading } from './composed';
import { HeapBackend, maxPoolGrad, repeatRows } from './heapKernels';

const WASM = 'wasm';

function input(inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`kernel input ${name} missing`);
  return t;
}

type Stock = tf.KernelConfig | undefined;

function fallback(stock: Stock, name: string): tf.KernelFunc {
  if (!stock) return () => { throw new Error(`wasm has no ${name} kernel for these inputs`); };
  return stock.kernelFunc;
}

/**
 * The kernels the wasm backend lacks or runs slowly in training, built on its fast XNNPACK ops or written as
 * single-pass loops over its heap. Each takes `stock` (the kernel it replaces, if any) for inputs it does not
 * cover. Registered after the backend is initialised, so the stock kernels' setup has run.
 */
function overrides(): { name: string; make: (stock: Stock) => tf.KernelFunc }[] {
  const reduce = (mean: boolean) => (stock: Stock): tf.KernelFunc => (args) => {
    const x = input(args.inputs, 'x');
    const attrs = args.attrs ?? {};
    if (x.dtype === 'float32' && leadingReduction(x.shape, attrs.axis as number | number[])) {
      return reduceLeading(args.backend as tf.KernelBackend, WASM, x, attrs.axis as number | number[], Boolean(attrs.keepDims), mean);
    }
    return fallback(stock, mean ? 'Mean' : 'Sum')(args);
  };
  return [
    {
      name: tf.Conv2DBackpropFilter,
      make: () => ({ inputs, backend, attrs }) => conv2dBackpropFilterAsConv(backend as tf.KernelBackend, WASM, input(inputs, 'x'), input(inputs, 'dy'), attrs ?? {}),
    },
    {
      name: tf.Conv2DBackpropInput,
      make: () => ({ inputs, backend, attrs }) => conv2dBackpropInputAsConv(backend as tf.KernelBackend, WASM, input(inputs, 'dy'), input(inputs, 'filter'), attrs ?? {}),
    },
    {
      name: tf.BatchMatMul,
      make: (stock) => (args) => matMulAsConv(args.backend as tf.KernelBackend, WASM, input(args.inputs, 'a'), input(args.inputs, 'b'), args.attrs ?? {})
        ?? fallback(stock, tf.BatchMatMul)(args),
    },
    { name: tf.Sum, make: reduce(false) },
    { name: tf.Mean, make: reduce(true) },
    {
      name: tf.MaxPoolGrad,
      make: (stock) => (args) => {
        const dy = input(args.inputs, 'dy');
        const x = input(args.inputs, 'input');
        if (x.dtype !== 'float32' || x.shape.length !== 4) return fallback(stock, tf.MaxPoolGrad)(args);
        return maxPoolGrad(args.backend as HeapBackend, dy, x, input(args.inputs, 'output'), args.attrs ?? {});
      },
    },
    {
      name: tf.FusedBatchNorm,
      make: (stock) => (args) => batchNorm(args.backend as tf.KernelBackend, WASM, args.inputs, ((args.attrs ?? {}).varianceEpsilon as number) ?? 0.001)
        ?? fallback(stock, tf.FusedBatchNorm)(args),
    },
    {
      // tfjs clones every tensor a custom gradient saves; wasm's Identity copies the data, cpu's shares it.
      name: tf.Identity,
      make: (stock) => (args) => {
        const x = input(args.inputs, 'x');
        if (x.dtype === 'string') return fallback(stock, tf.Identity)(args);
        (args.backend as tf.KernelBackend).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      },
    },
    {
      // Relu's gradient casts its float32 mask to float32: share the data instead of copying it.
      name: tf.Cast,
      make: (stock) => (args) => {
        const x = input(args.inputs, 'x');
        if (x.dtype !== (args.attrs ?? {}).dtype || x.dtype === 'string') return fallback(stock, tf.Cast)(args);
        (args.backend as tf.KernelBackend).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      },
    },
    {
      name: BATCH_NORM_SUMS,
      make: () => ({ inputs, backend }) => batchNormSums(backend as tf.KernelBackend, WASM, input(inputs, 'x'), input(inputs, 'mean'), input(inputs, 'dy')),
    },
    {
      name: REPEAT_ROWS,
      make: () => ({ inputs, backend, attrs }) => repeatRows(backend as HeapBackend, input(inputs, 'x'), (attrs ?? {}).shape as number[], (attrs ?? {}).scale as number),
    },
  ];
}

let installed: string[] | undefined;
let fast = true;

/**
 * Switch the replacements off (true: on, the default) to measure or check against the stock wasm kernels and
 * gradients. Kernels wasm lacks (Conv2DBackpropFilter) stay on: without them wasm cannot train at all.
 */
export function setFastWasmKernels(on: boolean): void {
  fast = on;
}

/**
 * Install the training kernels for the wasm backend (idempotent; the backend must be initialised). Returns
 * the kernel names replaced or added.
 */
export function installWasmTrainingKernels(): string[] {
  if (installed) return installed;
  const names: string[] = [];
  for (const { name, make } of overrides()) {
    const stock = tf.getKernel(name, WASM);
    if (stock) tf.unregisterKernel(name, WASM);
    const ours = make(stock);
    tf.registerKernel({
      kernelName: name,
      backendName: WASM,
      kernelFunc: stock ? (args) => (fast ? ours : stock.kernelFunc)(args) : ours,
      // A backend created later (after tf.removeBackend) must still set up the stock kernel we fall back on.
      ...(stock?.setupFunc ? { setupFunc: stock.setupFunc } : {}),
      ...(stock?.disposeFunc ? { disposeFunc: stock.disposeFunc } : {}),
    });
    names.push(name);
  }
  // Gradients are global in tfjs: these check the active backend and run the stock gradient elsewhere.
  const gradients: [string, (stock: tf.GradConfig) => tf.GradConfig][] = [
    [tf.FusedBatchNorm, (stock) => fastBatchNormGradient(stock, [WASM])],
    [tf.Sum, (stock) => broadcastReductionGradient(stock, [WASM], leadingReduction)],
    [tf.Mean, (stock) => broadcastReductionGradient(stock, [WASM], leadingReduction)],
  ];
  for (const [name, make] of gradients) {
    const stock = tf.getGradient(name);
    if (!stock) continue;
    const ours = make(stock);
    tf.unregisterGradient(name);
    tf.registerGradient({ ...ours, gradFunc: (dy, saved, attrs) => (fast ? ours : stock).gradFunc(dy, saved, attrs) });
    names.push(`${name} gradient`);
  }
  installed = names;
  return names;
}
