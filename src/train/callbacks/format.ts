/** Number formats of the trainer's notes (and of `fer train`'s lines, which use the same). */
export function fmtLr(lr: number): string {
  return lr.toExponential(1);
}

export function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}
