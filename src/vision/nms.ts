import { Box } from './types';

/** Intersection area of two boxes. */
export function overlapArea(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Intersection over union (0 when the boxes do not overlap). */
export function boxIou(a: Box, b: Box): number {
  const inter = overlapArea(a, b);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

export interface NmsOptions {
  /** Boxes overlapping a kept one by at least this IoU are the same face (default 0.3, MediaPipe's). */
  iou?: number;
  /**
   * A smaller box lying mostly (this fraction of its area) inside a kept one is dropped too, whatever its
   * score: part of a face cut by a tile border, or a second box on the eyes or mouth (default 0.6).
   */
  inside?: number;
  /**
   * Blend each kept box with the boxes it suppressed, weighted by score (MediaPipe's "weighted NMS"): steadier
   * boxes across video frames and across tiles. Off: plain greedy NMS.
   */
  weighted?: boolean;
}

/**
 * Non-maximum suppression: best score first, every box that is the same face as a kept one goes. Boxes
 * without a score count as score 1. Returns new box objects, best score first.
 */
export function nms(boxes: Box[], opts: NmsOptions = {}): Box[] {
  const iouThr = opts.iou ?? 0.3;
  const inside = opts.inside ?? 0.6;
  // One face cannot hold another: a box mostly inside a larger one goes first, whatever the scores.
  const area = (b: Box) => b.w * b.h;
  const nested = (b: Box) => boxes.some((o) => o !== b && area(o) > area(b) && overlapArea(o, b) >= inside * area(b)
    && boxIou(o, b) < iouThr);
  const order = boxes.filter((b) => !nested(b)).sort((a, b) => (b.score ?? 1) - (a.score ?? 1));
  const used = new Array<boolean>(order.length).fill(false);
  const kept: Box[] = [];
  for (let i = 0; i < order.length; i++) {
    if (used[i]) continue;
    const top = order[i];
    used[i] = true;
    const group: Box[] = [top];
    for (let j = i + 1; j < order.length; j++) {
      if (used[j]) continue;
      const b = order[j];
      const inter = overlapArea(top, b);
      if (inter <= 0) continue;
      const iou = inter / (top.w * top.h + b.w * b.h - inter);
      if (iou >= iouThr || inter >= inside * Math.min(top.w * top.h, b.w * b.h)) {
        used[j] = true;
        // Only true duplicates (same face, similar box) are blended; a fragment is just dropped.
        if (iou >= iouThr) group.push(b);
      }
    }
    kept.push(opts.weighted && group.length > 1 ? blend(group) : { ...top });
  }
  return kept;
}

/** Score-weighted mean of a group of boxes (and landmarks, when all have them); the top score is kept. */
function blend(group: Box[]): Box {
  let sw = 0;
  let x = 0;
  let y = 0;
  let r = 0;
  let btm = 0;
  for (const b of group) {
    const w = b.score ?? 1;
    sw += w;
    x += w * b.x;
    y += w * b.y;
    r += w * (b.x + b.w);
    btm += w * (b.y + b.h);
  }
  const top = group[0];
  const out: Box = { x: x / sw, y: y / sw, w: (r - x) / sw, h: (btm - y) / sw, score: top.score };
  const lms = group.map((b) => b.landmarks);
  if (top.landmarks && lms.every((l) => l && l.length === top.landmarks!.length)) {
    out.landmarks = top.landmarks.map((_, k) => {
      let px = 0;
      let py = 0;
      group.forEach((b) => { px += (b.score ?? 1) * b.landmarks![k][0]; py += (b.score ?? 1) * b.landmarks![k][1]; });
      return [px / sw, py / sw] as [number, number];
    });
  } else if (top.landmarks) {
    out.landmarks = top.landmarks.map((p) => [p[0], p[1]] as [number, number]);
  }
  return out;
}
