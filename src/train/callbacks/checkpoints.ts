import * as tf from '@tensorflow/tfjs';
import { ExtraFiles, saveModelDir } from '../../models/io';
import { TRAIN_INFO } from '../state';
import { EpochEnd, TrainCallback, TrainEnd, TrainLoop } from './base';

/** The model's Dropout layers, whose per-batch seed the loop sets (tfjs reads `this.seed` on every call). */
export function dropoutLayers(model: tf.LayersModel): { seed?: number }[] {
  return model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[];
}

/** Save the model and `files` into `dir` by an atomic swap; a checkpoint never carries a batch's dropout seed. */
export async function saveCheckpoint(model: tf.LayersModel, dir: string, files: ExtraFiles): Promise<void> {
  for (const d of dropoutLayers(model)) d.seed = undefined;
  await saveModelDir(model, dir, files);
}

export interface BestSoFar {
  epoch: number;
  val_acc: number;
}

/**
 * Keras' ModelCheckpoint(save_best_only, monitor val_acc): after validation, while the validated weights (the
 * EMA's, with EMA) are in the model, saves them to `dir` with train-info.json when val_acc beats the best so far.
 */
export class BestCheckpoint implements TrainCallback {
  readonly name = 'BestCheckpoint';
  readonly stateKey = 'best';
  best: BestSoFar | null = null;

  /** `info` is added to train-info.json (e.g. `{ weights: 'ema' }`). */
  constructor(readonly dir: string, private readonly info: Record<string, unknown> = {}) {}

  async onValidationEnd(loop: TrainLoop, end: EpochEnd): Promise<void> {
    const rec = end.record;
    end.isBest = this.best === null || rec.val_acc > this.best.val_acc;
    if (!end.isBest) return;
    this.best = { epoch: rec.epoch, val_acc: rec.val_acc };
    await saveCheckpoint(loop.model, this.dir, { [TRAIN_INFO]: JSON.stringify({ net: loop.net, settings: loop.settings, ...rec, ...this.info }, null, 1) });
  }

  getState(): BestSoFar | null {
    return this.best;
  }

  setState(state: unknown): void {
    this.best = (state as BestSoFar | null | undefined) ?? null;
  }
}

/**
 * Keras' BackupAndRestore: the `last` checkpoint (model, train-state.json, optimizer and every callback's state)
 * after every epoch, and at the batch where an interrupted run stopped, so --resume continues exactly there.
 */
export class LastCheckpoint implements TrainCallback {
  readonly name = 'LastCheckpoint';

  /** `files(partial)`: train-state.json and the binary state files for the loop's position. */
  constructor(readonly dir: string, private readonly files: (partial: TrainEnd['partial']) => ExtraFiles) {}

  async onEpochEnd(loop: TrainLoop): Promise<void> {
    await saveCheckpoint(loop.model, this.dir, this.files(null));
  }

  async onTrainEnd(loop: TrainLoop, end: TrainEnd): Promise<void> {
    if (!end.interrupted) return;
    if (end.partial) {
      await saveCheckpoint(loop.model, this.dir, this.files(end.partial));
      loop.note(`${loop.title}: interrupted in epoch ${loop.epoch + 1} after batch ${end.partial.batch}/${loop.batchesPerEpoch}; saved ${this.dir} (continue with --resume)`);
    } else {
      loop.note(`${loop.title}: interrupted after epoch ${loop.epoch}; saved ${this.dir} (continue with --resume)`);
    }
  }
}
