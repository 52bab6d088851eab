import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { FerError, describeFsError } from '../../util/errors';
import { Ema } from '../ema';
import { EMA_BIN, TRAIN_STATE } from '../state';
import { BatchNormRecalibration } from './batchnorm';
import { TrainCallback, TrainLoop, ValidationLogs } from './base';

/**
 * Weight EMA (src/train/ema.ts): updated after every batch; at validation the trained weights are scored first
 * (`rawValAcc`), then the average is swapped in with its own BatchNorm statistics, validated and offered to
 * `best`; afterwards the trained weights and their statistics go back, so `last` holds what training continues.
 * State: the update count under "ema", the averaged weights in last/ema.bin.
 * Must come after BatchNormRecalibration and BestCheckpoint in the list.
 */
export class EmaCallback implements TrainCallback {
  readonly name = 'Ema';
  readonly stateKey = 'ema';
  readonly ema: Ema;
  private rawStats: tf.Tensor[] = [];

  constructor(vars: tf.Variable[], decay: number | 'mean', private readonly bn: BatchNormRecalibration | null) {
    this.ema = new Ema(vars, decay);
  }

  onBatchEnd(): void {
    this.ema.update();
  }

  async onValidationBegin(loop: TrainLoop, logs: ValidationLogs): Promise<void> {
    logs.rawValAcc = (await loop.validate()).acc;
    // The trained weights' BatchNorm statistics, put back with them in onValidationEnd.
    this.rawStats = loop.model.nonTrainableWeights.map((w) => w.read().clone());
    this.ema.swap();
    this.bn?.recalibrate(loop);
  }

  onValidationEnd(loop: TrainLoop): void {
    this.ema.swap();
    loop.model.nonTrainableWeights.forEach((w, i) => w.write(this.rawStats[i]));
    this.rawStats.forEach((t) => t.dispose());
    this.rawStats = [];
  }

  getState(): { updates: number } {
    return { updates: this.ema.updates };
  }

  stateFiles(): Record<string, Uint8Array> {
    return { [EMA_BIN]: this.ema.encode() };
  }

  setState(state: unknown, dir: string): void {
    const s = state as { updates: number } | undefined;
    const file = path.join(dir, EMA_BIN);
    if (!s || !fs.existsSync(file)) throw new FerError(`${path.join(dir, TRAIN_STATE)}: the run averages weights (--ema) but ${EMA_BIN} is missing`);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw new FerError(`cannot resume: ${describeFsError(e, file)}`);
    }
    this.ema.restore(bytes, s.updates, file);
  }

  dispose(): void {
    this.rawStats.forEach((t) => t.dispose());
    this.ema.dispose();
  }
}
