import { IMAGE_SIZE } from '../data/classes';
import { Rng } from './rng';

/**
 * On-the-fly augmentation of uint8 48×48 faces, in the spirit of Keras' ImageDataGenerator as the seeds used it:
 * random horizontal flip, shift, small rotation and zoom, one random affine map per image with bilinear sampling
 * and edge-replicating fill ('nearest' in Keras). Done on uint8 in JS so batches stay small until they become
 * float tensors.
 */
export interface AugmentOptions {
  flip: boolean;
  /** Largest shift, as a fraction of the side (0.1 = ±4.8 px). */
  shift: number;
  /** Largest rotation in degrees (±). */
  rotation: number;
  /** Largest zoom change (0.1 = scale in [0.9, 1.1]). */
  zoom: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = { flip: true, shift: 0.1, rotation: 10, zoom: 0.1 };

/** The parameters drawn for one image; exposed so tests can apply a known transform. */
export interface AffineParams {
  flip: boolean;
  dx: number;
  dy: number;
  angleDeg: number;
  scale: number;
}

export function drawAffine(rng: Rng, o: AugmentOptions): AffineParams {
  // Always draw every number, so the stream position does not depend on the options' values.
  const flip = rng.float() < 0.5;
  const dx = rng.uniform(-o.shift, o.shift) * IMAGE_SIZE;
  const dy = rng.uniform(-o.shift, o.shift) * IMAGE_SIZE;
  const angleDeg = rng.uniform(-o.rotation, o.rotation);
  const scale = 1 + rng.uniform(-o.zoom, o.zoom);
  return { flip: o.flip && flip, dx, dy, angleDeg, scale };
}

/** Warp one S×S face from `src` (offset `si`) into `dst` (offset `di`). */
export function warpFace(src: Uint8Array, si: number, dst: Uint8Array, di: number, p: AffineParams): void {
  const S = IMAGE_SIZE;
  const c = (S - 1) / 2;
  const a = (p.angleDeg * Math.PI) / 180;
  // Inverse map: output pixel → source position (undo shift, then rotation and zoom about the centre).
  const cos = Math.cos(a) / p.scale;
  const sin = Math.sin(a) / p.scale;
  for (let y = 0; y < S; y++) {
    const oy = y - c - p.dy;
    for (let x = 0; x < S; x++) {
      const ox0 = x - c - p.dx;
      const ox = p.flip ? -ox0 : ox0;
      let sx = cos * ox + sin * oy + c;
      let sy = -sin * ox + cos * oy + c;
      sx = sx < 0 ? 0 : sx > S - 1 ? S - 1 : sx;
      sy = sy < 0 ? 0 : sy > S - 1 ? S - 1 : sy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = x0 < S - 1 ? x0 + 1 : x0;
      const y1 = y0 < S - 1 ? y0 + 1 : y0;
      const fx = sx - x0;
      const fy = sy - y0;
      const r0 = si + y0 * S;
      const r1 = si + y1 * S;
      const top = src[r0 + x0] + (src[r0 + x1] - src[r0 + x0]) * fx;
      const bottom = src[r1 + x0] + (src[r1 + x1] - src[r1 + x0]) * fx;
      dst[di + y * S + x] = Math.round(top + (bottom - top) * fy);
    }
  }
}

/**
 * Gather `indices` from `images` into `out` (count × 48 × 48), augmenting each face when `opts` is given.
 * Returns `out`.
 */
export function gatherBatch(images: Uint8Array, indices: ArrayLike<number>, out: Uint8Array, rng: Rng | null, opts: AugmentOptions | null): Uint8Array {
  const px = IMAGE_SIZE * IMAGE_SIZE;
  for (let i = 0; i < indices.length; i++) {
    const si = indices[i] * px;
    if (rng && opts) warpFace(images, si, out, i * px, drawAffine(rng, opts));
    else out.set(images.subarray(si, si + px), i * px);
  }
  return out;
}
