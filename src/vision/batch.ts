import * as fs from 'fs';
import * as path from 'path';
import { EXIT, InvalidParameterError, invalidParameterError, isFerError } from '../util/errors';
import { checkOutputSafety, locationKey } from '../util/outputSafety';
import { Annotation, annotateRgb } from './annotate';
import { LoadedImage, loadImage, saveRgb } from './image';
import { Predictor, confidenceOf } from './predict';
import { Box, DetectOptions, FacePrediction } from './types';

/** Extensions an annotated image can be written as; other inputs (gif, avif, bmp, netpbm) are written as PNG. */
const WRITABLE = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'];

function isWritableImagePath(p: string): boolean {
  return WRITABLE.includes(path.extname(p).toLowerCase());
}

/**
 * Where each input's annotated image goes. `out` is a file when it has an image extension (then there must be
 * exactly one input); a folder when it exists as one, ends with a slash or has no extension: it receives each
 * input under its name (below the searched folder's subfolders when `relative` says so; same format, gif/avif/bmp/netpbm →
 * png), with -2, -3… on clashes. Any other extension, or an image name for several inputs, is a usage error
 * (exit 2). No output may be an input (device and inode, src/util/outputSafety.ts).
 */
export function planOutputs(files: string[], out: string, relative: Map<string, string> = new Map()): Map<string, string> {
  const plan = new Map<string, string>();
  let existing: fs.Stats | undefined;
  try { existing = fs.statSync(out); } catch { /* absent */ }
  const ext = path.extname(out.replace(/[/\\]+$/, ''));
  const slash = out.endsWith('/') || out.endsWith(path.sep);
  const asDir = existing ? existing.isDirectory() : slash || ext === '';
  if (!asDir) {
    if (!slash && ext !== '' && !isWritableImagePath(out)) {
      throw invalidParameterError('out', `unknown image type ${ext}; use ${WRITABLE.join(', ')}, or a folder (end it with /)`, out, EXIT.USAGE);
    }
    if (existing && !existing.isFile()) throw invalidParameterError('out', 'exists and is not a file or folder', out, EXIT.ERROR);
    if (files.length > 1) {
      throw new InvalidParameterError('out', (n) => `${n('out')} ${out} names one image, but there are ${files.length} inputs; give a folder instead (e.g. ${n('out')} ${out.replace(/\.[^./]*$/, '')}/)`, EXIT.USAGE);
    }
  }
  const used = new Set<string>();
  for (const file of files) {
    let target: string;
    if (!asDir) {
      target = out;
    } else {
      const ext = isWritableImagePath(file) ? path.extname(file) : '.png';
      const rel = relative.get(file) ?? path.basename(file);
      const stem = path.join(path.dirname(rel), path.basename(rel, path.extname(rel)));
      target = path.join(out, stem + ext);
      for (let k = 2; used.has(locationKey(target)); k++) target = path.join(out, `${stem}-${k}${ext}`);
    }
    used.add(locationKey(target));
    plan.set(file, target);
  }
  checkOutputSafety(files.map((f) => ({ path: f, what: 'input' })), [...plan.values()].map((t) => ({ path: t, what: { option: 'out' } })));
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
  /** Stops the batch after the current image: no further result is yielded and no further file is read. */
  signal?: AbortSignal;
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
 * classified. Unreadable files give a result with `error` and the batch goes on. `signal` stops it after the
 * current image.
 *
 * @example
 * ```ts
 * import * as fs from 'fs';
 * import { createPredictor, planOutputs, predictFiles } from 'fer';
 *
 * const predictor = await createPredictor({ detectInWorker: true });   // detect the next image meanwhile
 * const files = ['a.jpg', 'b.png'];
 * fs.mkdirSync('annotated', { recursive: true });
 * const outputs = planOutputs(files, 'annotated/');                    // annotated copies, never an input
 * for await (const r of predictFiles(files, predictor, { outputs })) {
 *   if (r.error) console.error(`${r.file}: ${r.error}`);
 *   else console.log(`${r.file}: ${r.faces.map((f) => f.label).join(', ') || 'no face'} (${r.ms.toFixed(0)} ms)`);
 * }
 * predictor.dispose();
 * ```
 */
export async function* predictFiles(files: string[], predictor: Predictor, opts: PredictFilesOptions = {}): AsyncGenerator<FileResult> {
  const queue: Promise<Staged>[] = [];
  let started = 0;
  const fill = () => {
    while (queue.length < LOOKAHEAD && started < files.length && !opts.signal?.aborted) {
      const p = stage(files[started++], predictor, opts.detect);
      p.catch(() => undefined); // handled when awaited; avoid an unhandled rejection meanwhile
      queue.push(p);
    }
  };
  fill();
  while (queue.length > 0 && !opts.signal?.aborted) {
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
