import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { trainNet, crossEntropy, evaluateSplit, teacherProbabilities, TrainOptions } from '../src/train/trainer';
import { readTrainState, EMA_BIN, TRAIN_INFO } from '../src/train/state';
import { gatherBatch, drawAffine, warpFace, DEFAULT_AUGMENT } from '../src/train/augment';
import { Rng } from '../src/train/rng';
import { Sgd } from '../src/train/sgd';
import { Ema } from '../src/train/ema';
import { scheduledLr } from '../src/train/schedule';
import { buildNet } from '../src/models/nets';
import { loadModelDir } from '../src/models/io';
import { predictScores } from '../src/models/classifier';
import { TtaMode, cropOffsets, modelInputSize, predictViews } from '../src/models/crops';
import { facesToTensor } from '../src/preprocess/normalize';
import { runFer, tmpDir } from './helpers';
import { synthSplit, writePrepared } from './trainData';

const train = synthSplit(56, 1);
const val = synthSplit(28, 2);
const base: Omit<TrainOptions, 'out'> = {
  net: 2, data: { train, val }, width: 0.125, batchSize: 16, lr: 3e-3, augment: true, seed: 7,
};
/** The new recipe, every piece on. */
const recipe: Partial<TrainOptions> = {
  crop: 40, warpProb: 0.5, erase: 0.5, schedule: 'cosine', warmup: 1, labelSmoothing: 0.1, ema: 0.9, optimizer: 'sgd', lr: 0.02,
  convDropout: 0, headDropout: 0.3, bnRecalibrate: 32,
};

