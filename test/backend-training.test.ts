import * as tf from '@tensorflow/tfjs';
import { initBackend, setFastWasmKernels } from '../src/backend';
import { relativeError } from './helpers';

// Training on the wasm backend end to end: a tiny CNN with every layer kind the fer nets use.

const SIZE = 12;
const CLASSES = 3;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Images of three easy classes (bright top half, bright left half, bright centre) plus noise. */
function tinyDataset(count: number, seed: number): { x: Float32Array; labels: number[] } {
  const rand = seeded(seed);
  const x = new Float32Array(count * SIZE * SIZE);
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const label = n % CLASSES;
    labels.push(label);
    for (let r = 0; r < SIZE; r++) {
      for (let c = 0; c < SIZE; c++) {
        const on = label === 0 ? r < SIZE / 2 : label === 1 ? c < SIZE / 2 : Math.abs(r - SIZE / 2) < 3 && Math.abs(c - SIZE / 2) < 3;
        x[(n * SIZE + r) * SIZE + c] = (on ? 0.8 : 0.1) + 0.2 * (rand() - 0.5);
      }
    }
  }
  return { x, labels };
}

function tinyNet(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [SIZE, SIZE, 1], filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.activation({ activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 6, kernelSize: 5, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dropout({ rate: 0 }));
  m.add(tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

const data = tinyDataset(24, 7);

function batch(): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  return {
    xs: tf.tensor4d(data.x, [data.labels.length, SIZE, SIZE, 1]),
    ys: tf.oneHot(tf.tensor1d(data.labels, 'int32'), CLASSES) as tf.Tensor2D,
  };
}

/** Gradients of the loss for the given weights, on the active backend. */
function firstStepGradients(weights: Float32Array[]): Float32Array[] {
  const model = tinyNet();
  model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
  return tf.tidy(() => {
    const { xs, ys } = batch();
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, (model.apply(xs, { training: true }) as tf.Tensor)).mean() as tf.Scalar, vars);
    return vars.map((v) => grads[v.name].dataSync() as Float32Array);
  });
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('training on wasm', () => {
  it('computes the same first-step gradients as the cpu backend', async () => {
    await tf.setBackend('cpu');
    const weights = tinyNet().getWeights().map((w) => w.dataSync() as Float32Array);
    const ref = firstStepGradients(weights);
    await tf.setBackend('wasm');
    const got = firstStepGradients(weights);
    expect(got).toHaveLength(ref.length);
    for (let i = 0; i < ref.length; i++) expect(relativeError(got[i], ref[i])).toBeLessThan(1e-4);
  });

  it('gives the same gradients with the stock wasm kernels switched back in (setFastWasmKernels)', async () => {
    await tf.setBackend('wasm');
    const weights = tinyNet().getWeights().map((w) => w.dataSync() as Float32Array);
    const fast = firstStepGradients(weights);
    setFastWasmKernels(false);
    try {
      const stock = firstStepGradients(weights);
      for (let i = 0; i < fast.length; i++) expect(relativeError(stock[i], fast[i])).toBeLessThan(1e-4);
    } finally {
      setFastWasmKernels(true);
    }
  });

  it('lowers the loss with model.fit', async () => {
    await tf.setBackend('wasm');
    const model = tinyNet();
    model.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const { xs, ys } = batch();
    const history = await model.fit(xs, ys, { epochs: 25, batchSize: 8, shuffle: false, verbose: 0 });
    const loss = history.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.5);
    expect((history.history.acc as number[]).slice(-1)[0]).toBeGreaterThan(0.9);
    tf.dispose([xs, ys]);
    model.dispose();
  });

  it('keeps the tensor and backend buffer counts flat over 100 training steps', async () => {
    await tf.setBackend('wasm');
    const model = tinyNet();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const { xs, ys } = batch();
    await model.trainOnBatch(xs, ys); // creates the optimizer's slots
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds();
    for (let i = 0; i < 100; i++) await model.trainOnBatch(xs, ys);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // Kernel intermediates live below the engine: a leak there shows only in the backend's own count.
    expect(backend.numDataIds()).toBe(buffersBefore);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
