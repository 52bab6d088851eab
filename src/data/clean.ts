import { NUM_CLASSES } from './classes';
import { SPLITS, SplitName } from './dataset';
import { RowStore } from './rowStore';

/** Why a row is not in the prepared dataset. Stable keys: they appear in manifest.json. */
export const DROP_REASONS = [
  'bad-columns', // not exactly 3 columns
  'bad-label', // emotion not an integer 0..6
  'bad-usage', // Usage not Training / PublicTest / PrivateTest
  'bad-pixel', // a pixel that is not an integer 0..255
  'bad-pixel-count', // not 48×48 pixels
  'csv-syntax', // a record csv-parse cannot read (broken quoting)
  'blank', // standard deviation of the grey levels below --min-std
  'duplicate', // the same image again in the same split with the same label (one copy is kept)
  'conflicting-duplicate', // the same image in the same split with different labels (all copies dropped)
  'leak', // the same image in an evaluation split: dropped from train (or from val when also in test)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface DropExample {
  line: number;
  message: string;
}

export interface DropTally {
  count: number;
  /** The first few rows dropped for this reason (capped). */
  examples: DropExample[];
}

/** Counts and capped examples per drop reason. */
export class Drops {
  readonly byReason: Record<DropReason, DropTally>;
  constructor(private readonly maxExamples: number) {
    this.byReason = Object.fromEntries(DROP_REASONS.map((r) => [r, { count: 0, examples: [] }])) as unknown as Record<DropReason, DropTally>;
  }

  add(reason: DropReason, line: number, message: string | (() => string)): void {
    const t = this.byReason[reason];
    t.count++;
    if (t.examples.length < this.maxExamples) t.examples.push({ line, message: typeof message === 'string' ? message : message() });
  }
}

/** The Usage value each split comes from. */
export const SPLIT_USAGE: Record<SplitName, string> = { train: 'Training', val: 'PublicTest', test: 'PrivateTest' };

export interface CleanOptions {
  keepDuplicates: boolean;
  keepLeaks: boolean;
}

const TRAIN = 0;
const VAL = 1;
const TEST = 2;
const NSPLITS = SPLITS.length;

/**
 * Decide which stored rows survive duplicate and leakage checks. Returns, per split, the kept row indices in
 * input order. Images are grouped by hash and confirmed byte for byte, so a hash collision never merges two
 * different faces.
 */
export function cleanRows(store: RowStore, opts: CleanOptions, drops: Drops): Int32Array[] {
  const n = store.count;
  const group = groupImages(store);
  const groups = group.count;
  const keep = new Uint8Array(n).fill(1);

  if (!opts.keepDuplicates) {
    // Per (image, split): first row seen, and whether the copies disagree on the label.
    const first = new Int32Array(groups * NSPLITS).fill(-1);
    const conflict = new Uint8Array(groups * NSPLITS);
    for (let i = 0; i < n; i++) {
      const k = group.of[i] * NSPLITS + store.splits[i];
      if (first[k] < 0) first[k] = i;
      else if (store.labels[first[k]] !== store.labels[i]) conflict[k] = 1;
    }
    for (let i = 0; i < n; i++) {
      const k = group.of[i] * NSPLITS + store.splits[i];
      const f = first[k];
      if (conflict[k]) {
        keep[i] = 0;
        drops.add('conflicting-duplicate', store.lines[i], () => f === i
          ? `same image appears again in ${SPLIT_USAGE[SPLITS[store.splits[i]]]} with another label; all copies dropped`
          : `same image as line ${store.lines[f]} with label ${store.labels[i]} vs ${store.labels[f]}; all copies dropped`);
      } else if (f !== i) {
        keep[i] = 0;
        drops.add('duplicate', store.lines[i], () => `same image and label as line ${store.lines[f]} (${SPLIT_USAGE[SPLITS[store.splits[i]]]})`);
      }
    }
  }

  if (!opts.keepLeaks) {
    // First kept row of each image in each split; an image kept in an evaluation split leaves train.
    const firstKept = new Int32Array(groups * NSPLITS).fill(-1);
    for (let i = 0; i < n; i++) {
      if (!keep[i]) continue;
      const k = group.of[i] * NSPLITS + store.splits[i];
      if (firstKept[k] < 0) firstKept[k] = i;
    }
    for (let i = 0; i < n; i++) {
      if (!keep[i]) continue;
      const s = store.splits[i];
      const base = group.of[i] * NSPLITS;
      const other = s === TRAIN ? (firstKept[base + TEST] >= 0 ? firstKept[base + TEST] : firstKept[base + VAL]) : s === VAL ? firstKept[base + TEST] : -1;
      if (other >= 0) {
        keep[i] = 0;
        drops.add('leak', store.lines[i], () => `${SPLIT_USAGE[SPLITS[s]]} image also in ${SPLIT_USAGE[SPLITS[store.splits[other]]]} at line ${store.lines[other]}; dropped from ${SPLITS[s]}`);
      }
    }
  }

  const counts = new Int32Array(NSPLITS);
  for (let i = 0; i < n; i++) if (keep[i]) counts[store.splits[i]]++;
  const order = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(NSPLITS);
  for (let i = 0; i < n; i++) if (keep[i]) order[store.splits[i]][fill[store.splits[i]]++] = i;
  return order;
}

/** Assign each row an image id: rows with byte-identical pixels share one. */
function groupImages(store: RowStore): { of: Int32Array; count: number } {
  const of = new Int32Array(store.count);
  const byHash = new Map<number, number>(); // hash → first group with that hash
  const groupRow: number[] = []; // a representative row per group
  const nextWithHash: number[] = []; // collision chain: another group with the same hash, or -1
  for (let i = 0; i < store.count; i++) {
    const h = store.hashes[i];
    let g = byHash.get(h);
    if (g === undefined) {
      g = newGroup(i);
      byHash.set(h, g);
    } else {
      for (;;) {
        if (store.sameImage(groupRow[g], i)) break;
        if (nextWithHash[g] < 0) {
          const fresh = newGroup(i);
          nextWithHash[g] = fresh;
          g = fresh;
          break;
        }
        g = nextWithHash[g];
      }
    }
    of[i] = g;
  }
  return { of, count: groupRow.length };

  function newGroup(row: number): number {
    groupRow.push(row);
    nextWithHash.push(-1);
    return groupRow.length - 1;
  }
}

/**
 * Move a seeded, per-class fraction of train rows to val (used when the CSV has no PublicTest rows). Both
 * results stay in input order.
 */
export function carveValidation(store: RowStore, train: Int32Array, fraction: number, seed: number): { train: Int32Array; val: Int32Array } {
  const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  for (const i of train) byClass[store.labels[i]].push(i);
  const random = mulberry32(seed);
  const toVal = new Set<number>();
  for (const rows of byClass) {
    const take = Math.round(rows.length * fraction);
    // Partial Fisher–Yates: the first `take` slots become a uniform sample.
    for (let k = 0; k < take; k++) {
      const j = k + Math.floor(random() * (rows.length - k));
      [rows[k], rows[j]] = [rows[j], rows[k]];
      toVal.add(rows[k]);
    }
  }
  const keptTrain = new Int32Array(train.length - toVal.size);
  const val = new Int32Array(toVal.size);
  let t = 0;
  let v = 0;
  for (const i of train) {
    if (toVal.has(i)) val[v++] = i;
    else keptTrain[t++] = i;
  }
  return { train: keptTrain, val };
}

/** Small, fast, seedable PRNG (uniform in [0, 1)); the same seed gives the same split everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export { TRAIN, VAL, TEST };
