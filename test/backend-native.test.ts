import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadNative, nativeCalls } from '../src/backend';
import { setNativeActive } from '../src/backend/native';
import { trainNet, TrainOptions } from '../src/train/trainer';
import { readTrainState } from '../src/train/state';
import { relativeError, tmpDir } from './helpers';
import { synthSplit } from './trainData';

// fer's oneDNN accelerator (native/, `npm run build:native`) against tfjs' reference cpu backend: every kernel
// it takes over, on the shapes of the wasm kernel tests, plus whole training runs. Skipped when not built.

const native = loadNative();
const describeNative = native.addon ? describe : describe.skip;
if (!native.addon) {
  // eslint-disable-next-line no-console
  console.warn(`skipping the native accelerator tests: ${native.reason} — apt-get install -y libdnnl-dev && npm run build:native`);
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

const randomArray = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, seeded(seed));
const rnd = (shape: number[], seed: number): tf.Tensor => tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Run `fn` on cpu and on wasm with the native kernels, compare every output, and return the native kernels used. */
async function matchesCpu(fn: () => tf.Tensor | tf.Tensor[], tolerance = 1e-4): Promise<Record<string, number>> {
  const read = (): { data: Float32Array; shape: number[] }[] => tf.tidy(() => {
    const out = fn();
    return (Array.isArray(out) ? out : [out]).map((t) => ({ data: Float32Array.from(t.dataSync()), shape: t.shape }));
  });
  await tf.setBackend('cpu');
  const ref = read();
  await tf.setBackend('wasm');
  nativeCalls(true);
  const got = read();
  const used = nativeCalls(true);
  expect(got.map((g) => g.shape)).toEqual(ref.map((r) => r.shape));
  got.forEach((g, i) => {
    expect(g.data.every(Number.isFinite)).toBe(true);
    if (tolerance === 0) expect(g.data).toEqual(ref[i].data);
    else expect(relativeError(g.data, ref[i].data)).toBeLessThan(tolerance);
  });
  return used;
}

