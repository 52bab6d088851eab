import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError, invalidParameterError, throwIfAborted, EXIT } from '../util/errors';
import { recoverDir, writeDirAtomic } from '../util/atomic';
import { RunLock, acquireLock } from '../util/lock';
import { FerFolder, checkOutputDir, checkOutputSafety, checkReplaceableDir } from '../util/outputSafety';
import { CLASS_NAMES, ClassName, IMAGE_SIZE, NUM_CLASSES } from './classes';
import { MANIFEST, SPLITS, Split, SplitName, splitFiles } from './dataset';
import { encodeNpy, npyHeader } from './npy';
import { PIXELS, parsePixels, pixelStd } from './pixels';
import { RowStore } from './rowStore';
import { CsvParserMode, readCsvRecords } from './csvRecords';
import { openSource } from './source';
import { DROP_REASONS, DropReason, DropTally, Drops, SPLIT_USAGE, carveValidation, cleanRows } from './clean';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const TOOL_VERSION = (require('../../package.json') as { version: string }).version;

/** How a caller follows and stops a prepare run: the library draws nothing and logs nothing itself. */
export interface PrepareHooks {
  /**
   * Stops the run: reading ends at the next chunk (or writing at the next split) and the call rejects with an
   * AbortedError (exit code 130); the output folder is left as it was and no temp files remain.
   */
  signal?: AbortSignal;
  /** Called after each chunk of input is read (about once per MiB). */
  onProgress?: (p: PrepareProgress) => void;
}

export interface PrepareOptions extends PrepareHooks {
  /**
   * When the CSV has no PublicTest rows, move this fraction of the cleaned train rows (per class, seeded) to
   * val. 0 (default) leaves val empty. Ignored, with a warning, when PublicTest rows exist.
   */
  valFraction?: number;
  /** Seed for --val-fraction. Default 42. */
  seed?: number;
  /** Images whose grey-level standard deviation is below this are dropped as blank. Default 3; 0 keeps all. */
  minStd?: number;
  /** Keep repeated images within a split (default: keep one copy; drop all when their labels disagree). */
  keepDuplicates?: boolean;
  /** Keep train (or val) images that also occur in an evaluation split (default: drop them there). */
  keepLeaks?: boolean;
  /** Examples listed per drop reason in the report. Default 10. */
  maxExamples?: number;
  /** Record splitting, see CsvParserMode. Default 'auto'. */
  parser?: CsvParserMode;
}

export interface PrepareProgress {
  bytesRead: number;
  totalBytes: number;
  rows: number;
}

export interface SplitReport {
  /** Rows in the prepared split. */
  count: number;
  perClass: Record<ClassName, number>;
  /** Where the rows came from. */
  from: string;
}

/** The summary of a prepare run; manifest.json holds exactly this. */
export interface PrepareReport {
  tool: { name: 'fer'; command: 'prepare'; version: string };
  created: string;
  source: { file: string; bytes: number; gzip: boolean; sha256: string };
  classes: string[];
  imageSize: number;
  options: {
    valFraction: number;
    seed: number;
    minStd: number;
    keepDuplicates: boolean;
    keepLeaks: boolean;
    parser: CsvParserMode;
  };
  rows: { read: number; kept: number; dropped: number };
  splits: Record<SplitName, SplitReport>;
  dropped: Record<DropReason, DropTally>;
  /** Chart files written beside the tensors (--chart). */
  charts: string[];
  warnings: string[];
}

const DEFAULTS = { valFraction: 0, seed: 42, minStd: 3, keepDuplicates: false, keepLeaks: false, maxExamples: 10, parser: 'auto' as CsvParserMode };

const USAGE_SPLIT = new Map<string, number>(SPLITS.map((s, i) => [SPLIT_USAGE[s], i]));
const HEADER = ['emotion', 'pixels', 'usage'];

interface Parsed {
  store: RowStore;
  order: Record<SplitName, Int32Array>;
  report: PrepareReport;
}

