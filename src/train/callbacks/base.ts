import * as tf from '@tensorflow/tfjs';
import { Split } from '../../data/dataset';
import { EpochRecord, LrChange, PartialEpoch, RunSettings } from '../state';

/**
 * The training loop as callbacks see it (tfjs-layers' `this.model` + `logs`, in one object). The loop owns the
 * fields marked as its own; callbacks read them and change `lr`, `lrChangedBy`, `batchLr` and `stoppedEarly`.
 */
export interface TrainLoop {
  /** `net<k>`: prefix of every note. */
  readonly title: string;
  readonly net: number;
  readonly model: tf.LayersModel;
  /** The trainable variables, in the order the optimizer and the EMA keep them. */
  readonly vars: tf.Variable[];
  /** The run's settings (saved ones on resume, with the changes resume allows). */
  readonly settings: RunSettings;
  readonly train: Split;
  readonly val: Split;
  /** Target number of epochs. */
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  /** Epochs completed (the loop's own). */
  epoch: number;
  /** The base LR: what ReduceLROnPlateau and --set-lr step; for cosine, the peak. */
  lr: number;
  /** The LR of the batch being trained: set by the schedule callback in onEpochBegin / onBatchBegin. */
  batchLr: number;
  /** Why `lr` changed since the last finished epoch (goes on the next epoch's record). */
  lrChangedBy: LrChange | null;
  /** Keras' `model.stopTraining`: set to end the run after this epoch (early stopping). */
  stoppedEarly: boolean;
  /** Validation loss and accuracy of the model as it is now (one scoring path: src/eval). */
  validate(): Promise<{ loss: number; acc: number }>;
  /** A human-readable note (the `onLog` hook); notes made during onEpochEnd follow that epoch's record. */
  note(line: string): void;
}

/** Mutable per-batch logs, as Keras passes them. */
export interface BatchLogs {
  /** 0-based batch index within the epoch. */
  batch: number;
  /** Images in this batch. */
  size: number;
  /** Mean training loss and accuracy of the epoch so far. */
  loss: number;
  acc: number;
  /** Training throughput of the epoch so far, images per second. */
  imgPerSec: number;
  /** Images of this epoch trained so far. */
  seen: number;
}

/** What the validation phase adds to an epoch's record before it is built (e.g. `rawValAcc` with EMA). */
export type ValidationLogs = Partial<Pick<EpochRecord, 'rawValAcc'>>;

/** The end of an epoch: its record, and whether it became `best`. */
export interface EpochEnd {
  record: EpochRecord;
  isBest: boolean;
}

/** How training ended: `partial` is set when it stopped inside an epoch (the position `last` must keep). */
export interface TrainEnd {
  interrupted: boolean;
  partial: PartialEpoch | null;
}

/**
 * One piece of the training recipe, in the shape of tfjs-layers' BaseCallback. The loop calls, in list order:
 *
 *   onTrainBegin
 *   per epoch:  onEpochBegin → per batch (onBatchBegin → step → onBatchEnd)
 *               → onValidationBegin → validation → onValidationEnd → onEpochEnd
 *   onTrainEnd
 *
 * A callback with a `stateKey` keeps its state in last/train-state.json under that key (`getState`, JSON) and
 * may add binary files to last/ (`stateFiles`); `--resume` gives them back through `setState` (the state is
 * undefined when the checkpoint has none, e.g. one made before the callback existed).
 */
export interface TrainCallback {
  readonly name: string;
  readonly stateKey?: string;
  onTrainBegin?(loop: TrainLoop): void | Promise<void>;
  onEpochBegin?(loop: TrainLoop, firstBatch: number): void | Promise<void>;
  onBatchBegin?(loop: TrainLoop, batch: number): void | Promise<void>;
  onBatchEnd?(loop: TrainLoop, logs: BatchLogs): void | Promise<void>;
  onValidationBegin?(loop: TrainLoop, logs: ValidationLogs): void | Promise<void>;
  onValidationEnd?(loop: TrainLoop, end: EpochEnd): void | Promise<void>;
  onEpochEnd?(loop: TrainLoop, end: EpochEnd): void | Promise<void>;
  onTrainEnd?(loop: TrainLoop, end: TrainEnd): void | Promise<void>;
  getState?(): unknown;
  /** `dir` is the `last` checkpoint being resumed, for state kept in files of its own. */
  setState?(state: unknown, dir: string): void;
  stateFiles?(): Record<string, Uint8Array>;
  dispose?(): void;
}

type Phase = 'onTrainBegin' | 'onEpochBegin' | 'onBatchBegin' | 'onBatchEnd' | 'onValidationBegin' | 'onValidationEnd' | 'onEpochEnd' | 'onTrainEnd';

/** tfjs-layers' CallbackList: calls each phase on every callback in order, and gathers their saved state. */
export class CallbackList {
  constructor(readonly callbacks: TrainCallback[]) {
    const keys = callbacks.map((c) => c.stateKey).filter((k): k is string => k !== undefined);
    const dup = keys.find((k, i) => keys.indexOf(k) !== i);
    if (dup !== undefined) throw new Error(`two training callbacks keep their state under "${dup}"`);
  }

  private async call<A extends unknown[]>(phase: Phase, ...args: A): Promise<void> {
    for (const c of this.callbacks) {
      const f = c[phase] as ((...a: A) => void | Promise<void>) | undefined;
      if (f) await f.apply(c, args);
    }
  }

  onTrainBegin(loop: TrainLoop): Promise<void> { return this.call('onTrainBegin', loop); }
  onEpochBegin(loop: TrainLoop, firstBatch: number): Promise<void> { return this.call('onEpochBegin', loop, firstBatch); }
  onBatchBegin(loop: TrainLoop, batch: number): Promise<void> { return this.call('onBatchBegin', loop, batch); }
  onBatchEnd(loop: TrainLoop, logs: BatchLogs): Promise<void> { return this.call('onBatchEnd', loop, logs); }
  onValidationBegin(loop: TrainLoop, logs: ValidationLogs): Promise<void> { return this.call('onValidationBegin', loop, logs); }
  onValidationEnd(loop: TrainLoop, end: EpochEnd): Promise<void> { return this.call('onValidationEnd', loop, end); }
  onEpochEnd(loop: TrainLoop, end: EpochEnd): Promise<void> { return this.call('onEpochEnd', loop, end); }
  onTrainEnd(loop: TrainLoop, end: TrainEnd): Promise<void> { return this.call('onTrainEnd', loop, end); }

  /** Every stateful callback's state, by key. */
  getStates(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const c of this.callbacks) if (c.stateKey !== undefined && c.getState) out[c.stateKey] = c.getState();
    return out;
  }

  stateFiles(): Record<string, Uint8Array> {
    return Object.assign({}, ...this.callbacks.map((c) => c.stateFiles?.() ?? {})) as Record<string, Uint8Array>;
  }

  /** Give each stateful callback its part of a saved train-state.json. */
  setStates(saved: Record<string, unknown>, dir: string): void {
    for (const c of this.callbacks) if (c.stateKey !== undefined && c.setState) c.setState(saved[c.stateKey], dir);
  }

  dispose(): void {
    for (const c of this.callbacks) c.dispose?.();
  }
}
