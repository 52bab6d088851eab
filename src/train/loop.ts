import * as tf from '@tensorflow/tfjs';
import { NUM_CLASSES } from '../data/classes';
import { Split } from '../data/dataset';
import { ExtraFiles } from '../models/io';
import { yieldToEventLoop } from '../util/yield';
import { Adam } from './adam';
import { CropAugment, gatherBatch } from './augment';
import { BatchLogs, CallbackList, EpochEnd, TrainEnd, TrainLoop, ValidationLogs } from './callbacks/base';
import { dropoutLayers } from './callbacks/checkpoints';
import { Rng } from './rng';
import { Sgd } from './sgd';
import { EpochRecord, LrChange, OPTIMIZER_BIN, PartialEpoch, RunSettings, STATE_VERSION, TRAIN_STATE, TrainState, encodeOptimizer } from './state';
import { StepOptions, trainStep } from './step';
import { evaluateSplit } from './validate';

/** train-state.json's keys in the order main has always written them; the loop's own and its callbacks'. */
const STATE_ORDER = ['version', 'settings', 'epoch', 'partial', 'lr', 'rng', 'plateau', 'earlyStop', 'best', 'history', 'optimizer', 'stoppedEarly', 'lrChangedBy', 'ema'];
/** Keys the loop itself keeps: no callback may use them. */
const LOOP_KEYS = ['version', 'settings', 'epoch', 'partial', 'lr', 'rng', 'optimizer', 'stoppedEarly', 'lrChangedBy'];

export interface LoopParts {
  title: string;
  net: number;
  model: tf.LayersModel;
  vars: tf.Variable[];
  optimizer: Adam | Sgd;
  settings: RunSettings;
  train: Split;
  val: Split;
  epochs: number;
  crop: CropAugment;
  step: StepOptions;
  /** Distillation: the teachers' probabilities for every training face (count × 7), or null. */
  teacherProbs?: Float32Array | null;
  note: (line: string) => void;
}

/** Where the loop stands: what train-state.json keeps besides the callbacks' state. */
export interface LoopPosition {
  epoch: number;
  lr: number;
  rng: Rng;
  partial: PartialEpoch | null;
  stoppedEarly: boolean;
  lrChangedBy: LrChange | null;
}

function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * The training loop: batches, validation and the callback phases (callbacks/base.ts). It owns the data order
 * (RNG), the optimizer and the position in the run; everything else is a callback.
 */
export class Loop implements TrainLoop {
  readonly title: string;
  readonly net: number;
  readonly model: tf.LayersModel;
  readonly vars: tf.Variable[];
  readonly settings: RunSettings;
  readonly train: Split;
  readonly val: Split;
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  epoch: number;
  lr: number;
  batchLr: number;
  lrChangedBy: LrChange | null;
  stoppedEarly: boolean;
  private rng: Rng;
  private partial: PartialEpoch | null;
  private deferred: string[] | null = null;
  private callbacks = new CallbackList([]);

  constructor(private readonly parts: LoopParts, at: LoopPosition) {
    ({ title: this.title, net: this.net, model: this.model, vars: this.vars, settings: this.settings, train: this.train, val: this.val, epochs: this.epochs } = parts);
    this.batchesPerEpoch = Math.ceil(parts.train.count / parts.settings.batchSize);
    ({ epoch: this.epoch, lr: this.lr, rng: this.rng, partial: this.partial, stoppedEarly: this.stoppedEarly, lrChangedBy: this.lrChangedBy } = at);
    this.batchLr = this.lr;
  }

  /** The callbacks, in the order their phases run. */
  use(callbacks: CallbackList): void {
    const clash = callbacks.callbacks.find((c) => c.stateKey !== undefined && LOOP_KEYS.includes(c.stateKey));
    if (clash) throw new Error(`training callback ${clash.name} may not keep its state under "${clash.stateKey}" (the loop's own)`);
    this.callbacks = callbacks;
  }

  validate(): Promise<{ loss: number; acc: number }> {
    return evaluateSplit(this.model, this.val);
  }

  note(line: string): void {
    if (this.deferred) this.deferred.push(line);
    else this.parts.note(line);
  }

  /** train-state.json for this position (the loop's state and every callback's), in main's key order. */
  state(partial: PartialEpoch | null): TrainState {
    const own: Record<string, unknown> = {
      version: STATE_VERSION, settings: this.settings, epoch: this.epoch, partial, lr: this.lr, rng: this.rng.getState(),
      optimizer: { step: this.parts.optimizer.step, shapes: this.vars.map((v) => v.shape) }, stoppedEarly: this.stoppedEarly, lrChangedBy: this.lrChangedBy,
    };
    const all: Record<string, unknown> = { ...this.callbacks.getStates(), ...own };
    const keys = [...STATE_ORDER.filter((k) => k in all), ...Object.keys(all).filter((k) => !STATE_ORDER.includes(k))];
    return Object.fromEntries(keys.map((k) => [k, all[k]])) as unknown as TrainState;
  }

