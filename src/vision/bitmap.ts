/**
 * Decoders for the uncompressed formats sharp (libvips) does not read but OpenCV-based tools do, and face
 * datasets still use: Windows BMP (1/4/8-bit palette, 16/24/32-bit, bit fields) and Netpbm PBM/PGM/PPM
 * (ASCII and binary, 8- or 16-bit samples; the AT&T and Yale face sets are PGM). They give raw pixels for
 * sharp to take from there, so every image goes through the same pipeline (flatten, colour space, grey).
 */

/** Raw interleaved 8-bit pixels: 1 (grey), 3 (RGB) or 4 (RGBA) channels, top row first. */
export interface RawPixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A file of a format decoded here, whose data is broken or a variant not read: the reason, for one line. */
export class BitmapError extends Error {}

/** The largest picture decoded here (as sharp's default limit): a header may not make us allocate more. */
const MAX_PIXELS = 268_402_689;

export type BitmapFormat = 'bmp' | 'pnm';

/** Which of the formats decoded here `buf` is, from its first bytes; undefined for any other. */
export function bitmapFormat(buf: Buffer): BitmapFormat | undefined {
  if (buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d) return 'bmp'; // "BM"
  if (buf.length >= 2 && buf[0] === 0x50 && buf[1] >= 0x31 && buf[1] <= 0x36) return 'pnm'; // "P1".."P6"
  return undefined;
}

/** Width and height from the header alone (for a pixel limit before decoding); undefined when not ours. */
export function bitmapSize(buf: Buffer): { width: number; height: number } | undefined {
  const f = bitmapFormat(buf);
  if (f === 'bmp') { const h = bmpHeader(buf); return { width: h.width, height: Math.abs(h.height) }; }
  if (f === 'pnm') { const h = pnmHeader(buf); return { width: h.width, height: h.height }; }
  return undefined;
}

/** Decode a BMP or Netpbm file; undefined when `buf` is neither. Throws BitmapError when it cannot be read. */
export function decodeBitmap(buf: Buffer): RawPixels | undefined {
  const f = bitmapFormat(buf);
  if (f === 'bmp') return decodeBmp(buf);
  if (f === 'pnm') return decodePnm(buf);
  return undefined;
}

function checkSize(width: number, height: number, what: string): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new BitmapError(`${what}: bad size ${width}×${height}`);
  if (width * height > MAX_PIXELS) throw new BitmapError(`${what}: ${width}×${height} is more pixels than fer reads (${MAX_PIXELS})`);
}

const truncated = (): BitmapError => new BitmapError('truncated or corrupt data');

// ---------------------------------------------------------------- BMP

interface BmpHeader {
  width: number;
  /** Negative: rows stored top to bottom. */
  height: number;
  bpp: number;
  compression: number;
  dataOffset: number;
  /** Where the colour table starts, its entry size (4, or 3 in the OS/2 header) and count. */
  palette: { at: number; entry: number; count: number };
  masks?: [number, number, number, number];
}

