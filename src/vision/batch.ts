import * as fs from 'fs';
import * as path from 'path';
import { FerError, isFerError } from '../util/errors';
import { Annotation, annotateRgb } from './annotate';
import { LoadedImage, loadImage, saveRgb } from './image';
import { Predictor, confidenceOf } from './predict';
import { Box, DetectOptions, FacePrediction } from './types';

/** Extensions an annotated image can be written as; other inputs (gif, avif) are written as PNG. */
const WRITABLE = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'];

function isWritableImagePath(p: string): boolean {
  return WRITABLE.includes(path.extname(p).toLowerCase());
}

/**
 * Where each input's annotated image goes. `out` is a file when there is one input and `out` has an image
 * extension and is not an existing directory; otherwise a directory receiving <input name> (same format,
 * or .png), with -2, -3… on name clashes. Never an input file.
 */
export function planOutputs(files: string[], out: string): Map<string, string> {
  const plan = new Map<string, string>();
  const inputs = new Set(files.map((f) => path.resolve(f)));
  const asDir = files.length > 1 || out.endsWith('/') || out.endsWith(path.sep) || !isWritableImagePath(out)
    || (fs.existsSync(out) && fs.statSync(out).isDirectory());
  const used = new Set<string>();
  for (const file of files) {
    let target: string;
    if (!asDir) {
      target = out;
    } else {
      const ext = isWritableImagePath(file) ? path.extname(file) : '.png';
      const stem = path.basename(file, path.extname(file));
      target = path.join(out, stem + ext);
      for (let k = 2; used.has(path.resolve(target)); k++) target = path.join(out, `${stem}-${k}${ext}`);
    }
    if (inputs.has(path.resolve(target))) throw new FerError(`--out ${out}: would overwrite the input ${file}; choose another file or directory`);
    used.add(path.resolve(target));
    plan.set(file, target);
  }
  return plan;
}

export interface FileResult {
  file: string;
  width: number;
  height: number;
  faces: FacePrediction[];
  /** Set when the file could not be read or its annotated image not written (one line). */
  error?: string;
  /** The annotated image written for this file. */
  out?: string;
  /** Detection + classification time, ms (excludes decoding, which overlaps the previous image). */
  ms: number;
}

export interface PredictFilesOptions {
  detect?: DetectOptions;
  /** Annotated image path for each input (see planOutputs); inputs not in the map get none. */
  outputs?: Map<string, string>;
}

export function annotationsFor(faces: FacePrediction[]): Annotation[] {
  return faces.map((f) => ({ box: f.box, label: f.label, confidence: confidenceOf(f), scores: Object.values(f.scores) }));
}

interface Staged {
  file: string;
  img?: LoadedImage;
  boxes?: Box[];
  detectMs: number;
  error?: string;
}

/** Decode (sharp, off the main thread) then detect (worker thread when the predictor has one). */
function stage(file: string, predictor: Predictor, detect?: DetectOptions): Promise<Staged> {
  return loadImage(file).then(async (img) => {
    const t0 = performance.now();
    const boxes = await predictor.detectAsync(img.gray, img.width, img.height, detect);
    return { file, img, boxes, detectMs: performance.now() - t0 };
  }, (e) => {
    if (isFerError(e)) return { file, detectMs: 0, error: e.message };
    throw e;
  });
}

/** Images decoded and detected ahead of the one being classified. */
const LOOKAHEAD = 2;

/**
 * Detect and classify every face in each file, in order, one result per file. The next images are decoded
 * and detected (off the main thread, see createPredictor's detectInWorker) while the current one is
 * classified. Unreadable files give a result with `error` and the batch goes on.
 */
export async function* predictFiles(files: string[], predictor: Predictor, opts: PredictFilesOptions = {}): AsyncGenerator<FileResult> {
  const queue: Promise<Staged>[] = [];
  let started = 0;
  const fill = () => {
    while (queue.length < LOOKAHEAD && started < files.length) {
      const p = stage(files[started++], predictor, opts.detect);
      p.catch(() => undefined); // handled when awaited; avoid an unhandled rejection meanwhile
      queue.push(p);
    }
  };
  fill();
  while (queue.length > 0) {
    const s = await (queue.shift() as Promise<Staged>);
    fill();
    if (!s.img || !s.boxes) {
      yield { file: s.file, width: 0, height: 0, faces: [], error: s.error, ms: 0 };
      continue;
    }
    const { img } = s;
    const t0 = performance.now();
    const faces = predictor.predictBoxes(img.gray, img.width, img.height, s.boxes);
    const result: FileResult = { file: s.file, width: img.width, height: img.height, faces, ms: s.detectMs + performance.now() - t0 };
    const target = opts.outputs?.get(s.file);
    if (target) {
      try {
        await annotateRgb(img.rgb, img.width, img.height, annotationsFor(faces));
        await saveRgb(target, img.rgb, img.width, img.height);
        result.out = target;
      } catch (e) {
        if (!isFerError(e)) throw e;
        result.error = e.message;
      }
    }
    yield result;
  }
}
