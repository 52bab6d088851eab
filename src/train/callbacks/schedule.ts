import { ScheduleSpec, scheduledLr } from '../schedule';
import { TrainCallback, TrainLoop } from './base';

/**
 * Sets each batch's LR from the schedule (src/train/schedule.ts: warm-up, then the plateau-stepped base LR or a
 * cosine), a pure function of the position in the run: it keeps no state of its own, so a resumed run is at the
 * same place of its schedule with only the loop's epoch and batch counters.
 */
export class LrSchedule implements TrainCallback {
  readonly name = 'LrSchedule';
  constructor(readonly spec: ScheduleSpec) {}

  lrAt(loop: TrainLoop, batch: number): number {
    return scheduledLr(this.spec, loop.lr, loop.epoch * loop.batchesPerEpoch + batch, loop.batchesPerEpoch);
  }

  onEpochBegin(loop: TrainLoop, firstBatch: number): void {
    loop.batchLr = this.lrAt(loop, firstBatch);
  }

  onBatchBegin(loop: TrainLoop, batch: number): void {
    loop.batchLr = this.lrAt(loop, batch);
  }
}
