import * as path from 'path';
import { Command, Option } from 'commander';
import { action, backendOption, examples, intFlag } from './common';
import { initBackend } from '../backend';
import { CLASS_NAMES } from '../data/classes';
import { DEFAULT_PREPARED_DIR, SPLITS, Split, SplitName } from '../data/dataset';
import { netListText, parseNetList } from '../models/nets';
import { LoadedNet, loadNets } from '../models/classifier';
import { SHIPPED_MODELS_DIR } from '../models/checkpoints';
import { DEFAULT_EVAL_BATCH, ModelReport, reportScores, scoreNets } from '../eval/evaluate';
import { fitEnsembleWeights } from '../eval/ensemble';
import { emptySplitError, loadEvalSplit, preparedSplitRows } from '../eval/data';
import { prepareInMemory } from '../data/prepare';
import { EvalReport, confusionTable, perClassTable, summaryTable, writeConfusionFiles } from '../eval/report';
import { EXIT, FerError } from '../util/errors';
import { checkOutputDir } from '../util/outputSafety';
import { color, info, warn } from '../util/log';
import { createProgress } from '../util/progress';
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

function weightList(v: string): number[] {
  const w = v.split(',').map((s) => Number(s.trim()));
  if (w.length === 0 || w.some((x) => !Number.isFinite(x) || x < 0) || !(w.reduce((a, b) => a + b, 0) > 0)) {
    throw new FerError(`--weights ${v}: expected comma-separated numbers ≥ 0 with a positive sum, one per net`, EXIT.USAGE);
  }
  return w;
}

/** The split to evaluate, and val too when weights are to be fitted on it. */
async function loadData(flags: EvalFlags): Promise<{ source: EvalReport['source']; evalSplit: Split; val?: Split }> {
  const needVal = Boolean(flags.fitWeights);
  if (flags.csv) {
    // The same cleaning as `fer prepare` with its defaults, so the numbers match an evaluation of its output.
    if (!flags.quiet) info(`reading and cleaning ${flags.csv} (as \`fer prepare\` would) …`);
    const { splits } = await prepareInMemory(flags.csv, { progress: !flags.quiet });
    const split = flags.split = flags.split ?? pickSplit(flags, (s) => splits[s].count);
    if (splits[split].count === 0) throw emptySplitError(flags.csv, split, (s) => splits[s].count);
    if (needVal && splits.val.count === 0) throw new FerError(`--fit-weights: ${flags.csv}: split 'val' has no rows to fit the weights on`);
    return { source: { kind: 'csv', path: flags.csv }, evalSplit: splits[split], val: needVal ? splits.val : undefined };
  }
  const dir = flags.data;
  const split = flags.split = flags.split ?? pickSplit(flags, (s) => preparedSplitRows(dir, s));
  const evalSplit = loadEvalSplit(dir, split);
  if (needVal && split !== 'val' && preparedSplitRows(dir, 'val') === 0) {
    throw new FerError(`--fit-weights: ${dir}: split 'val' has no rows to fit the weights on`);
  }
  const val = needVal ? (split === 'val' ? evalSplit : loadEvalSplit(dir, 'val')) : undefined;
  return { source: { kind: 'data', path: dir }, evalSplit, val };
}

/** Without --split: test when it has rows (a full FER2013), else val (the public data), else train (said so). */
function pickSplit(flags: EvalFlags, rowsOf: (s: SplitName) => number): SplitName {
  const split = (['test', 'val', 'train'] as const).find((s) => rowsOf(s) > 0) ?? 'test';
  if (split !== 'test' && !flags.quiet) info(`no --split given: evaluating ${split}, the first of test, val, train with rows`);
  if (split === 'train') warn('evaluating the training split measures how well the nets memorised it, not how they generalise');
  return split;
}