/** Stream, validate and clean the CSV; rows stay in the store, `order` says which rows form each split. */
async function parseAndClean(csvPath: string, opts: PrepareOptions): Promise<Parsed> {
  const o = normalizeOptions(opts);
  const src = openSource(csvPath);
  const store = new RowStore();
  const drops = new Drops(o.maxExamples);
  const sourceRows = new Int32Array(SPLITS.length);
  let headerSeen = false;
  let rowsRead = 0;

  const report = (): void => {
    opts.onProgress?.({ bytesRead: src.bytesRead(), totalBytes: src.info.bytes, rows: rowsRead });
  };

  async function* checked(): AsyncGenerator<Buffer> {
    let first = true;
    for await (const chunk of src.chunks) {
      throwIfAborted(opts.signal);
      if (first) {
        first = false;
        // A NUL byte never occurs in a text CSV: say "binary" instead of quoting garbage as a header.
        if (chunk.subarray(0, 4096).includes(0)) {
          throw new FerError(`${csvPath}: binary data${src.info.gzip ? ' inside the gzip' : ''}, not a FER2013 CSV`);
        }
      }
      yield chunk;
      report();
    }
  }

  const sink = {
    record(fields: Buffer[], line: number): void {
      if (!headerSeen) {
        checkHeader(fields, line, csvPath);
        headerSeen = true;
        return;
      }
      rowsRead++;
      if (fields.length !== 3) {
        drops.add('bad-columns', line, `${fields.length} column${fields.length === 1 ? '' : 's'}, expected 3 (emotion,pixels,Usage)`);
        return;
      }
      const label = parseLabel(fields[0]);
      if (label < 0) {
        drops.add('bad-label', line, () => `emotion ${quote(fields[0])} is not an integer 0..${NUM_CLASSES - 1}`);
        return;
      }
      const usage = fields[2].toString('latin1').trim();
      const split = USAGE_SPLIT.get(usage);
      if (split === undefined) {
        drops.add('bad-usage', line, () => `Usage ${quote(fields[2])} is not Training, PublicTest or PrivateTest`);
        return;
      }
      const pix = fields[1];
      const [dst, off] = store.slot();
      const r = parsePixels(pix, 0, pix.length, dst, off);
      if (typeof r !== 'number') {
        if (r.kind === 'count') drops.add('bad-pixel-count', line, `${r.count} pixels, expected ${PIXELS} (${IMAGE_SIZE}×${IMAGE_SIZE})`);
        else drops.add('bad-pixel', line, () => `pixel ${quote(pix.subarray(r.at, r.end))} is not an integer 0..255`);
        return;
      }
      sourceRows[split]++;
      if (o.minStd > 0) {
        const std = pixelStd(dst, off);
        if (std < o.minStd) {
          drops.add('blank', line, () => `blank or near-constant image (std ${std.toFixed(2)} < --min-std ${o.minStd})`);
          return;
        }
      }
      store.commit(label, split, line);
    },
    syntaxError(line: number, message: string): void {
      if (!headerSeen) throw new FerError(`${csvPath}: line ${line}: ${message}`);
      rowsRead++;
      drops.add('csv-syntax', line, message);
    },
  };

  try {
    await readCsvRecords(checked(), sink, csvPath, o.parser);
  } finally {
    src.close();
  }
  throwIfAborted(opts.signal);
  if (!headerSeen) throw new FerError(`${csvPath}: no CSV header (expected emotion,pixels,Usage)`);
  if (rowsRead === 0) throw new FerError(`${csvPath}: no data rows after the header`);

  const cleaned = cleanRows(store, o, drops);
  const order: Record<SplitName, Int32Array> = { train: cleaned[0], val: cleaned[1], test: cleaned[2] };
  const from: Record<SplitName, string> = { train: 'Training', val: 'PublicTest', test: 'PrivateTest' };
  const warnings: string[] = [];
  if (o.valFraction > 0) {
    if (sourceRows[1] > 0) {
      warnings.push(`--val-fraction ${o.valFraction} ignored: the CSV has ${sourceRows[1]} PublicTest rows, used as val`);
    } else {
      const carved = carveValidation(store, order.train, o.valFraction, o.seed);
      order.train = carved.train;
      order.val = carved.val;
      from.val = `Training (--val-fraction ${o.valFraction}, seed ${o.seed}, stratified by class)`;
    }
  }
  const kept = SPLITS.reduce((s, k) => s + order[k].length, 0);
  if (kept === 0) {
    const reasons = DROP_REASONS.filter((r) => drops.byReason[r].count > 0).map((r) => `${r} ${drops.byReason[r].count}`).join(', ');
    const ex = DROP_REASONS.flatMap((r) => drops.byReason[r].examples).sort((a, b) => a.line - b.line)[0];
    throw new FerError(`${csvPath}: no usable rows: all ${rowsRead} dropped (${reasons})${ex ? `; e.g. line ${ex.line}: ${ex.message}` : ''}`);
  }
  for (const s of SPLITS) {
    if (order[s].length === 0) warnings.push(`split ${s} is empty (no ${from[s]} rows${s === 'val' && o.valFraction === 0 && sourceRows[1] === 0 ? '; see --val-fraction' : ''})`);
  }

  const splits = {} as Record<SplitName, SplitReport>;
  for (const s of SPLITS) {
    const perClass = Object.fromEntries(CLASS_NAMES.map((c) => [c, 0])) as Record<ClassName, number>;
    for (const i of order[s]) perClass[CLASS_NAMES[store.labels[i]]]++;
    splits[s] = { count: order[s].length, perClass, from: from[s] };
  }
  return {
    store,
    order,
    report: {
      tool: { name: 'fer', command: 'prepare', version: TOOL_VERSION },
      created: new Date().toISOString(),
      source: { file: src.info.file, bytes: src.info.bytes, gzip: src.info.gzip, sha256: src.sha256() },
      classes: [...CLASS_NAMES],
      imageSize: IMAGE_SIZE,
      options: { valFraction: o.valFraction, seed: o.seed, minStd: o.minStd, keepDuplicates: o.keepDuplicates, keepLeaks: o.keepLeaks, parser: o.parser },
      rows: { read: rowsRead, kept, dropped: rowsRead - kept },
      splits,
      dropped: drops.byReason,
      charts: [],
      warnings,
    },
  };
}

