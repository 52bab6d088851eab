import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from '../util/errors';
import { AdamState } from './adam';
import { AugmentOptions } from './augment';
import { EarlyStoppingState, PlateauOptions, PlateauState } from './plateau';
import { RngState } from './rng';
import { ScheduleName } from './schedule';

/**
 * What `last/` holds besides the model, so `--resume` continues exactly where a run stopped:
 *   train-state.json   settings, epoch / batch position, LR, plateau and early-stop state, RNG, history
 *   optimizer.bin      Adam's moments, float32, every variable's m then every variable's v, in variable order
 * `best/` holds the model and train-info.json (epoch and metrics of that epoch).
 */
export const TRAIN_STATE = 'train-state.json';
export const OPTIMIZER_BIN = 'optimizer.bin';
export const TRAIN_INFO = 'train-info.json';
/** With --ema or --swa: the averaged weights, float32 in trainable-variable order. */
export const EMA_BIN = 'ema.bin';
export const STATE_VERSION = 1;

/** One row of the training history. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  val_loss: number;
  val_acc: number;
  /** The LR this epoch trained with. */
  lr: number;
  /** Wall time of the epoch (training + validation). */
  seconds: number;
  /** Training throughput, images per second (validation excluded). */
  imgPerSec: number;
  /** Peak resident memory of the process so far, MB. */
  peakRssMB: number;
  /** Present when this epoch's LR differs from the previous epoch's: a ReduceLROnPlateau step or `--set-lr`. */
  lrChangedBy?: LrChange;
  /** With --ema: val accuracy of the trained (not averaged) weights; val_acc is the average's. */
  rawValAcc?: number;
}

export type LrChange = 'plateau' | 'set-lr';

/**
 * The recipe: options of `fer train` / `train()` that a run keeps in its settings. They came after the first
 * checkpoints: a saved state without them is a run of the original recipe (RECIPE_DEFAULTS, the defaults below),
 * which resumes exactly as it was made.
 */
export interface RecipeOptions {
  /** 'adamw' (default) or 'sgd' (Nesterov momentum). */
  optimizer?: OptimizerName;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /**
   * LR schedule: 'plateau' (ReduceLROnPlateau, default), 'cosine' (decays to plateau.minLr at the last epoch) or
   * 'constant' (the LR stays at `lr`).
   */
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
  /**
   * Stochastic weight averaging: keep the plain mean of the weights after every step of the run instead of an EMA
   * (validated and kept as `best` the same way; not with `ema`). For a constant-LR phase started from a trained
   * net (`init`), where every point of the path should count alike.
   */
  swa?: boolean;
  /**
   * Knowledge distillation: model directories (a `best` or `last`, any net, width or crop) whose mean prediction
   * on each un-augmented training face (with its mirror image) is mixed into that face's target:
   * (1 − teacherWeight)·(the smoothed one-hot) + teacherWeight·(the teachers' probabilities). Computed once when the
   * run starts (and again on resume, from the same directories).
   */
  teacher?: string[];
  /** The teachers' share of the target, in (0, 1] (default 0.7; only with `teacher`). */
  teacherWeight?: number;
}

/** The settings a run keeps for its whole life; `--resume` reuses them. */
export interface RunSettings extends RecipeOptions {
  net: number;
  width: number;
  seed: number;
  batchSize: number;
  /** LR the run started with. */
  lr: number;
  augment: AugmentOptions | null;
  classWeights: boolean;
  weightDecay: number;
  plateau: PlateauOptions;
  earlyStop: number;
  /** Un-augmented training faces used to re-estimate BatchNorm statistics after each epoch (0 or absent: off). */
  bnRecalibrate?: number;
  /** The planned length of the run: where a cosine schedule ends. */
  plannedEpochs?: number;
  /** The model directory (absolute) whose weights the run started from (`init`); absent: random weights. */
  init?: string;
}

export type OptimizerName = 'adamw' | 'sgd';
export const OPTIMIZERS: readonly OptimizerName[] = ['adamw', 'sgd'];

