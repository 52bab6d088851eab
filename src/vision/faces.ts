import { IMAGE_SIZE } from '../data/classes';
import { Box } from './types';

/**
 * Extra context around a detector box, as a fraction of its side on each side. Haar boxes stop at the
 * eyebrows and lips; FER2013 faces include forehead and chin, so a little margin matches training better.
 */
export const DEFAULT_MARGIN = 0.1;

/**
 * RGB24 → 8-bit grey with the ITU-R BT.601 weights OpenCV's cvtColor uses (FER2013 was made that way too),
 * in the same 15-bit fixed point as OpenCV 4's 8-bit path, so results match it exactly.
 */
export function rgbToGray(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  if (rgb.length < n * 3) throw new RangeError(`rgbToGray: buffer has ${rgb.length} bytes, ${width}×${height} RGB needs ${n * 3}`);
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    gray[i] = (rgb[j] * 9798 + rgb[j + 1] * 19235 + rgb[j + 2] * 3735 + 16384) >> 15;
  }
  return gray;
}

/**
 * How a detector's boxes are turned into FER2013-framed crops: `margin` (fraction of the box side added on
 * each side) and `shiftY` (the crop centre moved down by this fraction of the crop side; negative: up).
 */
export interface Framing {
  margin: number;
  shiftY: number;
}

/** The square region (before clamping to the image) that cropFace samples for `box`. */
export function cropRegion(box: Box, margin: number = DEFAULT_MARGIN, shiftY = 0): Box {
  const side = Math.max(box.w, box.h) * (1 + 2 * margin);
  const cx = box.x + box.w / 2;
  const cy = box.y + box.h / 2 + shiftY * side;
  return { x: cx - side / 2, y: cy - side / 2, w: side, h: side };
}

/**
 * One axis of a resampling: for each output pixel, the source indices (clamped to the image, i.e. border
 * pixels replicate) and their weights. Area averaging when shrinking (no aliasing, like INTER_AREA),
 * bilinear when enlarging.
 */
export function axisWeights(start: number, length: number, outSize: number, limit: number): { idx: Int32Array[]; w: Float32Array[] } {
  const scale = length / outSize;
  const idx: Int32Array[] = [];
  const w: Float32Array[] = [];
  const clamp = (k: number) => Math.min(limit - 1, Math.max(0, k));
  for (let i = 0; i < outSize; i++) {
    const ks: number[] = [];
    const ws: number[] = [];
    if (scale > 1) {
      const a = start + i * scale;
      const b = a + scale;
      for (let k = Math.floor(a); k < b; k++) {
        const overlap = Math.min(b, k + 1) - Math.max(a, k);
        if (overlap > 1e-9) {
          ks.push(clamp(k));
          ws.push(overlap / scale);
        }
      }
    } else {
      const src = start + (i + 0.5) * scale - 0.5;
      const k0 = Math.floor(src);
      const f = src - k0;
      ks.push(clamp(k0), clamp(k0 + 1));
      ws.push(1 - f, f);
    }
    idx.push(Int32Array.from(ks));
    w.push(Float32Array.from(ws));
  }
  return { idx, w };
}

/**
 * Cut a face out of an 8-bit grey image and resample it to the model's 48×48 uint8 input: a square around
 * the box grown by `margin` (fraction of the side, each side), border pixels replicated where it leaves the
 * image. Feed the result to facesToTensor (via predictScores), exactly as training does.
 */
export function cropFace(gray: Uint8Array, width: number, height: number, box: Box, margin: number = DEFAULT_MARGIN): Uint8Array {
  const out = new Uint8Array(IMAGE_SIZE * IMAGE_SIZE);
  cropFaceInto(out, 0, gray, width, height, box, margin);
  return out;
}

