import { recalibrateBatchNorm } from '../batchnorm';
import { TrainCallback, TrainLoop } from './base';

/**
 * "Precise BatchNorm" before every validation: re-estimates the BatchNorm statistics on `samples` un-augmented
 * training faces (src/train/batchnorm.ts). Stateless; the EMA callback calls `recalibrate` again for the averaged
 * weights.
 */
export class BatchNormRecalibration implements TrainCallback {
  readonly name = 'BatchNormRecalibration';
  constructor(readonly samples: number, readonly batchSize: number) {}

  recalibrate(loop: TrainLoop): void {
    if (this.samples > 0) recalibrateBatchNorm(loop.model, loop.train.images, loop.train.count, this.samples, this.batchSize);
  }

  onValidationBegin(loop: TrainLoop): void {
    this.recalibrate(loop);
  }
}
