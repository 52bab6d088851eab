import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { TrainOptions, evaluateSplit, trainNet } from '../src/train/trainer';
import {
  BatchNormRecalibration, BestCheckpoint, CallbackList, EarlyStoppingCallback, EmaCallback, EpochEnd, History, LrSchedule, ReduceLROnPlateauCallback,
  TrainCallback, TrainLoop,
} from '../src/train/callbacks';
import { Loop } from '../src/train/loop';
import { Rng } from '../src/train/rng';
import { Adam } from '../src/train/adam';
import { scheduledLr } from '../src/train/schedule';
import { EMA_BIN, EpochRecord, TRAIN_INFO, readTrainState } from '../src/train/state';
import { ignoredOnResume, resolveRun, settingsFromOptions } from '../src/train/settings';
import { buildNet } from '../src/models/nets';
import { scoreSplit } from '../src/eval/evaluate';
import { classificationMetrics } from '../src/eval/metrics';
import { runFer, tmpDir } from './helpers';
import { synthSplit, writePrepared } from './trainData';

const train = synthSplit(56, 1);
const val = synthSplit(28, 2);
const base: Omit<TrainOptions, 'out'> = { net: 2, data: { train, val }, width: 0.125, batchSize: 16, lr: 3e-3, augment: true, seed: 7 };

beforeAll(async () => {
  await initBackend(process.env.FER_BACKEND ?? 'auto');
});

/** Enough of the loop for one callback at a time: the fields callbacks read and change. */
function fakeLoop(over: Partial<TrainLoop> = {}): TrainLoop & { notes: string[] } {
  const notes: string[] = [];
  return {
    title: 'net2', net: 2, model: undefined as unknown as tf.LayersModel, vars: [], settings: settingsFromOptions({ net: 2 }), train, val, epochs: 10,
    batchesPerEpoch: 4, epoch: 0, lr: 1e-3, batchLr: 1e-3, lrChangedBy: null, stoppedEarly: false,
    validate: async () => ({ loss: 0, acc: 0 }), note: (l) => notes.push(l), notes, ...over,
  };
}

function record(epoch: number, m: Partial<EpochRecord>): EpochRecord {
  return { epoch, loss: 1, acc: 0.5, val_loss: 1, val_acc: 0.5, lr: 1e-3, seconds: 1, imgPerSec: 1, peakRssMB: 1, ...m };
}

/** Feed a callback a run of epoch ends; returns what the loop looked like after each. */
async function feed(cb: TrainCallback, loop: TrainLoop, recs: EpochRecord[]): Promise<{ lr: number; stopped: boolean }[]> {
  const out = [];
  for (const rec of recs) {
    const end: EpochEnd = { record: rec, isBest: false };
    await cb.onValidationEnd?.(loop, end);
    await cb.onEpochEnd?.(loop, end);
    out.push({ lr: loop.lr, stopped: loop.stoppedEarly });
  }
  return out;
}

/** A callback's state through JSON, as train-state.json carries it. */
const viaJson = (s: unknown): unknown => JSON.parse(JSON.stringify(s));