function bmpHeader(b: Buffer): BmpHeader {
  if (b.length < 26) throw truncated();
  const dataOffset = b.readUInt32LE(10);
  const dib = b.readUInt32LE(14);
  if (dib === 12) { // OS/2 BITMAPCOREHEADER
    const width = b.readUInt16LE(18);
    const height = b.readInt16LE(20);
    const bpp = b.readUInt16LE(24);
    checkSize(width, Math.abs(height), 'BMP');
    return { width, height, bpp, compression: 0, dataOffset, palette: { at: 26, entry: 3, count: bpp <= 8 ? 1 << bpp : 0 } };
  }
  if (dib < 40 || b.length < 14 + 40) throw new BitmapError(`BMP: unknown header (${dib} bytes)`);
  const width = b.readInt32LE(18);
  const height = b.readInt32LE(22);
  const bpp = b.readUInt16LE(28);
  const compression = b.readUInt32LE(30);
  const used = b.readUInt32LE(46);
  checkSize(width, Math.abs(height), 'BMP');
  let masks: BmpHeader['masks'];
  let paletteAt = 14 + dib;
  if (compression === 3 || compression === 6) { // BI_BITFIELDS, BI_ALPHABITFIELDS
    const inHeader = dib >= 52;
    const at = inHeader ? 54 : 14 + dib;
    const n = compression === 6 || dib >= 56 ? 4 : 3;
    if (b.length < at + 4 * n) throw truncated();
    masks = [b.readUInt32LE(at), b.readUInt32LE(at + 4), b.readUInt32LE(at + 8), n === 4 ? b.readUInt32LE(at + 12) : 0];
    if (!inHeader) paletteAt += 4 * n;
  }
  return { width, height, bpp, compression, dataOffset, masks, palette: { at: paletteAt, entry: 4, count: bpp <= 8 ? (used > 0 ? Math.min(used, 1 << bpp) : 1 << bpp) : 0 } };
}

/** Shift and scale that take a bit-field mask's value to 0..255. */
function field(mask: number): (v: number) => number {
  if (mask === 0) return () => 255;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return (v: number) => Math.round((((v & mask) >>> shift) * 255) / max);
}

function decodeBmp(b: Buffer): RawPixels {
  const h = bmpHeader(b);
  if (h.compression === 1 || h.compression === 2) throw new BitmapError('BMP: run-length (RLE) compressed BMP is not read; save it as PNG');
  if (h.compression === 4 || h.compression === 5) throw new BitmapError('BMP: a JPEG or PNG inside a BMP is not read; extract it');
  if (h.compression !== 0 && h.compression !== 3 && h.compression !== 6) throw new BitmapError(`BMP: unknown compression ${h.compression}`);
  if (![1, 4, 8, 16, 24, 32].includes(h.bpp)) throw new BitmapError(`BMP: ${h.bpp} bits per pixel is not a BMP depth`);
  const { width, bpp } = h;
  const height = Math.abs(h.height);
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.dataOffset + stride * (height - 1) + Math.ceil((bpp * width) / 8) > b.length) throw truncated();
  const masks = h.masks ?? (bpp === 16 ? [0x7c00, 0x03e0, 0x001f, 0] : bpp === 32 ? [0xff0000, 0xff00, 0xff, 0] : undefined);
  const alpha = masks !== undefined && masks[3] !== 0;
  const channels = alpha ? 4 : 3;
  const out = Buffer.alloc(width * height * channels);
  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const { at, entry, count } = h.palette;
    if (at + entry * count > b.length) throw truncated();
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count; i++) {
      palette[i * 3] = b[at + i * entry + 2];
      palette[i * 3 + 1] = b[at + i * entry + 1];
      palette[i * 3 + 2] = b[at + i * entry];
    }
  }
  const [fr, fg, fb, fa] = (masks ?? [0, 0, 0, 0]).map(field);
  for (let y = 0; y < height; y++) {
    const row = h.dataOffset + stride * (h.height > 0 ? height - 1 - y : y);
    let o = y * width * channels;
    for (let x = 0; x < width; x++, o += channels) {
      if (palette) {
        const per = 8 / bpp;
        const byte = b[row + Math.floor(x / per)];
        const i = (byte >> ((per - 1 - (x % per)) * bpp)) & ((1 << bpp) - 1);
        out[o] = palette[i * 3]; out[o + 1] = palette[i * 3 + 1]; out[o + 2] = palette[i * 3 + 2];
      } else if (bpp === 24 && !h.masks) {
        const p = row + x * 3;
        out[o] = b[p + 2]; out[o + 1] = b[p + 1]; out[o + 2] = b[p];
      } else {
        const v = bpp === 16 ? b.readUInt16LE(row + x * 2) : bpp === 24 ? b.readUIntLE(row + x * 3, 3) : b.readUInt32LE(row + x * 4);
        out[o] = fr(v); out[o + 1] = fg(v); out[o + 2] = fb(v);
        if (alpha) out[o + 3] = fa(v);
      }
    }
  }
  // A 32-bit BMP whose alpha is 0 everywhere was written without alpha (many writers leave the byte zero).
  if (alpha) {
    let any = false;
    for (let i = 3; i < out.length && !any; i += 4) any = out[i] !== 0;
    if (!any) for (let i = 3; i < out.length; i += 4) out[i] = 255;
  }
  return { data: out, width, height, channels };
}