function weights(dir: string, file = 'weights.bin'): Float32Array {
  const b = fs.readFileSync(path.join(dir, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  await initBackend(process.env.FER_BACKEND ?? 'auto');
});

describe('augmentation: crops, warp probability, erasing', () => {
  const faces = synthSplit(4, 9);
  const px = 48 * 48;

  it('with the defaults draws and warps exactly as the original recipe (old runs resume on the same stream)', () => {
    const a = gatherBatch(faces.images, [0, 1, 2, 3], new Uint8Array(4 * px), new Rng(3), DEFAULT_AUGMENT);
    const rng = new Rng(3);
    const b = new Uint8Array(4 * px);
    for (let i = 0; i < 4; i++) warpFace(faces.images, i * px, b, i * px, drawAffine(rng, DEFAULT_AUGMENT));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('without augmentation gives the centre crop; with warp-prob 0 and no flip every face is an exact window of the original', () => {
    const c = gatherBatch(faces.images, [1], new Uint8Array(40 * 40), null, null, { crop: 40 });
    for (let y = 0; y < 40; y++) for (let x = 0; x < 40; x++) expect(c[y * 40 + x]).toBe(faces.images[px + (y + 4) * 48 + x + 4]);
    const noFlip = { ...DEFAULT_AUGMENT, flip: false };
    const out = gatherBatch(faces.images, [0, 1, 2, 3], new Uint8Array(4 * 44 * 44), new Rng(5), noFlip, { crop: 44, warpProb: 0 });
    const offsets = new Set<string>();
    for (let i = 0; i < 4; i++) {
      let found: string | null = null;
      for (let oy = 0; oy <= 4 && !found; oy++) {
        for (let ox = 0; ox <= 4 && !found; ox++) {
          let same = true;
          for (let y = 0; y < 44 && same; y++) for (let x = 0; x < 44 && same; x++) same = out[i * 1936 + y * 44 + x] === faces.images[i * px + (y + oy) * 48 + x + ox];
          if (same) found = `${oy},${ox}`;
        }
      }
      expect(found).not.toBeNull();
      offsets.add(found!);
    }
    // Random windows, not always the same one.
    expect(offsets.size).toBeGreaterThan(1);
  });

  it('warp-prob p warps about a fraction p of the faces; erase 1 overwrites one rectangle of each face', () => {
    const many = synthSplit(200, 4);
    const idx = Array.from({ length: 200 }, (_, i) => i);
    const noFlip = { ...DEFAULT_AUGMENT, flip: false };
    const out = gatherBatch(many.images, idx, new Uint8Array(200 * px), new Rng(8), noFlip, { warpProb: 0.3 });
    let untouched = 0;
    for (let i = 0; i < 200; i++) if (Buffer.from(out.subarray(i * px, (i + 1) * px)).equals(Buffer.from(many.images.subarray(i * px, (i + 1) * px)))) untouched += 1;
    expect(untouched).toBeGreaterThan(110);
    expect(untouched).toBeLessThan(170);

    const erased = gatherBatch(many.images, [0], new Uint8Array(px), new Rng(2), noFlip, { warpProb: 0, erase: 1 });
    const diff: [number, number][] = [];
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) if (erased[y * 48 + x] !== many.images[y * 48 + x]) diff.push([y, x]);
    expect(diff.length).toBeGreaterThan(0.01 * px);
    expect(diff.length).toBeLessThan(0.26 * px);
    const ys = diff.map((d) => d[0]);
    const xs = diff.map((d) => d[1]);
    const boxArea = (Math.max(...ys) - Math.min(...ys) + 1) * (Math.max(...xs) - Math.min(...xs) + 1);
    // Noise can equal the old pixel now and then; the changed pixels still fill their bounding box.
    expect(diff.length).toBeGreaterThan(0.9 * boxArea);
  });
});

describe('multi-crop test-time augmentation', () => {
  it('crop offsets: 5 distinct windows for a smaller net, one for a 48-px net', () => {
    expect(cropOffsets(44, '5crop')).toEqual([[2, 2], [0, 0], [0, 4], [4, 0], [4, 4]]);
    expect(cropOffsets(48, '10crop')).toEqual([[0, 0]]);
    expect(cropOffsets(44, 'flip')).toEqual([[2, 2]]);
    expect(() => cropOffsets(50, 'none')).toThrow(RangeError);
  });

  it('a 48-px net scores as before: flip = 10crop = the mean with the mirror, 5crop = none', () => {
    const model = buildNet(2, 3, { width: 0.125 });
    const faces = synthSplit(5, 6).images;
    const none = predictScores(model, faces, 5);
    const flip = predictScores(model, faces, 5, { tta: true });
    const manual = tf.tidy(() => {
      const x = facesToTensor(faces, 5);
      return (model.predict(x) as tf.Tensor).add(model.predict(tf.reverse(x, 2)) as tf.Tensor).div(2).dataSync() as Float32Array;
    });
    // The face and its mirror go through the net as one batch of 10 (CONCAT_VIEWS_MAX): the same scores up to rounding.
    expect(maxAbsDiff(flip, manual)).toBeLessThan(1e-6);
    expect(maxAbsDiff(predictScores(model, faces, 5, { tta: '10crop' }), flip)).toBe(0);
    expect(maxAbsDiff(predictScores(model, faces, 5, { tta: '5crop' }), none)).toBe(0);
    expect(maxAbsDiff(flip, none)).toBeGreaterThan(0);
    model.dispose();
  });

  it('a 44-px net sees the centre crop, and 5crop/10crop average the corner crops (± mirror)', () => {
    const model = buildNet(3, 3, { width: 0.125, inputSize: 44 });
    expect(modelInputSize(model)).toBe(44);
    const faces = synthSplit(3, 7).images;
    const views = (flip: boolean): Float32Array => tf.tidy(() => {
      const x = facesToTensor(faces, 3);
      const outs: tf.Tensor[] = [];
      for (const [y, xo] of [[2, 2], [0, 0], [0, 4], [4, 0], [4, 4]]) {
        const v = tf.slice(x, [0, y, xo, 0], [3, 44, 44, 1]);
        outs.push(model.predict(v) as tf.Tensor);
        if (flip) outs.push(model.predict(tf.reverse(v, 2)) as tf.Tensor);
      }
      return tf.addN(outs).div(outs.length).dataSync() as Float32Array;
    });
    const centre = tf.tidy(() => (model.predict(tf.slice(facesToTensor(faces, 3), [0, 2, 2, 0], [3, 44, 44, 1])) as tf.Tensor).dataSync() as Float32Array);
    expect(maxAbsDiff(predictScores(model, faces, 3), centre)).toBeLessThan(1e-6);
    expect(maxAbsDiff(predictScores(model, faces, 3, { tta: '5crop' }), views(false))).toBeLessThan(1e-6);
    expect(maxAbsDiff(predictScores(model, faces, 3, { tta: '10crop' }), views(true))).toBeLessThan(1e-6);
    expect(maxAbsDiff(views(true), centre)).toBeGreaterThan(1e-6);
    model.dispose();
  });

  it('a few faces\' TTA views go through the net as one batch, with the scores of one pass per view', () => {
    const model = buildNet(3, 3, { width: 0.125, inputSize: 44 });
    const faces = synthSplit(8, 9).images;
    const score = (count: number, mode: TtaMode, concatMax?: number): Float32Array => tf.tidy(() =>
      predictViews(model, facesToTensor(faces, count), mode, { concatMax }).dataSync() as Float32Array);
    let passes = 0;
    const predict = model.predict.bind(model);
    model.predict = ((x: tf.Tensor | tf.Tensor[], args?: Parameters<typeof predict>[1]) => { passes++; return predict(x, args); }) as typeof model.predict;
    const one = score(3, '10crop');
    expect(passes).toBe(1); // 3 faces × 10 views = 30 ≤ CONCAT_VIEWS_MAX
    passes = 0;
    const perView = score(3, '10crop', 0);
    expect(passes).toBe(10);
    expect(maxAbsDiff(one, perView)).toBeLessThan(1e-6);
    passes = 0;
    score(8, '10crop'); // 80 views > CONCAT_VIEWS_MAX: one pass per view, the batch's memory stays that of 8 faces
    expect(passes).toBe(10);
    model.dispose();
  });
});

describe('schedule, optimizer, EMA, label smoothing, head dropout', () => {
  it('warm-up rises linearly; cosine peaks after it and ends at minLr on the planned epoch', () => {
    const spec = { kind: 'cosine' as const, warmup: 2, epochs: 10, minLr: 1e-5 };
    expect(scheduledLr(spec, 0.1, 0, 10)).toBeCloseTo(0.1 / 20, 12);
    expect(scheduledLr(spec, 0.1, 9, 10)).toBeCloseTo(0.05, 12);
    expect(scheduledLr(spec, 0.1, 20, 10)).toBeCloseTo(0.1, 12);
    // Halfway through the decay: the mean of peak and floor.
    expect(scheduledLr(spec, 0.1, 60, 10)).toBeCloseTo((0.1 + 1e-5) / 2, 12);
    expect(scheduledLr(spec, 0.1, 100, 10)).toBeCloseTo(1e-5, 12);
    expect(scheduledLr(spec, 0.1, 150, 10)).toBeCloseTo(1e-5, 12);
    // Plateau: the current LR, scaled only during warm-up.
    expect(scheduledLr({ ...spec, kind: 'plateau' }, 0.1, 60, 10)).toBe(0.1);
    expect(scheduledLr({ ...spec, kind: 'plateau', warmup: 0 }, 0.1, 0, 10)).toBe(0.1);
  });

  it('SGD with Nesterov momentum matches the formula, with weight decay on decayed variables only', () => {
    const k = tf.variable(tf.tensor1d([1, -2]));
    const b = tf.variable(tf.tensor1d([0.5]));
    const sgd = new Sgd([k, b], [true, false], { momentum: 0.9, weightDecay: 0.1 });
    const g = [tf.tensor1d([0.2, 0.4]), tf.tensor1d([1])];
    sgd.apply(g, 0.1);
    sgd.apply(g, 0.1);
    // By hand, kernel element 0: g1 = 0.2 + 0.1·1 = 0.3, v1 = 0.3, w1 = 1 − 0.1·(0.3 + 0.27) = 0.943;
    // g2 = 0.2 + 0.0943 = 0.2943, v2 = 0.27 + 0.2943 = 0.5643, w2 = 0.943 − 0.1·(0.2943 + 0.50787).
    expect(k.dataSync()[0]).toBeCloseTo(0.943 - 0.1 * (0.2943 + 0.9 * 0.5643), 6);
    // Bias: no decay: v1 = 1, w1 = 0.5 − 0.1·1.9 = 0.31; v2 = 1.9, w2 = 0.31 − 0.1·(1 + 1.71).
    expect(b.dataSync()[0]).toBeCloseTo(0.31 - 0.1 * 2.71, 6);
    const st = sgd.getState();
    expect(st.step).toBe(2);
    expect(Array.from(st.m[1])).toEqual([expect.closeTo(1.9, 6)]);
    sgd.dispose();
    [k, b, ...g].forEach((t) => t.dispose());
  });

  it('EMA averages with a warming-up decay and swaps in and out exactly', () => {
    const w = tf.variable(tf.tensor1d([0, 0]));
    const ema = new Ema([w], 0.99);
    w.assign(tf.tensor1d([10, 20]));
    ema.update(); // d = min(0.99, 1/10) = 0.1
    expect(Array.from(w.dataSync())).toEqual([10, 20]);
    ema.swap();
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(9, 5), expect.closeTo(18, 5)]);
    ema.swap();
    expect(Array.from(w.dataSync())).toEqual([10, 20]);
    const bytes = ema.encode();
    const other = new Ema([w], 0.99);
    other.restore(bytes, 1, 'x');
    expect(other.currentDecay()).toBeCloseTo(2 / 11, 12);
    expect(() => other.restore(bytes.subarray(4), 1, 'ema.bin')).toThrow(/ema.bin: expected 8 bytes/);
    ema.dispose();
    other.dispose();
    w.dispose();
  });

  it('SWA (decay \'mean\') keeps the plain mean of the weights after every update, the initial ones not counted', () => {
    const w = tf.variable(tf.tensor1d([100, 100]));
    const swa = new Ema([w], 'mean');
    for (const v of [[1, 2], [3, 4], [8, 0]]) {
      w.assign(tf.tensor1d(v));
      swa.update();
    }
    expect(swa.currentDecay()).toBe(3 / 4);
    swa.swap();
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(4, 5), expect.closeTo(2, 5)]);
    swa.dispose();
    w.dispose();
  });

  it('label smoothing trains towards (1 − ε)·one-hot + ε/7', () => {
    const p = tf.tensor2d([[0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]]);
    const y = tf.tensor1d([0], 'int32');
    const e = 0.1;
    const pv = [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05];
    const expected = -pv.reduce((a, q, k) => a + ((k === 0 ? 1 - e : 0) + e / 7) * Math.log(q), 0);
    expect(crossEntropy(p, y, null, e).dataSync()[0]).toBeCloseTo(expected, 5);
  });

  it('distillation mixes the teachers\' probabilities into the smoothed target: (1 − a)·target + a·probs', () => {
    const pv = [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05];
    const qv = [0.2, 0.05, 0.05, 0.4, 0.1, 0.1, 0.1];
    const p = tf.tensor2d([pv]);
    const y = tf.tensor1d([0], 'int32');
    const e = 0.1;
    const a = 0.7;
    const expected = -pv.reduce((acc, q, k) => acc + ((1 - a) * ((k === 0 ? 1 - e : 0) + e / 7) + a * qv[k]) * Math.log(q), 0);
    expect(crossEntropy(p, y, null, e, { probs: tf.tensor2d([qv]), weight: a }).dataSync()[0]).toBeCloseTo(expected, 5);
    // Weight 1: the labels no longer count.
    const y6 = tf.tensor1d([6], 'int32');
    const pure = crossEntropy(p, y6, null, e, { probs: tf.tensor2d([qv]), weight: 1 }).dataSync()[0];
    expect(pure).toBeCloseTo(-pv.reduce((acc, q, k) => acc + qv[k] * Math.log(q), 0), 5);
  });

  it('--conv-dropout 0 keeps dropout in the head only; --head-dropout sets its rate', () => {
    const rates = (m: tf.LayersModel): number[] => m.layers.filter((l) => l.getClassName() === 'Dropout').map((l) => (l as unknown as { rate: number }).rate);
    const plain = buildNet(3, 1, { width: 0.125 });
    expect(rates(plain)).toEqual([0.2, 0.3, 0.4, 0.5]);
    const head = buildNet(3, 1, { width: 0.125, convDropout: 0, headDropout: 0.3 });
    expect(rates(head)).toEqual([0.3]);
    expect(head.countParams()).toBe(plain.countParams());
    plain.dispose();
    head.dispose();
  });
});

