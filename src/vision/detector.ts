import * as fs from 'fs';
import * as path from 'path';
import { createRequire } from 'module';
import { FerError, invalidParameterError, EXIT } from '../util/errors';
import { loadOpenCV, CV } from './opencv';
import { CNN_DEFAULTS, CNN_NAMES, CnnName, createCnnDetector, resolveMinFace } from './cnn';
import { overlapArea } from './nms';
import { DEFAULT_MARGIN, Framing } from './faces';
import { Box, DetectOptions, EngineName, FaceDetector } from './types';

/**
 * `auto`: the default detector (DEFAULT_DETECTOR, a CNN). `haar`: the seeds' Haar cascade on the native
 * OpenCV binding when installed, else OpenCV.js; `wasm` / `native` force one of those two Haar engines.
 */
export type DetectorEngine = 'auto' | 'haar' | 'wasm' | 'native' | CnnName;
export const DETECTOR_ENGINES: readonly DetectorEngine[] = ['auto', ...CNN_NAMES, 'haar', 'wasm', 'native'];
/** What `auto` means: measured best on recall with few false boxes at video speed (README, "Face detection"). */
export const DEFAULT_DETECTOR: CnnName = 'blazeface';

/**
 * How each detector's boxes are cropped to frame faces as FER2013 does (bench/crop.js: FER2013 PublicTest
 * faces re-detected in larger frames, cropped and classified by the shipped nets). Haar boxes: 0.1 margin,
 * centred (the seeds' choice). BlazeFace boxes are tight and sit low: FER2013's frame is 1.15× the box side,
 * centred 6.6% of the side higher; margins 0–0.1 with that shift all scored within noise of the 48×48
 * originals (69.3%), 0.05 best (69.6%), ≥ 0.2 clearly worse (66.0%, 0.3: 60.6%).
 */
export function defaultFraming(engine: DetectorEngine | EngineName): Framing {
  return isCnnEngine(resolveEngine(engine as DetectorEngine)) ? { margin: 0.05, shiftY: -0.066 } : { margin: DEFAULT_MARGIN, shiftY: 0 };
}

export function isCnnEngine(engine: string): engine is CnnName {
  return (CNN_NAMES as string[]).includes(engine);
}

/** The concrete detector an engine flag asks for ('auto' resolved). */
export function resolveEngine(engine: DetectorEngine): Exclude<DetectorEngine, 'auto'> {
  return engine === 'auto' ? DEFAULT_DETECTOR : engine;
}

/** The Haar cascade shipped in assets/ (OpenCV's frontal-face default, Intel License: assets/LICENSE-haarcascade.txt). */
export const CASCADE_FILE = path.resolve(__dirname, '..', '..', 'assets', 'haarcascade_frontalface_default.xml');

/**
 * Photo defaults. minFace 'auto' (48 original pixels, or 1/48 of the long side on photos over 2304 px; see
 * AUTO_MIN_FACE_FRACTION): group photos' faces (the Solvay photo's are 51–76 px) are searched at the
 * resolution they need, by every detector. CNN: minScore 0.6 (true faces on the test photos
 * scored ≥ 0.69, false boxes < 0.6), NMS IoU 0.3 (MediaPipe's). Haar (the seeds' choice, on the test photos
 * and 91 frames of the test videos): a copy of at least 360 px, OpenCV's usual minNeighbors 5.
 */
export const DEFAULT_DETECT: Required<DetectOptions> = { detectSize: 360, minFace: 'auto', scaleFactor: 1.1, minNeighbors: 5, ...CNN_DEFAULTS };

/** Native binding name; optional, never a dependency (see README, "Faster face detection"). */
const NATIVE_MODULE = '@u4/opencv4nodejs';
const NATIVE_HINT = `install ${NATIVE_MODULE} outside the project (Debian: apt-get install libopencv-dev; `
  + `OPENCV4NODEJS_DISABLE_AUTOBUILD=1 npm install --prefix /opt/fer-native ${NATIVE_MODULE}) and set NODE_PATH=/opt/fer-native/node_modules`;

/** Detect options with the defaults filled in and minFace resolved to pixels for a width × height image. */
type ResolvedDetect = Required<DetectOptions> & { minFace: number };

