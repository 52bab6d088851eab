import * as path from 'path';
import { Command, Option } from 'commander';
import { action, backendOption, examples, intFlag, onStopSignals, weightList } from './common';
import { readingBar } from './prepare';
import { DEFAULT_PREPARED_DIR, SPLITS, SplitName } from '../data/dataset';
import { netListText, parseNetList } from '../models/nets';
import { SHIPPED_MODELS_DIR } from '../models/checkpoints';
import { DEFAULT_EVAL_BATCH } from '../eval/evaluate';
import { evaluate } from '../eval/run';
import { EvalReport, confusionTable, perClassTable, summaryTable } from '../eval/report';
import { AbortedError, EXIT } from '../util/errors';
import { checkOutputDir } from '../util/outputSafety';
import { color, colorErr, info, warn } from '../util/log';
import { Progress, createProgress } from '../util/progress';
import { TtaMode, parseTtaFlag } from '../models/crops';

export const DEFAULT_REPORTS_DIR = 'reports';

interface EvalFlags {
  data: string;
  csv?: string;
  /** Absent: the first of test, val, train that has rows. */
  split?: SplitName;
  models: string;
  net?: number[];
  confusion?: boolean;
  tta?: TtaMode;
  fitWeights?: boolean;
  weights?: number[];
  json?: boolean;
  out: string;
  batchSize: number;
  backend: string;
  quiet?: boolean;
}

async function runEval(flags: EvalFlags): Promise<number> {
  // Before minutes of work: the confusion files' folder must be writable, and not a file.
  if (flags.confusion) checkOutputDir(flags.out, '--out');
  const note = flags.quiet ? (): void => undefined : info;
  const reading = readingBar(flags.quiet);
  let bar: Progress | undefined;
  const controller = new AbortController();
  // Ctrl-C: stop at the next batch, write nothing, exit 130 (a second one exits at once).
  const removeHandlers = onStopSignals('stopping at the next batch', () => controller.abort());
  let readNoted = false;
  let report: EvalReport;
  try {
    report = await evaluate({
      data: flags.data,
      csv: flags.csv,
      split: flags.split,
      modelsDir: flags.models,
      nets: flags.net,
      tta: flags.tta,
      fitWeights: flags.fitWeights,
      weights: flags.weights,
      batchSize: flags.batchSize,
      backend: flags.backend,
      confusionDir: flags.confusion ? flags.out : undefined,
    }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.stage === 'read') {
          // The same cleaning as `fer prepare` with its defaults, so the numbers match an evaluation of its output.
          if (!readNoted) note(`reading and cleaning ${flags.csv} (as \`fer prepare\` would) …`);
          readNoted = true;
          reading.onProgress(p);
        } else {
          bar?.update(p.done, { stage: p.fitting ? 'val (fitting weights)' : p.split });
        }
      },
      onStart: (s) => {
        reading.stop();
        if (s.splitPicked && s.split !== 'test') note(`no --split given: evaluating ${s.split}, the first of test, val, train with rows`);
        if (s.splitPicked && s.split === 'train') warn('evaluating the training split measures how well the nets memorised it, not how they generalise');
        if (s.fitIgnored) warn('--fit-weights: only one net, nothing to weight');
        note(`evaluating ${s.nets.map((n) => `net${n}`).join(', ')} on ${s.split} (${s.images} images${s.ttaMode !== 'none' ? `, ${s.ttaMode} TTA` : ''}, ${s.backend.description})`);
        bar = createProgress(s.scoreTotal, 'eval  {bar} {percentage}% | {value}/{total} images | {stage} | ETA {eta_formatted}', { quiet: flags.quiet, payload: { stage: s.split } });
      },
      onWeightsFitted: (f) => {
        bar?.stop();
        if (f.onEvalSplit) warn('--fit-weights with --split val: the weights are fitted on the images they are measured on, so the ensemble\'s numbers are optimistic');
        note(`ensemble weights fitted on val: ${f.nets.map((n, i) => `net${n} ${f.weights[i].toFixed(2)}`).join(', ')}`
          + ` (val log loss ${f.logLoss.toFixed(4)}; equal weights ${f.equalLogLoss.toFixed(4)})`);
      },
    });
  } catch (e) {
    if (e instanceof AbortedError && controller.signal.aborted) {
      bar?.stop();
      process.stderr.write(`${colorErr.red('fer:')} interrupted; nothing written\n`);
      return EXIT.INTERRUPTED;
    }
    throw e;
  } finally {
    reading.stop();
    bar?.stop();
    removeHandlers();
  }
  return print(flags, report);
}

