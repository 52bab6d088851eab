import * as tf from '@tensorflow/tfjs';
import { BackendInfo, initBackend } from '../backend';
import { CLASS_NAMES, ClassName, IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { argmax } from '../util/argmax';
import { LoadedNet, ensembleScores, loadNets, predictScores } from '../models/classifier';
import { DEFAULT_MODELS_DIR } from '../models/checkpoints';
import { DetectorEngine, createDetector, nativeAvailable } from './detector';
import { AsyncFaceDetector, createWorkerDetector, inThread } from './detectWorker';
import { DEFAULT_MARGIN, cropFaces } from './faces';
import { TtaMode } from '../models/crops';
import { Box, DetectOptions, FaceDetector, FacePrediction } from './types';


export interface PredictorOptions {
  /** Checkpoints directory with net<k>/best models (default `checkpoints`). */
  modelsDir?: string;
  /** Nets to ensemble; default every trained net found. */
  nets?: number[];
  /** Average each face's scores with those of its mirror image (true/'flip'), or over 5/10 crops ('5crop'/'10crop'). */
  tta?: boolean | TtaMode;
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
  /** Crop margin around each box (fraction of its side, each side). */
  margin?: number;
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
  readonly detector: FaceDetector;
  /** Ensemble softmax scores (count × 7, FER2013 order) of `count` 48×48 uint8 faces. */
  classify(faces: Uint8Array, count: number): Float32Array;
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
 */
export async function createPredictor(opts: PredictorOptions = {}): Promise<Predictor> {
  const given = typeof opts.detector === 'object' ? opts.detector : undefined;
  const engine: DetectorEngine = given ? given.engine : (opts.detector as DetectorEngine | undefined) ?? 'auto';
  // Only OpenCV.js goes to a worker: the native binding is multi-threaded already, and cannot be loaded in
  // two threads (it is not context-aware).
  const useWorker = !given && opts.detectInWorker && (engine === 'wasm' || (engine === 'auto' && !nativeAvailable()));
  // Detectors start first: OpenCV.js (and the worker's copy, on its own thread) initialise while the backend
  // and models load.
  const detectors = Promise.allSettled([
    given ? Promise.resolve(given) : createDetector(engine),
    useWorker ? createWorkerDetector('wasm') : Promise.resolve(undefined),
  ]);
  const release = async (models: LoadedNet[] = []) => {
    models.forEach((n) => n.model.dispose());
    const [d, w] = await detectors;
    if (!given && d.status === 'fulfilled') d.value.dispose();
    if (w.status === 'fulfilled' && w.value) await w.value.dispose();
  };
  let backend: BackendInfo;
  let loaded: LoadedNet[];
  try {
    backend = await initBackend(opts.backend ?? 'auto', { threads: opts.threads });
    loaded = await loadNets(opts.modelsDir ?? DEFAULT_MODELS_DIR, opts.nets);
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
  const predictor = new EnsemblePredictor(backend, loaded, detector, w.value ?? inThread(detector), !given, opts);
  predictor.classify(new Uint8Array(IMAGE_SIZE * IMAGE_SIZE), 1);
  return predictor;
}

class EnsemblePredictor implements Predictor {
  readonly nets: number[];
  private readonly margin: number;
  private readonly tta: boolean | TtaMode;

  constructor(
    readonly backend: BackendInfo,
    private readonly loaded: LoadedNet[],
    readonly detector: FaceDetector,
    private readonly worker: AsyncFaceDetector,
    private readonly ownsDetector: boolean,
    private readonly opts: PredictorOptions,
  ) {
    this.nets = loaded.map((n) => n.net);
    this.margin = opts.margin ?? DEFAULT_MARGIN;
    this.tta = opts.tta ?? false;
  }

  classify(faces: Uint8Array, count: number): Float32Array {
    if (count === 0) return new Float32Array(0);
    const perNet = this.loaded.map((n) => predictScores(n.model, faces, count, { tta: this.tta }));
    return perNet.length === 1 ? perNet[0] : ensembleScores(perNet);
  }

  classifyBoxes(gray: Uint8Array, width: number, height: number, boxes: Box[]): Float32Array {
    return this.classify(cropFaces(gray, width, height, boxes, this.margin), boxes.length);
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
