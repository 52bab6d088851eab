/** Index (relative to `offset`) of the largest of `length` values starting at `offset`; the lowest index on ties. */
export function argmax(values: ArrayLike<number>, offset = 0, length = values.length - offset): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[offset + k] > values[offset + best]) best = k;
  return best;
}