describeNative('native accelerator kernels match cpu', () => {
  beforeAll(async () => {
    const info = await initBackend('native');
    expect(info.name).toBe('native');
    expect(info.description).toMatch(/^wasm\+onednn \(oneDNN \d+\.\d+\.\d+, [^,]+, \d+ threads?; wasm \(XNNPACK/);
  });

  interface ConvCase {
    batch: number; h: number; w: number; inC: number; k: number; outC: number; stride: number; pad: 'same' | 'valid';
  }
  const label = (c: ConvCase): string => `batch ${c.batch}, ${c.h}×${c.w}×${c.inC} → ${c.outC}, ${c.k}×${c.k} stride ${c.stride} ${c.pad}`;
  // The shapes of test/backend-kernels.test.ts, and two of fer's real layers.
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
    { batch: 2, h: 48, w: 48, inC: 1, k: 3, outC: 32, stride: 1, pad: 'same' },
    { batch: 1, h: 8, w: 8, inC: 32, k: 3, outC: 64, stride: 1, pad: 'same' },
  ];

  it.each(CASES.map((c) => [label(c), c] as const))('conv forward (plain and fused with bias + relu) and both gradients: %s', async (_name, c) => {
    const xShape = [c.batch, c.h, c.w, c.inC];
    const fShape = [c.k, c.k, c.inC, c.outC];
    const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
    const used = await matchesCpu(() => {
      const x = rnd(xShape, 1) as tf.Tensor4D;
      const f = rnd(fShape, 2) as tf.Tensor4D;
      const y = tf.conv2d(x, f, c.stride, c.pad);
      const fused = tf.fused.conv2d({ x, filter: f, strides: c.stride, pad: c.pad, bias: rnd([c.outC], 4), activation: 'relu' });
      const dy = rnd(y.shape, 3);
      const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor;
      const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: f }, { ...attrs, inputShape: xShape }) as tf.Tensor;
      return [y, fused, dw, dx];
    });
    expect(used).toEqual(expect.objectContaining({ Conv2D: 1, FusedConv2D: 1, Conv2DBackpropFilter: 1, Conv2DBackpropInput: 1 }));
  });

  it.each(['linear', 'relu6', 'leakyrelu', 'sigmoid', 'elu'] as const)('fused conv with activation %s', async (activation) => {
    const used = await matchesCpu(() => tf.fused.conv2d({
      x: rnd([2, 7, 7, 3], 5) as tf.Tensor4D, filter: tf.mul(rnd([3, 3, 3, 6], 6), 4) as tf.Tensor4D, strides: 1, pad: 'same', bias: rnd([6], 7), activation, leakyreluAlpha: 0.1,
    }));
    expect(used.FusedConv2D).toBe(1);
  });

  // Inference on fixed weights: from a filter's third call on, forward convolutions that oneDNN's Winograd
  // kernel covers (3×3, stride 1, channels in blocks of 16; AVX-512) take it, on the filter transformed once and
  // kept under the filter tensor's id. Checked against cpu on every call, with other filters of the same shape
  // (a new tensor reusing a disposed one's heap memory must not get the old one's weights) and activations.
  interface RepeatCase { batch: number; h: number; w: number; inC: number; outC: number; pad: 'same' | 'valid'; activation: 'linear' | 'relu' | 'relu6'; bias: boolean }
  const REPEATED: RepeatCase[] = [
    { batch: 8, h: 24, w: 24, inC: 32, outC: 64, pad: 'same', activation: 'relu', bias: true },
    { batch: 16, h: 12, w: 12, inC: 64, outC: 32, pad: 'same', activation: 'linear', bias: false },
    { batch: 8, h: 13, w: 11, inC: 16, outC: 48, pad: 'valid', activation: 'relu6', bias: true },
    { batch: 32, h: 6, w: 6, inC: 32, outC: 32, pad: 'same', activation: 'relu', bias: true },
    { batch: 1, h: 9, w: 9, inC: 16, outC: 16, pad: 'same', activation: 'relu', bias: true },
    { batch: 2, h: 48, w: 48, inC: 1, outC: 32, pad: 'same', activation: 'relu', bias: true },
  ];
  it.each(REPEATED.map((c) => [`batch ${c.batch}, ${c.h}×${c.w}×${c.inC} → ${c.outC}, 3×3 ${c.pad}, ${c.activation}${c.bias ? ' + bias' : ''}`, c] as const))(
    'repeated convolutions on fixed and changing filters match cpu: %s', async (_name, c) => {
      const addon = native.addon!;
      const x = rnd([c.batch, c.h, c.w, c.inC], 51);
      const bias = c.bias ? rnd([c.outC], 52) : undefined;
      const conv = (f: tf.Tensor): tf.Tensor => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: c.pad, bias, activation: c.activation });
      const seeds = [53, 54, 55];
      const expected: Float32Array[] = [];
      await tf.setBackend('cpu');
      for (const seed of seeds) expected.push(tf.tidy(() => Float32Array.from(conv(rnd([3, 3, c.inC, c.outC], seed)).dataSync())));
      await tf.setBackend('wasm');
      const filters = seeds.slice(0, 2).map((seed) => rnd([3, 3, c.inC, c.outC], seed));
      const winogradBefore = addon.info().winograd;
      nativeCalls(true);
      // Filter 0 four times, then 1 (same shape), 0 again, then 1 disposed and 2 made (free to take its memory).
      const order = [0, 0, 0, 0, 1, 1, 1, 0, 2, 2, 2];
      for (const [step, k] of order.entries()) {
        if (step === 8) {
          filters[1].dispose();
          filters.push(rnd([3, 3, c.inC, c.outC], seeds[2]));
        }
        const got = tf.tidy(() => conv(filters[k]).dataSync());
        expect(relativeError(got, expected[k])).toBeLessThan(1e-4);
      }
      expect(nativeCalls(true).FusedConv2D).toBe(order.length);
      const flops = 2 * c.batch * c.h * c.w * c.outC * 9 * c.inC;
      if (addon.info().isa === 'AVX-512' && c.inC % 16 === 0 && c.outC % 16 === 0 && c.batch >= 8 && flops >= 2e7) {
        expect(addon.info().winograd).toBeGreaterThan(winogradBefore);
      } else if (c.inC < 16 || c.batch === 1) {
        expect(addon.info().winograd).toBe(winogradBefore);
      }
      tf.dispose([x, bias, filters[0], filters[2]].filter((t): t is tf.Tensor => t !== undefined));
    });

  it('idBlock hands out a new block on every call, so module copies never reuse a cached filter id', () => {
    // fer's filter ids are idBlock() × 2^32 + a per-module counter; a second copy of fer's JS in the process
    // (worker thread, test runner module reset) that got the same block would hit the first copy's cached filters.
    const addon = native.addon!;
    const blocks = [addon.idBlock(), addon.idBlock(), addon.idBlock()];
    expect(blocks[1]).toBeGreaterThan(blocks[0]);
    expect(blocks[2]).toBeGreaterThan(blocks[1]);
    expect(Number.isSafeInteger(blocks[2] * 2 ** 32 + 2 ** 32 - 1)).toBe(true);
  });

  it('setWinograd(false) keeps convolutions direct; the results agree', async () => {
    const addon = native.addon!;
    const x = rnd([16, 12, 12, 64], 61) as tf.Tensor4D;
    const f = rnd([3, 3, 64, 64], 62) as tf.Tensor4D;
    const run = (): Float32Array => tf.tidy(() => Float32Array.from(tf.conv2d(x, f, 1, 'same').dataSync()));
    addon.setWinograd(false);
    try {
      const direct = [run(), run(), run()];
      expect(direct[2]).toEqual(direct[0]);
      addon.setWinograd(true);
      const results = [run(), run(), run()];
      expect(relativeError(results[2], direct[0])).toBeLessThan(1e-5);
    } finally {
      addon.setWinograd(true);
      tf.dispose([x, f]);
    }
  });

  it('dilated and explicitly padded convolutions', async () => {
    const used = await matchesCpu(() => {
      const x = rnd([2, 11, 10, 3], 24) as tf.Tensor4D;
      const f = rnd([3, 3, 3, 4], 25) as tf.Tensor4D;
      return [
        tf.conv2d(x, f, 1, 'same', 'NHWC', 2),
        tf.conv2d(x, f, 1, 'valid', 'NHWC', [2, 3]),
        tf.conv2d(x, f, 2, [[0, 0], [1, 2], [0, 1], [0, 0]]),
      ];
    });
    expect(used.Conv2D).toBe(3);
  });

  it('gives the same gradients as cpu through tf.grads of a strided conv', async () => {
    const used = await matchesCpu(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').square().sum())(
      [rnd([2, 12, 12, 3], 4), rnd([5, 5, 3, 6], 5)]));
    expect(used).toEqual(expect.objectContaining({ Conv2DBackpropFilter: 1, Conv2DBackpropInput: 1 }));
  });

  it('leaves NCHW convolutions to the wasm kernels (same results)', async () => {
    const used = await matchesCpu(() => {
      const x = rnd([2, 3, 9, 8], 21);
      const dy = rnd([2, 5, 9, 8], 23);
      return tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 5] }) as tf.Tensor;
    });
    expect(used.Conv2DBackpropFilter).toBeUndefined();
  });

  it.each([
    [false, false, [1, 5, 7], [1, 7, 3]], [true, false, [1, 7, 5], [1, 7, 3]], [false, true, [5, 7], [3, 7]],
    [true, true, [7, 5], [3, 7]], [false, false, [2, 5, 7], [2, 7, 3]], [false, true, [2, 4, 6], [1, 3, 6]],
    [true, false, [64, 300], [64, 256]], [false, true, [64, 256], [300, 256]],
  ] as [boolean, boolean, number[], number[]][])('BatchMatMul transposeA %s transposeB %s %j × %j', async (ta, tb, aShape, bShape) => {
    const used = await matchesCpu(() => tf.matMul(rnd(aShape, 14), rnd(bShape, 15), ta, tb));
    expect(used.BatchMatMul).toBe(1);
  });

  it.each(['linear', 'relu', 'elu'] as const)('fused matMul with bias and %s (dense layers)', async (activation) => {
    const used = await matchesCpu(() => tf.fused.matMul({ a: rnd([6, 9], 1), b: rnd([9, 5], 2), bias: rnd([5], 3), activation }));
    expect(used._FusedMatMul).toBe(1);
  });

  it.each([
    [2, 2, 'valid', [2, 8, 8, 3]], [3, 2, 'same', [1, 7, 9, 4]], [5, 2, 'valid', [2, 13, 11, 2]], [3, 1, 'same', [1, 5, 6, 3]],
    [3, 2, 'valid', [3, 11, 11, 5]], [2, 2, 'same', [1, 7, 7, 3]],
  ] as [number, number, 'valid' | 'same', [number, number, number, number]][])(
    'max and average pooling window %i stride %i %s on %j, forward and gradients (ties from ReLU zeros)',
    async (size, stride, pad, shape) => {
      const used = await matchesCpu(() => {
        const x = tf.relu(rnd(shape, 12)); // about half zeros: windows with tied maxima
        const dy = (y: tf.Tensor): tf.Tensor => rnd(y.shape, 13);
        const loss = (pool: typeof tf.maxPool) => (a: tf.Tensor): tf.Tensor => {
          const y = pool(a as tf.Tensor4D, size, stride, pad);
          return tf.sum(tf.mul(y, dy(y)));
        };
        return [tf.maxPool(x as tf.Tensor4D, size, stride, pad), tf.avgPool(x as tf.Tensor4D, size, stride, pad),
          ...tf.grads(loss(tf.maxPool))([x]), ...tf.grads(loss(tf.avgPool))([x])];
      });
      expect(used).toEqual(expect.objectContaining({ MaxPool: 2, AvgPool: 2, MaxPoolGrad: 1, AvgPoolGrad: 1 }));
    },
  );

  it.each([
    ['4-D', [2, 5, 4, 6]],
    ['4-D, odd sizes', [3, 5, 3, 7]],
    ['2-D, as in dense layers', [16, 9]],
    ['4-D, batch 1', [1, 6, 6, 32]],
  ] as [string, number[]][])('batch-norm forward and gradients (%s) for x, mean, variance, offset and scale', async (_name, shape) => {
    const used = await matchesCpu(() => {
      const channels = shape[shape.length - 1];
      const x = rnd(shape, 16);
      const { mean, variance } = tf.moments(x, shape.map((_, i) => i).slice(0, -1));
      const offset = rnd([channels], 17);
      const scale = tf.add(rnd([channels], 18), 1);
      const dy = rnd(shape, 19);
      const loss = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, sc: tf.Tensor): tf.Tensor =>
        tf.sum(tf.mul(tf.batchNorm(a, m, tf.abs(v), o, sc, 0.001), dy));
      return [tf.batchNorm(x, mean, variance, offset, scale, 0.001), ...tf.grads(loss)([x, mean, variance, offset, scale])];
    });
    expect(used).toEqual(expect.objectContaining({ FusedBatchNorm: 2, FerBatchNormSums: 1, Mean: expect.any(Number) }));
  });

  it.each([
    [[0, 1, 2], false], [[0, 1, 2], true], [[0], false], [[2, 0, 1], false], [[0, 1, 2, 3], false],
  ] as [number[], boolean][])('Sum and Mean over leading axes %j (keepDims %s)', async (axes, keepDims) => {
    const used = await matchesCpu(() => {
      const x = rnd([3, 5, 4, 6], 11);
      return [tf.sum(x, axes, keepDims), tf.mean(x, axes, keepDims)];
    });
    expect(used).toEqual({ Sum: 1, Mean: 1 });
  });

  it.each([
    ['same shapes', [4, 9, 7, 33], [4, 9, 7, 33]],
    ['a per-channel vector', [4, 9, 7, 33], [33]],
    ['a per-channel vector first', [1, 1, 33], [4, 9, 7, 33]],
    ['a scalar', [4, 9, 7, 33], []],
    ['a scalar first', [1], [2, 1000]],
    ['a broadcast left to wasm', [4, 9, 7, 33], [4, 1, 1, 33]],
  ] as [string, number[], number[]][])('Add, Sub, Multiply, RealDiv with %s', async (_name, aShape, bShape) => {
    const used = await matchesCpu(() => {
      const a = rnd(aShape, 41);
      const b = tf.add(rnd(bShape, 42), 2); // away from 0 for the division
      return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.sub(b, a), tf.div(b, a)];
    }, 1e-6);
    const native = ['Add', 'Sub', 'Multiply', 'RealDiv'].map((k) => used[k] ?? 0);
    // 2 Add (one makes b), 2 Sub, 1 Multiply, 2 RealDiv on native; when the broadcast is not a period only the
    // Add making b (whatever its size: small ops run natively too).
    expect(native).toEqual(bShape.length === 4 && bShape[1] === 1 ? [1, 0, 0, 0] : [2, 2, 1, 2]);
  });

  it('Relu, Square, Neg, Sqrt and Step (the ReLU gradient), NaN kept as tfjs does', async () => {
    const used = await matchesCpu(() => {
      const x = tf.concat([rnd([5000], 43), tf.tensor1d([NaN, 0, -0, Infinity, -Infinity])]);
      const finite = (t: tf.Tensor): tf.Tensor => tf.where(tf.isFinite(t), t, tf.fill(t.shape, -7));
      return [x.relu(), x.square(), x.neg(), tf.abs(x).sqrt(), tf.step(x)].map(finite);
    }, 1e-6);
    expect(used).toEqual(expect.objectContaining({ Relu: 1, Square: 1, Neg: 1, Sqrt: 1, Step: 1 }));
  });

  it.each([
    ['a classifier batch', [64, 7], 1],
    ['rows of a 3-D tensor', [3, 5, 10], 1],
    ['large logits (the row maximum is subtracted)', [40, 7], 80],
  ] as [string, number[], number][])('Softmax over the last axis: %s', async (_name, shape, scale) => {
    const used = await matchesCpu(() => tf.softmax(tf.mul(rnd(shape, 71), scale)), 1e-5);
    expect(used.Softmax).toBe(1);
  });

  it.each([
    ['a horizontal flip of NHWC faces (TTA)', [3, 6, 5, 1], [2], 1],
    ['a flip of channels-last features', [2, 4, 3, 5], [2], 1],
    ['the last axis, negative', [4, 7], [-1], 1],
    ['the first axis', [5, 3, 2], [0], 1],
    ['an axis and a size-1 axis', [2, 1, 6, 3], [1, 2], 1],
    ['two axes (left to wasm)', [2, 4, 6, 3], [1, 2], 0],
  ] as [string, number[], number[], number][])('Reverse: %s, float32 and int32', async (_name, shape, dims, natively) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const used = await matchesCpu(() => [
      tf.reverse(rnd(shape, 81), dims),
      tf.cast(tf.reverse(tf.tensor(Array.from({ length: n }, (_, i) => i * 3 - 7), shape, 'int32'), dims), 'float32'),
    ], 0);
    expect(used.Reverse ?? 0).toBe(2 * natively);
  });

  it('small element-wise ops run natively too, with the same bits as wasm', async () => {
    const a = rnd([64, 7], 72);
    const b = rnd([7], 73);
    const ops = (): Float32Array[] => tf.tidy(() => [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, tf.add(b, 2)), tf.relu(a), tf.sqrt(tf.abs(a))]
      .map((t) => Float32Array.from(t.dataSync())));
    nativeCalls(true);
    const got = ops();
    expect(nativeCalls(true)).toEqual(expect.objectContaining({ Add: 2, Sub: 1, Multiply: 1, RealDiv: 1, Relu: 1, Sqrt: 1 }));
    setNativeActive(false);
    try {
      expect(ops()).toEqual(got);
      expect(nativeCalls(true)).toEqual({});
    } finally {
      setNativeActive(true);
      tf.dispose([a, b]);
    }
  });

  it.each([
    ['a batch out of a bigger one', [4, 3, 5], [1, 0, 0], [2, 3, 5], true],
    ['rows of one image', [4, 3, 5], [2, 1, 0], [1, 2, 5], true],
    ['one element', [4, 3, 5], [3, 2, 4], [1, 1, 1], true],
    ['a strided block (left to wasm)', [4, 3, 5], [0, 1, 0], [4, 2, 5], false],
  ] as [string, number[], number[], number[], boolean][])('Slice: %s, float32 and int32', async (_name, shape, begin, sizes, contiguous) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const used = await matchesCpu(() => [
      tf.slice(rnd(shape, 8), begin, sizes),
      tf.cast(tf.slice(tf.tensor(Array.from({ length: n }, (_, i) => i), shape, 'int32'), begin, sizes), 'float32'),
    ], 0);
    expect(used.Slice ?? 0).toBe(contiguous ? 2 : 0);
  });
});

