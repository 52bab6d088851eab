import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { FerError } from '../util/errors';
import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { Split, loadPreparedSplit } from '../data/dataset';
import { buildNet } from '../models/nets';
import { loadModelDir } from '../models/io';
import { ensembleScores } from '../models/classifier';
import { scoreSplit } from '../eval/evaluate';
import { bestModelDir, lastModelDir, netDir } from '../models/checkpoints';
import { Adam } from './adam';
import { openCheckpoints } from './checkpoints';
import { Sgd } from './sgd';
import { Rng } from './rng';
import { TRAIN_STATE, EpochRecord } from './state';
import { Loop } from './loop';
import { Recipe, ResolvedRun, RunOptions, SavedOption, TRAIN_DEFAULTS, recipeOf, resolveRun, usage } from './settings';
import {
  BatchNormRecalibration, BestCheckpoint, CallbackList, EarlyStoppingCallback, EmaCallback, History, LastCheckpoint, LrSchedule, ProgressHooks,
  ReduceLROnPlateauCallback, TrainCallback, TrainHooks,
} from './callbacks';
import { fmtLr } from './callbacks/format';

export { TRAIN_DEFAULTS } from './settings';
export { evaluateSplit } from './validate';
export { crossEntropy } from './step';

/** Where a resumed run continues, and which given options it ignores (their saved values win). */
export interface ResumeInfo {
  net: number;
  /** Epochs completed. */
  epoch: number;
  /** Batches of the next epoch already trained (0: it resumes at an epoch boundary). */
  batch: number;
  /** The base LR it continues with (after `resumeSchedule.lr`). */
  lr: number;
  /** Saved options given with a different value: not used (a UI warns about them). */
  ignored: SavedOption[];
}

export interface TrainOptions extends RunOptions, TrainHooks {
  /** 1, 2 or 3. */
  net: number;
  /** A prepared-dataset directory (`fer prepare`), or the train and validation splits themselves. */
  data: string | { train: Split; val: Split };
  /** Checkpoints directory; the net's files go to <out>/net<k>/{best,last,history.*,curves.*}. */
  out: string;
  /** Total epochs (with `resume`: the total including those already done). */
  epochs?: number;
  /** Continue from <out>/net<k>/last with its saved settings (only the RESUMABLE_OPTIONS may change). */
  resume?: boolean;
  /**
   * With `resume`: change the LR schedule from this point on, as one would by hand between sessions. `lr` replaces
   * the current LR (a manual step); `plateau` replaces the given ReduceLROnPlateau options. Weights, optimizer
   * moments and data order are untouched. Ignored without `resume`.
   */
  resumeSchedule?: RunOptions['resumeSchedule'];
  /** Abort to stop after the current batch; `last` is saved first and the result says `interrupted`. */
  signal?: AbortSignal;
  /**
   * More callbacks (e.g. another LR schedule: one class, see TrainCallback), run after the built-in recipe and
   * before `last` is saved; a stateful one keeps its state in train-state.json under its stateKey.
   */
  callbacks?: TrainCallback[];
  /** With `resume`: called once the checkpoint is read, before training. */
  onResume?: (info: ResumeInfo) => void;
}

export interface TrainResult {
  net: number;
  /** Epochs completed in total (including resumed ones). */
  epochs: number;
  history: EpochRecord[];
  best: { epoch: number; val_acc: number } | null;
  /** Stopped by `signal` (SIGINT/SIGTERM in `fer train`); `last` holds the position to resume from. */
  interrupted: boolean;
  stoppedEarly: boolean;
  peakRssMB: number;
  backend: string;
  dirs: { net: string; best: string; last: string };
  /** With `resume`: the given options that were ignored (their saved values won). */
  ignoredOnResume: SavedOption[];
}

function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

function loadSplits(data: TrainOptions['data']): { train: Split; val: Split } {
  if (typeof data !== 'string') return data;
  const train = loadPreparedSplit(data, 'train');
  if (train.count === 0) throw new FerError(`${data}: the train split is empty; prepare a dataset with training rows (\`fer prepare data/fer2013.csv --out ${data}\`)`);
  const val = loadPreparedSplit(data, 'val', { missingIsEmpty: true });
  if (val.count === 0) {
    throw new FerError(`${data}: no validation split (val is empty); carve one from train with \`fer prepare data/fer2013.csv --out ${data} --val-fraction 0.1\``);
  }
  return { train, val };
}