/** Prepare the CSV without writing anything: the cleaned splits as tensors plus the report. */
export async function prepareInMemory(csvPath: string, opts: PrepareOptions = {}): Promise<{ splits: Record<SplitName, Split>; report: PrepareReport }> {
  const { store, order, report } = await parseAndClean(csvPath, opts);
  const splits = {} as Record<SplitName, Split>;
  const labels = SPLITS.map((s) => labelsOf(store, order[s]));
  const images = store.takeAll(SPLITS.map((s) => order[s]));
  SPLITS.forEach((s, k) => {
    splits[s] = { images: images[k], labels: labels[k], count: order[s].length };
  });
  return { splits, report };
}

/**
 * Prepare the CSV into `opts.out` (layout in dataset.ts) and write manifest.json (= the returned report).
 * The directory appears complete or not at all; an existing prepared dataset there is replaced. Nothing is
 * printed: progress comes through `onProgress`, and `signal` stops the run (AbortedError, nothing written).
 *
 * @example
 * ```ts
 * import { prepareDataset, loadPreparedSplit } from 'fer';
 *
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * const report = await prepareDataset('data/fer2013.csv.gz', {
 *   out: 'data/prepared',
 *   signal: controller.signal,
 *   onProgress: (p) => console.error(`${(100 * p.bytesRead / p.totalBytes).toFixed(0)}% · ${p.rows} rows`),
 * });
 * console.log(report.rows.kept, 'faces kept;', report.splits.val.count, 'in val');
 * const val = loadPreparedSplit('data/prepared', 'val'); // { images: Uint8Array (n×48×48), labels, count }
 * console.log(val.count === report.splits.val.count);
 * ```
 */
export async function prepareDataset(csvPath: string, opts: PrepareOptions & { out: string; chart?: boolean }): Promise<PrepareReport> {
  const lock = openOutputDir(csvPath, opts.out);
  try {
    return await prepareLocked(csvPath, opts);
  } finally {
    lock.release();
  }
}

async function prepareLocked(csvPath: string, opts: PrepareOptions & { out: string; chart?: boolean }): Promise<PrepareReport> {
  const { store, order, report } = await parseAndClean(csvPath, opts);
  // Checked again: minutes may have passed since the start.
  checkReplaceableDir(opts.out, { option: 'out' }, PREPARED_FOLDER);
  await writeDirAtomic(opts.out, async (tmp) => {
    for (const s of SPLITS) {
      throwIfAborted(opts.signal);
      const files = splitFiles(tmp, s);
      writeImagesNpy(files.images, store, order[s]);
      writeWhole(files.labels, encodeNpy({ dtype: 'uint8', shape: [order[s].length], data: labelsOf(store, order[s]) }));
    }
    if (opts.chart) {
      // Loaded only when asked for: the chart stack (sharp, OpenCV.js) is most of a plain run's start-up memory.
      const { classBarChart } = await import('../charts/bar');
      const { renderTo } = await import('../charts/canvas');
      for (const s of SPLITS) {
        const counts = CLASS_NAMES.map((c) => report.splits[s].perClass[c]);
        const chart = classBarChart(`${s}: ${report.splits[s].count} images (${report.splits[s].from})`, [...CLASS_NAMES], counts);
        for (const ext of ['svg', 'png']) {
          const name = `${s}_classes.${ext}`;
          writeWhole(path.join(tmp, name), await renderTo(chart, name));
          report.charts.push(name);
        }
      }
    }
    throwIfAborted(opts.signal);
    writeWhole(path.join(tmp, MANIFEST), JSON.stringify(report, null, 2) + '\n');
  });
  return report;
}

