import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { EXIT, FerError } from '../util/errors';
import { createProgress } from '../util/progress';
import { info } from '../util/log';
import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { Split, loadPreparedSplit } from '../data/dataset';
import { LOG_LOSS_EPS } from '../eval/metrics';
import { facesToTensor } from '../preprocess/normalize';
import { buildNet } from '../models/nets';
import { loadModelDir, saveModelDir } from '../models/io';
import { bestModelDir, lastModelDir, netDir } from '../models/checkpoints';
import { Adam } from './adam';
import { openCheckpoints } from './checkpoints';
import { Sgd } from './sgd';
import { Ema } from './ema';
import { ScheduleName, scheduledLr } from './schedule';
import { centreCrop, modelInputSize } from '../models/crops';
import { recalibrateBatchNorm } from './batchnorm';
import { AugmentOptions, CropAugment, DEFAULT_AUGMENT, gatherBatch } from './augment';
import { writeHistory } from './history';
import { EarlyStopping, MonitorName, PlateauOptions, ReduceLROnPlateau } from './plateau';
import { Rng } from './rng';
import {
  EMA_BIN, EpochRecord, LrChange, OPTIMIZER_BIN, OptimizerName, PartialEpoch, RECIPE_DEFAULTS, RunSettings, STATE_VERSION, TRAIN_INFO,
  TRAIN_STATE, TrainState, encodeOptimizer, readTrainState,
} from './state';
import { yieldToEventLoop } from '../util/yield';

export interface TrainOptions {
  /** 1, 2 or 3. */
  net: number;
  /** A prepared-dataset directory (`fer prepare`), or the train and validation splits themselves. */
  data: string | { train: Split; val: Split };
  /** Checkpoints directory; the net's files go to <out>/net<k>/{best,last,history.*,curves.*}. */
  out: string;
  /** Total epochs (with --resume: the total including those already done). */
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** On-the-fly augmentation: true = DEFAULT_AUGMENT. */
  augment?: boolean | AugmentOptions;
  /** Weight the loss by inverse class frequency (sklearn's "balanced"). */
  classWeights?: boolean;
  /**
   * Weight decay on conv/dense kernels only (never biases or BatchNorm): AdamW's decoupled decay (default 0.01), or
   * SGD's L2 term (default 5e-4).
   */
  weightDecay?: number;
  /** 'adamw' (default) or 'sgd' (Nesterov momentum). */
  optimizer?: OptimizerName;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** LR schedule: 'plateau' (ReduceLROnPlateau, default) or 'cosine' (decays to plateau.minLr at the last epoch). */
  schedule?: ScheduleName;
  /** Linear LR warm-up over this many epochs (default 0). */
  warmup?: number;
  /** Label smoothing ε: targets (1 − ε)·one-hot + ε/7 (default 0). */
  labelSmoothing?: number;
  /** Train on random crop×crop windows of the 48-px faces; the net's input is crop px (default 48 = whole face). */
  crop?: number;
  /** Probability of the affine warp per training face (default 1); the others are only flipped (and cropped). */
  warpProb?: number;
  /** Probability of random erasing per training face (default 0). */
  erase?: number;
  /** Multiplier on the conv blocks' dropout rates (default 1; 0 removes them). */
  convDropout?: number;
  /** Rate of the head's dropout layers (default: the net's own). */
  headDropout?: number;
  /** EMA decay of the weights, evaluated and kept as `best` (default 0 = off; needs bnRecalibrate > 0). */
  ema?: number;
  plateau?: Partial<PlateauOptions>;
  /** Stop after this many epochs without a better val_acc; 0 = never. */
  earlyStop?: number;
  /** Width multiplier of the net (1 = as documented). */
  width?: number;
  /** After each epoch, re-estimate BatchNorm statistics on this many un-augmented training faces; 0 = off. */
  bnRecalibrate?: number;
  /** Continue from <out>/net<k>/last with its saved settings (except epochs, earlyStop and bnRecalibrate). */
  resume?: boolean;
  /**
   * With `resume`: change the LR schedule from this point on, as one would by hand between sessions. `lr` replaces
   * the current LR (a manual step); `plateau` replaces the given ReduceLROnPlateau options. Weights, optimizer
   * moments and data order are untouched. Ignored without `resume`.
   */
  resumeSchedule?: { lr?: number; plateau?: Partial<PlateauOptions> };
  /** Set `requested` (e.g. from a SIGINT handler) to stop after the current batch; `last` is saved first. */
  stop?: { requested: boolean };
  /** Progress bars on stderr (only drawn on a TTY). Default true. */
  progress?: boolean;
  /** Where human-readable lines go; default stderr. */
  log?: (line: string) => void;
}