/** cropFace writing into `out` at face index `index` (for batching many faces into one buffer). */
export function cropFaceInto(out: Uint8Array, index: number, gray: Uint8Array, width: number, height: number, box: Box, margin: number = DEFAULT_MARGIN, shiftY = 0): void {
  if (gray.length < width * height) throw new RangeError(`cropFace: buffer has ${gray.length} bytes, ${width}×${height} needs ${width * height}`);
  if (!(box.w > 0 && box.h > 0)) throw new RangeError(`cropFace: empty box ${JSON.stringify(box)}`);
  const r = cropRegion(box, margin, shiftY);
  const cols = axisWeights(r.x, r.w, IMAGE_SIZE, width);
  const rows = axisWeights(r.y, r.h, IMAGE_SIZE, height);
  const base = index * IMAGE_SIZE * IMAGE_SIZE;
  for (let oy = 0; oy < IMAGE_SIZE; oy++) {
    const ry = rows.idx[oy];
    const wy = rows.w[oy];
    for (let ox = 0; ox < IMAGE_SIZE; ox++) {
      const cx = cols.idx[ox];
      const wx = cols.w[ox];
      let acc = 0;
      for (let a = 0; a < ry.length; a++) {
        const row = ry[a] * width;
        let s = 0;
        for (let b = 0; b < cx.length; b++) s += gray[row + cx[b]] * wx[b];
        acc += s * wy[a];
      }
      out[base + oy * IMAGE_SIZE + ox] = Math.min(255, Math.max(0, Math.round(acc)));
    }
  }
}

/**
 * Roll of a face from its eye landmarks (radians; positive: the eye line runs down to the right), or 0 when
 * the box has none or they are implausible (eyes in the wrong order or tilted past 45°).
 */
export function eyeLineAngle(box: Box): number {
  const lm = box.landmarks;
  if (!lm || lm.length < 2) return 0;
  // BlazeFace: [0] is the subject's right eye, on the image's left.
  const [r, l] = lm;
  const a = Math.atan2(l[1] - r[1], l[0] - r[0]);
  return Math.abs(a) <= Math.PI / 4 ? a : 0;
}

/**
 * cropFaceInto, rotated by `angle` (radians) about the box centre so the eye line comes out level: each
 * output pixel averages k×k bilinear samples of the source (k: the source pixels per output pixel, ≤ 4),
 * border pixels replicated outside the image.
 */
export function cropFaceRotatedInto(out: Uint8Array, index: number, gray: Uint8Array, width: number, height: number, box: Box, margin: number, angle: number, shiftY = 0): void {
  const r = cropRegion(box, margin);
  const side = r.w;
  // The shift runs along the face's vertical axis.
  const cx = r.x + side / 2 - Math.sin(angle) * shiftY * side;
  const cy = r.y + side / 2 + Math.cos(angle) * shiftY * side;
  const step = side / IMAGE_SIZE;
  const k = Math.max(1, Math.min(4, Math.ceil(step)));
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const px = (x: number, y: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))];
  const base = index * IMAGE_SIZE * IMAGE_SIZE;
  for (let oy = 0; oy < IMAGE_SIZE; oy++) {
    for (let ox = 0; ox < IMAGE_SIZE; ox++) {
      let acc = 0;
      for (let sy = 0; sy < k; sy++) {
        for (let sx = 0; sx < k; sx++) {
          const u = (ox + (sx + 0.5) / k) * step - side / 2;
          const v = (oy + (sy + 0.5) / k) * step - side / 2;
          // Output axes are the face's axes: rotate them into the image.
          const x = cx + u * cos - v * sin - 0.5;
          const y = cy + u * sin + v * cos - 0.5;
          const x0 = Math.floor(x);
          const y0 = Math.floor(y);
          const fx = x - x0;
          const fy = y - y0;
          acc += (px(x0, y0) * (1 - fx) + px(x0 + 1, y0) * fx) * (1 - fy) + (px(x0, y0 + 1) * (1 - fx) + px(x0 + 1, y0 + 1) * fx) * fy;
        }
      }
      out[base + oy * IMAGE_SIZE + ox] = Math.min(255, Math.max(0, Math.round(acc / (k * k))));
    }
  }
}

/**
 * Crop many faces into one N×48×48 buffer, the layout predictScores takes. With `align` (default on), a box
 * with eye landmarks is cropped with its eye line level, as FER2013's faces are registered.
 */
export function cropFaces(gray: Uint8Array, width: number, height: number, boxes: Box[], margin: number = DEFAULT_MARGIN, align = true, shiftY = 0): Uint8Array {
  const out = new Uint8Array(boxes.length * IMAGE_SIZE * IMAGE_SIZE);
  boxes.forEach((b, i) => {
    const angle = align ? eyeLineAngle(b) : 0;
    if (Math.abs(angle) > 0.02) cropFaceRotatedInto(out, i, gray, width, height, b, margin, angle, shiftY);
    else cropFaceInto(out, i, gray, width, height, b, margin, shiftY);
  });
  return out;
}
