import { EpochRecord } from '../state';
import { BatchLogs, EpochEnd, TrainCallback, TrainLoop } from './base';

/** Start of an epoch (`firstBatch` > 0 when a resumed run continues inside it). */
export interface EpochStartInfo {
  net: number;
  /** 1-based. */
  epoch: number;
  epochs: number;
  batches: number;
  firstBatch: number;
  /** LR of the first batch to train. */
  lr: number;
}

/** After every batch: the epoch's running figures. */
export interface BatchInfo {
  net: number;
  epoch: number;
  epochs: number;
  /** Batches of this epoch done (1-based). */
  batch: number;
  batches: number;
  /** Mean loss and accuracy of the epoch so far. */
  loss: number;
  acc: number;
  /** This batch's LR. */
  lr: number;
  imgPerSec: number;
  /** Training images of this epoch done, and in all. */
  images: number;
  imagesPerEpoch: number;
}

export interface EpochEndInfo {
  net: number;
  epochs: number;
  /** This epoch's weights became `best`. */
  isBest: boolean;
}

/** Progress hooks of `trainNet` (the library draws nothing; `fer train` draws its bar and lines from these). */
export interface TrainHooks {
  onEpochBegin?: (info: EpochStartInfo) => void;
  onBatch?: (info: BatchInfo) => void;
  /** The finished epoch's record, after `best`, `last` and the history files are written. */
  onEpochEnd?: (record: EpochRecord, info: EpochEndInfo) => void;
  /** Human-readable notes (resuming, LR changes, early stop, interruption, repairs), one line each. */
  onLog?: (line: string) => void;
}

/** Progress as a callback: forwards the loop's events to the caller's hooks. Keep it last in the list. */
export class ProgressHooks implements TrainCallback {
  readonly name = 'ProgressHooks';
  constructor(private readonly hooks: TrainHooks) {}

  onEpochBegin(loop: TrainLoop, firstBatch: number): void {
    this.hooks.onEpochBegin?.({ net: loop.net, epoch: loop.epoch + 1, epochs: loop.epochs, batches: loop.batchesPerEpoch, firstBatch, lr: loop.batchLr });
  }

  onBatchEnd(loop: TrainLoop, logs: BatchLogs): void {
    this.hooks.onBatch?.({
      net: loop.net, epoch: loop.epoch + 1, epochs: loop.epochs, batch: logs.batch + 1, batches: loop.batchesPerEpoch, loss: logs.loss, acc: logs.acc,
      lr: loop.batchLr, imgPerSec: logs.imgPerSec, images: logs.seen, imagesPerEpoch: loop.train.count,
    });
  }

  onEpochEnd(loop: TrainLoop, end: EpochEnd): void {
    this.hooks.onEpochEnd?.(end.record, { net: loop.net, epochs: loop.epochs, isBest: end.isBest });
  }
}