function normalizeOptions(opts: PrepareOptions): typeof DEFAULTS {
  const o = {
    valFraction: opts.valFraction ?? DEFAULTS.valFraction,
    seed: opts.seed ?? DEFAULTS.seed,
    minStd: opts.minStd ?? DEFAULTS.minStd,
    keepDuplicates: opts.keepDuplicates ?? DEFAULTS.keepDuplicates,
    keepLeaks: opts.keepLeaks ?? DEFAULTS.keepLeaks,
    maxExamples: opts.maxExamples ?? DEFAULTS.maxExamples,
    parser: opts.parser ?? DEFAULTS.parser,
  };
  if (!(o.valFraction >= 0 && o.valFraction < 1)) throw invalidParameterError('valFraction', 'expected a number in [0, 1)', o.valFraction, EXIT.ERROR);
  if (!(o.minStd >= 0)) throw invalidParameterError('minStd', 'expected a number ≥ 0', o.minStd, EXIT.ERROR);
  if (!Number.isInteger(o.seed)) throw invalidParameterError('seed', 'expected an integer', o.seed, EXIT.ERROR);
  if (!Number.isInteger(o.maxExamples) || o.maxExamples < 0) throw invalidParameterError('maxExamples', 'expected an integer ≥ 0', o.maxExamples, EXIT.ERROR);
  if (o.parser !== 'auto' && o.parser !== 'csv-parse') throw invalidParameterError('parser', 'expected auto or csv-parse', String(o.parser), EXIT.ERROR);
  return o;
}

function checkHeader(fields: Buffer[], line: number, file: string): void {
  const names = fields.map((f) => f.toString('utf8').trim().toLowerCase());
  if (names.length === HEADER.length && names.every((n, i) => n === HEADER[i])) return;
  const got = fields.map((f) => f.toString('utf8')).join(',');
  throw new FerError(`${file}: line ${line}: expected the header emotion,pixels,Usage, got ${quote(Buffer.from(got))}`);
}

/** A single digit 0..6 (surrounding spaces allowed), else -1. */
function parseLabel(field: Buffer): number {
  let value = -1;
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (c === 0x20 || c === 0x09) continue;
    const d = c - 0x30;
    if (value >= 0 || d < 0 || d >= NUM_CLASSES) return -1;
    value = d;
  }
  return value;
}

/** Quote a field for an error message: printable, and short. */
function quote(bytes: Buffer): string {
  let s = bytes.toString('utf8').replace(/[\u0000-\u001f\u007f]/g, '?');
  if (s.length > 40) s = `${s.slice(0, 37)}...`;
  return `'${s}'`;
}

function labelsOf(store: RowStore, rows: Int32Array): Uint8Array {
  const out = new Uint8Array(rows.length);
  for (let k = 0; k < rows.length; k++) out[k] = store.labels[rows[k]];
  return out;
}

/** What `fer prepare` writes in its output folder (`out`): only such a folder is ever replaced. */
export const PREPARED_FOLDER: FerFolder = {
  kind: 'a prepared dataset',
  marker: MANIFEST,
  isFerMarker: (text) => {
    const j = JSON.parse(text) as { tool?: { name?: string; command?: string } };
    return j?.tool?.name === 'fer' && j.tool.command === 'prepare';
  },
  allowed: (name) => name === MANIFEST || /^(train|val|test)_(images\.npy|labels\.npy|classes\.svg|classes\.png)$/.test(name),
};

/**
 * Refuse, before reading a byte of input, an `out` that could not be written, that holds an input, or that holds
 * anything but a prepared dataset fer wrote (replacing it would delete the user's files). Takes the run lock and
 * repairs a crashed run's interrupted swap first.
 */
function openOutputDir(csvPath: string, out: string): RunLock {
  checkOutputSafety([{ path: csvPath, what: 'input' }], [{ path: out, what: { option: 'out' }, kind: 'dir' }]);
  checkOutputDir(out, { option: 'out' });
  const lock = acquireLock(out, `fer prepare --out ${out}`);
  try {
    recoverDir(out, (dir) => {
      try { return PREPARED_FOLDER.isFerMarker(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')); } catch { return false; }
    });
    checkReplaceableDir(out, { option: 'out' }, PREPARED_FOLDER);
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

function writeWhole(file: string, data: string | Uint8Array): void {
  try {
    fs.writeFileSync(file, data);
  } catch (e) {
    throw new FerError(`cannot write ${file}: ${describeFsError(e, file)}`);
  }
}

/** Stream one split's images into a .npy without first gathering them into one big buffer. */
function writeImagesNpy(file: string, store: RowStore, rows: Int32Array): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'w');
    const f = fd;
    fs.writeSync(f, npyHeader('uint8', [rows.length, IMAGE_SIZE, IMAGE_SIZE]));
    store.forEachBatch(rows, 1 << 22, (batch) => {
      fs.writeSync(f, batch);
    });
    fs.fsyncSync(f);
  } catch (e) {
    throw new FerError(`cannot write ${file}: ${describeFsError(e, file)}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
