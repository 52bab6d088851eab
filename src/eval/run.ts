import { initBackend } from '../backend';
import { CLASS_NAMES } from '../data/classes';
import { DEFAULT_PREPARED_DIR, Split, SplitName } from '../data/dataset';
import { PrepareProgress, prepareInMemory } from '../data/prepare';
import { LoadedNet, loadNets } from '../models/classifier';
import { SHIPPED_MODELS_DIR, ensembleWeightsProblem } from '../models/checkpoints';
import { TtaMode, ttaMode } from '../models/crops';
import { EXIT, FerError, invalidParameterError, throwIfAborted } from '../util/errors';
import { checkOutputDir } from '../util/outputSafety';
import { emptySplitError, loadEvalSplit, preparedSplitRows } from './data';
import { FittedWeights, fitEnsembleWeights } from './ensemble';
import { DEFAULT_EVAL_BATCH, reportScores, scoreNets } from './evaluate';
import { EvalReport, writeConfusionFiles } from './report';

/** What to evaluate and how. Every field is optional; the defaults are `fer eval`'s. */
export interface EvaluateOptions {
  /** Prepared dataset folder from prepareDataset (default DEFAULT_PREPARED_DIR). Ignored when `csv` is set. */
  data?: string;
  /** Read and clean a FER2013 CSV (.csv or .csv.gz) in memory instead, exactly as prepareDataset would. */
  csv?: string;
  /** Split to evaluate. Default: the first of test, val, train that has rows (onStart says which was picked). */
  split?: SplitName;
  /** Checkpoints folder with net<k>/best models (default: the models shipped with fer). */
  modelsDir?: string;
  /** Nets to evaluate (default: every net found in `modelsDir`). */
  nets?: number[];
  /** Test-time augmentation: 'flip' (or true), '5crop', '10crop'; default none. */
  tta?: boolean | TtaMode;
  /** Fit the ensemble weights on the val split (minimum log loss) instead of a plain mean. */
  fitWeights?: boolean;
  /** Ensemble weights, one per net in `nets` order (default equal). Not with `fitWeights`. */
  weights?: number[];
  /** Images per forward pass (default 256). */
  batchSize?: number;
  /** Compute backend for initBackend (default 'auto'). */
  backend?: string;
  /** Write each model's confusion matrix here (CSV, JSON, PNG, SVG); listed in the report's `files`. */
  confusionDir?: string;
}

/** Sent once the data and models are loaded, before the first image is scored. */
export interface EvalStart {
  split: SplitName;
  /** True when `split` was not given and was picked as the first of test, val, train with rows. */
  splitPicked: boolean;
  images: number;
  /** Images to score over all nets: the split's, plus val's when the weights are fitted on it. */
  scoreTotal: number;
  nets: number[];
  ttaMode: TtaMode;
  backend: { name: string; description: string };
  /** Ensemble weights will be fitted on val (fitWeights with two or more nets). */
  fitting: boolean;
  /** fitWeights was asked for but there is only one net: nothing to weight. */
  fitIgnored: boolean;
}

/** Progress: reading a CSV (`read`), then scoring images (`score`; `done`/`total` count images over all nets). */
export type EvalProgress =
  | ({ stage: 'read' } & PrepareProgress)
  | { stage: 'score'; split: string; fitting: boolean; done: number; total: number };

export interface EvaluateHooks {
  /** Stops scoring at the next batch (or reading at the next chunk); the call rejects with an AbortedError. */
  signal?: AbortSignal;
  onStart?: (s: EvalStart) => void;
  onProgress?: (p: EvalProgress) => void;
  /** Sent when the ensemble weights have been fitted; `onEvalSplit`: fitted on the very images they are measured on. */
  onWeightsFitted?: (f: FittedWeights & { nets: number[]; onEvalSplit: boolean }) => void;
}

/** Without a split: test when it has rows (a full FER2013), else val (the public data), else train. */
function pickSplit(rowsOf: (s: SplitName) => number): SplitName {
  return (['test', 'val', 'train'] as const).find((s) => rowsOf(s) > 0) ?? 'test';
}

interface Loaded {
  source: EvalReport['source'];
  split: SplitName;
  evalSplit: Split;
  val?: Split;
}

/** The split to evaluate, and val too when weights are to be fitted on it. */
async function loadData(opts: EvaluateOptions, needVal: boolean, hooks: EvaluateHooks): Promise<Loaded> {
  if (opts.csv) {
    const csv = opts.csv;
    const { splits } = await prepareInMemory(csv, { signal: hooks.signal, onProgress: (p) => hooks.onProgress?.({ stage: 'read', ...p }) });
    const split = opts.split ?? pickSplit((s) => splits[s].count);
    if (splits[split].count === 0) throw emptySplitError(csv, split, (s) => splits[s].count);
    if (needVal && splits.val.count === 0) throw fitWithoutVal(csv);
    return { source: { kind: 'csv', path: csv }, split, evalSplit: splits[split], val: needVal ? splits.val : undefined };
  }
  const dir = opts.data ?? DEFAULT_PREPARED_DIR;
  const split = opts.split ?? pickSplit((s) => preparedSplitRows(dir, s));
  const evalSplit = loadEvalSplit(dir, split);
  if (needVal && split !== 'val' && preparedSplitRows(dir, 'val') === 0) throw fitWithoutVal(dir);
  const val = needVal ? (split === 'val' ? evalSplit : loadEvalSplit(dir, 'val')) : undefined;
  return { source: { kind: 'data', path: dir }, split, evalSplit, val };
}