async function runEval(flags: EvalFlags): Promise<number> {
  // Before minutes of work: the confusion files' folder must be writable, and not a file.
  if (flags.confusion) checkOutputDir(flags.out, '--out');
  const backend = await initBackend(flags.backend);
  // Models first: a missing checkpoint is reported before a CSV is parsed for seconds.
  const nets = await loadNets(flags.models, flags.net);
  try {
    if (flags.weights && flags.weights.length !== nets.length) {
      throw new FerError(`--weights: ${flags.weights.length} weights for ${nets.length} nets (${nets.map((n) => n.net).join(',')})`, EXIT.USAGE);
    }
    return await evaluateLoaded(flags, nets, backend.name, backend.description);
  } finally {
    nets.forEach((n) => n.model.dispose());
  }
}

async function evaluateLoaded(flags: EvalFlags, nets: LoadedNet[], backendName: string, backendDescription: string): Promise<number> {
  const { source, evalSplit, val } = await loadData(flags);
  const split = flags.split as SplitName;
  const fitting = Boolean(flags.fitWeights && nets.length > 1);
  if (flags.fitWeights && !fitting) warn('--fit-weights: only one net, nothing to weight');
  // Fitting on val when evaluating val reuses its scores: no second pass.
  const extraVal = fitting && val && val !== evalSplit ? val : undefined;
  const note = flags.quiet ? (): void => undefined : info;
  note(`evaluating ${nets.map((n) => `net${n.net}`).join(', ')} on ${split} (${evalSplit.count} images${flags.tta && flags.tta !== 'none' ? `, ${flags.tta} TTA` : ''}, ${backendDescription})`);

  const total = nets.length * (evalSplit.count + (extraVal?.count ?? 0));
  const bar = createProgress(total, 'eval  {bar} {percentage}% | {value}/{total} images | {stage} | ETA {eta_formatted}', { quiet: flags.quiet, payload: { stage: split } });
  try {
    const scoreOpts = { tta: flags.tta, batchSize: flags.batchSize };
    const evalScores = await scoreNets(nets, evalSplit, { ...scoreOpts, onBatch: (d) => bar.update(d, { stage: split }) });
    let weights = flags.weights;
    if (fitting && val) {
      const done = nets.length * evalSplit.count;
      const valScores = extraVal
        ? await scoreNets(nets, extraVal, { ...scoreOpts, onBatch: (d) => bar.update(done + d, { stage: 'val (fitting weights)' }) })
        : evalScores;
      bar.stop();
      if (!extraVal) warn('--fit-weights with --split val: the weights are fitted on the images they are measured on, so the ensemble\'s numbers are optimistic');
      const fitted = fitEnsembleWeights(valScores.map((s) => s.scores), val.labels);
      weights = fitted.weights;
      note(`ensemble weights fitted on val: ${nets.map((n, i) => `net${n.net} ${fitted.weights[i].toFixed(2)}`).join(', ')}`
        + ` (val log loss ${fitted.logLoss.toFixed(4)}; equal weights ${fitted.equalLogLoss.toFixed(4)})`);
    }
    bar.stop();
    return await finish(flags, source, evalSplit, reportScores(evalScores, evalSplit.labels, weights), backendName, fitting ? 'val' : null);
  } finally {
    bar.stop();
  }
}

async function finish(flags: EvalFlags, source: EvalReport['source'], evalSplit: Split,
  models: ModelReport[], backend: string, fittedOn: string | null): Promise<number> {
  const split = flags.split as SplitName;
  const withFiles = models.map((m) => ({ ...m, files: [] as string[] }));
  if (flags.confusion) {
    for (const m of withFiles) {
      const title = `${m.name} on ${split}: accuracy ${(m.metrics.accuracy * 100).toFixed(1)}%${flags.tta && flags.tta !== 'none' ? ` (${flags.tta} TTA)` : ''}`;
      m.files = await writeConfusionFiles(flags.out, m.name, split, m.metrics.confusion, title);
    }
  }
  const report: EvalReport = {
    split,
    source,
    images: evalSplit.count,
    classes: [...CLASS_NAMES],
    tta: Boolean(flags.tta && flags.tta !== 'none'),
    ttaMode: flags.tta ?? 'none',
    backend,
    batchSize: flags.batchSize,
    weightsFittedOn: fittedOn,
    models: withFiles,
    files: withFiles.flatMap((m) => m.files),
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return EXIT.OK;
  }
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
