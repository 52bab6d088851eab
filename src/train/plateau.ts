/**
 * ReduceLROnPlateau and EarlyStopping with Keras' semantics (tf.keras.callbacks), as plain state machines: the
 * training loop feeds them one metric value per epoch, and their whole state is JSON so `--resume` restores it.
 */
export type MonitorName = 'val_loss' | 'val_acc' | 'loss' | 'acc';
export const MONITORS: readonly MonitorName[] = ['val_loss', 'val_acc', 'loss', 'acc'];

/** Keras' mode 'auto': accuracies are maximised, everything else minimised. */
export function monitorMode(monitor: MonitorName): 'min' | 'max' {
  return monitor.endsWith('acc') ? 'max' : 'min';
}

export interface PlateauOptions {
  monitor: MonitorName;
  /** New LR = LR × factor (Keras default 0.1). */
  factor: number;
  /** Epochs with no improvement before the LR is reduced. */
  patience: number;
  /** Epochs to wait after a reduction before counting again. */
  cooldown: number;
  /** The LR never goes below this. */
  minLr: number;
  /** An improvement must beat the best by more than this. */
  minDelta: number;
}

export const DEFAULT_PLATEAU: PlateauOptions = { monitor: 'val_loss', factor: 0.5, patience: 3, cooldown: 0, minLr: 1e-5, minDelta: 1e-4 };

export interface PlateauState {
  best: number | null;
  wait: number;
  cooldownCounter: number;
}

function improved(mode: 'min' | 'max', current: number, best: number | null, minDelta: number): boolean {
  if (best === null) return true;
  return mode === 'min' ? current < best - minDelta : current > best + minDelta;
}

export class ReduceLROnPlateau {
  readonly options: PlateauOptions;
  private state: PlateauState = { best: null, wait: 0, cooldownCounter: 0 };

  constructor(options: Partial<PlateauOptions> = {}) {
    this.options = { ...DEFAULT_PLATEAU, ...options };
    if (!(this.options.factor > 0 && this.options.factor < 1)) throw new RangeError(`plateau factor must be in (0, 1), got ${this.options.factor}`);
  }

  /**
   * Feed the monitored value at the end of an epoch; returns the LR to use from now on (the same LR when the
   * callback does not fire). Mirrors keras.callbacks.ReduceLROnPlateau.on_epoch_end.
   */
  step(current: number, lr: number): { lr: number; reduced: boolean } {
    const o = this.options;
    const s = this.state;
    const inCooldown = (): boolean => s.cooldownCounter > 0;
    if (inCooldown()) {
      s.cooldownCounter -= 1;
      s.wait = 0;
    }
    if (improved(monitorMode(o.monitor), current, s.best, o.minDelta)) {
      s.best = current;
      s.wait = 0;
    } else if (!inCooldown()) {
      s.wait += 1;
      if (s.wait >= o.patience && lr > o.minLr) {
        s.cooldownCounter = o.cooldown;
        s.wait = 0;
        return { lr: Math.max(lr * o.factor, o.minLr), reduced: true };
      }
    }
    return { lr, reduced: false };
  }

  getState(): PlateauState {
    return { ...this.state };
  }

  setState(state: PlateauState): void {
    this.state = { ...state };
  }
}

export interface EarlyStoppingState {
  best: number | null;
  wait: number;
}

/** keras.callbacks.EarlyStopping: stop once `patience` epochs pass without an improvement of the monitor. */
export class EarlyStopping {
  private state: EarlyStoppingState = { best: null, wait: 0 };
  constructor(readonly monitor: MonitorName, readonly patience: number, readonly minDelta = 0) {}

  /** Returns true when training should stop after this epoch. */
  step(current: number): boolean {
    if (improved(monitorMode(this.monitor), current, this.state.best, this.minDelta)) {
      this.state.best = current;
      this.state.wait = 0;
      return false;
    }
    this.state.wait += 1;
    return this.state.wait >= this.patience;
  }

  getState(): EarlyStoppingState {
    return { ...this.state };
  }

  setState(state: EarlyStoppingState): void {
    this.state = { ...state };
  }
}
