import { IMAGE_SIZE } from './classes';

/** Pixels in one FER2013 face. */
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** Why a pixel field was rejected; `at` is the byte offset of the offending token in the source buffer. */
export type PixelError =
  | { kind: 'count'; count: number }
  | { kind: 'value'; at: number; end: number };

const SPACE = 0x20;
const TAB = 0x09;
const ZERO = 0x30;

/**
 * Parse a whitespace-separated list of integers 0..255 straight from the CSV bytes into `dst` at `offset`
 * (no strings, no split, no Number()): this loop is most of the cost of `fer prepare`.
 * Returns the number of values (exactly PIXELS on success) or the reason the field is malformed.
 */
export function parsePixels(buf: Uint8Array, start: number, end: number, dst: Uint8Array, offset: number): number | PixelError {
  let n = 0;
  let value = 0;
  let digits = 0;
  let tokenStart = start;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === SPACE || c === TAB) {
      if (digits !== 0) {
        if (n < PIXELS) dst[offset + n] = value;
        n++;
        value = 0;
        digits = 0;
      }
      continue;
    }
    const d = c - ZERO;
    if (digits === 0) tokenStart = i;
    // Unsigned compare rejects every non-digit byte in one test; 3 digits and ≤ 255 bound the value.
    if (d >>> 0 > 9 || ++digits > 3 || (value = value * 10 + d) > 255) {
      return { kind: 'value', at: tokenStart, end: tokenEnd(buf, tokenStart, end) };
    }
  }
  if (digits !== 0) {
    if (n < PIXELS) dst[offset + n] = value;
    n++;
  }
  return n === PIXELS ? n : { kind: 'count', count: n };
}

function tokenEnd(buf: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end && buf[i] !== SPACE && buf[i] !== TAB) i++;
  return i;
}

/** Standard deviation of one image's grey levels (population std, as numpy's default). */
export function pixelStd(img: Uint8Array, offset = 0): number {
  let sum = 0;
  let sumSq = 0;
  for (let i = offset, e = offset + PIXELS; i < e; i++) {
    const v = img[i];
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / PIXELS;
  return Math.sqrt(Math.max(0, sumSq / PIXELS - mean * mean));
}

/**
 * A 53-bit hash of one 48×48 image (two independent 32-bit lanes over its 576 words), usable as an exact
 * Map key. Equal keys are still confirmed byte by byte by the caller: this only has to be fast and spread.
 * `words` is an Int32Array over the same memory as the image, `wordOffset` the image's first word.
 */
export function imageHash(words: Int32Array, wordOffset: number): number {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x1b873593 | 0;
  for (let i = wordOffset, e = wordOffset + PIXELS / 4; i < e; i++) {
    const w = words[i];
    h1 = Math.imul(h1 ^ w, 0x85ebca6b);
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 + w, 0xc2b2ae35);
    h2 ^= h2 >>> 15;
  }
  h1 = fmix32(h1);
  h2 = fmix32(h2 ^ h1);
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