function resolveOptions(opts: DetectOptions = {}, width: number, height: number): ResolvedDetect {
  const given = { ...DEFAULT_DETECT, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<DetectOptions>;
  const o = { ...given, minFace: resolveMinFace(given.minFace, width, height) };
  if (!(o.detectSize >= 24)) throw invalidParameterError('detectSize', 'must be at least 24 px (the cascade\'s window)', o.detectSize, EXIT.ERROR);
  if (!(o.scaleFactor > 1)) throw invalidParameterError('scaleFactor', 'must be greater than 1', o.scaleFactor, EXIT.ERROR);
  if (!(o.minNeighbors >= 0)) throw invalidParameterError('minNeighbors', 'must be 0 or more', o.minNeighbors, EXIT.ERROR);
  if (!(o.nmsIou > 0 && o.nmsIou <= 1)) throw invalidParameterError('nmsIou', 'must be in (0, 1]', o.nmsIou, EXIT.ERROR);
  return o;
}

/** Detection geometry shared by both engines, so they see the same pixels and give the same boxes. */
interface Plan {
  scale: number;
  dw: number;
  dh: number;
  minSide: number;
}

/** The cascade's window: the smallest face it can see, in detection-copy pixels. */
const WINDOW = 24;

export function plan(width: number, height: number, o: Required<DetectOptions>): Plan {
  const minFace = resolveMinFace(o.minFace, width, height);
  // Large enough that a minFace face (original pixels) fills the cascade's 24-px window, so --min-face
  // means what it says whatever the image size; at least detectSize on the long side (coarser copies gain
  // little time); never above full size.
  const scale = Math.min(1, Math.max(o.detectSize / Math.max(width, height), minFace > WINDOW ? WINDOW / minFace : 1));
  const dw = Math.max(1, Math.round(width * scale));
  const dh = Math.max(1, Math.round(height * scale));
  return { scale, dw, dh, minSide: Math.max(WINDOW, Math.round(minFace * scale)) };
}

function checkBuffer(gray: Uint8Array, width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`detect: bad image size ${width}×${height}`);
  }
  if (gray.length < width * height) throw new RangeError(`detect: buffer has ${gray.length} bytes, ${width}×${height} grey needs ${width * height}`);
}

/**
 * Drop a box lying mostly (≥ half its area) inside a larger one. The cascade sometimes also fires on part
 * of a face (mouth, eye pair) at a smaller scale; one face cannot hold another, so the smaller box goes.
 */
export function dropNested(boxes: Box[]): Box[] {
  return boxes.filter((b) => !boxes.some((o) => o !== b && o.w * o.h > b.w * b.h && overlapArea(o, b) >= 0.5 * b.w * b.h));
}

/** Scale boxes from the detection copy back to the original image, clamped to it, left to right. */
function mapBack(rects: { x: number; y: number; width: number; height: number }[], p: Plan, width: number, height: number): Box[] {
  const boxes = rects.map((r) => {
    const x = Math.max(0, Math.round(r.x / p.scale));
    const y = Math.max(0, Math.round(r.y / p.scale));
    return {
      x,
      y,
      w: Math.min(width - x, Math.round(r.width / p.scale)),
      h: Math.min(height - y, Math.round(r.height / p.scale)),
      // The cascade has no calibrated confidence: every box it keeps passed --min-neighbors.
      score: 1,
    };
  });
  return dropNested(boxes).sort((a, b) => a.x - b.x || a.y - b.y);
}

class WasmDetector implements FaceDetector {
  readonly engine = 'wasm' as const;
  private src: CV | undefined;
  private small: CV;
  private rects: CV;
  private disposed = false;