function fitWithoutVal(source: string): FerError {
  return invalidParameterError('fitWeights', `${source}: split 'val' has no rows to fit the weights on`, undefined, EXIT.ERROR);
}

/**
 * Evaluate trained nets and their ensemble on one split: load the models and the data (a prepared folder or a
 * FER2013 CSV), score every image (with test-time augmentation if asked), fit the ensemble weights on val if
 * asked, compute accuracy, top-2, per-class precision/recall/F1, macro/weighted F1, log loss, confusion matrices
 * and throughput, and write the confusion files if asked. Returns the report `fer eval --json` prints.
 * Nothing is printed: progress comes through `hooks`.
 *
 * @example
 * ```ts
 * import { evaluate } from 'fer';
 *
 * const controller = new AbortController();
 * const report = await evaluate(
 *   { data: 'data/prepared', split: 'val', nets: [1, 2, 3], tta: 'flip' },
 *   { signal: controller.signal, onProgress: (p) => p.stage === 'score' && console.error(`${p.done}/${p.total}`) },
 * );
 * for (const m of report.models) console.log(m.name, (m.metrics.accuracy * 100).toFixed(1) + '%');
 * ```
 */
export async function evaluate(opts: EvaluateOptions = {}, hooks: EvaluateHooks = {}): Promise<EvalReport> {
  const { signal } = hooks;
  if (opts.fitWeights && opts.weights) throw invalidParameterError('weights', 'give weights or fitWeights, not both');
  const badValues = opts.weights && ensembleWeightsProblem(opts.weights, opts.weights.length);
  if (opts.weights && badValues) throw invalidParameterError('weights', badValues, opts.weights.join(','));
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw invalidParameterError('batchSize', 'expected an integer ≥ 1', batchSize);
  const tta = ttaMode(opts.tta);
  // Before minutes of work: the confusion files' folder must be writable, and not a file.
  if (opts.confusionDir !== undefined) checkOutputDir(opts.confusionDir, { option: 'confusionDir' });
  const backend = await initBackend(opts.backend ?? 'auto');
  throwIfAborted(signal);
  // Models first: a missing checkpoint is reported before a CSV is parsed for seconds.
  const nets = await loadNets(opts.modelsDir ?? SHIPPED_MODELS_DIR, opts.nets);
  try {
    const badCount = opts.weights && ensembleWeightsProblem(opts.weights, nets.length);
    if (badCount) throw invalidParameterError('weights', `${badCount} (${nets.map((n) => n.net).join(',')})`);
    return await evaluateLoaded(opts, hooks, nets, backend, tta, batchSize);
  } finally {
    nets.forEach((n) => n.model.dispose());
  }
}

async function evaluateLoaded(opts: EvaluateOptions, hooks: EvaluateHooks, nets: LoadedNet[], backend: { name: string; description: string },
  tta: TtaMode, batchSize: number): Promise<EvalReport> {
  const { signal } = hooks;
  const fitting = Boolean(opts.fitWeights && nets.length > 1);
  const { source, split, evalSplit, val } = await loadData(opts, Boolean(opts.fitWeights), hooks);
  throwIfAborted(signal);
  // Fitting on val when evaluating val reuses its scores: no second pass.
  const extraVal = fitting && val && val !== evalSplit ? val : undefined;
  const total = nets.length * (evalSplit.count + (extraVal?.count ?? 0));
  hooks.onStart?.({
    split, splitPicked: opts.split === undefined, images: evalSplit.count, scoreTotal: total, nets: nets.map((n) => n.net), ttaMode: tta,
    backend: { name: backend.name, description: backend.description }, fitting, fitIgnored: Boolean(opts.fitWeights) && !fitting,
  });
  const progress = (done: number, stage: string): void => {
    throwIfAborted(signal);
    hooks.onProgress?.({ stage: 'score', split: stage, fitting: stage !== split, done, total });
  };
  const scoreOpts = { tta, batchSize };
  const evalScores = await scoreNets(nets, evalSplit, { ...scoreOpts, onBatch: (d) => progress(d, split) });
  let weights = opts.weights;
  if (fitting && val) {
    const done = nets.length * evalSplit.count;
    const valScores = extraVal
      ? await scoreNets(nets, extraVal, { ...scoreOpts, onBatch: (d) => progress(done + d, 'val') })
      : evalScores;
    const fitted = fitEnsembleWeights(valScores.map((s) => s.scores), val.labels);
    weights = fitted.weights;
    hooks.onWeightsFitted?.({ ...fitted, nets: nets.map((n) => n.net), onEvalSplit: !extraVal });
  }
  const models = reportScores(evalScores, evalSplit.labels, weights);
  const withFiles = models.map((m) => ({ ...m, files: [] as string[] }));
  if (opts.confusionDir !== undefined) {
    for (const m of withFiles) {
      throwIfAborted(signal);
      const title = `${m.name} on ${split}: accuracy ${(m.metrics.accuracy * 100).toFixed(1)}%${tta !== 'none' ? ` (${tta} TTA)` : ''}`;
      m.files = await writeConfusionFiles(opts.confusionDir, m.name, split, m.metrics.confusion, title);
    }
  }
  return {
    split,
    source,
    images: evalSplit.count,
    classes: [...CLASS_NAMES],
    tta: tta !== 'none',
    ttaMode: tta,
    backend: backend.name,
    batchSize,
    weightsFittedOn: fitting ? 'val' : null,
    models: withFiles,
    files: withFiles.flatMap((m) => m.files),
  };
}