describe('each callback\'s state round-trips: stopped and restored, it continues as if never stopped', () => {
  const losses = [1, 0.9, 0.95, 0.96, 0.8, 0.85, 0.9, 0.91, 0.7, 0.72];
  const recs = losses.map((l, i) => record(i + 1, { val_loss: l, val_acc: 1 - l }));

  it('ReduceLROnPlateau', async () => {
    const opts = { monitor: 'val_loss' as const, patience: 1, factor: 0.5, minDelta: 0 };
    const straight = await feed(new ReduceLROnPlateauCallback(opts), fakeLoop(), recs);
    expect(straight.map((s) => s.lr)).toContain(2.5e-4);
    const a = new ReduceLROnPlateauCallback(opts);
    const loopA = fakeLoop();
    const head = await feed(a, loopA, recs.slice(0, 5));
    const b = new ReduceLROnPlateauCallback(opts);
    b.setState(viaJson(a.getState()));
    const tail = await feed(b, fakeLoop({ lr: loopA.lr }), recs.slice(5));
    expect([...head, ...tail]).toEqual(straight);
    expect(loopA.notes[0]).toMatch(/^net2: ReduceLROnPlateau: val_loss has not improved for 1 epoch; LR 1\.0e-3 → 5\.0e-4$/);
    // A state kept for another metric is not restored; an inactive one (cosine) keeps its state but never steps.
    const other = new ReduceLROnPlateauCallback(opts, true, false);
    other.setState(viaJson(a.getState()));
    expect(other.getState()).toEqual({ best: null, wait: 0, cooldownCounter: 0 });
    const idle = await feed(new ReduceLROnPlateauCallback(opts, false), fakeLoop(), recs);
    expect(idle.every((s) => s.lr === 1e-3)).toBe(true);
  });

  it('EarlyStopping', async () => {
    const straight = await feed(new EarlyStoppingCallback(3), fakeLoop(), recs);
    const firstStop = straight.findIndex((s) => s.stopped);
    expect(firstStop).toBe(7);
    const a = new EarlyStoppingCallback(3);
    await feed(a, fakeLoop(), recs.slice(0, 6));
    const b = new EarlyStoppingCallback(3);
    b.setState(viaJson(a.getState()));
    const tail = await feed(b, fakeLoop(), recs.slice(6));
    expect(tail.findIndex((s) => s.stopped)).toBe(firstStop - 6);
    // Patience 0 never stops, but its state has the same shape.
    expect((await feed(new EarlyStoppingCallback(0), fakeLoop(), recs)).some((s) => s.stopped)).toBe(false);
  });

  it('BestCheckpoint and History', async () => {
    const model = buildNet(2, 1, { width: 0.125 });
    const dir = tmpDir();
    const loop = fakeLoop({ model });
    const best = new BestCheckpoint(path.join(dir, 'best'), { weights: 'ema' });
    const hist = new History(dir);
    const ends: boolean[] = [];
    for (const rec of recs.slice(0, 4)) {
      const end: EpochEnd = { record: rec, isBest: false };
      await best.onValidationEnd(loop, end);
      hist.onValidationEnd(loop, end);
      ends.push(end.isBest);
    }
    expect(ends).toEqual([true, true, false, false]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'best', TRAIN_INFO), 'utf8'))).toMatchObject({ epoch: 2, val_acc: recs[1].val_acc, weights: 'ema', net: 2 });
    const best2 = new BestCheckpoint(path.join(dir, 'best'));
    best2.setState(viaJson(best.getState()));
    const hist2 = new History(dir);
    hist2.setState(viaJson(hist.getState()));
    expect(hist2.history).toEqual(recs.slice(0, 4));
    const end: EpochEnd = { record: recs[4], isBest: false };
    await best2.onValidationEnd(loop, end);
    expect(end.isBest).toBe(true);
    expect(best2.getState()).toEqual({ epoch: 5, val_acc: recs[4].val_acc });
    // A checkpoint without the key starts empty.
    best2.setState(undefined);
    expect(best2.getState()).toBeNull();
    model.dispose();
  });

  it('EMA: the averaged weights go to ema.bin and come back bit for bit; a missing ema.bin is a one-line error', () => {
    const make = (): tf.Variable[] => [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor2d([[0.5, -1]]))];
    const vars = make();
    const a = new EmaCallback(vars, 0.9, null);
    for (let i = 0; i < 5; i++) {
      vars[0].assign(tf.tensor1d([i, i * 2, -i]));
      a.onBatchEnd();
    }
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, EMA_BIN), a.stateFiles()[EMA_BIN]);
    const other = make();
    const b = new EmaCallback(other, 0.9, null);
    b.setState(viaJson(a.getState()), dir);
    expect(b.getState()).toEqual({ updates: 5 });
    expect(Buffer.from(b.stateFiles()[EMA_BIN]).equals(Buffer.from(a.stateFiles()[EMA_BIN]))).toBe(true);
    expect(() => b.setState(viaJson(a.getState()), tmpDir())).toThrow(/train-state\.json: the run averages weights \(--ema\) but ema\.bin is missing/);
    for (const c of [a, b]) c.dispose();
    [...vars, ...other].forEach((v) => v.dispose());
  });

  it('LrSchedule keeps no state: the LR is a function of the position, so a resumed loop gets the same LRs', async () => {
    const spec = { kind: 'cosine' as const, warmup: 1, epochs: 5, minLr: 1e-5 };
    const s = new LrSchedule(spec);
    expect((s as TrainCallback).stateKey).toBeUndefined();
    const loop = fakeLoop({ epoch: 2 });
    await s.onEpochBegin(loop, 3);
    expect(loop.batchLr).toBe(scheduledLr(spec, 1e-3, 2 * 4 + 3, 4));
    await s.onBatchBegin(loop, 1);
    expect(loop.batchLr).toBe(scheduledLr(spec, 1e-3, 2 * 4 + 1, 4));
  });

  it('BatchNormRecalibration is stateless and does nothing with 0 samples', () => {
    const bn = new BatchNormRecalibration(0, 16);
    expect((bn as TrainCallback).stateKey).toBeUndefined();
    expect(() => bn.onValidationBegin(fakeLoop())).not.toThrow();
  });
});