describe('trainNet with the new recipe', () => {
  it('learns with crops, cosine, SGD, EMA and erasing; best/ is the EMA model at the crop size', async () => {
    const out = tmpDir();
    const before = tf.memory().numTensors;
    const r = await trainNet({ ...base, ...recipe, out, epochs: 6, batchSize: 8 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.history[5].loss).toBeLessThan(r.history[0].loss);
    expect(r.best!.val_acc).toBeGreaterThan(0.4);
    // Cosine: LR at the end of epoch 1 is the peak after warm-up, then it falls to the floor at epoch 6.
    const lrs = r.history.map((h) => h.lr);
    expect(lrs[0]).toBeCloseTo(0.02, 10);
    // The last batch is one step short of the end of the half cosine.
    expect(lrs[5]).toBeGreaterThan(1e-5);
    expect(lrs[5]).toBeLessThan(1e-4);
    for (let i = 1; i < 6; i++) expect(lrs[i]).toBeLessThan(lrs[i - 1]);
    expect(r.history.every((h) => typeof h.rawValAcc === 'number')).toBe(true);
    const csv = fs.readFileSync(path.join(out, 'net2', 'history.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('epoch,loss,acc,val_loss,val_acc,lr,seconds,imgPerSec,peakRssMB,lrChangedBy,rawValAcc');
    expect(Number(csv[1].split(',')[10])).toBe(r.history[0].rawValAcc);
    const info = JSON.parse(fs.readFileSync(path.join(r.dirs.best, TRAIN_INFO), 'utf8'));
    expect(info.weights).toBe('ema');
    expect(info.settings).toMatchObject({ crop: 40, optimizer: 'sgd', schedule: 'cosine', ema: 0.9, plannedEpochs: 6, weightDecay: 5e-4 });
    const best = await loadModelDir(r.dirs.best);
    expect(modelInputSize(best)).toBe(40);
    expect((await evaluateSplit(best, val)).acc).toBeCloseTo(r.best!.val_acc, 6);
    best.dispose();
    expect(fs.existsSync(path.join(r.dirs.last, EMA_BIN))).toBe(true);
  });

  it('resume is exact for the new state too: EMA weights, momentum, schedule position', async () => {
    const o = { ...base, ...recipe, batchSize: 8 };
    const straight = tmpDir();
    await trainNet({ ...o, out: straight, epochs: 3 });
    const cut = tmpDir();
    // Stopped after the first batch of epoch 2.
    const abort = new AbortController();
    const first = await trainNet({ ...o, out: cut, epochs: 3, signal: abort.signal, onBatch: (b) => { if (b.epoch === 2 && b.batch === 1) abort.abort(); } });
    expect(first.interrupted).toBe(true);
    // Resumed with other recipe values: the saved ones win.
    const r = await trainNet({ ...base, out: cut, epochs: 3, resume: true, crop: 44, optimizer: 'adamw', ema: 0 });
    expect(r.epochs).toBe(3);
    const a = path.join(straight, 'net2', 'last');
    const c = path.join(cut, 'net2', 'last');
    expect(maxAbsDiff(weights(c), weights(a))).toBeLessThan(1e-5);
    expect(maxAbsDiff(weights(c, EMA_BIN), weights(a, EMA_BIN))).toBeLessThan(1e-5);
    expect(maxAbsDiff(weights(c, 'optimizer.bin'), weights(a, 'optimizer.bin'))).toBeLessThan(1e-5);
    expect(readTrainState(c).state.ema).toEqual(readTrainState(a).state.ema);
    expect(r.history.map((h) => h.lr)).toEqual(JSON.parse(fs.readFileSync(path.join(straight, 'net2', 'history.json'), 'utf8')).map((h: { lr: number }) => h.lr));
  });

  it('a state written before the recipe fields existed resumes as the original recipe', async () => {
    const out = tmpDir();
    const straight = tmpDir();
    await trainNet({ ...base, out: straight, epochs: 2 });
    await trainNet({ ...base, out, epochs: 1 });
    const file = path.join(out, 'net2', 'last', 'train-state.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const k of ['optimizer', 'momentum', 'schedule', 'warmup', 'plannedEpochs', 'labelSmoothing', 'crop', 'warpProb', 'erase', 'convDropout', 'headDropout', 'ema']) {
      delete json.settings[k];
    }
    fs.writeFileSync(file, JSON.stringify(json));
    await trainNet({ ...base, out, epochs: 2, resume: true, crop: 40, schedule: 'cosine' });
    expect(maxAbsDiff(weights(path.join(out, 'net2', 'last')), weights(path.join(straight, 'net2', 'last')))).toBeLessThan(1e-5);
  });

  it('rejects recipe values that cannot work, naming the flag', async () => {
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, crop: 100 })).rejects.toThrow(/^--crop 100: expected an integer ≥ 8 and ≤ 48/);
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, ema: 0.99, bnRecalibrate: 0 })).rejects.toThrow(/--ema needs --bn-recalibrate/);
    await expect(trainNet({ ...base, net: 1, out: tmpDir(), epochs: 1, crop: 40 })).rejects.toThrow(/--crop 40: net 1 cannot take a 40-px input/);
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, ema: 0.99, swa: true })).rejects.toThrow(/^--ema and --swa are two ways to average/);
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, swa: true, bnRecalibrate: 0 })).rejects.toThrow(/^--swa needs --bn-recalibrate > 0/);
  });
});

