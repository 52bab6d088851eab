import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterAsConv, conv2dBackpropInputAsConv } from './convGrad';

const WASM = 'wasm';

function input(inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`kernel input ${name} missing`);
  return t;
}

/**
 * The gradient kernels the wasm backend lacks or runs slowly, built on its fast XNNPACK ops. Registered after
 * the backend is initialised (the stock kernels' setup must have run: they remain the fallback).
 */
function overrides(): tf.KernelConfig[] {
  return [
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName: WASM,
      kernelFunc: ({ inputs, backend, attrs }) => conv2dBackpropFilterAsConv(backend as tf.KernelBackend, WASM, input(inputs, 'x'), input(inputs, 'dy'), attrs ?? {}),
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName: WASM,
      kernelFunc: ({ inputs, backend, attrs }) => conv2dBackpropInputAsConv(backend as tf.KernelBackend, WASM, input(inputs, 'dy'), input(inputs, 'filter'), attrs ?? {}),
    },
  ];
}

let installed: string[] | undefined;

/** Install the training kernels for the wasm backend (idempotent). Returns the kernel names replaced/added. */
export function installWasmTrainingKernels(): string[] {
  if (installed) return installed;
  const names: string[] = [];
  for (const config of overrides()) {
    if (tf.getKernel(config.kernelName, WASM)) tf.unregisterKernel(config.kernelName, WASM);
    tf.registerKernel(config);
    names.push(config.kernelName);
  }
  installed = names;
  return names;
}
