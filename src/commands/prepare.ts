import { Command, Option } from 'commander';
import { action, examples, intFlag, numFlag } from './common';
import { CLASS_NAMES } from '../data/classes';
import { DEFAULT_PREPARED_DIR, SPLITS } from '../data/dataset';
import { DROP_REASONS } from '../data/clean';
import { PrepareReport, prepareDataset } from '../data/prepare';
import { CsvParserMode } from '../data/csvRecords';
import { EXIT, FerError } from '../util/errors';
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

async function runPrepare(csv: string, flags: PrepareFlags): Promise<number> {
  const started = Date.now();
  // Exiting through process.exit runs the atomic-write cleanup, so an interrupted run leaves nothing behind.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`${colorErr.red('fer:')} interrupted (${signal}); no partial output left\n`);
    process.exit(EXIT.INTERRUPTED);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
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
      progress: !flags.quiet,
    });
  } catch (e) {
    if (e instanceof FerError) throw e;
    throw new FerError(`${csv}: ${(e as Error)?.message ?? String(e)}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
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
