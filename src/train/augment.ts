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
 * The newer recipe's per-image steps on top of the affine warp (all off by default, which is the original recipe
 * exactly: every face warped, 48-px output, nothing erased).
 */
export interface CropAugment {
  /** Output side: a random `crop`×`crop` window of the (augmented) face; the centre window without augmentation. */
  crop?: number;
  /** Probability that a face gets the affine warp (shift/rotation/zoom); the others are only flipped. Default 1. */
  warpProb?: number;
  /** Probability of random erasing: one rectangle (2–25 % of the area, aspect 0.3–3.3) filled with noise. Default 0. */
  erase?: number;
}

const S = IMAGE_SIZE;

function copyFace(src: Uint8Array, si: number, dst: Uint8Array, di: number, flip: boolean): void {
  if (!flip) {
    dst.set(src.subarray(si, si + S * S), di);
    return;
  }
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) dst[di + y * S + x] = src[si + y * S + (S - 1 - x)];
}

function cropInto(src: Uint8Array, dst: Uint8Array, di: number, size: number, oy: number, ox: number): void {
  for (let y = 0; y < size; y++) dst.set(src.subarray((oy + y) * S + ox, (oy + y) * S + ox + size), di + y * size);
}

/** Random erasing (Zhong et al. 2017) of one `size`×`size` face at `di`, in place. */
export function eraseRect(face: Uint8Array, di: number, size: number, rng: Rng): void {
  const area = rng.uniform(0.02, 0.25) * size * size;
  const aspect = Math.exp(rng.uniform(Math.log(0.3), Math.log(1 / 0.3)));
  const h = Math.max(1, Math.min(size, Math.round(Math.sqrt(area * aspect))));
  const w = Math.max(1, Math.min(size, Math.round(Math.sqrt(area / aspect))));
  const y0 = rng.int(size - h + 1);
  const x0 = rng.int(size - w + 1);
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) face[di + y * size + x] = rng.uint32() & 255;
}

/**
 * Gather `indices` from `images` into `out` (count × side × side, side = `extra.crop` or 48), augmenting each face
 * when `opts` is given; without augmentation cropped faces are the centre window. Returns `out`.
 */
export function gatherBatch(images: Uint8Array, indices: ArrayLike<number>, out: Uint8Array, rng: Rng | null, opts: AugmentOptions | null,
  extra: CropAugment = {}): Uint8Array {
  const px = S * S;
  const size = extra.crop ?? S;
  if (!(size >= 1 && size <= S)) throw new RangeError(`crop ${size} must be in [1, ${S}]`);
  const warpProb = extra.warpProb ?? 1;
  const erase = extra.erase ?? 0;
  const plain = size === S && warpProb >= 1 && erase <= 0;
  const tmp = plain ? out : new Uint8Array(px);
  const m = S - size;
  for (let i = 0; i < indices.length; i++) {
    const si = indices[i] * px;
    const di = i * size * size;
    if (!(rng && opts)) {
      if (size === S) out.set(images.subarray(si, si + px), di);
      else cropInto(images.subarray(si, si + px), out, di, size, m >> 1, m >> 1);
      continue;
    }
    if (plain) {
      // The original recipe, draw for draw: resumed old runs continue with the same random stream.
      warpFace(images, si, out, di, drawAffine(rng, opts));
      continue;
    }
    const flip = opts.flip && rng.float() < 0.5;
    if (warpProb >= 1 || rng.float() < warpProb) warpFace(images, si, tmp, 0, { ...drawAffine(rng, opts), flip });
    else copyFace(images, si, tmp, 0, flip);
    const oy = rng.int(m + 1);
    const ox = rng.int(m + 1);
    cropInto(tmp, out, di, size, oy, ox);
    if (erase > 0 && rng.float() < erase) eraseRect(out, di, size, rng);
  }
  return out;
}
