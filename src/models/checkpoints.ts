import * as fs from 'fs';
import * as path from 'path';
import { MODEL_JSON } from './io';
import { NET_IDS } from './nets';
import { FerError } from '../util/errors';
import { TTA_MODES, TtaMode } from './crops';
import { BACKEND_NAMES, BackendName } from '../backend';

/**
 * Checkpoint layout, shared by `fer train` (writer) and eval/predict/video (readers):
 *   <models>/net<k>/best/   model.json + weights.bin of the best epoch by validation accuracy
 *   <models>/net<k>/last/   the last finished epoch, plus training state for --resume
 */
/** Where `fer train` writes unless --out says otherwise (relative to the current folder). */
export const DEFAULT_MODELS_DIR = 'checkpoints';

/**
 * The models shipped with fer, found relative to the installed package (not the current folder), so a global
 * install, `npm link` or `npx fer` finds them from anywhere. eval/predict/compare/video read these unless --models.
 */
export const SHIPPED_MODELS_DIR = path.resolve(__dirname, '..', '..', 'checkpoints');

// The net ids come from the registry (nets.ts); re-exported for the checkpoint readers.
export { NET_IDS, NetId } from './nets';

export function netDir(modelsDir: string, net: number): string {
  return path.join(modelsDir, `net${net}`);
}

export function bestModelDir(modelsDir: string, net: number): string {
  return path.join(netDir(modelsDir, net), 'best');
}

export function lastModelDir(modelsDir: string, net: number): string {
  return path.join(netDir(modelsDir, net), 'last');
}

/** Nets that have a `best` model in `modelsDir`, in order. */
export function findTrainedNets(modelsDir: string): number[] {
  return NET_IDS.filter((n) => fs.existsSync(path.join(bestModelDir(modelsDir, n), MODEL_JSON)));
}

/** File in a models directory that names the setting `fer predict`, `video` and `serve` use by default. */
export const MODEL_DEFAULTS_FILE = 'defaults.json';

/** The default setting of a models directory: which nets to ensemble and which TTA mode (see MODEL_DEFAULTS_FILE). */
export interface ModelSetting {
  nets?: number[];
  tta?: TtaMode;
  /** Ensemble weights, one per net of `nets` (which they need); default equal. Used only with those nets. */
  weights?: number[];
}

export interface ModelDefaults extends ModelSetting {
  /**
   * Per compute backend, what differs from the setting above when that backend runs (e.g. the native accelerator
   * runs flip TTA as fast as wasm runs none): `{ "native": { "tta": "flip" } }`. See `defaultsForBackend`.
   */
  backends?: Partial<Record<BackendName, ModelSetting>>;
}

/**
 * Why `weights` cannot weight an ensemble of `count` nets (numbers ≥ 0 with a positive sum, one per net), or
 * undefined when they can.
 */
export function ensembleWeightsProblem(weights: readonly number[], count: number): string | undefined {
  if (weights.length === 0 || weights.some((w) => !(Number.isFinite(w) && w >= 0)) || !(weights.reduce((a, b) => a + b, 0) > 0)) {
    return 'expected numbers ≥ 0 with a positive sum, one per net';
  }
  if (weights.length !== count) return `${weights.length} weights for ${count} net${count === 1 ? '' : 's'}`;
  return undefined;
}

/**
 * Read `<modelsDir>/defaults.json` ({ "nets": [1, 2, 3], "tta": "flip", "weights": [1, 1, 2] }, every key optional,
 * "weights" only with "nets"; "backends": { "native": { "tta": "flip" } } overrides keys per compute backend; other
 * keys are notes); {} when there is none.
 * The shipped one names the most accurate setting that keeps `fer video` real-time (see the model card).
 * A malformed file is a one-line FerError naming it.
 */
export function readModelDefaults(modelsDir: string): ModelDefaults {
  const file = path.join(modelsDir, MODEL_DEFAULTS_FILE);
  if (!fs.existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FerError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  const out: ModelDefaults = readSetting(o, file, '');
  if (o.backends !== undefined) {
    if (typeof o.backends !== 'object' || o.backends === null || Array.isArray(o.backends)) {
      throw new FerError(`${file}: "backends" must be an object keyed by backend (${BACKEND_NAMES.join(', ')})`);
    }
    out.backends = {};
    for (const [name, v] of Object.entries(o.backends)) {
      if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
        throw new FerError(`${file}: "backends": unknown backend "${name}" (choose ${BACKEND_NAMES.join(', ')})`);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FerError(`${file}: "backends.${name}" must be an object`);
      const setting = readSetting(v as Record<string, unknown>, file, `backends.${name}.`, out.nets);
      out.backends[name as BackendName] = setting;
    }
  }
  return out;
}

/** nets / tta / weights of one level of defaults.json; `prefix` names the level in errors ("backends.native."). */
function readSetting(o: Record<string, unknown>, file: string, prefix: string, outerNets?: number[]): ModelSetting {
  const out: ModelSetting = {};
  if (o.nets !== undefined) {
    if (!Array.isArray(o.nets) || o.nets.length === 0 || !o.nets.every((n) => (NET_IDS as readonly number[]).includes(n as number))) {
      throw new FerError(`${file}: "${prefix}nets" must be a non-empty list of ${NET_IDS.join(', ')}`);
    }
    out.nets = o.nets as number[];
  }
  if (o.tta !== undefined) {
    if (!(TTA_MODES as readonly unknown[]).includes(o.tta)) throw new FerError(`${file}: "${prefix}tta" must be one of ${TTA_MODES.join(', ')}`);
    out.tta = o.tta as TtaMode;
  }
  if (o.weights !== undefined) {
    const nets = out.nets ?? outerNets;
    const problem = !Array.isArray(o.weights) ? 'expected a list of numbers'
      : nets === undefined ? 'needs "nets" (one weight per net)'
        : ensembleWeightsProblem(o.weights as number[], nets.length);
    if (problem) throw new FerError(`${file}: "${prefix}weights": ${problem}`);
    out.weights = o.weights as number[];
  }
  return out;
}

/**
 * The defaults that apply when `backend` runs: the top-level setting with that backend's entry of "backends" laid
 * over it. An entry that names other nets drops the top-level weights (they belong to the top-level nets).
 */
export function defaultsForBackend(defaults: ModelDefaults, backend: BackendName | string): ModelSetting {
  const base: ModelSetting = { nets: defaults.nets, tta: defaults.tta, weights: defaults.weights };
  const over = defaults.backends?.[backend as BackendName];
  if (!over) return base;
  return {
    nets: over.nets ?? base.nets,
    tta: over.tta ?? base.tta,
    weights: over.weights ?? (over.nets === undefined ? base.weights : undefined),
  };
}