  constructor(private readonly cv: CV, private readonly classifier: CV) {
    this.small = new cv.Mat();
    this.rects = new cv.RectVector();
  }

  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Box[] {
    if (this.disposed) throw new Error('detector used after dispose()');
    checkBuffer(gray, width, height);
    const o = resolveOptions(opts, width, height);
    const cv = this.cv;
    const p = plan(width, height, o);
    if (!this.src || this.src.cols !== width || this.src.rows !== height) {
      this.src?.delete();
      this.src = new cv.Mat(height, width, cv.CV_8UC1);
    }
    this.src.data.set(gray.subarray(0, width * height));
    let input = this.src;
    if (p.scale < 1) {
      cv.resize(this.src, this.small, new cv.Size(p.dw, p.dh), 0, 0, cv.INTER_AREA);
      input = this.small;
    }
    // No histogram equalisation: on the test photos it added false positives (clothing) and moved no true face.
    this.classifier.detectMultiScale(input, this.rects, o.scaleFactor, o.minNeighbors, 0,
      new cv.Size(p.minSide, p.minSide), new cv.Size(0, 0));
    const found: { x: number; y: number; width: number; height: number }[] = [];
    for (let i = 0; i < this.rects.size(); i++) {
      const r = this.rects.get(i);
      found.push({ x: r.x, y: r.y, width: r.width, height: r.height });
    }
    return mapBack(found, p, width, height);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.src?.delete();
    this.small.delete();
    this.rects.delete();
    this.classifier.delete();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type NativeCV = any;

class NativeDetector implements FaceDetector {
  readonly engine = 'native' as const;
  constructor(private readonly cv: NativeCV, private readonly classifier: NativeCV) {}

  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Box[] {
    checkBuffer(gray, width, height);
    const o = resolveOptions(opts, width, height);
    const cv = this.cv;
    const p = plan(width, height, o);
    let mat = new cv.Mat(Buffer.from(gray.buffer, gray.byteOffset, width * height), height, width, cv.CV_8UC1);
    if (p.scale < 1) mat = mat.resize(p.dh, p.dw, 0, 0, cv.INTER_AREA);
    const result = this.classifier.detectMultiScale(mat, o.scaleFactor, o.minNeighbors, 0,
      new cv.Size(p.minSide, p.minSide), new cv.Size(0, 0));
    const rects = (Array.isArray(result) ? result : result.objects) as { x: number; y: number; width: number; height: number }[];
    return mapBack(rects, p, width, height);
  }

  dispose(): void { /* native objects are garbage-collected */ }
}

type NativeLoad = { cv: NativeCV } | { missing: boolean; reason: string };
let nativeLoad: NativeLoad | undefined;

/** The optional native binding; why not when it is not installed or fails to load (e.g. libopencv missing). */
function loadNative(): NativeLoad {
  if (nativeLoad) return nativeLoad;
  let entry: string;
  try {
    entry = require.resolve(NATIVE_MODULE);
  } catch {
    return (nativeLoad = { missing: true, reason: `${NATIVE_MODULE} is not installed` });
  }
  try {
    // Its build helper logs "Info: OpenCVBuildEnv …" lines on stdout at load time, which would corrupt --json.
    const buildTools = createRequire(entry)('@u4/opencv-build') as { Log?: { silence?: boolean } };
    if (buildTools.Log) buildTools.Log.silence = true;
  } catch { /* older versions have no such helper */ }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (nativeLoad = { cv: require(entry) });
  } catch (e) {
    return (nativeLoad = { missing: false, reason: `${NATIVE_MODULE} failed to load: ${String((e as Error)?.message ?? e).split('\n')[0]}` });
  }
}

/** The optional native binding, or undefined when it is not installed or fails to load. */
export function loadNativeOpenCV(): NativeCV | undefined {
  const n = loadNative();
  return 'cv' in n ? n.cv : undefined;
}

export function nativeAvailable(): boolean {
  return loadNativeOpenCV() !== undefined;
}

function readCascade(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch {
    throw new FerError(`${file}: Haar cascade missing (reinstall fer: it ships in assets/)`);
  }
}

// Cascade file → its name in OpenCV.js' in-memory file system (written once per process).
const wasmCascades = new Map<string, string>();

async function createWasm(cascadeFile: string): Promise<FaceDetector> {
  const cv = await loadOpenCV();
  let name = wasmCascades.get(path.resolve(cascadeFile));
  if (!name) {
    const base = `cascade${wasmCascades.size}.xml`;
    cv.FS_createDataFile('/', base, readCascade(cascadeFile), true, false, false);
    name = `/${base}`;
    wasmCascades.set(path.resolve(cascadeFile), name);
  }
  const classifier = new cv.CascadeClassifier();
  if (!classifier.load(name)) {
    classifier.delete();
    throw new FerError(`${cascadeFile}: OpenCV.js could not load the Haar cascade`);
  }
  return new WasmDetector(cv, classifier);
}

function createNative(cv: NativeCV, cascadeFile: string): FaceDetector {
  readCascade(cascadeFile);
  return new NativeDetector(cv, new cv.CascadeClassifier(cascadeFile));
}

/**
 * A face detector. 'auto' is DEFAULT_DETECTOR (a CNN, run by tfjs on its current backend: initialise it
 * first, see initBackend). 'haar' uses the native OpenCV binding when it is installed (faster) and OpenCV.js
 * otherwise; 'native' without the binding is a FerError saying how to install it. `modelFile` overrides a
 * CNN's model.json (default: the file in its npm package).
 */
export async function createDetector(engine: DetectorEngine = 'auto', cascadeFile: string = CASCADE_FILE, modelFile?: string): Promise<FaceDetector> {
  if (!DETECTOR_ENGINES.includes(engine)) {
    throw invalidParameterError('detector', `unknown detector (choose ${DETECTOR_ENGINES.join(', ')})`, engine, EXIT.ERROR);
  }
  const e = resolveEngine(engine);
  if (isCnnEngine(e)) return createCnnDetector(e, modelFile);
  if (e !== 'wasm') {
    const native = loadNative();
    if ('cv' in native) return createNative(native.cv, cascadeFile);
    if (e === 'native') throw invalidParameterError('detector', `${native.reason}; ${native.missing ? NATIVE_HINT : 'reinstall it against this OpenCV and Node.js'}`, 'native', EXIT.ERROR);
  }
  return createWasm(cascadeFile);
}
