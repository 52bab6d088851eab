import { CLASS_NAMES } from '../data/classes';
import { loadOpenCV, CV } from './opencv';
import { Box } from './types';

/** What to draw for one face. `scores` (7, FER2013 order) adds the score bar; `trackId` is shown as #id. */
export interface Annotation {
  box: Box;
  label: string;
  confidence: number;
  scores?: ArrayLike<number>;
  trackId?: number;
}

/** One colour per class (RGB), FER2013 order; unknown labels are drawn white. */
export const CLASS_COLORS: readonly [number, number, number][] = [
  [230, 40, 40], // Angry
  [60, 170, 60], // Disgust
  [160, 80, 210], // Fear
  [255, 200, 0], // Happy
  [50, 110, 240], // Sad
  [0, 200, 210], // Surprise
  [180, 180, 180], // Neutral
];

export function classColor(label: string): [number, number, number] {
  const i = (CLASS_NAMES as readonly string[]).indexOf(label);
  return i >= 0 ? CLASS_COLORS[i] : [255, 255, 255];
}

export function annotationText(a: Pick<Annotation, 'label' | 'confidence' | 'trackId'>): string {
  return `${a.trackId !== undefined ? `#${a.trackId} ` : ''}${a.label} ${Math.round(a.confidence * 100)}%`;
}

// The frame buffer lives in the OpenCV.js heap; reuse it across calls of the same size (video frames).
let frame: CV | undefined;
let scratch: CV | undefined;

function frameMat(cv: CV, width: number, height: number): CV {
  if (!frame || frame.cols !== width || frame.rows !== height) {
    frame?.delete();
    frame = new cv.Mat(height, width, cv.CV_8UC3);
  }
  return frame;
}

/**
 * Rendered width of Hershey text. OpenCV.js has no getTextSize, so draw it once on a scratch image and
 * measure the ink: exact, and cheap for one short label.
 */
function textWidth(cv: CV, text: string, scale: number, thickness: number): number {
  const h = Math.ceil(40 * scale) + thickness * 2;
  const w = Math.ceil(text.length * 32 * scale) + thickness * 2 + 4;
  if (!scratch || scratch.cols < w || scratch.rows < h) {
    const rows = Math.max(h, scratch?.rows ?? 0);
    const cols = Math.max(w, scratch?.cols ?? 0);
    scratch?.delete();
    scratch = new cv.Mat(rows, cols, cv.CV_8UC1);
  }
  scratch.setTo(new cv.Scalar(0));
  cv.putText(scratch, text, new cv.Point(thickness, Math.ceil(30 * scale)), cv.FONT_HERSHEY_SIMPLEX, scale, new cv.Scalar(255), thickness, cv.LINE_8);
  const data: Uint8Array = scratch.data;
  const cols = scratch.cols;
  let right = 0;
  for (let y = 0; y < scratch.rows; y++) {
    for (let x = cols - 1; x > right; x--) {
      if (data[y * cols + x] !== 0) { right = x; break; }
    }
  }
  return right + 1;
}

/**
 * Draw faces in place on a raw RGB24 buffer (row-major, width × height × 3): a box in the class colour,
 * a label with confidence (and track id) above it, and under it a bar split in proportion to the 7 scores.
 * Text is OpenCV's built-in Hershey font, so this needs no system fonts.
 */
export async function annotateRgb(rgb: Uint8Array, width: number, height: number, faces: Annotation[]): Promise<void> {
  if (rgb.length < width * height * 3) throw new RangeError(`annotateRgb: buffer has ${rgb.length} bytes, ${width}×${height} RGB needs ${width * height * 3}`);
  if (faces.length === 0) return;
  const cv = await loadOpenCV();
  const mat = frameMat(cv, width, height);
  const pixels = width * height * 3;
  mat.data.set(rgb.subarray(0, pixels));
  const line = Math.max(1, Math.round(Math.max(width, height) / 400));
  for (const face of faces) drawFace(cv, mat, width, height, face, line);
  rgb.set(mat.data.subarray(0, pixels));
}

function drawFace(cv: CV, mat: CV, width: number, height: number, face: Annotation, line: number): void {
  const { x, y, w, h } = face.box;
  const [r, g, b] = classColor(face.label);
  const color = new cv.Scalar(r, g, b, 255);
  cv.rectangle(mat, new cv.Point(x, y), new cv.Point(x + w - 1, y + h - 1), color, line, cv.LINE_8);

  // Label: scaled with the face, readable from ~10 px cap height, capped so it never dwarfs the image.
  const text = annotationText(face);
  const scale = Math.min(1.2, Math.max(0.4, w / 220), Math.max(width, height) / 600);
  const thick = scale >= 0.8 ? 2 : 1;
  const textW = textWidth(cv, text, scale, thick);
  const pad = Math.max(2, Math.round(4 * scale));
  const capH = Math.ceil(22 * scale);
  const labelH = capH + 2 * pad;
  const labelW = textW + 2 * pad;
  const lx = Math.max(0, Math.min(width - labelW, x));
  // Above the box when there is room, else just inside its top edge.
  const ly = y - labelH >= 0 ? y - labelH : y;
  cv.rectangle(mat, new cv.Point(lx, ly), new cv.Point(lx + labelW - 1, ly + labelH - 1), color, -1, cv.LINE_8);
  const ink = r * 0.299 + g * 0.587 + b * 0.114 > 140 ? new cv.Scalar(0, 0, 0, 255) : new cv.Scalar(255, 255, 255, 255);
  cv.putText(mat, text, new cv.Point(lx + pad, ly + pad + capH), cv.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv.LINE_AA);

  if (face.scores && face.scores.length === CLASS_NAMES.length) drawScoreBar(cv, mat, height, face, line);
}

function drawScoreBar(cv: CV, mat: CV, height: number, face: Annotation, line: number): void {
  const { x, y, w, h } = face.box;
  const scores = face.scores as ArrayLike<number>;
  const barH = Math.max(4, Math.round(w / 14));
  // Below the box when there is room, else just inside its bottom edge.
  const by = y + h + barH + 1 <= height ? y + h + 1 : y + h - barH - line;
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += Math.max(0, scores[i]);
  if (!(total > 0)) return;
  cv.rectangle(mat, new cv.Point(x, by), new cv.Point(x + w - 1, by + barH - 1), new cv.Scalar(30, 30, 30, 255), -1, cv.LINE_8);
  let acc = 0;
  for (let i = 0; i < scores.length; i++) {
    const x0 = x + Math.round((acc / total) * w);
    acc += Math.max(0, scores[i]);
    const x1 = x + Math.round((acc / total) * w);
    if (x1 > x0) {
      const [r, g, b] = CLASS_COLORS[i];
      cv.rectangle(mat, new cv.Point(x0, by), new cv.Point(x1 - 1, by + barH - 1), new cv.Scalar(r, g, b, 255), -1, cv.LINE_8);
    }
  }
}
