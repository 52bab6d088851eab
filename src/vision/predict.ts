import * as tf from '@tensorflow/tfjs';
import { BackendInfo, initBackend } from '../backend';
import { CLASS_NAMES, ClassName, IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { argmax } from '../util/argmax';
import { LoadedNet, ensembleScores, loadNets, predictScores } from '../models/classifier';
import { ModelSetting, SHIPPED_MODELS_DIR, defaultsForBackend, ensembleWeightsProblem, readModelDefaults } from '../models/checkpoints';
import { invalidParameterError } from '../util/errors';
import { DetectorEngine, createDetector, defaultFraming, isCnnEngine, nativeAvailable, resolveEngine } from './detector';
import { AsyncFaceDetector, createWorkerDetector, inThread } from './detectWorker';
import { Framing, cropFaces } from './faces';
import { TtaMode, ttaMode } from '../models/crops';
import { Box, DetectOptions, FaceDetector, FacePrediction } from './types';


export interface PredictorOptions {
  /** Checkpoints directory with net<k>/best models (default `checkpoints`). */
  modelsDir?: string;
  /** Nets to ensemble; default the models directory's defaults.json (readModelDefaults), else every trained net found. */
  nets?: number[];
  /**
   * Average each face's scores with those of its mirror image (true/'flip'), or over 5/10 crops ('5crop'/'10crop');
   * false/'none' = one view. Default: the models directory's defaults.json (its entry for the running backend first), else none.
   */
  tta?: boolean | TtaMode;
  /**
   * Ensemble weights, one per net in `nets` order (numbers ≥ 0 with a positive sum); the ensemble's scores are
   * the weighted mean of the nets'. Default: equal, or the models directory's defaults.json weights when
   * `nets` also comes from there.
   */
  weights?: number[];
  /** Compute backend flag value (default 'auto'). */
  backend?: string;
  /**
   * wasm compute threads, if this call starts the wasm backend (default: its own, env FER_THREADS or the
   * core count). One face at a time on small nets ran faster on 1 thread than on 2 here (16 vs 29 ms for
   * the three nets on 2 busy cores), and leaves the other core to the detection worker.
   */
  threads?: number;
  /** Detector engine, or a detector the caller already made (it is then not disposed by the predictor). */
  detector?: DetectorEngine | FaceDetector;
  /** Default detection options for every call. */
  detect?: DetectOptions;
  /** A CNN detector's model.json to use instead of the one in its npm package. */
  detectorModel?: string;
  /** Crop margin around each box (fraction of its side, each side); default: the detector's (defaultFraming). */
  margin?: number;
  /** Crop centre shift, fraction of the crop side (negative: up); default: the detector's (defaultFraming). */
  shiftY?: number;
  /** Level the eye line of faces with landmarks before cropping (default true). */
  align?: boolean;
  /**
   * Also start a detector in a worker thread for detectAsync (batches: the next image is detected while
   * the current one is classified). Ignored when `detector` is a FaceDetector object.
   */
  detectInWorker?: boolean;
}

/** Face detection + ensemble classification, ready to run on many images. */
export interface Predictor {
  readonly backend: BackendInfo;
  readonly nets: number[];
  /** The TTA mode in use (given, or the models directory's default). */
  readonly tta: TtaMode;
  /** The ensemble weights in use, one per net (given, or the models directory's default); undefined = equal. */
  readonly weights: readonly number[] | undefined;
  readonly detector: FaceDetector;
  /** Ensemble softmax scores (count × 7, FER2013 order) of `count` 48×48 uint8 faces. */
  classify(faces: Uint8Array, count: number): Float32Array;
  /** The 48×48 crops (count × 48 × 48) classify takes, of the faces in `boxes`, framed for this detector. */
  cropBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): Uint8Array;
  /** Scores of the faces in `boxes` of a grey image (count × 7). */
  classifyBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): Float32Array;
  /** Detect every face in a grey image and classify it. */
  predictGray(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): FacePrediction[];
  /** Detection only, off the main thread when the predictor was made with detectInWorker. */
  detectAsync(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Promise<Box[]>;
  /** Predictions for boxes already found (scores from classifyBoxes). */
  predictBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): FacePrediction[];
  dispose(): void;
}

/** Scores of face `index` in an n × 7 score array as a record keyed by class name. */
export function scoresRecord(scores: ArrayLike<number>, index = 0): Record<ClassName, number> {
  const out = {} as Record<ClassName, number>;
  CLASS_NAMES.forEach((c, k) => { out[c] = scores[index * NUM_CLASSES + k]; });
  return out;
}

/** The top class of face `index` and its score. */
export function topClass(scores: ArrayLike<number>, index = 0): { label: ClassName; confidence: number } {
  const best = argmax(scores, index * NUM_CLASSES, NUM_CLASSES);
  return { label: CLASS_NAMES[best], confidence: scores[index * NUM_CLASSES + best] };
}

/** The highest score of a prediction (the confidence in its label). */
export function confidenceOf(p: FacePrediction): number {
  return p.scores[p.label];
}

/**
 * Load backend, models and detector. Throws a FerError (naming how to get models) when there are none.
 * One warm-up inference runs here so the first image is not slowed by kernel set-up.
 *
 * @example
 * ```ts
 * import { createPredictor, loadImage } from 'fer';
 *
 * const predictor = await createPredictor({ nets: [1, 3], tta: true });   // the shipped models, nets 1 and 3
 * const img = await loadImage('photo.jpg');                                // { rgb, gray, width, height }
 * for (const face of predictor.predictGray(img.gray, img.width, img.height, { minFace: 32 })) {
 *   console.log(face.box, face.label, face.scores[face.label]);            // box in image pixels, 7 scores
 * }
 * predictor.dispose();
 * ```
 */