function checkSplits(s: { train: Split; val: Split }): void {
  if (s.train.count === 0) throw new FerError('the train split is empty');
  if (s.val.count === 0) throw new FerError('no validation split (val is empty); make one with `fer prepare --val-fraction 0.1`');
}

/** sklearn's "balanced" weights n / (K · n_c); a class absent from train gets 0. */
export function balancedClassWeights(labels: Uint8Array): Float32Array {
  const counts = new Float64Array(NUM_CLASSES);
  for (const l of labels) counts[l] += 1;
  return Float32Array.from(counts, (c) => (c > 0 ? labels.length / (NUM_CLASSES * c) : 0));
}

function isKernel(v: tf.LayerVariable): boolean {
  return /\/kernel(_\d+)?$/.test(v.originalName);
}

/** A new run's model at the recipe's input size; a crop the net's pooling cannot take is a usage error. */
function newModel(net: number, run: ResolvedRun, r: Recipe): tf.LayersModel {
  const s = run.settings;
  const tooSmall = (): FerError => usage(`--crop ${r.crop}: net ${net} cannot take a ${r.crop}-px input (its pooling needs a larger one)`);
  let model: tf.LayersModel;
  try {
    model = buildNet(net, s.seed, { width: s.width, inputSize: r.crop, convDropout: r.convDropout, headDropout: r.headDropout });
  } catch (e) {
    if (e instanceof FerError || r.crop === IMAGE_SIZE) throw e;
    throw tooSmall();
  }
  // tfjs builds a pooling layer whose input is smaller than its window with an empty output, and fails only later.
  if (model.layers.some((l) => (l.outputShape as number[]).slice(1).some((d) => !(d > 0)))) {
    model.dispose();
    throw tooSmall();
  }
  return model;
}

/**
 * Put the weights of the model in `dir` (every variable, BatchNorm statistics included) into a new run's model,
 * which must have the same layers: the same net at the same width and crop. Anything else is a one-line error.
 */
async function initWeights(model: tf.LayersModel, dir: string, net: number, s: ResolvedRun['settings'], r: Recipe): Promise<void> {
  const from = await loadModelDir(dir).catch((e: unknown) => {
    throw e instanceof FerError ? new FerError(`--init: ${e.message}`, e.exitCode) : e;
  });
  try {
    const want = model.weights.map((w) => w.shape);
    const have = from.weights.map((w) => w.shape);
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      throw usage(`--init ${dir}: its weights do not fit net ${net} at --width ${s.width} --crop ${r.crop} (${have.length} tensors against ${want.length}, `
        + 'or other shapes): give the same --net, --width and --crop it was trained with');
    }
    model.setWeights(from.getWeights());
  } finally {
    from.dispose();
  }
}

/**
 * Distillation targets: the mean of the teachers' probabilities (each the mean over a face and its mirror image)
 * for every un-augmented training face, count × 7. A teacher that is not a model directory is a one-line error.
 */
