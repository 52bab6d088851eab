import * as fs from 'fs';
import * as path from 'path';
import { writeNpy } from '../src/data/npy';
import { Split } from '../src/data/dataset';

/**
 * Synthetic 48×48 faces for training tests: class k is a bright 12×12 square at a class-specific place on dim
 * noise, so a tiny net learns it in a few epochs. Deterministic for a given seed.
 */
export function synthSplit(count: number, seed: number): Split {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const images = new Uint8Array(count * 2304);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 7;
    labels[i] = k;
    const base = i * 2304;
    for (let p = 0; p < 2304; p++) images[base + p] = Math.floor(rand() * 90);
    const cx = 4 + (k % 4) * 11;
    const cy = 6 + Math.floor(k / 4) * 22;
    for (let y = cy; y < cy + 12; y++) for (let x = cx; x < cx + 12; x++) images[base + y * 48 + x] = 210 + Math.floor(rand() * 40);
  }
  return { images, labels, count };
}

/** Write a prepared-dataset directory (the layout of src/data/dataset.ts) with the given splits. */
export function writePrepared(dir: string, splits: { train?: Split; val?: Split }): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ synthetic: true }));
  for (const [name, split] of Object.entries(splits)) {
    if (!split) continue;
    writeNpy(path.join(dir, `${name}_images.npy`), { dtype: 'uint8', shape: [split.count, 48, 48], data: split.images });
    writeNpy(path.join(dir, `${name}_labels.npy`), { dtype: 'uint8', shape: [split.count], data: split.labels });
  }
  return dir;
}
