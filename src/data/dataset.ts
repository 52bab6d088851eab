import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from '../util/errors';
import { IMAGE_SIZE, NUM_CLASSES } from './classes';
import { readNpy } from './npy';

/**
 * Prepared-dataset layout, written by `fer prepare` and read by train/eval:
 *   <dir>/manifest.json
 *   <dir>/<split>_images.npy   uint8, N × 48 × 48
 *   <dir>/<split>_labels.npy   uint8, N
 */
export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

export interface Split {
  /** N × 48 × 48 grey pixels, row-major. */
  images: Uint8Array;
  /** N labels in 0..6 (FER2013 order). */
  labels: Uint8Array;
  count: number;
}

export const MANIFEST = 'manifest.json';

export function splitFiles(dir: string, split: SplitName): { images: string; labels: string } {
  return { images: path.join(dir, `${split}_images.npy`), labels: path.join(dir, `${split}_labels.npy`) };
}

/** Where `fer prepare` writes and the other commands read a prepared dataset by default. */
export const DEFAULT_PREPARED_DIR = 'data/prepared';

/** A prepared dataset's manifest.json, which must be a JSON object (a broken one means a broken dataset). */
export function readManifest(dir: string): Record<string, unknown> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FerError(describeFsError(e, file));
  }
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new FerError(`${file}: not valid JSON (${(e as Error).message}); prepare the dataset again with \`fer prepare\``);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new FerError(`${file}: not a fer manifest (expected a JSON object)`);
  return j as Record<string, unknown>;
}

export function emptySplit(): Split {
  return { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 };
}

/**
 * Read one split of a prepared dataset; a missing dataset or split is a FerError saying what to run. With
 * `missingIsEmpty` a split whose files are absent reads as empty (callers that explain the gap themselves).
 */
export function loadPreparedSplit(dir: string, split: SplitName, opts: { missingIsEmpty?: boolean } = {}): Split {
  if (!fs.existsSync(path.join(dir, MANIFEST))) {
    throw new FerError(`${dir}: no prepared dataset (${MANIFEST} missing); run \`fer prepare data/fer2013.csv --out ${dir}\``);
  }
  readManifest(dir);
  const files = splitFiles(dir, split);
  if (!fs.existsSync(files.images) || !fs.existsSync(files.labels)) {
    if (opts.missingIsEmpty) return emptySplit();
    throw new FerError(`${dir}: split '${split}' is missing (${path.basename(files.images)})`);
  }
  const images = readNpy(files.images);
  const labels = readNpy(files.labels);
  if (images.dtype !== 'uint8' || images.shape.length !== 3 || images.shape[1] !== IMAGE_SIZE || images.shape[2] !== IMAGE_SIZE) {
    throw new FerError(`${files.images}: expected uint8 N×${IMAGE_SIZE}×${IMAGE_SIZE}, got ${images.dtype} ${images.shape.join('×')}`);
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new FerError(`${files.labels}: expected uint8 labels of length ${images.shape[0]}, got ${labels.dtype} ${labels.shape.join('×')}`);
  }
  const lab = labels.data as Uint8Array;
  for (let i = 0; i < lab.length; i++) {
    if (lab[i] >= NUM_CLASSES) throw new FerError(`${files.labels}: label ${lab[i]} at index ${i} is out of range 0..${NUM_CLASSES - 1}`);
  }
  return { images: images.data as Uint8Array, labels: lab, count: images.shape[0] };
}