describe('CallbackList and the loop', () => {
  it('runs each phase over the callbacks in order and refuses two states under one key', async () => {
    const calls: string[] = [];
    const cb = (name: string): TrainCallback => ({ name, onEpochBegin: () => { calls.push(`${name}.begin`); }, onEpochEnd: async () => { calls.push(`${name}.end`); } });
    const list = new CallbackList([cb('a'), cb('b')]);
    await list.onEpochBegin(fakeLoop(), 0);
    await list.onEpochEnd(fakeLoop(), { record: record(1, {}), isBest: false });
    expect(calls).toEqual(['a.begin', 'b.begin', 'a.end', 'b.end']);
    expect(() => new CallbackList([{ name: 'x', stateKey: 'k' }, { name: 'y', stateKey: 'k' }])).toThrow(/two training callbacks keep their state under "k"/);
  });

  it('a callback may not take one of the loop\'s own keys', () => {
    const model = buildNet(2, 1, { width: 0.125 });
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const adam = new Adam(vars, vars.map(() => false));
    const loop = new Loop({
      title: 'net2', net: 2, model, vars, optimizer: adam, settings: settingsFromOptions({ net: 2 }), train, val, epochs: 1, crop: { crop: 48 },
      step: { classWeights: null, size: 48, labelSmoothing: 0 }, note: () => undefined,
    }, { epoch: 0, lr: 1e-3, rng: new Rng(1), partial: null, stoppedEarly: false, lrChangedBy: null });
    expect(() => loop.use(new CallbackList([{ name: 'bad', stateKey: 'rng' }]))).toThrow(/may not keep its state under "rng"/);
    adam.dispose();
    model.dispose();
  });
});

/** A new schedule is one class: halve the LR after every epoch, counting its steps in its own saved state. */
class HalveEachEpoch implements TrainCallback {
  readonly name = 'HalveEachEpoch';
  readonly stateKey = 'halveEachEpoch';
  steps = 0;
  onEpochEnd(loop: TrainLoop): void {
    loop.lr /= 2;
    this.steps += 1;
  }
  getState(): { steps: number } { return { steps: this.steps }; }
  setState(s: unknown): void { this.steps = (s as { steps: number } | undefined)?.steps ?? 0; }
}

describe('trainNet with callbacks and hooks', () => {
  it('a custom callback changes the LR and keeps its state in train-state.json across --resume', async () => {
    const out = tmpDir();
    const first = new HalveEachEpoch();
    const r1 = await trainNet({ ...base, out, epochs: 2, callbacks: [first] });
    expect(r1.history.map((h) => h.lr)).toEqual([3e-3, 1.5e-3]);
    expect(readTrainState(r1.dirs.last).state).toMatchObject({ halveEachEpoch: { steps: 2 }, lr: 7.5e-4 });
    const again = new HalveEachEpoch();
    const r2 = await trainNet({ ...base, out, epochs: 3, resume: true, callbacks: [again] });
    expect(again.steps).toBe(3);
    expect(r2.history[2].lr).toBe(7.5e-4);
  });

  it('aborting the signal stops after the current batch, saves `last` and says so; hooks report the progress', async () => {
    const out = tmpDir();
    const abort = new AbortController();
    const events: string[] = [];
    const r = await trainNet({
      ...base, out, epochs: 3, signal: abort.signal,
      onEpochBegin: (e) => events.push(`begin ${e.epoch}/${e.epochs} from ${e.firstBatch} of ${e.batches}`),
      onBatch: (b) => {
        events.push(`batch ${b.epoch}.${b.batch}`);
        expect(b.images).toBe(Math.min(b.batch * 16, 56));
        if (b.epoch === 2 && b.batch === 3) abort.abort();
      },
      onEpochEnd: (rec, e) => events.push(`end ${rec.epoch}${e.isBest ? ' best' : ''}`),
      onLog: (l) => events.push(l),
    });
    expect(r.interrupted).toBe(true);
    expect(r.epochs).toBe(1);
    expect(events).toEqual(['begin 1/3 from 0 of 4', 'batch 1.1', 'batch 1.2', 'batch 1.3', 'batch 1.4', 'end 1 best', 'begin 2/3 from 0 of 4',
      'batch 2.1', 'batch 2.2', 'batch 2.3', `net2: interrupted in epoch 2 after batch 3/4; saved ${r.dirs.last} (continue with --resume)`]);
    expect(readTrainState(r.dirs.last).state.partial?.batch).toBe(3);
    const resumed: string[] = [];
    await trainNet({ ...base, out, epochs: 3, resume: true, onEpochBegin: (e) => resumed.push(`begin ${e.epoch} from ${e.firstBatch}`), onLog: (l) => resumed.push(l) });
    expect(resumed).toEqual(['net2: resuming after epoch 1 (+3 batches of epoch 2), LR 3.0e-3', 'begin 2 from 3', 'begin 3 from 0']);
  });

  it('notes about an epoch (an LR step) follow its record', async () => {
    const events: string[] = [];
    await trainNet({
      ...base, out: tmpDir(), epochs: 3, plateau: { patience: 1, minDelta: 10 },
      onEpochEnd: (rec) => events.push(`end ${rec.epoch}`), onLog: (l) => events.push(l.replace(/;.*/, '')),
    });
    expect(events).toEqual(['end 1', 'end 2', 'net2: ReduceLROnPlateau: val_loss has not improved for 1 epoch', 'end 3',
      'net2: ReduceLROnPlateau: val_loss has not improved for 1 epoch']);
  });

  it('validation is scored by fer eval\'s code: val_loss and val_acc equal its log loss and accuracy', async () => {
    const model = buildNet(2, 3, { width: 0.125 });
    const v = await evaluateSplit(model, val);
    const m = classificationMetrics((await scoreSplit(model, val)).scores, val.labels);
    expect(v.loss).toBe(m.logLoss);
    expect(v.acc).toBe(m.accuracy);
    model.dispose();
  });
});

