import { writeHistory } from '../history';
import { EpochRecord } from '../state';
import { EpochEnd, TrainCallback, TrainLoop } from './base';

/**
 * Keras' History, plus the files: keeps every epoch's record (saved under "history") and, after `last` is saved,
 * writes history.json / .csv and the curves beside the checkpoints.
 */
export class History implements TrainCallback {
  readonly name = 'History';
  readonly stateKey = 'history';
  history: EpochRecord[] = [];

  constructor(readonly dir: string) {}

  onValidationEnd(_loop: TrainLoop, end: EpochEnd): void {
    this.history = [...this.history, end.record];
  }

  async onEpochEnd(loop: TrainLoop): Promise<void> {
    await writeHistory(this.dir, this.history, loop.title);
  }

  getState(): EpochRecord[] {
    return this.history;
  }

  setState(state: unknown): void {
    this.history = (state as EpochRecord[] | undefined) ?? [];
  }
}
