import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE, NUM_CLASSES } from '../src/data/classes';
import { MANIFEST, SplitName, splitFiles } from '../src/data/dataset';
import { writeNpy } from '../src/data/npy';
import { bestModelDir } from '../src/models/checkpoints';
import { saveModelDir } from '../src/models/io';

export const PX = IMAGE_SIZE * IMAGE_SIZE;

/**
 * A tiny net whose answer is known in advance: it predicts class c for a face of uniform brightness c/6
 * (0..255 scale), confidently. Global mean m → logits_c = K(c/3)m − K c²/36, i.e. −K(m − c/6)² up to a
 * term shared by all classes.
 */
export function brightnessNet(k = 200): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.globalAveragePooling2d({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1] }),
      tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax' }),
    ],
  });
  const kernel = Array.from({ length: NUM_CLASSES }, (_, c) => (k * c) / 3);
  const bias = Array.from({ length: NUM_CLASSES }, (_, c) => (-k * c * c) / 36);
  model.setWeights([tf.tensor2d([kernel]), tf.tensor1d(bias)]);
  return model;
}

/** A net with fixed pseudo-random weights over all pixels: its output changes when a face is mirrored. */
export function asymmetricNet(seed = 7): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1] }),
      tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ stddev: 0.2, seed }) }),
    ],
  });
}

/** Uniform faces of brightness round(255·c/6) for each class c given. */
export function uniformFaces(classes: number[]): Uint8Array {
  const out = new Uint8Array(classes.length * PX);
  classes.forEach((c, i) => out.fill(Math.round((255 * c) / 6), i * PX, (i + 1) * PX));
  return out;
}

/** Deterministic noise faces (a left-right asymmetric gradient plus a hash) for throughput/TTA tests. */
export function noiseFaces(count: number, seed = 1): Uint8Array {
  const out = new Uint8Array(count * PX);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 24) + (i % IMAGE_SIZE) * 2) & 0xff;
  }
  return out;
}

/** A prepared-dataset directory (the layout `fer prepare` writes) with the given splits. */
export function writePreparedDir(dir: string, splits: Partial<Record<SplitName, { images: Uint8Array; labels: number[] }>>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, s] of Object.entries(splits) as [SplitName, { images: Uint8Array; labels: number[] }][]) {
    const files = splitFiles(dir, name);
    writeNpy(files.images, { dtype: 'uint8', shape: [s.labels.length, IMAGE_SIZE, IMAGE_SIZE], data: s.images });
    writeNpy(files.labels, { dtype: 'uint8', shape: [s.labels.length], data: Uint8Array.from(s.labels) });
  }
  fs.writeFileSync(path.join(dir, MANIFEST), JSON.stringify({ note: 'test fixture' }));
  return dir;
}

/** Save models as the `best` checkpoints of nets 1, 2, … in a checkpoints directory. */
export async function writeCheckpoints(dir: string, models: Record<number, tf.LayersModel>): Promise<string> {
  for (const [net, model] of Object.entries(models)) await saveModelDir(model, bestModelDir(dir, Number(net)));
  return dir;
}

/**
 * A FER2013-format CSV (emotion,pixels,Usage). Each face shows brightness class `shown` as its mean, with a
 * ±10 checkerboard so `fer prepare`'s blank-image filter keeps it, and one pixel set from the row number so
 * no two rows are duplicates.
 */
export function fer2013Csv(rows: { label: number; shown: number; usage: 'Training' | 'PublicTest' | 'PrivateTest' }[]): string {
  const lines = ['emotion,pixels,Usage'];
  rows.forEach((r, i) => {
    const base = Math.round((255 * r.shown) / 6);
    const px = Array.from({ length: PX }, (_, p) => Math.min(255, Math.max(0, base + (((p % IMAGE_SIZE) + Math.floor(p / IMAGE_SIZE)) % 2 === 0 ? 10 : -10))));
    px[0] = i % 256;
    px[1] = Math.floor(i / 256);
    lines.push(`${r.label},${px.join(' ')},${r.usage}`);
  });
  return `${lines.join('\n')}\n`;
}