describe('resume rules', () => {
  it('only options given with a value other than the saved one are ignored (and reported)', () => {
    const saved = settingsFromOptions({ net: 2, lr: 3e-3, crop: 44, optimizer: 'sgd', augment: true });
    expect(ignoredOnResume(saved, { net: 2, lr: 3e-3, crop: 44, optimizer: 'sgd', augment: true, momentum: 0.9, epochs: 99 })).toEqual([]);
    expect(ignoredOnResume(saved, { net: 2, lr: 1e-3, crop: 44, augment: false, seed: 42, ema: 0.99 })).toEqual(['lr', 'augment', 'ema']);
    // A state from before the recipe fields: absent means the original recipe.
    const old = { ...settingsFromOptions({ net: 2 }) } as Record<string, unknown>;
    for (const k of ['optimizer', 'momentum', 'schedule', 'warmup', 'crop', 'ema']) delete old[k];
    expect(ignoredOnResume(old as never, { net: 2, crop: 48, schedule: 'plateau', optimizer: 'adamw', ema: 0 })).toEqual([]);
    expect(ignoredOnResume(old as never, { net: 2, crop: 40 })).toEqual(['crop']);
  });

  it('--replan ends a resumed cosine schedule at the new total; without it the planned total stays', () => {
    const last = path.join(__dirname, 'fixtures', 'train-main', 'sgd-cosine', 'last');
    const planned = readTrainState(last).state.settings.plannedEpochs;
    expect(planned).toBe(4);
    expect(resolveRun({ net: 2, epochs: 9, resume: true }, last).settings.plannedEpochs).toBe(4);
    expect(resolveRun({ net: 2, epochs: 9, resume: true, resumeSchedule: { replan: true } }, last).settings.plannedEpochs).toBe(9);
    // scheduledLr follows the new curve: at the same step the LR of a longer plan is higher.
    const spec = (epochs: number) => ({ kind: 'cosine' as const, warmup: 0, epochs, minLr: 1e-6 });
    expect(scheduledLr(spec(9), 1e-3, 30, 10)).toBeGreaterThan(scheduledLr(spec(4), 1e-3, 30, 10));
    const r = runFer(['train', '--net', '2', '--replan', '--epochs', '3']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--replan .*--resume/);
  });

  it('fer train --resume warns only about flags that differ from the saved settings', () => {
    const data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(16, 3), val });
    const out = tmpDir();
    const args = ['train', '--net', '1', '--width', '0.125', '--data', data, '--out', out, '--batch-size', '8', '--lr', '0.002', '--bn-recalibrate', '0'];
    expect(runFer([...args, '--epochs', '1', '-q']).status).toBe(0);
    const same = runFer([...args, '--epochs', '2', '--resume']);
    expect(same.status).toBe(0);
    expect(same.stderr).not.toMatch(/warning|ignoring/);
    expect(same.stderr).toMatch(/net1: resuming after epoch 1, LR 2\.0e-3/);
    expect(same.stderr).toMatch(/net1 epoch 2\/2 {2}loss /);
    const differ = runFer([...args, '--epochs', '3', '--resume', '--lr', '0.1', '--crop', '48', '--seed', '3']);
    expect(differ.status).toBe(0);
    expect(differ.stderr).toMatch(/warning: --resume continues with the run's saved settings; ignoring --lr, --seed\n/);
  });
});
