import * as fs from 'fs';
import * as path from 'path';
import { FerError, isFerError } from '../util/errors';
import { Annotation, annotateRgb } from './annotate';
import { LoadedImage, loadImage, saveRgb } from './image';
import { Predictor, confidenceOf } from './predict';
import { DetectOptions, FacePrediction } from './types';

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

type Loaded = { img: LoadedImage } | { error: string };

function load(file: string): Promise<Loaded> {
  return loadImage(file).then((img) => ({ img }), (e) => {
    if (isFerError(e)) return { error: e.message };
    throw e;
  });
}

/**
 * Detect and classify every face in each file, in order, one result per file. The next image is decoded
 * (sharp, off the main thread) while the current one is detected and classified. Unreadable files give a
 * result with `error` and the batch goes on.
 */
export async function* predictFiles(files: string[], predictor: Predictor, opts: PredictFilesOptions = {}): AsyncGenerator<FileResult> {
  let next: Promise<Loaded> | undefined = files.length > 0 ? load(files[0]) : undefined;
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const loaded = await (next as Promise<Loaded>);
    next = i + 1 < files.length ? load(files[i + 1]) : undefined;
    if ('error' in loaded) {
      yield { file, width: 0, height: 0, faces: [], error: loaded.error, ms: 0 };
      continue;
    }
    const { img } = loaded;
    const t0 = performance.now();
    const faces = predictor.predictGray(img.gray, img.width, img.height, opts.detect);
    const ms = performance.now() - t0;
    const result: FileResult = { file, width: img.width, height: img.height, faces, ms };
    const target = opts.outputs?.get(file);
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