describe('fine-tuning a trained model (init) with a constant LR', () => {
  const trainable = async (dir: string): Promise<Float32Array[]> => {
    const m = await loadModelDir(dir);
    const w = m.trainableWeights.map((v) => v.read().dataSync() as Float32Array);
    m.dispose();
    return w;
  };
  const diff = (a: Float32Array[], b: Float32Array[]): number => Math.max(...a.map((x, i) => maxAbsDiff(x, b[i])));

  it('starts from the model\'s weights, not random ones; the LR stays at --lr; the state records where it started', async () => {
    const first = tmpDir();
    const trained = await trainNet({ ...base, out: first, epochs: 2 });
    const from = await trainable(trained.dirs.best);
    // At an LR of 1e-9 one epoch leaves the weights where they started: those of the given model.
    const tuned = await trainNet({ ...base, out: tmpDir(), epochs: 2, seed: 99, init: trained.dirs.best, schedule: 'constant', lr: 1e-9 });
    expect(diff(await trainable(tuned.dirs.last), from)).toBeLessThan(1e-6);
    expect(tuned.history.map((h) => h.lr)).toEqual([1e-9, 1e-9]);
    // The same run without init starts from the seed's random weights, far from the trained ones.
    const fresh = await trainNet({ ...base, out: tmpDir(), epochs: 2, seed: 99, schedule: 'constant', lr: 1e-9 });
    expect(diff(await trainable(fresh.dirs.last), from)).toBeGreaterThan(1e-2);
    expect(tuned.history[1].val_acc).toBeCloseTo(trained.best!.val_acc, 6);
    expect(readTrainState(tuned.dirs.last).state.settings).toMatchObject({ init: path.resolve(trained.dirs.best), schedule: 'constant' });
  });

  it('--swa validates and keeps the mean of the weights as best; resume continues the mean exactly', async () => {
    const first = await trainNet({ ...base, out: tmpDir(), epochs: 1 });
    const o = { ...base, init: first.dirs.best, schedule: 'constant' as const, lr: 1e-3, swa: true, batchSize: 8 };
    const straight = await trainNet({ ...o, out: tmpDir(), epochs: 2 });
    expect(straight.history.every((h) => typeof h.rawValAcc === 'number')).toBe(true);
    const info = JSON.parse(fs.readFileSync(path.join(straight.dirs.best, TRAIN_INFO), 'utf8'));
    expect(info.weights).toBe('swa');
    expect(info.settings).toMatchObject({ swa: true, ema: 0 });
    // 2 epochs of 56 faces at 8 a batch: the mean of 14 updates.
    expect(readTrainState(straight.dirs.last).state.ema).toEqual({ updates: 14 });
    const abort = new AbortController();
    const cut = tmpDir();
    await trainNet({ ...o, out: cut, epochs: 2, signal: abort.signal, onBatch: (b) => { if (b.epoch === 2 && b.batch === 3) abort.abort(); } });
    const r = await trainNet({ ...base, out: cut, epochs: 2, resume: true });
    expect(maxAbsDiff(weights(path.join(cut, 'net2', 'last'), EMA_BIN), weights(straight.dirs.last, EMA_BIN))).toBeLessThan(1e-5);
    expect(r.best!.val_acc).toBeCloseTo(straight.best!.val_acc, 6);
  });

  it('a model of another width, a folder without one, or init with resume is a one-line error naming it', async () => {
    const out = tmpDir();
    const r = await trainNet({ ...base, out, epochs: 1 });
    await expect(trainNet({ ...base, width: 0.25, out: tmpDir(), epochs: 1, init: r.dirs.best }))
      .rejects.toThrow(/^--init .*best: its weights do not fit net 2 at --width 0\.25 --crop 48/);
    const empty = tmpDir();
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, init: empty })).rejects.toThrow(/^--init: .*no model\.json/);
    await expect(trainNet({ ...base, out, epochs: 2, resume: true, init: r.dirs.best })).rejects.toThrow(/--init starts a new run.*--resume/);
  });
});

