import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';

// The wasm training kernels against tfjs' reference cpu backend, on seeded random inputs.

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomArray(n: number, seed: number): Float32Array {
  const next = seeded(seed);
  return Float32Array.from({ length: n }, next);
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

async function on<T>(backend: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  return tf.tidy(fn);
}

beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.name).toBe('wasm');
});

interface ConvCase {
  batch: number; h: number; w: number; inC: number; k: number; outC: number; stride: number; pad: 'same' | 'valid';
}

const label = (c: ConvCase): string => `batch ${c.batch}, ${c.h}×${c.w}×${c.inC} → ${c.outC}, ${c.k}×${c.k} stride ${c.stride} ${c.pad}`;

const CASES: ConvCase[] = [
  { batch: 2, h: 9, w: 9, inC: 3, k: 3, outC: 4, stride: 1, pad: 'same' },
  { batch: 2, h: 9, w: 9, inC: 3, k: 3, outC: 4, stride: 2, pad: 'same' },
  { batch: 1, h: 10, w: 8, inC: 2, k: 5, outC: 3, stride: 2, pad: 'valid' },
  { batch: 1, h: 11, w: 11, inC: 2, k: 5, outC: 3, stride: 1, pad: 'valid' },
  { batch: 3, h: 7, w: 6, inC: 4, k: 3, outC: 5, stride: 2, pad: 'valid' },
  { batch: 1, h: 8, w: 8, inC: 3, k: 5, outC: 2, stride: 2, pad: 'same' },
  { batch: 4, h: 13, w: 12, inC: 8, k: 3, outC: 16, stride: 1, pad: 'same' },
  { batch: 1, h: 6, w: 5, inC: 1, k: 5, outC: 7, stride: 1, pad: 'same' },
];

describe('conv gradient kernels on wasm match cpu', () => {
  it.each(CASES.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const xShape = [c.batch, c.h, c.w, c.inC];
    const fShape = [c.k, c.k, c.inC, c.outC];
    const xData = randomArray(c.batch * c.h * c.w * c.inC, 1);
    const fData = randomArray(c.k * c.k * c.inC * c.outC, 2);
    const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
    const run = (): { dw: Float32Array; dx: Float32Array; dwShape: number[]; dxShape: number[] } => {
      const x = tf.tensor4d(xData, xShape as [number, number, number, number]);
      const f = tf.tensor4d(fData, fShape as [number, number, number, number]);
      const yShape = tf.conv2d(x, f, c.stride, c.pad).shape;
      const dy = tf.tensor(randomArray(yShape.reduce((a, b) => a * b, 1), 3), yShape);
      const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor;
      const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: f }, { ...attrs, inputShape: xShape }) as tf.Tensor;
      return { dw: dw.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dwShape: dw.shape, dxShape: dx.shape };
    };
    const ref = await on('cpu', run);
    const got = await on('wasm', run);
    expect(got.dwShape).toEqual(fShape);
    expect(got.dxShape).toEqual(xShape);
    expect(relativeError(got.dw, ref.dw)).toBeLessThan(1e-4);
    expect(relativeError(got.dx, ref.dx)).toBeLessThan(1e-4);
  });

  it('gives the same gradients as cpu through tf.grads of a strided conv (a different code path: the op)', async () => {
    const grads = (): Float32Array[] => {
      const x = tf.tensor4d(randomArray(2 * 12 * 12 * 3, 4), [2, 12, 12, 3]);
      const f = tf.tensor4d(randomArray(5 * 5 * 3 * 6, 5), [5, 5, 3, 6]);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').square().sum());
      return g([x, f]).map((t) => t.dataSync() as Float32Array);
    };
    const ref = await on('cpu', grads);
    const got = await on('wasm', grads);
    expect(relativeError(got[0], ref[0])).toBeLessThan(1e-4);
    expect(relativeError(got[1], ref[1])).toBeLessThan(1e-4);
  });
});