// ---------------------------------------------------------------- Netpbm

interface PnmHeader {
  kind: number;
  width: number;
  height: number;
  maxval: number;
  /** Offset of the first data byte (binary) or of the first sample's text (ASCII). */
  dataAt: number;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;

/** The next decimal number from `at`, skipping white space and # comments; its value and the offset after it. */
function pnmNumber(b: Buffer, at: number): [number, number] {
  let i = at;
  for (;;) {
    while (i < b.length && isSpace(b[i])) i++;
    if (b[i] === 0x23) { while (i < b.length && b[i] !== 0x0a && b[i] !== 0x0d) i++; continue; }
    break;
  }
  const start = i;
  while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) i++;
  if (i === start) throw i >= b.length ? truncated() : new BitmapError('Netpbm: bad header or sample (expected a number)');
  return [Number(b.toString('latin1', start, i)), i];
}

function pnmHeader(b: Buffer): PnmHeader {
  const kind = b[1] - 0x30;
  let at = 2;
  let width: number;
  let height: number;
  let maxval = 1;
  [width, at] = pnmNumber(b, at);
  [height, at] = pnmNumber(b, at);
  if (kind !== 1 && kind !== 4) [maxval, at] = pnmNumber(b, at);
  checkSize(width, height, 'Netpbm');
  if (!(maxval >= 1 && maxval <= 65535)) throw new BitmapError(`Netpbm: maxval ${maxval} is not in 1..65535`);
  // Binary data starts after exactly one white-space byte.
  if (kind >= 4) { if (!isSpace(b[at] ?? 0)) throw truncated(); at++; }
  return { kind, width, height, maxval, dataAt: at };
}

function decodePnm(b: Buffer): RawPixels {
  const h = pnmHeader(b);
  const { kind, width, height, maxval } = h;
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  const n = width * height * channels;
  // Before allocating: the data must be there (a sample takes at least one byte, or one digit in ASCII).
  const need = kind === 4 ? Math.ceil(width / 8) * height : kind >= 5 && maxval > 255 ? 2 * n : n;
  if (h.dataAt + need > b.length) throw truncated();
  const out = Buffer.alloc(n);
  const scale = (v: number): number => (maxval === 255 ? v : Math.round((Math.min(v, maxval) * 255) / maxval));
  if (kind === 4) { // packed bits, rows padded to a byte, 1 = black
    const stride = Math.ceil(width / 8);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = (b[h.dataAt + y * stride + (x >> 3)] >> (7 - (x & 7))) & 1 ? 0 : 255;
  } else if (kind >= 5) {
    const bytes = maxval > 255 ? 2 : 1;
    for (let i = 0; i < n; i++) out[i] = scale(bytes === 2 ? b.readUInt16BE(h.dataAt + 2 * i) : b[h.dataAt + i]);
  } else {
    let at = h.dataAt;
    for (let i = 0; i < n; i++) {
      let v: number;
      if (kind === 1) { // ASCII bits need no white space between them
        while (at < b.length && (isSpace(b[at]) || b[at] === 0x23)) { if (b[at] === 0x23) while (at < b.length && b[at] !== 0x0a) at++; else at++; }
        if (at >= b.length) throw truncated();
        v = b[at++] === 0x31 ? 0 : 255;
      } else {
        [v, at] = pnmNumber(b, at);
        v = scale(v);
      }
      out[i] = v;
    }
  }
  return { data: out, width, height, channels };
}