export async function createPredictor(opts: PredictorOptions = {}): Promise<Predictor> {
  const given = typeof opts.detector === 'object' ? opts.detector : undefined;
  const engine: DetectorEngine = given ? 'auto' : (opts.detector as DetectorEngine | undefined) ?? 'auto';
  const cnn = !given && isCnnEngine(resolveEngine(engine));
  // OpenCV.js and the CNN go to a worker; the native binding is multi-threaded already, and cannot be
  // loaded in two threads (it is not context-aware).
  const useWorker = !given && opts.detectInWorker
    && (cnn || engine === 'wasm' || (engine === 'haar' && !nativeAvailable()));
  const backendReady = initBackend(opts.backend ?? 'auto', { threads: opts.threads });
  backendReady.catch(() => undefined); // awaited below
  // Detectors start first: OpenCV.js (and the worker's copy, on its own thread) initialise while the backend
  // and models load. A CNN in this thread needs the backend first.
  const detectors = Promise.allSettled([
    given ? Promise.resolve(given) : cnn ? backendReady.then(() => createDetector(engine, undefined, opts.detectorModel)) : createDetector(engine),
    useWorker ? createWorkerDetector(cnn ? engine : 'wasm', undefined, opts.backend ?? 'auto', opts.detectorModel) : Promise.resolve(undefined),
  ]);
  const release = async (models: LoadedNet[] = []) => {
    models.forEach((n) => n.model.dispose());
    const [d, w] = await detectors;
    if (!given && d.status === 'fulfilled') d.value.dispose();
    if (w.status === 'fulfilled' && w.value) await w.value.dispose();
  };
  let backend: BackendInfo;
  let loaded: LoadedNet[];
  let defaults: ModelSetting;
  let weights: number[] | undefined;
  try {
    if (opts.weights) {
      const problem = ensembleWeightsProblem(opts.weights, opts.nets?.length ?? opts.weights.length);
      if (problem) throw invalidParameterError('weights', problem, opts.weights.join(','));
    }
    backend = await backendReady;
    const modelsDir = opts.modelsDir ?? SHIPPED_MODELS_DIR;
    defaults = defaultsForBackend(readModelDefaults(modelsDir), backend.name);
    loaded = await loadNets(modelsDir, opts.nets ?? defaults.nets);
    // The defaults' weights belong to the defaults' nets: a caller who picks the nets gets equal weights.
    weights = opts.weights ?? (opts.nets === undefined ? defaults.weights : undefined);
    const problem = weights && ensembleWeightsProblem(weights, loaded.length);
    if (weights && problem) {
      throw invalidParameterError('weights', `${problem} (${loaded.map((n) => n.net).join(',')})`, weights.join(','));
    }
  } catch (e) {
    await release();
    throw e;
  }
  const [d, w] = await detectors;
  if (d.status === 'rejected' || w.status === 'rejected') {
    await release(loaded);
    throw d.status === 'rejected' ? d.reason : (w as PromiseRejectedResult).reason;
  }
  const detector = d.value;
  const predictor = new EnsemblePredictor(backend, loaded, detector, w.value ?? inThread(detector), !given,
    { ...opts, tta: ttaMode(opts.tta ?? defaults.tta), weights });
  predictor.classify(new Uint8Array(IMAGE_SIZE * IMAGE_SIZE), 1);
  return predictor;
}

class EnsemblePredictor implements Predictor {
  readonly nets: number[];
  private readonly framing: Framing;
  private readonly align: boolean;
  readonly tta: TtaMode;
  readonly weights: readonly number[] | undefined;

  constructor(
    readonly backend: BackendInfo,
    private readonly loaded: LoadedNet[],
    readonly detector: FaceDetector,
    private readonly worker: AsyncFaceDetector,
    private readonly ownsDetector: boolean,
    private readonly opts: PredictorOptions,
  ) {
    this.nets = loaded.map((n) => n.net);
    const d = defaultFraming(detector.engine);
    this.framing = { margin: opts.margin ?? d.margin, shiftY: opts.shiftY ?? d.shiftY };
    this.align = opts.align ?? true;
    this.tta = ttaMode(opts.tta);
    this.weights = opts.weights && opts.weights.length > 1 ? [...opts.weights] : undefined;
  }

  classify(faces: Uint8Array, count: number): Float32Array {
    if (count === 0) return new Float32Array(0);
    const perNet = this.loaded.map((n) => predictScores(n.model, faces, count, { tta: this.tta }));
    return perNet.length === 1 ? perNet[0] : ensembleScores(perNet, this.weights as number[] | undefined);
  }

  cropBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): Uint8Array {
    return cropFaces(gray, width, height, boxes, this.framing.margin, this.align, this.framing.shiftY);
  }

  classifyBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): Float32Array {
    return this.classify(this.cropBoxes(gray, width, height, boxes), boxes.length);
  }

  predictGray(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): FacePrediction[] {
    return this.predictBoxes(gray, width, height, this.detector.detect(gray, width, height, { ...this.opts.detect, ...opts }));
  }

  detectAsync(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Promise<Box[]> {
    return this.worker.detect(gray, width, height, { ...this.opts.detect, ...opts });
  }

  predictBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): FacePrediction[] {
    const scores = this.classifyBoxes(gray, width, height, boxes);
    return boxes.map((box, i) => ({ box, label: topClass(scores, i).label, scores: scoresRecord(scores, i) }));
  }

  dispose(): void {
    this.loaded.forEach((n) => n.model.dispose());
    void this.worker.dispose();
    if (this.ownsDetector) this.detector.dispose();
  }
}

/** Number of tensors tfjs holds; tests use it to check prediction does not leak. */
export function liveTensors(): number {
  return tf.memory().numTensors;
}