export async function teacherProbabilities(dirs: string[], train: Split, onLog?: (line: string) => void): Promise<Float32Array> {
  const perTeacher: Float32Array[] = [];
  for (const dir of dirs) {
    const model = await loadModelDir(dir).catch((e: unknown) => {
      throw e instanceof FerError ? new FerError(`--teacher: ${e.message}`, e.exitCode) : e;
    });
    try {
      const t0 = Date.now();
      perTeacher.push((await scoreSplit(model, train, { tta: 'flip' })).scores);
      onLog?.(`teacher ${dir}: ${train.count} training faces scored in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    } finally {
      model.dispose();
    }
  }
  return ensembleScores(perTeacher);
}

/**
 * Train one net with a custom loop (AdamW or SGD, per-batch augmentation, a plateau or cosine LR schedule, early
 * stopping, weight EMA), writing `best` and `last` checkpoints, history and curves after every epoch. The loop's
 * parts are callbacks (src/train/callbacks); progress comes through the hooks, nothing is printed. Usable without
 * the CLI; the compute backend is whatever tfjs has active (call initBackend first).
 *
 * @example
 * ```ts
 * import { initBackend, trainNet } from 'fer';
 *
 * await initBackend('auto');
 * const stop = new AbortController();
 * process.once('SIGINT', () => stop.abort());          // finish the batch, save `last`, return
 * const r = await trainNet({
 *   net: 1, data: 'data/prepared', out: 'checkpoints', epochs: 15, signal: stop.signal,
 *   onEpochEnd: (rec) => console.log(`epoch ${rec.epoch}: val_acc ${rec.val_acc.toFixed(3)}`),
 *   onLog: (line) => console.error(line),
 * });
 * if (r.interrupted) console.log('continue later with { resume: true }');
 * else console.log(`best val_acc ${r.best?.val_acc} at epoch ${r.best?.epoch} → ${r.dirs.best}`);
 * ```
 */
export async function trainNet(opts: TrainOptions): Promise<TrainResult> {
  // Lock <out>/net<k> and repair a crashed run's interrupted checkpoint swap before anything is read.
  const opened = openCheckpoints(opts.out, opts.net, typeof opts.data === 'string' ? [opts.data] : []);
  try {
    for (const r of opened.repairs) opts.onLog?.(`net${opts.net}: ${r}`);
    return await trainNetLocked(opts);
  } finally {
    opened.lock.release();
  }
}

/** `trainNet` under the name the other library entry points use (evaluate, prepare, processVideo). */
export const train = trainNet;

async function trainNetLocked(opts: TrainOptions): Promise<TrainResult> {
  const note = (line: string): void => opts.onLog?.(line);
  const splits = loadSplits(opts.data);
  checkSplits(splits);
  const { train, val } = splits;
  const epochs = opts.epochs ?? TRAIN_DEFAULTS.epochs;
  const dirs = { net: netDir(opts.out, opts.net), best: bestModelDir(opts.out, opts.net), last: lastModelDir(opts.out, opts.net) };
  const title = `net${opts.net}`;

  const run = resolveRun(opts, dirs.last);
  const { settings, resumed } = run;
  const recipe = recipeOf(settings);
  const model = resumed ? await loadModelDir(dirs.last) : newModel(opts.net, run, recipe);
  if (!resumed && settings.init !== undefined) {
    try {
      await initWeights(model, settings.init, opts.net, settings, recipe);
    } catch (e) {
      model.dispose();
      throw e;
    }
    note(`${title}: starting from the weights in ${settings.init}`);
  }
  let teacherProbs: Float32Array | null = null;
  if (recipe.teacher.length > 0) {
    try {
      teacherProbs = await teacherProbabilities(recipe.teacher, train, (line) => note(`${title}: ${line}`));
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  const layerVars = model.trainableWeights;
  const vars = layerVars.map((w) => w.read() as tf.Variable);
  const kernels = layerVars.map(isKernel);
  const optimizer = recipe.optimizer === 'sgd'
    ? new Sgd(vars, kernels, { weightDecay: settings.weightDecay, momentum: recipe.momentum })
    : new Adam(vars, kernels, { weightDecay: settings.weightDecay });
  const builtIn: TrainCallback[] = [];
  try {
    const s = resumed?.state;
    if (resumed && s) {
      if (JSON.stringify(vars.map((v) => v.shape)) !== JSON.stringify(s.optimizer.shapes)) {
        throw new FerError(`${path.join(dirs.last, TRAIN_STATE)}: optimizer state does not match the model's variables`);
      }
      optimizer.setState(resumed.optimizer);
    }
    const loop = new Loop({
      title, net: opts.net, model, vars, optimizer, settings, train, val, epochs,
      crop: { crop: recipe.crop, warpProb: recipe.warpProb, erase: recipe.erase },
      step: { classWeights: settings.classWeights ? balancedClassWeights(train.labels) : null, size: recipe.crop, labelSmoothing: recipe.labelSmoothing,
        ...(teacherProbs ? { teacherWeight: recipe.teacherWeight } : {}) },
      teacherProbs,
      note,
    }, s
      ? { epoch: s.epoch, lr: s.lr, rng: new Rng(s.rng), partial: s.partial, stoppedEarly: s.stoppedEarly, lrChangedBy: s.lrChangedBy ?? null }
      : { epoch: 0, lr: settings.lr, rng: new Rng(settings.seed), partial: null, stoppedEarly: false, lrChangedBy: null });

    // The recipe as callbacks. The order is the order of every phase: BatchNorm re-estimation before the EMA's
    // swap, `best` saved while the EMA weights are in, the LR step and early stop before `last` is saved, the
    // history files after it, and the caller's hooks last. The caller's own callbacks come just before `last`.
    const scheduleSpec = { kind: recipe.schedule, warmup: recipe.warmup, epochs: settings.plannedEpochs ?? epochs, minLr: settings.plateau.minLr };
    const bn = settings.bnRecalibrate ? new BatchNormRecalibration(settings.bnRecalibrate, settings.batchSize) : null;
    const averaging = recipe.swa ? 'mean' : recipe.ema > 0 ? recipe.ema : null;
    const best = new BestCheckpoint(dirs.best, averaging === null ? {} : { weights: recipe.swa ? 'swa' : 'ema' });
    const history = new History(dirs.net);
    const steps: TrainCallback[] = [
      new LrSchedule(scheduleSpec),
      ...(bn ? [bn] : []),
      best,
      ...(averaging !== null ? [new EmaCallback(vars, averaging, bn)] : []),
      new ReduceLROnPlateauCallback(settings.plateau, recipe.schedule === 'plateau', run.sameMonitor),
      new EarlyStoppingCallback(settings.earlyStop, best),
    ];
    const saving = [new LastCheckpoint(dirs.last, (p) => loop.checkpointFiles(p)), history];
    builtIn.push(...steps, ...saving);
    // The caller's callbacks act before `last` is saved, so what they change, and their state, are in it.
    const cbs = new CallbackList([...steps, ...(opts.callbacks ?? []), ...saving, new ProgressHooks(opts)]);
    loop.use(cbs);

    if (resumed && s) {
      cbs.setStates(s as unknown as Record<string, unknown>, resumed.dir);
      const setLr = opts.resumeSchedule?.lr;
      opts.onResume?.({ net: opts.net, epoch: s.epoch, batch: s.partial?.batch ?? 0, lr: setLr ?? s.lr, ignored: run.ignored });
      if (setLr !== undefined && setLr !== loop.lr) {
        note(`${title}: LR set to ${fmtLr(setLr)} (was ${fmtLr(loop.lr)})`);
        loop.lr = setLr;
        loop.lrChangedBy = 'set-lr';
      }
      note(`${title}: resuming after epoch ${s.epoch}${s.partial ? ` (+${s.partial.batch} batches of epoch ${s.epoch + 1})` : ''}, LR ${fmtLr(loop.lr)}`);
      if (recipe.schedule === 'cosine' && epochs > scheduleSpec.epochs) {
        note(`${title}: the cosine schedule was planned for ${scheduleSpec.epochs} epochs; epochs after that train at the minimum LR ${fmtLr(scheduleSpec.minLr)}`);
      }
    }

    const result = (interrupted: boolean): TrainResult => ({
      net: opts.net, epochs: loop.epoch, history: history.history, best: best.best, interrupted, stoppedEarly: loop.stoppedEarly, peakRssMB: peakRssMB(),
      backend: tf.getBackend(), dirs, ignoredOnResume: run.ignored,
    });
    if (loop.stoppedEarly || loop.epoch >= epochs) {
      note(`${title}: nothing to do: ${loop.stoppedEarly ? 'stopped early' : `${loop.epoch} of ${epochs} epochs done`} (raise --epochs to train on)`);
      return result(false);
    }
    fs.mkdirSync(dirs.net, { recursive: true });
    return result(await loop.run(opts.signal));
  } finally {
    for (const c of builtIn) c.dispose?.();
    optimizer.dispose();
    model.dispose();
  }
}
