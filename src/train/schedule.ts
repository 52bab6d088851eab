/**
 * Learning-rate schedules as pure functions of the position in the run (global batch index), so a resumed run
 * is at the same place of its schedule with nothing but the epoch and batch counters saved.
 *
 * plateau  the LR is a plain value that ReduceLROnPlateau (or --set-lr) steps down between epochs
 * cosine   linear warm-up, then half a cosine from the peak LR down to `minLr`, ending at the planned last epoch
 *          (Loshchilov & Hutter's SGDR without restarts); after the planned end the LR stays at `minLr`
 * constant the LR stays at its value (after warm-up): the averaging phase of stochastic weight averaging
 *          (Izmailov et al. 2018) when a trained net is fine-tuned with `init` and `swa`
 * Warm-up (linear from LR/steps to LR over `warmup` epochs) applies to all three.
 */
export const SCHEDULES = ['plateau', 'cosine', 'constant'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface ScheduleSpec {
  kind: ScheduleName;
  /** Warm-up length in epochs (may be fractional); 0 = none. */
  warmup: number;
  /** Epoch at which the cosine reaches `minLr` (the run's planned length). */
  epochs: number;
  minLr: number;
}

/**
 * LR for the batch at global index `step` (0-based) with `batchesPerEpoch` batches an epoch. `lr` is the current
 * base LR: for plateau the value ReduceLROnPlateau maintains, for cosine the peak, for constant the LR itself.
 */
export function scheduledLr(spec: ScheduleSpec, lr: number, step: number, batchesPerEpoch: number): number {
  const warmSteps = Math.round(spec.warmup * batchesPerEpoch);
  const warm = warmSteps > 0 && step < warmSteps ? (step + 1) / warmSteps : 1;
  if (spec.kind !== 'cosine') return lr * warm;
  const total = spec.epochs * batchesPerEpoch;
  if (step < warmSteps) return lr * warm;
  const span = Math.max(1, total - warmSteps);
  const p = Math.min(1, Math.max(0, (step - warmSteps) / span));
  const floor = Math.min(spec.minLr, lr);
  return floor + (lr - floor) * 0.5 * (1 + Math.cos(Math.PI * p));
}