describe('knowledge distillation (teacher)', () => {
  it('the teachers\' probabilities are the mean of each teacher\'s flip-TTA scores on the training faces', async () => {
    const a = await trainNet({ ...base, out: tmpDir(), epochs: 1 });
    const b = await trainNet({ ...base, out: tmpDir(), epochs: 1, seed: 8, crop: 44 });
    const probs = await teacherProbabilities([a.dirs.best, b.dirs.best], train);
    expect(probs.length).toBe(train.count * 7);
    const per: Float32Array[] = [];
    for (const dir of [a.dirs.best, b.dirs.best]) {
      const m = await loadModelDir(dir);
      per.push(predictScores(m, train.images, train.count, { tta: 'flip' }));
      m.dispose();
    }
    expect(maxAbsDiff(probs, Float32Array.from(per[0], (x, i) => (x + per[1][i]) / 2))).toBeLessThan(1e-5);
  });

  it('a student taught by a teacher learns the teacher\'s classes even from wrong labels; the run keeps its teachers', async () => {
    const teacher = await trainNet({ ...base, ...recipe, ema: 0, out: tmpDir(), epochs: 6, batchSize: 8 });
    expect(teacher.best!.val_acc).toBeGreaterThan(0.4);
    // The same faces, every label moved to the next class.
    const wrong = { ...train, labels: Uint8Array.from(train.labels, (l) => (l + 1) % 7) };
    const o = { ...base, ...recipe, ema: 0, data: { train: wrong, val }, epochs: 10, batchSize: 8 };
    const taught = await trainNet({ ...o, out: tmpDir(), teacher: [teacher.dirs.best], teacherWeight: 1 });
    const misled = await trainNet({ ...o, out: tmpDir() });
    // Scored against the true val labels: the taught student follows its teacher, the other one the wrong labels.
    expect(taught.best!.val_acc).toBeGreaterThan(0.4);
    expect(misled.history[9].val_acc).toBeLessThan(0.2);
    expect(taught.history[9].val_acc).toBeGreaterThan(misled.history[9].val_acc + 0.2);
    expect(readTrainState(taught.dirs.last).state.settings).toMatchObject({ teacher: [path.resolve(teacher.dirs.best)], teacherWeight: 1 });
    expect(JSON.parse(fs.readFileSync(path.join(taught.dirs.best, TRAIN_INFO), 'utf8')).settings.teacher).toEqual([path.resolve(teacher.dirs.best)]);
  });

  it('a distilled run cut mid-epoch resumes exactly (the teachers scored again from the saved directories)', async () => {
    const t = await trainNet({ ...base, out: tmpDir(), epochs: 1 });
    const o = { ...base, teacher: [t.dirs.best], teacherWeight: 0.5, batchSize: 8, seed: 12 };
    const straight = await trainNet({ ...o, out: tmpDir(), epochs: 2 });
    const abort = new AbortController();
    const cut = tmpDir();
    await trainNet({ ...o, out: cut, epochs: 2, signal: abort.signal, onBatch: (b) => { if (b.epoch === 2 && b.batch === 3) abort.abort(); } });
    const ignored: string[] = [];
    const r = await trainNet({ ...base, out: cut, epochs: 2, resume: true, teacherWeight: 0.9, onResume: (i) => ignored.push(...i.ignored) });
    expect(ignored).toContain('teacherWeight');
    expect(ignored).not.toContain('teacher');
    expect(maxAbsDiff(weights(r.dirs.last), weights(straight.dirs.last))).toBeLessThan(1e-5);
    expect(r.history[1].loss).toBeCloseTo(straight.history[1].loss, 5);
  });

  it('a teacher that is not a model, or a weight without a teacher or out of (0, 1], is a one-line error', async () => {
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, teacher: [tmpDir()] })).rejects.toThrow(/^--teacher: .*no model\.json/);
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, teacherWeight: 0.5 })).rejects.toThrow(/^--teacher-weight is the teachers' share of the target: give --teacher too/);
    const t = await trainNet({ ...base, out: tmpDir(), epochs: 1 });
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, teacher: [t.dirs.best], teacherWeight: 1.5 })).rejects.toThrow(/^--teacher-weight 1\.5: expected a number in \(0, 1\]/);
  });
});

