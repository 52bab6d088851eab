import * as tf from '@tensorflow/tfjs';

/**
 * Helpers for kernels that are built from other kernels of the same backend. They call kernel functions
 * directly (not tf ops), so nothing is recorded on the gradient tape and intermediates are freed at once.
 */
export type Backend = tf.KernelBackend;

/** Run the kernel `name` registered for `backendName`. */
export function runKernel(
  name: string,
  backendName: string,
  backend: Backend,
  // Concat and AddN take their inputs as an array.
  inputs: tf.NamedTensorInfoMap | tf.TensorInfo[],
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
  return config.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs }) as tf.TensorInfo;
}

/** A kernel runner bound to one backend that remembers intermediates so they can be freed together. */
export class KernelScope {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(readonly backend: Backend, readonly backendName: string) {}

  /** Run a kernel; its output is freed by `dispose()` unless it is returned with `keep`. */
  run(name: string, inputs: tf.NamedTensorInfoMap | tf.TensorInfo[], attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const out = runKernel(name, this.backendName, this.backend, inputs, attrs);
    this.temps.push(out);
    return out;
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  slice(x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  /** Take `out` out of the scope so `dispose()` leaves it alone. */
  keep(out: tf.TensorInfo): tf.TensorInfo {
    const i = this.temps.lastIndexOf(out);
    if (i >= 0) this.temps.splice(i, 1);
    return out;
  }

  dispose(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** Run `fn` with a scope whose intermediates are freed afterwards; the returned tensor is kept. */
export function withScope(backend: Backend, backendName: string, fn: (s: KernelScope) => tf.TensorInfo): tf.TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.keep(fn(scope));
  } finally {
    scope.dispose();
  }
}
