import * as fs from 'fs';
import * as path from 'path';
import { EXIT, FerError } from '../util/errors';
import { IMAGE_SIZE } from '../data/classes';
import { AugmentOptions, DEFAULT_AUGMENT } from './augment';
import { PlateauOptions, ReduceLROnPlateau } from './plateau';
import { AdamState } from './adam';
import { SCHEDULES } from './schedule';
import { DEFAULT_TEACHER_WEIGHT, RECIPE_DEFAULTS, RecipeOptions, RunSettings, TRAIN_STATE, TrainState, readTrainState } from './state';

/** The options that make a run's settings (the part of TrainOptions this file reads). */
export interface RunOptions extends RecipeOptions {
  /** 1, 2 or 3. */
  net: number;
  /** Total epochs (with `resume`: the total including those already done). */
  epochs?: number;
  /** Images per batch (default 64). */
  batchSize?: number;
  /** Initial learning rate (default 1e-3). */
  lr?: number;
  /** Seed of the weights, the data order, the augmentation and dropout (same seed, same run; default 42). */
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
  /** ReduceLROnPlateau options (schedule 'plateau'; `minLr` is also the cosine's floor). */
  plateau?: Partial<PlateauOptions>;
  /** Stop after this many epochs without a better val_acc; 0 = never. */
  earlyStop?: number;
  /** Width multiplier of the net (1 = as documented). */
  width?: number;
  /** After each epoch, re-estimate BatchNorm statistics on this many un-augmented training faces; 0 = off. */
  bnRecalibrate?: number;
  resume?: boolean;
  /**
   * Start a new run from this model directory's weights (a `best` or `last` of the same net at the same width and
   * crop) instead of random ones; the optimizer, schedule, EMA and data order start fresh. For fine-tuning a trained
   * net, e.g. a constant-LR phase with `swa` (stochastic weight averaging). Not with `resume` (that continues `last`).
   */
  init?: string;
  /**
   * With `resume`: `lr` continues with this LR; `plateau` changes ReduceLROnPlateau's options; `replan` makes a
   * cosine schedule end at this run's `epochs` instead of the planned total (the LR follows the new curve from the
   * current step on).
   */
  resumeSchedule?: { lr?: number; plateau?: Partial<PlateauOptions>; replan?: boolean };
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

/**
 * The options a run keeps for its whole life (stored in last/train-state.json). With `resume` the saved values
 * win; one given with a different value is reported (TrainResult.ignored, the onResume hook) and not used.
 */
export const SAVED_OPTIONS = ['batchSize', 'lr', 'seed', 'augment', 'classWeights', 'weightDecay', 'width', 'optimizer', 'momentum', 'schedule',
  'warmup', 'labelSmoothing', 'crop', 'warpProb', 'erase', 'convDropout', 'headDropout', 'ema', 'swa', 'teacher', 'teacherWeight'] as const;
export type SavedOption = (typeof SAVED_OPTIONS)[number];

/**
 * The options a resumed run may change: `epochs` (the target), `earlyStop` (only decides when to stop),
 * `bnRecalibrate` (only touches BatchNorm's moving statistics, which training never reads: it normalises with
 * batch statistics), and `resumeSchedule` (the LR and ReduceLROnPlateau options from this point on).
 */
export const RESUMABLE_OPTIONS = ['epochs', 'earlyStop', 'bnRecalibrate', 'resumeSchedule'] as const;

/** The run's recipe with the defaults filled in for fields a state from an older version lacks. */
export function recipeOf(s: RunSettings) {
  const d = RECIPE_DEFAULTS;
  return {
    optimizer: s.optimizer ?? d.optimizer, momentum: s.momentum ?? d.momentum, schedule: s.schedule ?? d.schedule, warmup: s.warmup ?? d.warmup,
    labelSmoothing: s.labelSmoothing ?? d.labelSmoothing, crop: s.crop ?? d.crop, warpProb: s.warpProb ?? d.warpProb, erase: s.erase ?? d.erase,
    convDropout: s.convDropout ?? d.convDropout, headDropout: s.headDropout, ema: s.ema ?? d.ema, swa: s.swa ?? d.swa,
    teacher: s.teacher ?? d.teacher, teacherWeight: s.teacherWeight ?? d.teacherWeight,
  };
}
export type Recipe = ReturnType<typeof recipeOf>;

export function usage(msg: string): FerError {
  return new FerError(msg, EXIT.USAGE);
}

/** Bad recipe values are usage errors naming the flag (the CLI checks ranges too; the library may be called directly). */
export function checkRecipe(s: RunSettings): void {
  const r = recipeOf(s);
  const inRange = (v: number, lo: number, hi: number): boolean => Number.isFinite(v) && v >= lo && v <= hi;
  if (!Number.isInteger(r.crop) || !inRange(r.crop, 8, IMAGE_SIZE)) throw usage(`--crop ${r.crop}: expected an integer ≥ 8 and ≤ ${IMAGE_SIZE} (the faces are ${IMAGE_SIZE} px)`);
  if (!inRange(r.warpProb, 0, 1)) throw usage(`--warp-prob ${r.warpProb}: expected a probability in [0, 1]`);
  if (!inRange(r.erase, 0, 1)) throw usage(`--erase ${r.erase}: expected a probability in [0, 1]`);
  if (!inRange(r.labelSmoothing, 0, 0.5)) throw usage(`--label-smoothing ${r.labelSmoothing}: expected a number in [0, 0.5]`);
  if (!inRange(r.warmup, 0, Infinity)) throw usage(`--warmup ${r.warmup}: expected a number of epochs ≥ 0`);
  if (!inRange(r.momentum, 0, 0.999)) throw usage(`--momentum ${r.momentum}: expected a number in [0, 0.999]`);
  if (!inRange(r.ema, 0, 0.999999) || (r.ema > 0 && r.ema < 0.5)) throw usage(`--ema ${r.ema}: expected 0 (off) or a decay in [0.5, 1), e.g. 0.999`);
  if (r.ema > 0 && r.swa) throw usage('--ema and --swa are two ways to average the weights: give one of them');
  if ((r.ema > 0 || r.swa) && !s.bnRecalibrate) {
    throw usage(`${r.swa ? '--swa' : '--ema'} needs --bn-recalibrate > 0: averaged weights need their own BatchNorm statistics`);
  }
  if (!inRange(r.convDropout, 0, 2)) throw usage(`--conv-dropout ${r.convDropout}: expected a multiplier in [0, 2]`);
  if (r.headDropout !== undefined && !inRange(r.headDropout, 0, 0.95)) throw usage(`--head-dropout ${r.headDropout}: expected a rate in [0, 0.95]`);
  if (r.teacher.length === 0 && r.teacherWeight !== 0) throw usage('--teacher-weight is the teachers\' share of the target: give --teacher too');
  if (r.teacher.length > 0 && !(r.teacherWeight > 0 && r.teacherWeight <= 1)) throw usage(`--teacher-weight ${r.teacherWeight}: expected a number in (0, 1]`);
  if (!['adamw', 'sgd'].includes(r.optimizer)) throw usage(`--optimizer ${r.optimizer}: choose adamw or sgd`);
  if (!(SCHEDULES as readonly string[]).includes(r.schedule)) throw usage(`--schedule ${r.schedule}: choose ${SCHEDULES.join(', ')}`);
}

/** A new run's settings from the options, defaults filled in. */
export function settingsFromOptions(opts: RunOptions): RunSettings {
  const augment = opts.augment ?? TRAIN_DEFAULTS.augment;
  const optimizer = opts.optimizer ?? RECIPE_DEFAULTS.optimizer;
  const teachers = opts.teacher?.length ? opts.teacher.map((t) => path.resolve(t)) : undefined;
  return {
    net: opts.net,
    width: opts.width ?? TRAIN_DEFAULTS.width,
    seed: opts.seed ?? TRAIN_DEFAULTS.seed,
    batchSize: opts.batchSize ?? TRAIN_DEFAULTS.batchSize,
    lr: opts.lr ?? TRAIN_DEFAULTS.lr,
    augment: augment === true ? { ...DEFAULT_AUGMENT } : augment === false ? null : augment,
    classWeights: opts.classWeights ?? TRAIN_DEFAULTS.classWeights,
    weightDecay: opts.weightDecay ?? (optimizer === 'sgd' ? TRAIN_DEFAULTS.sgdWeightDecay : TRAIN_DEFAULTS.weightDecay),
    plateau: new ReduceLROnPlateau(opts.plateau).options,
    earlyStop: opts.earlyStop ?? TRAIN_DEFAULTS.earlyStop,
    bnRecalibrate: opts.bnRecalibrate ?? TRAIN_DEFAULTS.bnRecalibrate,
    optimizer,
    ...(optimizer === 'sgd' ? { momentum: opts.momentum ?? RECIPE_DEFAULTS.momentum } : {}),
    schedule: opts.schedule ?? RECIPE_DEFAULTS.schedule,
    warmup: opts.warmup ?? RECIPE_DEFAULTS.warmup,
    plannedEpochs: opts.epochs ?? TRAIN_DEFAULTS.epochs,
    labelSmoothing: opts.labelSmoothing ?? RECIPE_DEFAULTS.labelSmoothing,
    crop: opts.crop ?? RECIPE_DEFAULTS.crop,
    warpProb: opts.warpProb ?? RECIPE_DEFAULTS.warpProb,
    erase: opts.erase ?? RECIPE_DEFAULTS.erase,
    convDropout: opts.convDropout ?? RECIPE_DEFAULTS.convDropout,
    ...(opts.headDropout !== undefined ? { headDropout: opts.headDropout } : {}),
    ema: opts.ema ?? RECIPE_DEFAULTS.ema,
    ...(opts.swa ? { swa: true } : {}),
    ...(opts.init !== undefined ? { init: path.resolve(opts.init) } : {}),
    ...(teachers ? { teacher: teachers } : {}),
    // A weight without teachers is kept so that checkRecipe names it.
    ...(teachers || opts.teacherWeight !== undefined ? { teacherWeight: opts.teacherWeight ?? DEFAULT_TEACHER_WEIGHT } : {}),
  };
}

/** The value a saved setting has for the run, as `settingsFromOptions` would have made it (old states: the defaults). */
function savedValue(s: RunSettings, key: SavedOption): unknown {
  const r = recipeOf(s);
  switch (key) {
    case 'optimizer': case 'schedule': case 'warmup': case 'labelSmoothing': case 'crop': case 'warpProb': case 'erase': case 'convDropout': case 'ema': case 'swa':
    case 'teacher': case 'teacherWeight':
      return r[key];
    case 'momentum': return r.momentum;
    case 'headDropout': return s.headDropout;
    default: return s[key];
  }
}

/**
 * The saved options given in `opts` with a value other than the run's saved one: those --resume ignores. An
 * option equal to its saved value (or left undefined) is not listed.
 */
export function ignoredOnResume(saved: RunSettings, opts: RunOptions): SavedOption[] {
  const given = settingsFromOptions(opts);
  return SAVED_OPTIONS.filter((k) => {
    if (opts[k] === undefined) return false;
    // Normalised as a new run would store it (augment: true → the default augmentation), except momentum, which
    // a new run stores only for SGD.
    const mine = k === 'momentum' ? opts.momentum : given[k];
    return JSON.stringify(mine) !== JSON.stringify(savedValue(saved, k));
  });
}

export interface ResolvedRun {
  settings: RunSettings;
  /** The checkpoint being resumed (null for a new run). */
  resumed: { dir: string; state: TrainState; optimizer: AdamState } | null;
  ignored: SavedOption[];
  /** The resumed ReduceLROnPlateau watches the metric it watched before (so its saved count still applies). */
  sameMonitor: boolean;
}

/**
 * The resume rules in one place: a new run's settings come from the options; a resumed run keeps its saved
 * settings (an older state's missing recipe fields mean the original recipe), except the RESUMABLE_OPTIONS;
 * a state made before BatchNorm re-estimation existed gets the default.
 */
export function resolveRun(opts: RunOptions, lastDir: string): ResolvedRun {
  if (!opts.resume) {
    const settings = settingsFromOptions(opts);
    checkRecipe(settings);
    return { settings, resumed: null, ignored: [], sameMonitor: true };
  }
  if (opts.init !== undefined) throw usage('--init starts a new run from a trained model; --resume continues <out>/net<k>/last: use one of them');
  const file = path.join(lastDir, TRAIN_STATE);
  if (!fs.existsSync(file)) throw new FerError(`--resume: no checkpoint to resume in ${lastDir} (train without --resume first)`);
  const { state, optimizer } = readTrainState(lastDir);
  const saved = state.settings;
  if (saved.net !== opts.net) throw new FerError(`${file}: holds net ${saved.net}, not net ${opts.net}`);
  const schedule = opts.resumeSchedule ?? {};
  const settings: RunSettings = {
    ...saved,
    earlyStop: opts.earlyStop ?? saved.earlyStop,
    bnRecalibrate: opts.bnRecalibrate ?? saved.bnRecalibrate ?? TRAIN_DEFAULTS.bnRecalibrate,
    plateau: new ReduceLROnPlateau({ ...saved.plateau, ...schedule.plateau }).options,
  };
  if (schedule.replan && opts.epochs !== undefined) settings.plannedEpochs = opts.epochs;
  checkRecipe(settings);
  return { settings, resumed: { dir: lastDir, state, optimizer }, ignored: ignoredOnResume(saved, opts), sameMonitor: settings.plateau.monitor === saved.plateau.monitor };
}
