import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { FIXTURES, runFer, tmpDir } from './helpers';
import { makeTinyModels } from './fixtures/tinyModels';
import { findFfmpeg } from '../src/video/ffmpeg';
import { bitmapSize, decodeBitmap } from '../src/vision/bitmap';
import { decodeImage, loadImage } from '../src/vision/image';

const ASTRONAUT = path.join(FIXTURES, 'astronaut.png');

/** ffmpeg (a real, independent encoder) writes the astronaut in `pixFmt` to `file`. */
function ffmpegWrite(file: string, pixFmt?: string): string {
  execFileSync(findFfmpeg(), ['-loglevel', 'error', '-y', '-i', ASTRONAUT, ...(pixFmt ? ['-pix_fmt', pixFmt] : []), file]);
  return file;
}

/** ffmpeg's own decoding of `file` to RGB24. */
function ffmpegRgb(file: string): Buffer {
  return execFileSync(findFfmpeg(), ['-loglevel', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A BMP with a 40-byte header from parts (little-endian), rows as given (bottom-up unless height < 0). */
function bmp(o: { width: number; height: number; bpp: number; compression?: number; palette?: number[][]; masks?: number[]; rows: number[][] }): Buffer {
  const stride = Math.floor((o.bpp * o.width + 31) / 32) * 4;
  const pal = Buffer.from((o.palette ?? []).flatMap(([r, g, b]) => [b, g, r, 0]));
  const masks = Buffer.alloc(4 * (o.masks?.length ?? 0));
  o.masks?.forEach((m, i) => masks.writeUInt32LE(m >>> 0, 4 * i));
  const pixels = Buffer.alloc(stride * o.rows.length);
  o.rows.forEach((r, y) => Buffer.from(r).copy(pixels, y * stride));
  const off = 14 + 40 + masks.length + pal.length;
  const h = Buffer.alloc(54);
  h.write('BM', 0, 'latin1');
  h.writeUInt32LE(off + pixels.length, 2);
  h.writeUInt32LE(off, 10);
  h.writeUInt32LE(40, 14);
  h.writeInt32LE(o.width, 18);
  h.writeInt32LE(o.height, 22);
  h.writeUInt16LE(1, 26);
  h.writeUInt16LE(o.bpp, 28);
  h.writeUInt32LE(o.compression ?? 0, 30);
  h.writeUInt32LE((o.palette ?? []).length, 46);
  return Buffer.concat([h, masks, pal, pixels]);
}

describe('BMP and Netpbm images (fer\'s decoders; sharp reads neither)', () => {
  let dir: string;
  let reference: Uint8Array;
  beforeAll(async () => {
    dir = tmpDir();
    reference = (await loadImage(ASTRONAUT)).rgb;
  });

  it('24- and 32-bit BMP and 8-bit PPM decode to exactly the PNG\'s pixels; grey BMP and PGM to its grey', async () => {
    for (const [name, fmt] of [['a.bmp', 'bgr24'], ['a32.bmp', 'bgra'], ['a.ppm', undefined]] as const) {
      const img = await loadImage(ffmpegWrite(path.join(dir, name), fmt));
      expect([name, img.width, img.height]).toEqual([name, 512, 512]);
      expect([name, maxDiff(img.rgb, reference)]).toEqual([name, 0]);
    }
    const grey = await loadImage(ffmpegWrite(path.join(dir, 'g.bmp'), 'gray'));
    const pgm = await loadImage(ffmpegWrite(path.join(dir, 'g.pgm'), 'gray'));
    expect(maxDiff(grey.rgb, pgm.rgb)).toBe(0);
    expect(maxDiff(pgm.gray, (await loadImage(ASTRONAUT)).gray)).toBeLessThanOrEqual(2);
  });

  it('palette, 16-bit and 16-bit-sample files decode as ffmpeg decodes them (within 5→8-bit rounding)', async () => {
    for (const [name, fmt, tol] of [['p.bmp', 'pal8', 0], ['c.bmp', 'rgb555le', 1], ['d.ppm', 'rgb48be', 1], ['d.pgm', 'gray16be', 1]] as const) {
      const file = ffmpegWrite(path.join(dir, name), fmt);
      const img = await loadImage(file);
      expect([name, maxDiff(img.rgb, ffmpegRgb(file)) <= tol]).toEqual([name, true]);
    }
  });

  it('top-down rows, 1- and 4-bit palettes, 565 bit fields, alpha, ASCII and packed Netpbm', () => {
    // 3×2, top-down (height −2): red green blue / white black grey.
    const top = decodeBitmap(bmp({ width: 3, height: -2, bpp: 24, rows: [[0, 0, 255, 0, 255, 0, 255, 0, 0], [255, 255, 255, 0, 0, 0, 128, 128, 128]] }))!;
    expect([...top.data]).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128]);
    // The same picture bottom-up, 4-bit palette: the file's first row is the picture's last.
    const pal = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 128, 128]];
    const four = decodeBitmap(bmp({ width: 3, height: 2, bpp: 4, palette: pal, rows: [[0x34, 0x50], [0x01, 0x20]] }))!;
    expect([...four.data]).toEqual([...top.data]);
    // 1 bit: 10 pixels, MSB first.
    const one = decodeBitmap(bmp({ width: 10, height: 1, bpp: 1, palette: [[0, 0, 0], [255, 255, 255]], rows: [[0b10110000, 0b01000000]] }))!;
    expect([...one.data].filter((_, i) => i % 3 === 0)).toEqual([255, 0, 255, 255, 0, 0, 0, 0, 0, 255]);
    // 16-bit 5-6-5 bit fields: pure green is 0x07e0.
    const g565 = decodeBitmap(bmp({ width: 1, height: 1, bpp: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f], rows: [[0xe0, 0x07]] }))!;
    expect([...g565.data]).toEqual([0, 255, 0]);
    // 32-bit with an alpha mask: half-transparent red keeps its alpha (flattened on white by decodeImage).
    const rgba = decodeBitmap(bmp({ width: 1, height: 1, bpp: 32, compression: 6, masks: [0xff0000, 0xff00, 0xff, 0xff000000], rows: [[0, 0, 255, 128]] }))!;
    expect([rgba.channels, ...rgba.data]).toEqual([4, 255, 0, 0, 128]);
    // Netpbm: comments anywhere in the header, ASCII samples scaled from maxval, P1 bits without spaces, P4 packed.
    expect([...decodeBitmap(Buffer.from('P2\n# made by hand\n2 1 # size\n15\n0 15\n'))!.data]).toEqual([0, 255]);
    expect([...decodeBitmap(Buffer.from('P3 1 1 255 10 20 30'))!.data]).toEqual([10, 20, 30]);
    expect([...decodeBitmap(Buffer.from('P1\n3 1\n101\n'))!.data]).toEqual([0, 255, 0]);
    expect([...decodeBitmap(Buffer.concat([Buffer.from('P4\n3 1\n'), Buffer.from([0b01000000])]))!.data]).toEqual([255, 0, 255]);
    expect(bitmapSize(Buffer.from('P5 640 480 255\n'))).toEqual({ width: 640, height: 480 });
    expect(decodeBitmap(Buffer.from('GIF89a'))).toBeUndefined();
  });

  it('broken or unread variants are one line naming the file and why', async () => {
    const whole = fs.readFileSync(ffmpegWrite(path.join(dir, 'w.bmp'), 'bgr24'));
    const cases: [string, Buffer, RegExp][] = [
      ['cut.bmp', whole.subarray(0, 5000), /^cut\.bmp: not a readable image \(truncated or corrupt data\)$/],
      ['rle.bmp', bmp({ width: 1, height: 1, bpp: 8, compression: 1, palette: [[0, 0, 0]], rows: [[0]] }), /^rle\.bmp: not a readable image \(BMP: run-length \(RLE\) compressed BMP is not read; save it as PNG\)$/],
      ['huge.bmp', bmp({ width: 100000, height: 100000, bpp: 24, rows: [] }), /^huge\.bmp: not a readable image \(BMP: 100000×100000 is more pixels than fer reads/],
      ['cut.pgm', Buffer.from('P5 4 4 255\n\x01\x02'), /^cut\.pgm: not a readable image \(truncated or corrupt data\)$/],
      ['max.pgm', Buffer.from('P2 1 1 70000 5'), /^max\.pgm: not a readable image \(Netpbm: maxval 70000 is not in 1\.\.65535\)$/],
      ['word.ppm', Buffer.from('P3 1 1 255 red'), /^word\.ppm: not a readable image \(Netpbm: bad header or sample/],
    ];
    for (const [name, data, re] of cases) await expect(decodeImage(data, name)).rejects.toThrow(re);
  });

  it('fer predict reads them from a folder and writes their annotated copies as PNG', async () => {
    const models = await makeTinyModels([1]);
    const inDir = path.join(tmpDir(), 'in');
    fs.mkdirSync(inDir);
    ffmpegWrite(path.join(inDir, 'a.bmp'), 'bgr24');
    ffmpegWrite(path.join(inDir, 'b.PGM'), 'gray');
    const out = path.join(tmpDir(), 'out') + '/';
    const r = runFer(['predict', inDir, '--models', models, '--json', '-q', '--out', out]);
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { file: string; faces: unknown[] }[];
    expect(rows.map((x) => [path.basename(x.file), x.faces.length])).toEqual([['a.bmp', 1], ['b.PGM', 1]]);
    expect(fs.readdirSync(out).sort()).toEqual(['a.png', 'b.png']);
    const png = runFer(['predict', ASTRONAUT, '--models', models, '--json', '-q']);
    expect((JSON.parse(png.stdout) as { faces: unknown[] }[])[0].faces).toEqual(rows[0].faces);
  });
});