function print(flags: EvalFlags, report: EvalReport): number {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return EXIT.OK;
  }
  const { models, split } = report;
  const out: string[] = [summaryTable(models, color), '', perClassTable(models, color)];
  if (flags.confusion) {
    for (const m of models) out.push('', color.bold(`${m.name}: confusion matrix on ${split} (rows true, columns predicted)`), confusionTable(m.metrics.confusion, color));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (report.files.length > 0 && !flags.quiet) info(`wrote ${report.files.length} files to ${path.resolve(flags.out)}`);
  return EXIT.OK;
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('Evaluate trained nets and their ensemble on a prepared split: accuracy, top-2, per-class precision/recall/F1, '
      + 'macro/weighted F1, log loss, throughput; --confusion adds confusion matrices (table, CSV, JSON, PNG/SVG heatmaps).')
    .addOption(new Option('--data <dir>', 'prepared dataset directory from `fer prepare`').default(DEFAULT_PREPARED_DIR).conflicts('csv'))
    .addOption(new Option('--csv <file>', 'read the FER2013 CSV (.csv or .csv.gz) directly instead of a prepared directory'))
    .addOption(new Option('--split <name>', 'split to evaluate (default: test if it has rows, else val — test is empty for the public FER2013 data — else train)')
      .choices([...SPLITS]))
    .addOption(new Option('--models <dir>', 'checkpoints directory from `fer train` (net<k>/best/)').default(SHIPPED_MODELS_DIR, `the models shipped with fer, ${SHIPPED_MODELS_DIR}`))
    .option('--net <list>', `nets to evaluate: ${netListText()} (default: every net found in --models)`, (v: string) => parseNetList(v) as number[])
    .option('--confusion', 'print confusion matrices and write them to --out as CSV, JSON, PNG and SVG (default: off)')
    .addOption(new Option('--tta [mode]', 'test-time augmentation, averaging the scores of several views of each face: flip (the face and its mirror; '
      + 'what a bare --tta means), 5crop (centre + 4 corner crops), 10crop (5crop ± mirror). Crops apply to nets trained with --crop; '
      + 'a 48-px net gets 1 view for 5crop and the flip pair for 10crop (default: none)').preset('flip').argParser(parseTtaFlag))
    .addOption(new Option('--fit-weights', 'fit ensemble weights on the val split (minimum log loss) instead of a plain mean (default: off)').conflicts('weights'))
    .option('--weights <list>', 'ensemble weights, one per net in --net order, e.g. 1,1,2 (default: equal)', weightList)
    .option('--json', 'print one JSON document on stdout instead of tables (default: off)')
    .option('-q, --quiet', 'no progress bar or notes on stderr; results, warnings and errors still print (default: off)')
    .option('--out <dir>', 'directory for --confusion files', DEFAULT_REPORTS_DIR)
    .option('--batch-size <n>', 'images per forward pass', intFlag('--batch-size', 1, 65536), DEFAULT_EVAL_BATCH)
    .addOption(backendOption())
    .action(action(async (flags: EvalFlags) => runEval(flags)));
  examples(cmd, [
    'fer eval --split val',
    'fer eval --split val --confusion --out reports/',
    'fer eval --split val --net 1,2 --tta --json > eval.json',
    'fer eval --split val --net 3 --tta 10crop   # net trained with --crop 44: 10 crops ± mirror',
    'fer eval --csv data/fer2013.csv.gz --split val --models checkpoints/',
    'fer eval --split test --fit-weights --confusion',
  ]);
}
