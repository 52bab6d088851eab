import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE } from '../data/classes';
import { EXIT, InvalidParameterError } from '../util/errors';

/**
 * Nets trained on random crops of the 48×48 face (`fer train --crop 44`) take a smaller input. Their input size is
 * in the model itself (model.json's input shape), so every consumer — evaluation, prediction, BatchNorm
 * re-estimation — centre-crops the 48-px face to fit; a 48-px net sees the whole face, as before.
 *
 * Test-time augmentation (TTA) modes:
 *   flip    the face and its mirror (2 views)
 *   5crop   centre and four corner crops (5 views; for a 48-px net all five are the whole face, i.e. 1 view)
 *   10crop  the five crops and their mirrors (10 views; for a 48-px net the same as flip)
 * Scores of the distinct views are averaged.
 */
export const TTA_MODES = ['none', 'flip', '5crop', '10crop'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

/** `tta` options as callers pass them: true = flip (the one TTA older versions had), false/undefined = none. */
export function ttaMode(tta: boolean | TtaMode | undefined): TtaMode {
  if (tta === true) return 'flip';
  if (tta === false || tta === undefined) return 'none';
  return tta;
}

/** Parse a --tta value (commander passes `true` for the bare flag). */
export function parseTtaFlag(v: string | boolean): TtaMode {
  if (v === true) return 'flip';
  if (typeof v === 'string' && (TTA_MODES as readonly string[]).includes(v)) return v as TtaMode;
  throw new InvalidParameterError('tta', (n) => `${n('tta')} ${String(v)}: choose one of ${TTA_MODES.join(', ')} (bare ${n('tta')} = flip)`, EXIT.USAGE);
}

/** Side of the square input a model takes (48 for the original nets). */
export function modelInputSize(model: tf.LayersModel): number {
  const shape = model.inputs[0]?.shape;
  const h = shape?.[1];
  return typeof h === 'number' && h > 0 ? h : IMAGE_SIZE;
}

/** Top-left corners [y, x] of the distinct crops of side `size` from an S×S face for `mode`. */
export function cropOffsets(size: number, mode: TtaMode, face = IMAGE_SIZE): [number, number][] {
  if (size > face) throw new RangeError(`crop ${size} is larger than the ${face}-px face`);
  const m = face - size;
  const centre = Math.floor(m / 2);
  const all: [number, number][] = mode === '5crop' || mode === '10crop' ? [[centre, centre], [0, 0], [0, m], [m, 0], [m, m]] : [[centre, centre]];
  const seen = new Set<string>();
  return all.filter(([y, x]) => {
    const k = `${y},${x}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Whether `mode` adds mirrored views. */
export function ttaFlips(mode: TtaMode): boolean {
  return mode === 'flip' || mode === '10crop';
}

/** The centre `size`×`size` crop of NHWC faces (the tensor itself when it already has that size). */
export function centreCrop(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const s = x.shape[1];
  if (s === size) return x;
  const o = Math.floor((s - size) / 2);
  return tf.slice(x, [0, o, o, 0], [x.shape[0], size, size, x.shape[3]]);
}

/**
 * Views of a small batch that go through the net as one concatenated batch (`predictViews`): above this many
 * images each view gets its own forward pass, so evaluation batches keep their size and memory.
 */
export const CONCAT_VIEWS_MAX = 64;

/**
 * Mean softmax scores of `model` over the TTA views of 48-px faces `x` (NHWC, [0, 1]); to be called inside
 * tf.tidy. The mean of a single view is that view's scores, so mode 'none' costs one forward pass. When the views
 * of all faces together are at most CONCAT_VIEWS_MAX images (a video frame's or a photo's faces) they go through
 * the net as one batch: one pass instead of one per view, which cuts flip's cost per frame (`npm run bench:predict`
 * times both; `concatMax` overrides the limit, 0 = always one pass per view).
 */
export function predictViews(model: tf.LayersModel, x: tf.Tensor4D, mode: TtaMode, opts: { concatMax?: number } = {}): tf.Tensor {
  const size = modelInputSize(model);
  const views: tf.Tensor4D[] = [];
  for (const [y, xo] of cropOffsets(size, mode, x.shape[1])) {
    const v = size === x.shape[1] ? x : tf.slice(x, [0, y, xo, 0], [x.shape[0], size, size, x.shape[3]]);
    views.push(v);
    if (ttaFlips(mode)) views.push(tf.reverse(v, 2));
  }
  // One forward pass over the whole batch: model.predict's default batchSize (32) would split it, which
  // costs 1.11× more CPU for net 3 on the native accelerator at batch 64 (measured in one process).
  const run = (v: tf.Tensor4D): tf.Tensor => model.predict(v, { batchSize: Math.max(1, v.shape[0]) }) as tf.Tensor;
  if (views.length === 1) return run(views[0]);
  const n = x.shape[0];
  if (n * views.length <= (opts.concatMax ?? CONCAT_VIEWS_MAX)) {
    const all = run(tf.concat(views, 0));
    return tf.mean(tf.reshape(all, [views.length, n, all.shape[1] as number]), 0);
  }
  let sum = run(views[0]);
  for (let i = 1; i < views.length; i++) sum = sum.add(run(views[i]));
  return sum.div(views.length);
}
