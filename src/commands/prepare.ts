import { Command, Option } from 'commander';
import { action, examples, intFlag, numFlag, onStopSignals } from './common';
import { CLASS_NAMES } from '../data/classes';
import { DEFAULT_PREPARED_DIR, SPLITS } from '../data/dataset';
import { DROP_REASONS } from '../data/clean';
import { PrepareProgress, PrepareReport, prepareDataset } from '../data/prepare';
import { CsvParserMode } from '../data/csvRecords';
import { AbortedError, EXIT, FerError } from '../util/errors';
import { Progress, createProgress } from '../util/progress';
import { color, colorErr, info, warn } from '../util/log';

interface PrepareFlags {
  out: string;
  valFraction: number;
  seed: number;
  minStd: number;
  keepDuplicates?: boolean;
  keepLeaks?: boolean;
  maxExamples: number;
  parser: CsvParserMode;
  chart?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function fractionFlag(v: string): number {
  const f = Number(v);
  if (v.trim() === '' || !(f >= 0 && f < 1)) throw new FerError(`--val-fraction ${v}: expected a number ≥ 0 and < 1`, EXIT.USAGE);
  return f;
}

export function register(program: Command): void {
  const cmd = program
    .command('prepare')
    .description('Stream the FER2013 CSV (plain or gzipped), drop malformed, blank, duplicate and leaked rows, and write '
      + 'uint8 .npy tensors per split (Training → train, PublicTest → val, PrivateTest → test) plus manifest.json, atomically.')
    .argument('<csv>', 'FER2013 CSV with header emotion,pixels,Usage; gzip detected by its magic bytes')
    .option('-o, --out <dir>', 'output directory: replaced only if it is a prepared dataset fer wrote, with nothing else in it and not the input (locked while running)', DEFAULT_PREPARED_DIR)
    .option('--val-fraction <f>', 'when the CSV has no PublicTest rows, move this fraction of train to val (per class, seeded); 0 = off', fractionFlag, 0)
    .option('--seed <n>', 'seed for --val-fraction', intFlag('--seed', 0, 2 ** 32 - 1), 42)
    .option('--min-std <n>', 'drop blank or near-constant images whose grey-level std is below this; 0 keeps all', numFlag('--min-std', 0), 3)
    .option('--keep-duplicates', 'keep repeated images within a split; otherwise one copy is kept, and none when their labels disagree (default: off)')
    .option('--keep-leaks', 'keep train images that also occur in val/test, and val images also in test; otherwise they are dropped from train/val (default: off)')
    .option('--max-examples <n>', 'example rows listed per drop reason in the report', intFlag('--max-examples', 0), 10)
    .addOption(new Option('--parser <mode>', 'record splitting: auto (fast path for unquoted lines, csv-parse from the first quote on) or csv-parse (csv-parse for everything)')
      .choices(['auto', 'csv-parse']).default('auto'))
    .option('--chart', 'also write <split>_classes.svg and .png class-distribution charts into the output directory (default: off)')
    .option('--json', 'print the report (= manifest.json) on stdout (default: off)')
    .option('-q, --quiet', 'no progress bar or summary on stderr; errors still print (default: off)')
    .action(action(async (csv: string, flags: PrepareFlags) => runPrepare(csv, flags)));
  examples(cmd, [
    'fer prepare data/fer2013.csv',
    'fer prepare fer2013.csv.gz --out data/prepared --chart',
    'fer prepare train-only.csv --val-fraction 0.1 --seed 7 --json > report.json',
  ]);
}

/**
 * The bar `fer prepare` (and `fer eval --csv`) draws while the CSV is read: bytes, rows, rows/s. Created on the
 * first progress report, which knows the input's size.
 */
export function readingBar(quiet?: boolean): { onProgress: (p: PrepareProgress) => void; stop: () => void } {
  let bar: Progress | undefined;
  const started = Date.now();
  return {
    onProgress: (p) => {
      bar ??= createProgress(p.totalBytes, ' prepare {bar} {percentage}% | {mb}/{totalMb} MB | {rows} rows | {rate} rows/s | ETA {eta_formatted}', {
        quiet, payload: { mb: '0', totalMb: megabytes(p.totalBytes), rows: 0, rate: 0 },
      });
      bar.update(p.bytesRead, { mb: megabytes(p.bytesRead), totalMb: megabytes(p.totalBytes), rows: p.rows, rate: Math.round(p.rows / Math.max(0.001, (Date.now() - started) / 1000)) });
    },
    stop: () => bar?.stop(),
  };
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

async function runPrepare(csv: string, flags: PrepareFlags): Promise<number> {
  const started = Date.now();
  // The first SIGINT/SIGTERM aborts the run: the library stops reading (or writing), removes its temp folder and
  // leaves --out as it was. A second one exits at once (the atomic-write cleanup still runs on exit).
  const controller = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  const removeHandlers = onStopSignals('', (sig) => {
    stopSignal = sig;
    controller.abort();
  }, { announce: false });
  const reading = readingBar(flags.quiet);
  let report: PrepareReport;
  try {
    report = await prepareDataset(csv, {
      out: flags.out,
      valFraction: flags.valFraction,
      seed: flags.seed,
      minStd: flags.minStd,
      keepDuplicates: Boolean(flags.keepDuplicates),
      keepLeaks: Boolean(flags.keepLeaks),
      maxExamples: flags.maxExamples,
      parser: flags.parser,
      chart: Boolean(flags.chart),
      signal: controller.signal,
      onProgress: reading.onProgress,
    });
  } catch (e) {
    if (e instanceof AbortedError && stopSignal) {
      reading.stop();
      process.stderr.write(`${colorErr.red('fer:')} interrupted (${stopSignal}); no partial output left\n`);
      return EXIT.INTERRUPTED;
    }
    throw e;
  } finally {
    reading.stop();
    removeHandlers();
  }
  if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (!flags.quiet) printSummary(report, flags.out, (Date.now() - started) / 1000);
  return EXIT.OK;
}

function printSummary(r: PrepareReport, out: string, seconds: number): void {
  const src = r.source;
  info(`${color.green('prepared')} ${out} from ${src.file} (${(src.bytes / 1e6).toFixed(1)} MB${src.gzip ? ' gzip' : ''}): `
    + `${r.rows.read} rows read, ${r.rows.kept} kept, ${r.rows.dropped} dropped, in ${seconds.toFixed(1)} s`);
  const head = ['split', 'images', ...CLASS_NAMES.map((c) => c.slice(0, 8))];
  const rows = SPLITS.map((s) => [s, String(r.splits[s].count), ...CLASS_NAMES.map((c) => String(r.splits[s].perClass[c]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (cells: string[]): string => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  info(fmt(head));
  for (const row of rows) info(fmt(row));
  for (const reason of DROP_REASONS) {
    const t = r.dropped[reason];
    if (t.count === 0) continue;
    const ex = t.examples[0];
    info(`  dropped ${reason.padEnd(21)} ${String(t.count).padStart(6)}${ex ? `  e.g. line ${ex.line}: ${ex.message}` : ''}`);
  }
  for (const w of r.warnings) warn(w);
  if (r.charts.length > 0) info(`charts: ${r.charts.map((c) => `${out}/${c}`).join(', ')}`);
}
