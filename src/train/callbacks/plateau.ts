import { EarlyStopping as EarlyStoppingRule, EarlyStoppingState, MonitorName, PlateauOptions, PlateauState, ReduceLROnPlateau as PlateauRule } from '../plateau';
import { fmtLr, pct } from './format';
import { BestCheckpoint } from './checkpoints';
import { EpochEnd, TrainCallback, TrainLoop } from './base';

/**
 * keras.callbacks.ReduceLROnPlateau: steps the base LR down when the monitored metric stalls. Its state is kept
 * under "plateau" even when `active` is false (a cosine run), so every checkpoint has the same shape.
 */
export class ReduceLROnPlateauCallback implements TrainCallback {
  readonly name = 'ReduceLROnPlateau';
  readonly stateKey = 'plateau';
  readonly rule: PlateauRule;

  /**
   * @param restore  false when the saved count was kept for another metric (a resumed run that changed
   *                 `plateau.monitor`): such a count means nothing for the new one.
   */
  constructor(options: Partial<PlateauOptions>, readonly active = true, private readonly restore = true) {
    this.rule = new PlateauRule(options);
  }

  onEpochEnd(loop: TrainLoop, end: EpochEnd): void {
    if (!this.active) return;
    const o = this.rule.options;
    const next = this.rule.step(end.record[o.monitor], loop.lr);
    if (!next.reduced) return;
    loop.note(`${loop.title}: ReduceLROnPlateau: ${o.monitor} has not improved for ${o.patience} epoch${o.patience === 1 ? '' : 's'}; `
      + `LR ${fmtLr(loop.lr)} → ${fmtLr(next.lr)}`);
    loop.lr = next.lr;
    loop.lrChangedBy = 'plateau';
  }

  getState(): PlateauState {
    return this.rule.getState();
  }

  setState(state: unknown): void {
    if (this.restore && state) this.rule.setState(state as PlateauState);
  }
}

/**
 * keras.callbacks.EarlyStopping on val_acc: ends the run once `patience` epochs pass without a better one
 * (0 = never; the state is still kept so the patience may be set on a later --resume).
 */
export class EarlyStoppingCallback implements TrainCallback {
  readonly name = 'EarlyStopping';
  readonly stateKey = 'earlyStop';
  readonly monitor: MonitorName = 'val_acc';
  private readonly rule: EarlyStoppingRule;

  constructor(readonly patience: number, private readonly best?: BestCheckpoint) {
    this.rule = new EarlyStoppingRule(this.monitor, Math.max(1, patience));
  }

  onEpochEnd(loop: TrainLoop, end: EpochEnd): void {
    if (this.patience <= 0 || !this.rule.step(end.record[this.monitor])) return;
    loop.stoppedEarly = true;
    const b = this.best?.best;
    if (b) loop.note(`${loop.title}: early stop: val_acc has not improved for ${this.patience} epochs (best ${pct(b.val_acc)} at epoch ${b.epoch})`);
  }

  getState(): EarlyStoppingState {
    return this.rule.getState();
  }

  setState(state: unknown): void {
    if (state) this.rule.setState(state as EarlyStoppingState);
  }
}
