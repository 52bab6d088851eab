import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { trainNet, evaluateSplit, crossEntropy, TrainOptions } from '../src/train/trainer';
import { readTrainState, TRAIN_INFO } from '../src/train/state';
import { recalibrateBatchNorm } from '../src/train/batchnorm';
import { buildNet } from '../src/models/nets';
import { facesToTensor } from '../src/preprocess/normalize';
import { loadModelDir } from '../src/models/io';
import { ROOT, runFer, tmpDir } from './helpers';
import { synthSplit, writePrepared } from './trainData';

// Tiny nets (width 1/8) on a few synthetic images keep every run to seconds on the default backend.
const train = synthSplit(56, 1);
const val = synthSplit(28, 2);
const base: Omit<TrainOptions, 'out'> = {
  net: 2, data: { train, val }, width: 0.125, batchSize: 16, lr: 3e-3, augment: true, seed: 7,
};

function weights(dir: string): Float32Array {
  const b = fs.readFileSync(path.join(dir, 'weights.bin'));
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

describe('trainNet', () => {
  it('lowers the loss on a tiny dataset, writes checkpoints, history and curves, and leaks no tensors', async () => {
    const out = tmpDir();
    const before = tf.memory().numTensors;
    const r = await trainNet({ ...base, out, epochs: 8, batchSize: 8, augment: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.history).toHaveLength(8);
    expect(r.history[7].loss).toBeLessThan(r.history[0].loss * 0.7);
    // Chance is 1/7; the squares are easy to tell apart once learnt.
    expect(r.best!.val_acc).toBeGreaterThan(0.5);
    expect(r.interrupted).toBe(false);
    for (const f of ['best/model.json', 'best/weights.bin', 'best/train-info.json', 'last/model.json', 'last/train-state.json',
      'last/optimizer.bin', 'history.json', 'history.csv', 'curves.svg', 'curves.png']) {
      expect(fs.existsSync(path.join(out, 'net2', f))).toBe(true);
    }
    expect(fs.readFileSync(path.join(out, 'net2', 'history.csv'), 'utf8').trim().split('\n')).toHaveLength(9);
    expect(r.peakRssMB).toBeGreaterThan(0);
  });

  it('keeps the epoch with the best val_acc in best/, and its weights reproduce that accuracy', async () => {
    const out = tmpDir();
    const r = await trainNet({ ...base, out, epochs: 4 });
    const accs = r.history.map((h) => h.val_acc);
    const bestEpoch = accs.indexOf(Math.max(...accs)) + 1;
    expect(r.best).toEqual({ epoch: bestEpoch, val_acc: accs[bestEpoch - 1] });
    const info = JSON.parse(fs.readFileSync(path.join(out, 'net2', 'best', TRAIN_INFO), 'utf8'));
    expect(info.epoch).toBe(bestEpoch);
    const model = await loadModelDir(path.join(out, 'net2', 'best'));
    expect((await evaluateSplit(model, val)).acc).toBeCloseTo(accs[bestEpoch - 1], 6);
    model.dispose();
  });

  it('resume is exact: 2 epochs straight = 1 epoch + resume, and = an interrupted epoch + resume', async () => {
    const straight = tmpDir();
    await trainNet({ ...base, out: straight, epochs: 2 });

    const split = tmpDir();
    await trainNet({ ...base, out: split, epochs: 1 });
    // On resume the saved settings win over the options passed (here: a different LR and seed).
    const r = await trainNet({ ...base, out: split, epochs: 2, resume: true, lr: 1, seed: 99 });
    expect(r.epochs).toBe(2);

    // Ask to stop after two batches of the first epoch, as a SIGINT would.
    const cut = tmpDir();
    const abort = new AbortController();
    const first = await trainNet({ ...base, out: cut, epochs: 2, signal: abort.signal, onBatch: (b) => { if (b.batch === 2) abort.abort(); } });
    expect(first.interrupted).toBe(true);
    expect(readTrainState(path.join(cut, 'net2', 'last')).state.partial?.batch).toBe(2);
    await trainNet({ ...base, out: cut, epochs: 2, resume: true });

    const ref = weights(path.join(straight, 'net2', 'last'));
    expect(maxAbsDiff(weights(path.join(split, 'net2', 'last')), ref)).toBeLessThan(1e-5);
    expect(maxAbsDiff(weights(path.join(cut, 'net2', 'last')), ref)).toBeLessThan(1e-5);
    const h = (d: string): number[] => JSON.parse(fs.readFileSync(path.join(d, 'net2', 'history.json'), 'utf8')).map((e: { loss: number }) => e.loss);
    expect(h(split)[1]).toBeCloseTo(h(straight)[1], 5);
    expect(h(cut)[1]).toBeCloseTo(h(straight)[1], 5);
  });

  it('weights the loss by class with classWeights, as Keras does (sum of w·loss over the batch size)', async () => {
    const p = tf.tensor2d([[0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05], [0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1]]);
    const y = tf.tensor1d([0, 1], 'int32');
    const w = Float32Array.from([2, 0.5, 1, 1, 1, 1, 1]);
    expect(crossEntropy(p, y, null).dataSync()[0]).toBeCloseTo((-Math.log(0.5) - Math.log(0.2)) / 2, 5);
    expect(crossEntropy(p, y, w).dataSync()[0]).toBeCloseTo((-2 * Math.log(0.5) - 0.5 * Math.log(0.2)) / 2, 5);
    const skewed = synthSplit(28, 4);
    skewed.labels.fill(3);
    skewed.labels[0] = 1;
    const r = await trainNet({ ...base, data: { train: skewed, val }, out: tmpDir(), epochs: 1, classWeights: true });
    expect(Number.isFinite(r.history[0].loss)).toBe(true);
    expect(readTrainState(r.dirs.last).state.settings.classWeights).toBe(true);
  });

  it('recalibrates BatchNorm statistics to the average over clean faces, then restores momentum and dropout', () => {
    const model = buildNet(2, 1, { width: 0.125 });
    const faces = synthSplit(64, 5);
    recalibrateBatchNorm(model, faces.images, 64, 64, 16);
    const conv1 = tf.model({ inputs: model.inputs, outputs: model.getLayer('conv1').output as tf.SymbolicTensor });
    const [, , movingMean, movingVar] = model.getLayer('bn1').getWeights();
    // Expected: the mean over the 4 batches of each batch's per-channel mean and variance.
    const expected = tf.tidy(() => {
      const out = conv1.predict(facesToTensor(faces.images, 64)) as tf.Tensor4D;
      const parts = tf.split(out, 4, 0).map((t) => tf.moments(t, [0, 1, 2]));
      return [tf.addN(parts.map((m) => m.mean)).div(4), tf.addN(parts.map((m) => m.variance)).div(4)];
    });
    expect(maxAbsDiff(movingMean.dataSync() as Float32Array, expected[0].dataSync() as Float32Array)).toBeLessThan(1e-4);
    expect(maxAbsDiff(movingVar.dataSync() as Float32Array, expected[1].dataSync() as Float32Array)).toBeLessThan(1e-3);
    expect((model.getLayer('bn1') as unknown as { momentum: number }).momentum).toBe(0.99);
    expect((model.getLayer('drop1') as unknown as { rate: number }).rate).toBe(0.25);
    model.dispose();
  });

  it('--resume can change the BatchNorm recalibration; states from before it existed get the default', async () => {
    const out = tmpDir();
    await trainNet({ ...base, out, epochs: 1, bnRecalibrate: 0 });
    const last = path.join(out, 'net2', 'last');
    expect(readTrainState(last).state.settings.bnRecalibrate).toBe(0);
    await trainNet({ ...base, out, epochs: 2, resume: true, bnRecalibrate: 32 });
    expect(readTrainState(last).state.settings.bnRecalibrate).toBe(32);
    // A state written before the setting existed.
    const file = path.join(last, 'train-state.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete json.settings.bnRecalibrate;
    fs.writeFileSync(file, JSON.stringify(json));
    await trainNet({ ...base, out, epochs: 3, resume: true });
    expect(readTrainState(last).state.settings.bnRecalibrate).toBe(2048);
  });

  it('--resume can step the LR and change the plateau options, carrying on from the saved weights', async () => {
    const out = tmpDir();
    await trainNet({ ...base, out, epochs: 1 });
    const last = path.join(out, 'net2', 'last');
    const before = weights(last);
    // A new monitor starts a fresh count: epoch 2 sets its best; with min-delta 10 epoch 3 cannot improve on it, so
    // with patience 1 the plateau fires after epoch 3.
    const r = await trainNet({ ...base, out, epochs: 3, resume: true, resumeSchedule: { lr: 5e-4, plateau: { monitor: 'loss', patience: 1, factor: 0.2, minDelta: 10 } } });
    expect(r.history.map((h) => h.lr)).toEqual([3e-3, 5e-4, 5e-4]);
    expect(r.history.map((h) => h.lrChangedBy)).toEqual([undefined, 'set-lr', undefined]);
    const { state } = readTrainState(last);
    expect(state.settings.lr).toBe(3e-3);
    expect(state.settings.plateau).toMatchObject({ monitor: 'loss', patience: 1, factor: 0.2, minDelta: 10, minLr: 1e-5 });
    expect(state.lr).toBeCloseTo(1e-4, 12);
    expect(state.lrChangedBy).toBe('plateau');
    expect(maxAbsDiff(weights(last), before)).toBeGreaterThan(0);
  });

  it('says clearly when there is nothing to resume or no validation split', async () => {
    await expect(trainNet({ ...base, out: tmpDir(), epochs: 1, resume: true })).rejects.toThrow(/--resume: no checkpoint to resume in .*net2\/last/);
    const dir = writePrepared(path.join(tmpDir(), 'p'), { train, val: synthSplit(0, 1) });
    await expect(trainNet({ ...base, data: dir, out: tmpDir(), epochs: 1 })).rejects.toThrow(/no validation split.*--val-fraction 0\.1/);
  });
});

describe('fer train (CLI)', () => {
  it('reports data problems on one line with a non-zero exit', () => {
    const none = runFer(['train', '--net', '1', '--data', path.join(tmpDir(), 'nothing')]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no prepared dataset.*fer prepare/);
    expect(none.stderr).not.toMatch(/\n\s+at /);

    const emptyTrain = writePrepared(path.join(tmpDir(), 'p'), { train: synthSplit(0, 1), val });
    const r = runFer(['train', '--net', '1', '--data', emptyTrain]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/train split is empty/);

    const noVal = writePrepared(path.join(tmpDir(), 'q'), { train });
    const v = runFer(['train', '--net', '1', '--data', noVal]);
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/no validation split.*fer prepare .*--val-fraction 0\.1/);
  });

  it('-q prints only the final best-epoch line', () => {
    const data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(16, 3), val });
    const r = runFer(['train', '--net', '1', '--width', '0.125', '--data', data, '--out', tmpDir(), '--epochs', '2', '--batch-size', '8', '-q']);
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^net1: best val_acc [\d.]+% at epoch [12] → .*net1\/best; peak RSS \d+ MB$/)]);
  });

  it('SIGINT finishes the batch, leaves a loadable `last` checkpoint and exits 130', async () => {
    const data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(112, 3), val });
    const out = tmpDir();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fer'), 'train', '--net', '1', '--width', '0.125', '--data', data,
      '--out', out, '--epochs', '1000', '--batch-size', '8'], { env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Interrupt once the first epoch has been written, i.e. somewhere in epoch 2.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/net1 epoch 1\/1000 /.test(stderr)) resolve();
      });
      child.on('close', () => resolve());
    });
    child.kill('SIGINT');
    const code = await done;
    expect(stderr).toMatch(/SIGINT: finishing the current batch/);
    expect(code).toBe(130);
    const last = path.join(out, 'net1', 'last');
    const model = await loadModelDir(last);
    expect(model.outputs[0].shape).toEqual([null, 7]);
    model.dispose();
    const { state } = readTrainState(last);
    expect(state.epoch).toBeGreaterThanOrEqual(1);
    expect(fs.readdirSync(path.join(out, 'net1')).filter((f) => f.startsWith('.tmp-'))).toEqual([]);

    // --resume picks it up (saved settings win, with a warning naming the ignored flag) and finishes the epoch.
    const target = state.epoch + 1;
    const r = runFer(['train', '--net', '1', '--data', data, '--out', out, '--epochs', String(target), '--resume', '--lr', '0.5', '--set-lr', '0.0004',
      '--plateau-patience', '5', '--json']);
    expect(r.stderr).toMatch(/ignoring --lr\b/);
    expect(r.stderr).toMatch(/LR set to 4\.0e-4 \(was 1\.0e-3\)/);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.epochs).toBe(target);
    expect(result.history[target - 1].lr).toBe(0.0004);
    expect(readTrainState(last).state.settings.lr).toBe(0.001);
    expect(readTrainState(last).state.settings.plateau.patience).toBe(5);
    expect(runFer(['train', '--net', '1', '--data', data, '--out', out, '--set-lr', '0.1']).stderr).toMatch(/--set-lr .*use it with --resume/);
  });
});