describeNative('native accelerator in training', () => {
  const train = synthSplit(56, 1);
  const val = synthSplit(28, 2);
  const base: Omit<TrainOptions, 'out'> = {
    net: 2, data: { train, val }, width: 0.125, batchSize: 16, lr: 3e-3, augment: true, seed: 7, onLog: () => undefined,
  };
  const weights = (dir: string): Float32Array => {
    const b = fs.readFileSync(path.join(dir, 'weights.bin'));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };

  afterAll(async () => {
    await initBackend('native');
  });

  it('a last checkpoint written with the accelerator resumes on plain wasm, and back', async () => {
    await initBackend('wasm');
    const straight = tmpDir();
    await trainNet({ ...base, out: straight, epochs: 3 });
    const ref = weights(path.join(straight, 'net2', 'last'));

    const out = tmpDir();
    await initBackend('native');
    nativeCalls(true);
    const first = await trainNet({ ...base, out, epochs: 1 });
    expect(Object.keys(nativeCalls(true))).toEqual(expect.arrayContaining(['FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'FerBatchNormSums']));
    expect(first.history).toHaveLength(1);
    await initBackend('wasm');
    const second = await trainNet({ ...base, out, epochs: 2, resume: true });
    expect(nativeCalls(true)).toEqual({});
    expect(second.history).toHaveLength(2);
    await initBackend('native');
    const third = await trainNet({ ...base, out, epochs: 3, resume: true });
    expect(third.history).toHaveLength(3);
    expect(readTrainState(path.join(out, 'net2', 'last')).state.epoch).toBe(3);
    // Native and wasm round differently (different summation orders); the runs stay together.
    const got = weights(path.join(out, 'net2', 'last'));
    expect(got.length).toBe(ref.length);
    expect(relativeError(got, ref)).toBeLessThan(2e-2);
    const straightLoss = (JSON.parse(fs.readFileSync(path.join(straight, 'net2', 'history.json'), 'utf8')) as { loss: number }[])[2].loss;
    expect(Math.abs(third.history[2].loss - straightLoss) / straightLoss).toBeLessThan(0.05);
  });

  it('keeps tensor, data and heap counts flat over 100 training steps', async () => {
    await initBackend('native');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 8, kernelSize: 3, padding: 'same', useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.averagePooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 7, activation: 'softmax' }),
      ],
    });
    const optimizer = tf.train.adam(1e-3);
    const x = rnd([8, 16, 16, 1], 31);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 0], 'int32'), 7);
    const step = (): void => {
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true);
      loss!.dataSync();
      loss!.dispose();
    };
    const backend = tf.backend() as unknown as { numDataIds(): number; wasm: { HEAPU8: Uint8Array } };
    for (let i = 0; i < 5; i++) step();
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, data: backend.numDataIds(), heap: backend.wasm.HEAPU8.length };
    nativeCalls(true);
    for (let i = 0; i < 100; i++) step();
    expect(nativeCalls(true).Conv2DBackpropFilter).toBe(200);
    expect({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, data: backend.numDataIds(), heap: backend.wasm.HEAPU8.length }).toEqual(before);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  });
});