  /** Everything `last/` holds besides the model. */
  checkpointFiles(partial: PartialEpoch | null): ExtraFiles {
    return {
      [TRAIN_STATE]: JSON.stringify(this.state(partial), null, 1),
      [OPTIMIZER_BIN]: encodeOptimizer(this.parts.optimizer.getState()),
      ...this.callbacks.stateFiles(),
    };
  }

  /** Train up to `epochs` (or an early stop); on `signal` stop after the current batch. Returns whether it was interrupted. */
  async run(signal?: AbortSignal): Promise<boolean> {
    await this.callbacks.onTrainBegin(this);
    let end: TrainEnd = { interrupted: false, partial: null };
    while (this.epoch < this.epochs && !this.stoppedEarly) {
      const partial = await this.trainEpoch(signal);
      if (partial || signal?.aborted) {
        end = { interrupted: true, partial };
        break;
      }
    }
    await this.callbacks.onTrainEnd(this, end);
    return end.interrupted;
  }

  /** One epoch; returns the position when interrupted inside it, else null. */
  private async trainEpoch(signal?: AbortSignal): Promise<PartialEpoch | null> {
    const { train, settings, model, vars } = this;
    const cbs = this.callbacks;
    const epochStart = Date.now();
    const resumedAt = this.partial;
    this.partial = null;
    const epochSeed = resumedAt ? resumedAt.epochSeed : this.rng.uint32();
    const order = new Rng(epochSeed).permutation(train.count);
    let lossSum = resumedAt?.lossSum ?? 0;
    let correct = resumedAt?.correct ?? 0;
    let seen = resumedAt?.seen ?? 0;
    let trainSeconds = resumedAt?.trainSeconds ?? 0;
    const firstBatch = resumedAt?.batch ?? 0;
    const bs = settings.batchSize;
    const crop = this.parts.crop;
    const batchBuf = new Uint8Array(bs * this.parts.step.size * this.parts.step.size);
    const dropouts = dropoutLayers(model);
    const teacher = this.parts.teacherProbs;
    const softBuf = teacher ? new Float32Array(bs * NUM_CLASSES) : undefined;
    await cbs.onEpochBegin(this, firstBatch);
    let sliceStart = Date.now();
    for (let b = firstBatch; b < this.batchesPerEpoch; b++) {
      const idx = order.subarray(b * bs, Math.min((b + 1) * bs, train.count));
      const n = idx.length;
      gatherBatch(train.images, idx, batchBuf, this.rng, settings.augment, crop);
      // tfjs' Dropout reads `this.seed` on every call; a fixed seed would repeat one mask, so it is set per batch.
      for (const d of dropouts) d.seed = this.rng.uint32();
      const labels = Uint8Array.from(idx, (i) => train.labels[i]);
      if (teacher && softBuf) idx.forEach((i, j) => softBuf.set(teacher.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), j * NUM_CLASSES));
      await cbs.onBatchBegin(this, b);
      const [l, c] = trainStep(model, vars, this.parts.optimizer, batchBuf, labels, n, this.batchLr, this.parts.step, softBuf);
      lossSum += l * n;
      correct += c;
      seen += n;
      const now = Date.now();
      trainSeconds += (now - sliceStart) / 1000;
      sliceStart = now;
      const logs: BatchLogs = { batch: b, size: n, loss: lossSum / seen, acc: correct / seen, imgPerSec: seen / trainSeconds, seen };
      await cbs.onBatchEnd(this, logs);
      // Let a pending signal handler run, then honour an abort between batches.
      await yieldToEventLoop();
      if (signal?.aborted && b + 1 < this.batchesPerEpoch) return { batch: b + 1, epochSeed, lossSum, correct, seen, trainSeconds };
    }
    const logs: ValidationLogs = {};
    await cbs.onValidationBegin(this, logs);
    const v = await this.validate();
    const record: EpochRecord = {
      epoch: this.epoch + 1, loss: lossSum / seen, acc: correct / seen, val_loss: v.loss, val_acc: v.acc, lr: this.batchLr,
      seconds: Math.round((Date.now() - epochStart) / 100) / 10, imgPerSec: Math.round((seen / trainSeconds) * 10) / 10, peakRssMB: peakRssMB(),
      ...(this.lrChangedBy ? { lrChangedBy: this.lrChangedBy } : {}),
      ...(logs.rawValAcc !== undefined ? { rawValAcc: logs.rawValAcc } : {}),
    };
    this.lrChangedBy = null;
    this.epoch = record.epoch;
    const end: EpochEnd = { record, isBest: false };
    await cbs.onValidationEnd(this, end);
    // Notes made at the end of an epoch (an LR step, an early stop) follow the epoch's own line.
    this.deferred = [];
    try {
      await cbs.onEpochEnd(this, end);
    } finally {
      const lines = this.deferred;
      this.deferred = null;
      for (const line of lines) this.parts.note(line);
    }
    return null;
  }
}