export const TRAIN_DEFAULTS = {
  epochs: 15,
  batchSize: 64,
  lr: 1e-3,
  seed: 42,
  augment: true,
  classWeights: false,
  weightDecay: 0.01,
  sgdWeightDecay: 5e-4,
  earlyStop: 0,
  width: 1,
  bnRecalibrate: 2048,
} as const;

export interface TrainResult {
  net: number;
  /** Epochs completed in total (including resumed ones). */
  epochs: number;
  history: EpochRecord[];
  best: { epoch: number; val_acc: number } | null;
  /** Stopped by `stop.requested` (SIGINT/SIGTERM); `last` holds the position to resume from. */
  interrupted: boolean;
  stoppedEarly: boolean;
  peakRssMB: number;
  backend: string;
  dirs: { net: string; best: string; last: string };
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

/** The run's recipe with the defaults filled in for fields a state from an older version lacks. */
function recipeOf(s: RunSettings) {
  const d = RECIPE_DEFAULTS;
  return {
    optimizer: s.optimizer ?? d.optimizer, momentum: s.momentum ?? d.momentum, schedule: s.schedule ?? d.schedule, warmup: s.warmup ?? d.warmup,
    labelSmoothing: s.labelSmoothing ?? d.labelSmoothing, crop: s.crop ?? d.crop, warpProb: s.warpProb ?? d.warpProb, erase: s.erase ?? d.erase,
    convDropout: s.convDropout ?? d.convDropout, headDropout: s.headDropout, ema: s.ema ?? d.ema,
  };
}

function usage(msg: string): FerError {
  return new FerError(msg, EXIT.USAGE);
}

/** Bad recipe values are usage errors naming the flag (the CLI checks ranges too; the library may be called directly). */
function checkRecipe(s: RunSettings): void {
  const r = recipeOf(s);
  const inRange = (v: number, lo: number, hi: number): boolean => Number.isFinite(v) && v >= lo && v <= hi;
  if (!Number.isInteger(r.crop) || !inRange(r.crop, 8, IMAGE_SIZE)) throw usage(`--crop ${r.crop}: expected an integer ≥ 8 and ≤ ${IMAGE_SIZE} (the faces are ${IMAGE_SIZE} px)`);
  if (!inRange(r.warpProb, 0, 1)) throw usage(`--warp-prob ${r.warpProb}: expected a probability in [0, 1]`);
  if (!inRange(r.erase, 0, 1)) throw usage(`--erase ${r.erase}: expected a probability in [0, 1]`);
  if (!inRange(r.labelSmoothing, 0, 0.5)) throw usage(`--label-smoothing ${r.labelSmoothing}: expected a number in [0, 0.5]`);
  if (!inRange(r.warmup, 0, Infinity)) throw usage(`--warmup ${r.warmup}: expected a number of epochs ≥ 0`);
  if (!inRange(r.momentum, 0, 0.999)) throw usage(`--momentum ${r.momentum}: expected a number in [0, 0.999]`);
  if (!inRange(r.ema, 0, 0.999999) || (r.ema > 0 && r.ema < 0.5)) throw usage(`--ema ${r.ema}: expected 0 (off) or a decay in [0.5, 1), e.g. 0.999`);
  if (r.ema > 0 && !s.bnRecalibrate) throw usage('--ema needs --bn-recalibrate > 0: averaged weights need their own BatchNorm statistics');
  if (!inRange(r.convDropout, 0, 2)) throw usage(`--conv-dropout ${r.convDropout}: expected a multiplier in [0, 2]`);
  if (r.headDropout !== undefined && !inRange(r.headDropout, 0, 0.95)) throw usage(`--head-dropout ${r.headDropout}: expected a rate in [0, 0.95]`);
  if (!['adamw', 'sgd'].includes(r.optimizer)) throw usage(`--optimizer ${r.optimizer}: choose adamw or sgd`);
  if (!['plateau', 'cosine'].includes(r.schedule)) throw usage(`--schedule ${r.schedule}: choose plateau or cosine`);
}

function metricOf(r: EpochRecord, m: MonitorName): number {
  return r[m];
}

/** Validation loss and accuracy, in inference mode (no dropout, BN moving statistics); a cropped net sees the centre crop. */
export function evaluateSplit(model: tf.LayersModel, split: Split, batchSize = 256): { loss: number; acc: number } {
  const px = IMAGE_SIZE * IMAGE_SIZE;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    const [l, c] = tf.tidy(() => {
      const x = centreCrop(facesToTensor(split.images.subarray(start * px, (start + n) * px), n), modelInputSize(model));
      const y = tf.tensor1d(split.labels.subarray(start, start + n), 'int32');
      const p = model.predict(x) as tf.Tensor2D;
      // Clipped as metrics.logLoss clips, so val_loss here equals `fer eval`'s log loss.
      const logp = tf.log(tf.clipByValue(p, LOG_LOSS_EPS, 1));
      const loss = tf.neg(tf.sum(tf.mul(tf.oneHot(y, NUM_CLASSES), logp)));
      const ok = tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), y), 'int32'));
      return [loss.dataSync()[0], ok.dataSync()[0]];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: lossSum / split.count, acc: correct / split.count };
}

