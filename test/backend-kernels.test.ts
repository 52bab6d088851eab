import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { relativeError } from './helpers';

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

async function on<T extends tf.TensorContainer>(backend: 'cpu' | 'wasm', fn: () => T): Promise<T> {
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
  { batch: 2, h: 9, w: 9, inC: 8, k: 5, outC: 32, stride: 1, pad: 'valid' },
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

  it.each([[1, 'same'], [2, 'valid']] as [number, 'same' | 'valid'][])('NCHW data (stride %i, %s)', async (stride, pad) => {
    const xShape = [2, 3, 9, 8]; // batch, channels, height, width
    const fShape = [3, 3, 3, 5];
    const out = (d: number): number => (pad === 'same' ? Math.ceil(d / stride) : Math.floor((d - 3) / stride) + 1);
    const dyShape = [2, 5, out(9), out(8)];
    const attrs = { strides: [stride, stride], pad, dataFormat: 'NCHW' };
    await matchesCpu(() => {
      const x = tf.tensor(randomArray(2 * 3 * 9 * 8, 21), xShape);
      const f = tf.tensor(randomArray(3 * 3 * 3 * 5, 22), fShape);
      const dy = tf.tensor(randomArray(dyShape.reduce((a, b) => a * b, 1), 23), dyShape);
      return [
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor,
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: f }, { ...attrs, inputShape: xShape }) as tf.Tensor,
      ];
    });
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

/** Run `fn` on cpu and on wasm with the same inputs and compare every output. */
async function matchesCpu(fn: () => tf.Tensor | tf.Tensor[], tolerance = 1e-4): Promise<void> {
  const read = (): { data: Float32Array; shape: number[] }[] => {
    const out = fn();
    return (Array.isArray(out) ? out : [out]).map((t) => ({ data: Float32Array.from(t.dataSync()), shape: t.shape }));
  };
  const ref = await on('cpu', read);
  const got = await on('wasm', read);
  expect(got.map((g) => g.shape)).toEqual(ref.map((r) => r.shape));
  got.forEach((g, i) => expect(relativeError(g.data, ref[i].data)).toBeLessThan(tolerance));
}

describe('other wasm training kernels match cpu', () => {
  const x4 = (shape: [number, number, number, number], seed: number): tf.Tensor4D => tf.tensor4d(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);

  it.each([
    [[0, 1, 2], false], [[0, 1, 2], true], [[0], false], [[2, 0, 1], false], [[0, 1, 2, 3], false], [[1, 2], false], [[3], true],
  ] as [number[], boolean][])('Sum and Mean over axes %j (keepDims %s), forward and gradient', async (axes, keepDims) => {
    await matchesCpu(() => {
      const x = x4([3, 5, 4, 6], 11);
      const g = tf.grads((a: tf.Tensor) => tf.add(tf.sum(tf.mul(tf.sum(a, axes, keepDims), 2)), tf.sum(tf.mean(a, axes, keepDims))));
      return [tf.sum(x, axes, keepDims), tf.mean(x, axes, keepDims), ...g([x])];
    });
  });

  it.each([
    [2, 2, 'valid', [2, 8, 8, 3]], [3, 2, 'same', [1, 7, 9, 4]], [5, 2, 'valid', [2, 13, 11, 2]], [3, 1, 'same', [1, 5, 6, 3]],
  ] as [number, number, 'valid' | 'same', [number, number, number, number]][])(
    'MaxPoolGrad window %i stride %i %s on %j, ties from ReLU zeros included',
    async (size, stride, pad, shape) => {
      await matchesCpu(() => {
        const x = tf.relu(x4(shape, 12)); // about half zeros: windows with tied maxima
        const dy = (y: tf.Tensor): tf.Tensor => tf.tensor(randomArray(y.size, 13), y.shape);
        return tf.grads((a: tf.Tensor) => {
          const y = tf.maxPool(a as tf.Tensor4D, size, stride, pad);
          return tf.sum(tf.mul(y, dy(y)));
        })([x]);
      });
    },
  );

  it.each([
    [false, false, [1, 5, 7], [1, 7, 3]], [true, false, [1, 7, 5], [1, 7, 3]], [false, true, [5, 7], [3, 7]],
    [true, true, [7, 5], [3, 7]], [false, false, [2, 5, 7], [2, 7, 3]], [false, true, [2, 4, 6], [1, 3, 6]],
  ] as [boolean, boolean, number[], number[]][])('BatchMatMul transposeA %s transposeB %s %j × %j', async (ta, tb, aShape, bShape) => {
    await matchesCpu(() => {
      const a = tf.tensor(randomArray(aShape.reduce((p, q) => p * q, 1), 14), aShape);
      const b = tf.tensor(randomArray(bShape.reduce((p, q) => p * q, 1), 15), bShape);
      return tf.matMul(a, b, ta, tb);
    });
  });

  it.each([
    // (tfjs cannot differentiate batchNorm without a scale, on any backend: always give one)
    ['4-D', [2, 5, 4, 6]],
    ['4-D, odd sizes', [3, 5, 3, 7]],
    ['2-D, as in dense layers', [16, 9]],
  ] as [string, number[]][])('batch-norm gradients (%s) for x, mean, variance, offset and scale', async (_name, shape) => {
    await matchesCpu(() => {
      const channels = shape[shape.length - 1];
      const x = tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), 16), shape);
      const { mean, variance } = tf.moments(x, shape.map((_, i) => i).slice(0, -1));
      const offset = tf.tensor1d(randomArray(channels, 17));
      const scale = tf.tensor1d(randomArray(channels, 18).map((v) => v + 1));
      const dy = tf.tensor(randomArray(x.size, 19), shape);
      const loss = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, sc: tf.Tensor): tf.Tensor =>
        tf.sum(tf.mul(tf.batchNorm(a, m, tf.abs(v), o, sc, 0.001), dy));
      return tf.grads(loss)([x, mean, variance, offset, scale]);
    });
  });

  it('Identity shares data: disposing a clone leaves the original intact', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor1d([1, 2, 3]);
    const before = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const b = tf.clone(a);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(before);
    b.dispose();
    expect(Array.from(a.dataSync())).toEqual([1, 2, 3]);
    a.dispose();
  });
});