/** What the recipe fields mean when a state lacks them: the original recipe. */
export const RECIPE_DEFAULTS = {
  optimizer: 'adamw' as OptimizerName, momentum: 0.9, schedule: 'plateau' as ScheduleName, warmup: 0, labelSmoothing: 0, crop: 48,
  warpProb: 1, erase: 0, convDropout: 1, ema: 0, swa: false, teacher: [] as string[], teacherWeight: 0,
};

/** The teachers' share of the target when `teacher` is given without `teacherWeight`. */
export const DEFAULT_TEACHER_WEIGHT = 0.7;

/** Where inside an epoch an interrupted run stopped (absent when it stopped between epochs). */
export interface PartialEpoch {
  /** Batches of this epoch already trained. */
  batch: number;
  /** Seed of this epoch's shuffle. */
  epochSeed: number;
  lossSum: number;
  correct: number;
  seen: number;
  trainSeconds: number;
}

export interface TrainState {
  version: number;
  settings: RunSettings;
  /** Epochs completed. */
  epoch: number;
  partial: PartialEpoch | null;
  lr: number;
  rng: RngState;
  plateau: PlateauState;
  earlyStop: EarlyStoppingState;
  best: { epoch: number; val_acc: number } | null;
  history: EpochRecord[];
  optimizer: { step: number; shapes: number[][] };
  stoppedEarly: boolean;
  /** Why the LR changed since the last finished epoch, if it did (recorded on the next epoch's record). */
  lrChangedBy?: LrChange | null;
  /** With --ema: number of averaging updates so far (the weights are in ema.bin). */
  ema?: { updates: number };
}

export function encodeOptimizer(state: AdamState): Uint8Array {
  const total = [...state.m, ...state.v].reduce((a, m) => a + m.length, 0);
  const all = new Float32Array(total);
  let off = 0;
  for (const arr of [...state.m, ...state.v]) {
    all.set(arr, off);
    off += arr.length;
  }
  return new Uint8Array(all.buffer);
}

/** `slots` arrays per variable: 2 for Adam (m, v), 1 for SGD (velocity, returned as m). */
export function decodeOptimizer(bytes: Uint8Array, step: number, sizes: number[], file: string, slots: 1 | 2 = 2): AdamState {
  const total = sizes.reduce((a, b) => a + b, 0) * slots;
  if (bytes.byteLength !== total * 4) throw new FerError(`${file}: expected ${total * 4} bytes of optimizer state, found ${bytes.byteLength}`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  let off = 0;
  for (const list of slots === 2 ? [m, v] : [m]) {
    for (const n of sizes) {
      list.push(all.slice(off, off + n));
      off += n;
    }
  }
  return { step, m, v };
}

/** Read train-state.json, optimizer.bin and (with EMA) ema.bin from a `last/` directory. */
export function readTrainState(dir: string): { state: TrainState; optimizer: AdamState; ema?: Uint8Array } {
  const file = path.join(dir, TRAIN_STATE);
  let state: TrainState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainState;
  } catch (e) {
    throw new FerError(e instanceof SyntaxError ? `${file}: not valid JSON` : `cannot resume: ${describeFsError(e, file)}`);
  }
  if (state.version !== STATE_VERSION) throw new FerError(`${file}: training-state version ${state.version} is not supported (expected ${STATE_VERSION})`);
  const binFile = path.join(dir, OPTIMIZER_BIN);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(binFile);
  } catch (e) {
    throw new FerError(`cannot resume: ${describeFsError(e, binFile)}`);
  }
  const sizes = state.optimizer.shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const slots = (state.settings.optimizer ?? RECIPE_DEFAULTS.optimizer) === 'sgd' ? 1 : 2;
  let ema: Uint8Array | undefined;
  if (state.ema) {
    const emaFile = path.join(dir, EMA_BIN);
    try {
      ema = fs.readFileSync(emaFile);
    } catch (e) {
      throw new FerError(`cannot resume: ${describeFsError(e, emaFile)}`);
    }
  }
  return { state, optimizer: decodeOptimizer(bytes, state.optimizer.step, sizes, binFile, slots), ema };
}