function dropoutLayers(model: tf.LayersModel): { seed?: number }[] {
  // tfjs' Dropout reads `this.seed` on every call; a fixed seed would repeat one mask, so we set it per batch.
  return model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[];
}

function isKernel(v: tf.LayerVariable): boolean {
  return /\/kernel(_\d+)?$/.test(v.originalName);
}

const TEXT_PROGRESS_MS = 60_000;

function fmtLr(lr: number): string {
  return lr.toExponential(1);
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/**
 * Train one net with a custom loop (Adam/AdamW, per-batch augmentation, ReduceLROnPlateau, early stopping),
 * writing `best` and `last` checkpoints, history and curves after every epoch. Usable without the CLI; the
 * compute backend is whatever tfjs has active (call initBackend first).
 */
export async function trainNet(opts: TrainOptions): Promise<TrainResult> {
  // Lock <out>/net<k> and repair a crashed run's interrupted checkpoint swap before anything is read.
  const opened = openCheckpoints(opts.out, opts.net, typeof opts.data === 'string' ? [opts.data] : []);
  try {
    for (const r of opened.repairs) (opts.log ?? info)(`net${opts.net}: ${r}`);
    return await trainNetLocked(opts);
  } finally {
    opened.lock.release();
  }
}

async function trainNetLocked(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? info;
  const splits = loadSplits(opts.data);
  checkSplits(splits);
  const { train, val } = splits;
  const epochs = opts.epochs ?? TRAIN_DEFAULTS.epochs;
  const dirs = { net: netDir(opts.out, opts.net), best: bestModelDir(opts.out, opts.net), last: lastModelDir(opts.out, opts.net) };
  const title = `net${opts.net}`;

  let model: tf.LayersModel;
  let settings: RunSettings;
  let resumed: ReturnType<typeof readTrainState> | null = null;
  if (opts.resume) {
    if (!fs.existsSync(path.join(dirs.last, TRAIN_STATE))) {
      throw new FerError(`--resume: no checkpoint to resume in ${dirs.last} (train without --resume first)`);
    }
    resumed = readTrainState(dirs.last);
    settings = resumed.state.settings;
    if (settings.net !== opts.net) throw new FerError(`${path.join(dirs.last, TRAIN_STATE)}: holds net ${settings.net}, not net ${opts.net}`);
    model = await loadModelDir(dirs.last);
  } else {
    const augment = opts.augment ?? TRAIN_DEFAULTS.augment;
    const plateau = new ReduceLROnPlateau(opts.plateau).options;
    const optimizer = opts.optimizer ?? RECIPE_DEFAULTS.optimizer;
    settings = {
      net: opts.net,
      width: opts.width ?? TRAIN_DEFAULTS.width,
      seed: opts.seed ?? TRAIN_DEFAULTS.seed,
      batchSize: opts.batchSize ?? TRAIN_DEFAULTS.batchSize,
      lr: opts.lr ?? TRAIN_DEFAULTS.lr,
      augment: augment === true ? { ...DEFAULT_AUGMENT } : augment === false ? null : augment,
      classWeights: opts.classWeights ?? TRAIN_DEFAULTS.classWeights,
      weightDecay: opts.weightDecay ?? (optimizer === 'sgd' ? TRAIN_DEFAULTS.sgdWeightDecay : TRAIN_DEFAULTS.weightDecay),
      plateau,
      earlyStop: opts.earlyStop ?? TRAIN_DEFAULTS.earlyStop,
      bnRecalibrate: opts.bnRecalibrate ?? TRAIN_DEFAULTS.bnRecalibrate,
      optimizer,
      ...(optimizer === 'sgd' ? { momentum: opts.momentum ?? RECIPE_DEFAULTS.momentum } : {}),
      schedule: opts.schedule ?? RECIPE_DEFAULTS.schedule,
      warmup: opts.warmup ?? RECIPE_DEFAULTS.warmup,
      plannedEpochs: epochs,
      labelSmoothing: opts.labelSmoothing ?? RECIPE_DEFAULTS.labelSmoothing,
      crop: opts.crop ?? RECIPE_DEFAULTS.crop,
      warpProb: opts.warpProb ?? RECIPE_DEFAULTS.warpProb,
      erase: opts.erase ?? RECIPE_DEFAULTS.erase,
      convDropout: opts.convDropout ?? RECIPE_DEFAULTS.convDropout,
      ...(opts.headDropout !== undefined ? { headDropout: opts.headDropout } : {}),
      ema: opts.ema ?? RECIPE_DEFAULTS.ema,
    };
    checkRecipe(settings);
    const r = recipeOf(settings);
    const tooSmall = (): FerError => usage(`--crop ${r.crop}: net ${opts.net} cannot take a ${r.crop}-px input (its pooling needs a larger one)`);
    try {
      model = buildNet(opts.net, settings.seed, { width: settings.width, inputSize: r.crop, convDropout: r.convDropout, headDropout: r.headDropout });
    } catch (e) {
      if (e instanceof FerError || r.crop === IMAGE_SIZE) throw e;
      throw tooSmall();
    }
    // tfjs builds a pooling layer whose input is smaller than its window with an empty output, and fails only later.
    if (model.layers.some((l) => (l.outputShape as number[]).slice(1).some((d) => !(d > 0)))) {
      model.dispose();
      throw tooSmall();
    }
  }
  // On resume --early-stop, --bn-recalibrate and the LR schedule may change: the first decides only when to stop,
  // the second only touches BatchNorm's moving statistics, which training never reads (it normalises with batch
  // statistics), the schedule only what follows. States written before recalibration existed get the default.
  const schedule = opts.resume ? opts.resumeSchedule ?? {} : {};
  const monitorBefore = settings.plateau.monitor;
  if (opts.resume) {
    settings = {
      ...settings,
      earlyStop: opts.earlyStop ?? settings.earlyStop,
      bnRecalibrate: opts.bnRecalibrate ?? settings.bnRecalibrate ?? TRAIN_DEFAULTS.bnRecalibrate,
      plateau: new ReduceLROnPlateau({ ...settings.plateau, ...schedule.plateau }).options,
    };
  }

  if (opts.resume) checkRecipe(settings);
  const recipe = recipeOf(settings);
  const layerVars = model.trainableWeights;
  const vars = layerVars.map((w) => w.read() as tf.Variable);
  const kernels = layerVars.map(isKernel);
  const adam = recipe.optimizer === 'sgd'
    ? new Sgd(vars, kernels, { weightDecay: settings.weightDecay, momentum: recipe.momentum })
    : new Adam(vars, kernels, { weightDecay: settings.weightDecay });
  const ema = recipe.ema > 0 ? new Ema(vars, recipe.ema) : null;
  const scheduleSpec = {
    kind: recipe.schedule, warmup: recipe.warmup, epochs: settings.plannedEpochs ?? epochs, minLr: settings.plateau.minLr,
  };
  const cropAug: CropAugment = { crop: recipe.crop, warpProb: recipe.warpProb, erase: recipe.erase };
  const plateau = new ReduceLROnPlateau(settings.plateau);
  const early = new EarlyStopping('val_acc', Math.max(1, settings.earlyStop));
  let rng = new Rng(settings.seed);
  let epoch = 0;
  let lr = settings.lr;
  let history: EpochRecord[] = [];
  let best: TrainResult['best'] = null;
  let partial: PartialEpoch | null = null;
  let stoppedEarly = false;
  let lrChangedBy: LrChange | null = null;
  if (resumed) {
    const s = resumed.state;
    const shapes = vars.map((v) => v.shape);
    if (JSON.stringify(shapes) !== JSON.stringify(s.optimizer.shapes)) throw new FerError(`${path.join(dirs.last, TRAIN_STATE)}: optimizer state does not match the model's variables`);
    adam.setState(resumed.optimizer);
    if (ema) {
      if (!s.ema || !resumed.ema) throw new FerError(`${path.join(dirs.last, TRAIN_STATE)}: the run averages weights (--ema) but ${EMA_BIN} is missing`);
      ema.restore(resumed.ema, s.ema.updates, path.join(dirs.last, EMA_BIN));
    }
    // A plateau count kept for a different metric means nothing for the new one.
    if (settings.plateau.monitor === monitorBefore) plateau.setState(s.plateau);
    early.setState(s.earlyStop);
    rng = new Rng(s.rng);
    ({ epoch, lr, history, best, partial, stoppedEarly } = s);
    lrChangedBy = s.lrChangedBy ?? null;
    if (schedule.lr !== undefined && schedule.lr !== lr) {
      log(`${title}: LR set to ${fmtLr(schedule.lr)} (was ${fmtLr(lr)})`);
      lr = schedule.lr;
      lrChangedBy = 'set-lr';
    }
    log(`${title}: resuming after epoch ${epoch}${partial ? ` (+${partial.batch} batches of epoch ${epoch + 1})` : ''}, LR ${fmtLr(lr)}`);
    if (recipe.schedule === 'cosine' && epochs > scheduleSpec.epochs) {
      log(`${title}: the cosine schedule was planned for ${scheduleSpec.epochs} epochs; epochs after that train at the minimum LR ${fmtLr(scheduleSpec.minLr)}`);
    }
  }

  const classWeights = settings.classWeights ? balancedClassWeights(train.labels) : null;
  const dropouts = dropoutLayers(model);
  const bs = settings.batchSize;
  const numBatches = Math.ceil(train.count / bs);
  const batchBuf = new Uint8Array(bs * recipe.crop * recipe.crop);
  const stop = opts.stop ?? { requested: false };
  const textProgress = opts.progress !== false && !process.stderr.isTTY;

  const state = (p: PartialEpoch | null): TrainState => ({
    version: STATE_VERSION, settings, epoch, partial: p, lr, rng: rng.getState(), plateau: plateau.getState(),
    earlyStop: early.getState(), best, history, optimizer: { step: adam.step, shapes: vars.map((v) => v.shape) }, stoppedEarly,
    lrChangedBy, ...(ema ? { ema: { updates: ema.updates } } : {}),
  });
  const saveLast = async (p: PartialEpoch | null): Promise<void> => {
    for (const d of dropouts) d.seed = undefined;
    await saveModelDir(model, dirs.last, {
      [TRAIN_STATE]: JSON.stringify(state(p), null, 1),
      [OPTIMIZER_BIN]: encodeOptimizer(adam.getState()),
      ...(ema ? { [EMA_BIN]: ema.encode() } : {}),
    });
  };
  const result = (interrupted: boolean): TrainResult => ({
    net: opts.net, epochs: epoch, history, best, interrupted, stoppedEarly, peakRssMB: peakRssMB(), backend: tf.getBackend(), dirs,
  });

  try {
    if (stoppedEarly || epoch >= epochs) {
      log(`${title}: nothing to do: ${stoppedEarly ? 'stopped early' : `${epoch} of ${epochs} epochs done`} (raise --epochs to train on)`);
      return result(false);
    }
    fs.mkdirSync(dirs.net, { recursive: true });
    while (epoch < epochs && !stoppedEarly) {
      const e = epoch + 1;
      const epochStart = Date.now();
      const epochSeed = partial ? partial.epochSeed : rng.uint32();
      const order = new Rng(epochSeed).permutation(train.count);
      let lossSum = partial?.lossSum ?? 0;
      let correct = partial?.correct ?? 0;
      let seen = partial?.seen ?? 0;
      let trainSeconds = partial?.trainSeconds ?? 0;
      const firstBatch = partial?.batch ?? 0;
      partial = null;
      const bar = createProgress(numBatches, `${title} epoch ${e}/${epochs} {bar} {value}/{total} | loss {loss} acc {acc} | lr {lr} | {ips} img/s | ETA {eta_formatted}`, {
        quiet: opts.progress === false, payload: { loss: '-', acc: '-', lr: fmtLr(lr), ips: '-' },
      });
      const lrAt = (b: number): number => scheduledLr(scheduleSpec, lr, epoch * numBatches + b, numBatches);
      let batchLr = lrAt(firstBatch);
      bar.update(firstBatch, { lr: fmtLr(batchLr) });
      let sliceStart = Date.now();
      let lastText = sliceStart;
      for (let b = firstBatch; b < numBatches; b++) {
        const idx = order.subarray(b * bs, Math.min((b + 1) * bs, train.count));
        const n = idx.length;
        gatherBatch(train.images, idx, batchBuf, rng, settings.augment, cropAug);
        for (const d of dropouts) d.seed = rng.uint32();
        const labels = Uint8Array.from(idx, (i) => train.labels[i]);
        batchLr = lrAt(b);
        const [l, c] = trainStep(model, vars, adam, batchBuf, labels, n, classWeights, batchLr, recipe.crop, recipe.labelSmoothing);
        ema?.update();
        lossSum += l * n;
        correct += c;
        seen += n;
        const now = Date.now();
        trainSeconds += (now - sliceStart) / 1000;
        sliceStart = now;
        bar.update(b + 1, { loss: (lossSum / seen).toFixed(4), acc: pct(correct / seen), lr: fmtLr(batchLr), ips: Math.round(seen / trainSeconds) });
        if (textProgress && now - lastText >= TEXT_PROGRESS_MS) {
          // No bar without a TTY (nohup, CI logs): a line a minute shows the run is alive.
          lastText = now;
          const eta = (train.count - seen) / (seen / trainSeconds);
          log(`${title} epoch ${e}/${epochs}  batch ${b + 1}/${numBatches}  loss ${(lossSum / seen).toFixed(4)} acc ${pct(correct / seen)}`
            + `  ${Math.round(seen / trainSeconds)} img/s  ETA ${Math.round(eta)}s`);
        }
        // Let a pending SIGINT/SIGTERM handler run, then honour it between batches.
        await yieldToEventLoop();
        if (stop.requested && b + 1 < numBatches) {
          bar.stop();
          await saveLast({ batch: b + 1, epochSeed, lossSum, correct, seen, trainSeconds });
          log(`${title}: interrupted in epoch ${e} after batch ${b + 1}/${numBatches}; saved ${dirs.last} (continue with --resume)`);
          return result(true);
        }
      }
      bar.stop();
      const recalibrate = (): void => {
        if (settings.bnRecalibrate) recalibrateBatchNorm(model, train.images, train.count, settings.bnRecalibrate, bs);
      };
      recalibrate();
      // With EMA the average is what gets validated (and saved as `best`); the trained weights' accuracy is kept too.
      // (An error on the way ends the run without saving, so the swapped weights need no undoing then.)
      const raw = ema ? evaluateSplit(model, val) : null;
      // The trained weights' BatchNorm statistics, put back with them below.
      const rawStats = ema ? model.nonTrainableWeights.map((w) => w.read().clone()) : [];
      if (ema) {
        ema.swap();
        recalibrate();
      }
      const v = evaluateSplit(model, val);
      const rec: EpochRecord = {
        epoch: e, loss: lossSum / seen, acc: correct / seen, val_loss: v.loss, val_acc: v.acc, lr: batchLr,
        seconds: Math.round((Date.now() - epochStart) / 100) / 10, imgPerSec: Math.round((seen / trainSeconds) * 10) / 10, peakRssMB: peakRssMB(),
        ...(lrChangedBy ? { lrChangedBy } : {}),
        ...(raw ? { rawValAcc: raw.acc } : {}),
      };
      lrChangedBy = null;
      history = [...history, rec];
      epoch = e;
      const isBest = best === null || rec.val_acc > best.val_acc;
      if (isBest) {
        best = { epoch: e, val_acc: rec.val_acc };
        for (const d of dropouts) d.seed = undefined;
        await saveModelDir(model, dirs.best, { [TRAIN_INFO]: JSON.stringify({ net: opts.net, settings, ...rec, ...(ema ? { weights: 'ema' } : {}) }, null, 1) });
      }
      if (ema) {
        ema.swap();
        // `last` holds the trained weights with their own BatchNorm statistics, as without EMA.
        model.nonTrainableWeights.forEach((w, i) => w.write(rawStats[i]));
        rawStats.forEach((t) => t.dispose());
      }
      const next = recipe.schedule === 'plateau' ? plateau.step(metricOf(rec, settings.plateau.monitor), lr) : { lr, reduced: false };
      const reducedMsg = next.reduced
        ? `${title}: ReduceLROnPlateau: ${settings.plateau.monitor} has not improved for ${settings.plateau.patience} epoch${settings.plateau.patience === 1 ? '' : 's'}; LR ${fmtLr(lr)} → ${fmtLr(next.lr)}`
        : null;
      lr = next.lr;
      if (next.reduced) lrChangedBy = 'plateau';
      if (settings.earlyStop > 0 && early.step(rec.val_acc)) stoppedEarly = true;
      await saveLast(null);
      await writeHistory(dirs.net, history, title);
      log(`${title} epoch ${e}/${epochs}  loss ${rec.loss.toFixed(4)} acc ${pct(rec.acc)}  val_loss ${rec.val_loss.toFixed(4)} val_acc ${pct(rec.val_acc)}`
        + `${rec.rawValAcc !== undefined ? ` (trained weights ${pct(rec.rawValAcc)})` : ''}  lr ${fmtLr(rec.lr)}  ${rec.seconds}s  ${rec.imgPerSec} img/s  RSS ${rec.peakRssMB} MB${isBest ? '  * best' : ''}`);
      if (reducedMsg) log(reducedMsg);
      if (stoppedEarly && best) log(`${title}: early stop: val_acc has not improved for ${settings.earlyStop} epochs (best ${pct(best.val_acc)} at epoch ${best.epoch})`);
      if (stop.requested) {
        log(`${title}: interrupted after epoch ${e}; saved ${dirs.last} (continue with --resume)`);
        return result(true);
      }
    }
    return result(false);
  } finally {
    adam.dispose();
    ema?.dispose();
    model.dispose();
  }
}

/**
 * Keras' categorical cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7]), averaged over the batch,
 * each sample weighted by its class's weight when given (Keras' class_weight: sum(w·l) / n).
 */
export function crossEntropy(p: tf.Tensor2D, labels: tf.Tensor1D, classWeights: Float32Array | null, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    let target: tf.Tensor = tf.oneHot(labels, NUM_CLASSES);
    // Label smoothing as Keras does it: (1 − ε)·one-hot + ε/K.
    if (labelSmoothing > 0) target = target.toFloat().mul(1 - labelSmoothing).add(labelSmoothing / NUM_CLASSES);
    let perSample = tf.neg(tf.sum(tf.mul(target, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1));
    if (classWeights) perSample = tf.mul(perSample, tf.gather(tf.tensor1d(classWeights), labels));
    return tf.mean(perSample) as tf.Scalar;
  });
}

/** One optimisation step; returns the batch's mean loss and its number of correct predictions. */
function trainStep(model: tf.LayersModel, vars: tf.Variable[], adam: Adam | Sgd, batch: Uint8Array, labels: Uint8Array, n: number,
  classWeights: Float32Array | null, lr: number, size: number, labelSmoothing: number): [number, number] {
  let correctT: tf.Tensor | undefined;
  const lossT = tf.tidy(() => {
    const x = facesToTensor(batch, n, size);
    const y = tf.tensor1d(labels, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(x, { training: true }) as tf.Tensor2D;
      correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), y), 'int32')));
      return crossEntropy(p, y, classWeights, labelSmoothing);
    }, vars);
    adam.apply(vars.map((v) => grads[v.name]), lr);
    return value;
  });
  const loss = lossT.dataSync()[0];
  lossT.dispose();
  const correct = correctT ? correctT.dataSync()[0] : 0;
  correctT?.dispose();
  if (!Number.isFinite(loss)) throw new FerError(`training diverged (loss ${loss}); try a lower --lr`, EXIT.ERROR);
  return [loss, correct];
}