describe('fer train / fer eval (CLI) with the recipe flags', () => {
  it('bad recipe flags are exit 2 with one line', () => {
    for (const [args, msg] of [
      [['--crop', '100'], /--crop 100: expected an integer ≥ 8 and ≤ 48/],
      [['--ema', '0.3'], /--ema 0\.3: expected 0 \(off\) or a decay in \[0\.5, 1\)/],
      [['--warp-prob', '1.5'], /--warp-prob 1\.5: expected a number ≥ 0 and ≤ 1/],
      [['--schedule', 'linear'], /--schedule.*linear.*plateau, cosine/],
      [['--optimizer', 'rmsprop'], /--optimizer.*rmsprop.*adamw, sgd/],
      [['--ema', '0.999', '--bn-recalibrate', '0'], /--ema needs --bn-recalibrate > 0/],
      [['--init', 'checkpoints/net2/best', '--resume'], /--init starts a new run from a trained model; --resume continues/],
      [['--teacher-weight', '0.5'], /--teacher-weight is the teachers' share of the target: give --teacher too/],
      [['--teacher-weight', '2', '--teacher', 'x'], /--teacher-weight 2: expected a number in \(0, 1\]/],
      [['--teacher', 'a,,b'], /--teacher a,,b: expected model directories separated by commas/],
    ] as [string[], RegExp][]) {
      const data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(16, 3), val });
      const r = runFer(['train', '--net', '2', '--width', '0.125', '--data', data, '--out', tmpDir(), '--epochs', '1', ...args]);
      expect({ args, status: r.status }).toEqual({ args, status: 2 });
      expect(r.stderr).toMatch(msg);
      // One line (commander's own choice errors add its usual '(run with --help for usage)' hint), no stack.
      expect(r.stderr.trim().split('\n')[0]).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('trains a cropped net and evaluates it with 10-crop TTA; an unknown --tta mode is exit 2', () => {
    const data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(32, 3), val });
    const out = tmpDir();
    const t = runFer(['train', '--net', '2', '--width', '0.125', '--data', data, '--out', out, '--epochs', '1', '--batch-size', '8', '--crop', '44',
      '--schedule', 'cosine', '--ema', '0.9', '-q']);
    expect(t.status).toBe(0);
    const plain = runFer(['eval', '--data', data, '--models', out, '--split', 'val', '--json', '-q']);
    const multi = runFer(['eval', '--data', data, '--models', out, '--split', 'val', '--tta', '10crop', '--json', '-q']);
    expect(plain.status).toBe(0);
    expect(multi.status).toBe(0);
    const p = JSON.parse(plain.stdout);
    const m = JSON.parse(multi.stdout);
    expect(p).toMatchObject({ tta: false, ttaMode: 'none' });
    expect(m).toMatchObject({ tta: true, ttaMode: '10crop' });
    // Ten views change the scores (and so the log loss), on the same images.
    expect(m.models[0].metrics.logLoss).not.toBe(p.models[0].metrics.logLoss);
    const bad = runFer(['eval', '--data', data, '--models', out, '--split', 'val', '--tta', '3crop']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^fer: --tta 3crop: choose one of none, flip, 5crop, 10crop/);
  });
});
