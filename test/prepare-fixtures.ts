import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { tmpDir } from './helpers';

/** Small synthetic FER2013-format CSVs for the prepare tests (no FER2013 data is ever committed). */

export const HEADER = 'emotion,pixels,Usage';
export const N_PIXELS = 48 * 48;

/** A deterministic, textured 48×48 "face" (std well above the blank threshold); different seeds differ. */
export function fakeImage(seed: number): Uint8Array {
  const img = new Uint8Array(N_PIXELS);
  let s = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < N_PIXELS; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    img[i] = s >>> 24;
  }
  return img;
}

export function constantImage(value: number): Uint8Array {
  return new Uint8Array(N_PIXELS).fill(value);
}

export function pixelsText(img: ArrayLike<number>): string {
  return Array.from(img).join(' ');
}

export function row(label: number | string, img: ArrayLike<number> | string, usage: string): string {
  return `${label},${typeof img === 'string' ? img : pixelsText(img)},${usage}`;
}

export function csvText(rows: string[], eol = '\n'): string {
  return [HEADER, ...rows].join(eol) + eol;
}

export function writeCsv(rows: string[], opts: { name?: string; gzip?: boolean; eol?: string; dir?: string } = {}): string {
  const dir = opts.dir ?? tmpDir('fer-prep-');
  const text = csvText(rows, opts.eol);
  const file = path.join(dir, opts.name ?? (opts.gzip ? 'fer.csv.gz' : 'fer.csv'));
  fs.writeFileSync(file, opts.gzip ? zlib.gzipSync(text) : text);
  return file;
}

/**
 * A CSV exercising every cleaning rule; `lines` gives each interesting row's line number (header = line 1).
 */
export function mixedRows(): { rows: string[]; lines: Record<string, number> } {
  const rows: string[] = [];
  const lines: Record<string, number> = {};
  const add = (name: string, r: string): void => {
    rows.push(r);
    lines[name] = rows.length + 1;
  };
  // Good rows: 3 per class in Training, 1 per class in PublicTest and PrivateTest.
  for (let c = 0; c < 7; c++) for (let k = 0; k < 3; k++) add(`train${c}_${k}`, row(c, fakeImage(100 + c * 10 + k), 'Training'));
  for (let c = 0; c < 7; c++) add(`val${c}`, row(c, fakeImage(200 + c), 'PublicTest'));
  for (let c = 0; c < 7; c++) add(`test${c}`, row(c, fakeImage(300 + c), 'PrivateTest'));
  // Malformed rows.
  add('badColumns', `3,${pixelsText(fakeImage(1))}`);
  add('badLabel', row(7, fakeImage(2), 'Training'));
  add('badUsage', row(3, fakeImage(3), 'Validation'));
  add('shortPixels', row(3, fakeImage(4).subarray(0, N_PIXELS - 1), 'Training'));
  add('badPixel', row(3, pixelsText(fakeImage(5)).replace(/^\d+/, '256'), 'Training'));
  add('nonInteger', row(3, pixelsText(fakeImage(6)).replace(/ \d+ /, ' 1.5 '), 'Training'));
  // Blank and near-constant.
  add('blank', row(6, constantImage(0), 'Training'));
  const nearly = constantImage(128);
  nearly[0] = 131;
  add('nearlyBlank', row(6, nearly, 'PublicTest'));
  // Duplicates within Training: same label twice (keep the first), conflicting labels (drop all three).
  add('dupSame', row(0, fakeImage(100), 'Training'));
  add('conflictA', row(1, fakeImage(500), 'Training'));
  add('conflictB', row(2, fakeImage(500), 'Training'));
  add('conflictC', row(1, fakeImage(500), 'Training'));
  // Leakage: a PublicTest image also in Training (dropped from train), a PrivateTest image also in
  // PublicTest (dropped from val).
  add('leakTrain', row(4, fakeImage(204), 'Training'));
  add('leakVal', row(5, fakeImage(305), 'PublicTest'));
  return { rows, lines };
}
