import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { FerError, describeFsError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { rgbToGray } from './faces';
import { BitmapError, decodeBitmap } from './bitmap';

/** A decoded image: RGB24 and 8-bit grey, both row-major, in display orientation (EXIF applied). */
export interface LoadedImage {
  rgb: Uint8Array;
  gray: Uint8Array;
  width: number;
  height: number;
}

/**
 * Extensions `fer predict` picks up from a directory: sharp decodes the first eight (GIF: first frame), fer's own
 * decoders (bitmap.ts) BMP and Netpbm.
 */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.bmp', '.pgm', '.ppm', '.pbm', '.pnm'] as const;

export function isImagePath(file: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

/**
 * Decode an encoded image (any format sharp reads, BMP, Netpbm) to RGB + grey. `name` is used in error
 * messages.
 */
export async function decodeImage(input: Buffer, name: string): Promise<LoadedImage> {
  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    const raw = decodeBitmap(input);
    // failOn 'error' rejects truncated files instead of returning a silently grey-padded image.
    const src = raw ? sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } }) : sharp(input, { failOn: 'error', pages: 1 });
    ({ data, info } = await src
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new FerError(`${name}: not a readable image (${describeSharpError(e)})`);
  }
  const { width, height, channels } = info;
  const rgb = toRgb(data, width * height, channels);
  return { rgb, gray: rgbToGray(rgb, width, height), width, height };
}

/** Read and decode an image file; unreadable or non-image files are a one-line FerError naming the file. */
export async function loadImage(file: string): Promise<LoadedImage> {
  let input: Buffer;
  try {
    input = await fs.promises.readFile(file);
  } catch (e) {
    throw new FerError(describeFsError(e, file));
  }
  return decodeImage(input, file);
}

function toRgb(data: Buffer, pixels: number, channels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, pixels * 3);
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const s = i * channels;
    const v0 = data[s];
    rgb[i * 3] = v0;
    rgb[i * 3 + 1] = channels >= 3 ? data[s + 1] : v0;
    rgb[i * 3 + 2] = channels >= 3 ? data[s + 2] : v0;
  }
  return rgb;
}

// libvips messages span several lines ("VipsForeignLoad: ...\n"); keep the first meaningful one.
function describeSharpError(e: unknown): string {
  if (e instanceof BitmapError) return e.message;
  const msg = (e as Error)?.message ?? String(e);
  if (/unsupported image format/i.test(msg)) return 'unsupported or unrecognised format';
  if (/read error|premature end|truncated|unexpected end|corrupt/i.test(msg)) return 'truncated or corrupt data';
  const line = msg.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? msg;
  return line.replace(/^Vips\w*:\s*/, '');
}

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'tiff';

/** The output format for a file name; unknown or read-only formats (gif, avif, bmp, netpbm) become PNG. */
export function formatForPath(file: string): ImageFormat {
  switch (path.extname(file).toLowerCase()) {
    case '.jpg': case '.jpeg': return 'jpeg';
    case '.webp': return 'webp';
    case '.tif': case '.tiff': return 'tiff';
    default: return 'png';
  }
}

/** Encode an RGB24 buffer. */
export async function encodeRgb(rgb: Uint8Array, width: number, height: number, format: ImageFormat): Promise<Buffer> {
  const img = sharp(Buffer.from(rgb.buffer, rgb.byteOffset, width * height * 3), { raw: { width, height, channels: 3 } });
  switch (format) {
    case 'jpeg': return img.jpeg({ quality: 92 }).toBuffer();
    case 'webp': return img.webp({ quality: 92 }).toBuffer();
    case 'tiff': return img.tiff().toBuffer();
    default: return img.png().toBuffer();
  }
}

/** Write an RGB24 buffer as an image file (format from the extension), atomically. */
export async function saveRgb(file: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  writeFileAtomic(file, await encodeRgb(rgb, width, height, formatForPath(file)));
}
