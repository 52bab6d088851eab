import sharp from 'sharp';
import { loadOpenCV, CV } from '../util/opencv';

/**
 * A tiny retained-mode drawing surface that renders to both SVG and PNG. PNG text uses OpenCV's built-in
 * Hershey stroke font, so charts render on a fresh machine with no fonts installed (SVG <text> would not
 * rasterise there).
 */
export type Color = string; // '#rrggbb'
export type Anchor = 'start' | 'middle' | 'end';

type Shape =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill?: Color; stroke?: Color }
  | { kind: 'line'; points: [number, number][]; color: Color; width: number }
  | { kind: 'text'; x: number; y: number; text: string; size: number; color: Color; anchor: Anchor; bold: boolean };

function hexToRgb(c: Color): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c);
  if (!m) return [0, 0, 0];
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch] as string);
}

/** Hershey simplex at scale 1 is ~21 px tall for capitals and advances ~18 px per character on average. */
const HERSHEY_CAP = 21;
const HERSHEY_ADVANCE = 0.85;

export class Canvas {
  private readonly shapes: Shape[] = [];
  constructor(readonly width: number, readonly height: number, readonly background: Color = '#ffffff') {}

  rect(x: number, y: number, w: number, h: number, style: { fill?: Color; stroke?: Color }): this {
    this.shapes.push({ kind: 'rect', x, y, w, h, ...style });
    return this;
  }

  line(x1: number, y1: number, x2: number, y2: number, color: Color = '#000000', width = 1): this {
    this.shapes.push({ kind: 'line', points: [[x1, y1], [x2, y2]], color, width });
    return this;
  }

  polyline(points: [number, number][], color: Color, width = 2): this {
    if (points.length > 1) this.shapes.push({ kind: 'line', points, color, width });
    return this;
  }

  /** `y` is the text baseline; `size` the cap height in pixels. */
  text(x: number, y: number, text: string, opts: { size?: number; color?: Color; anchor?: Anchor; bold?: boolean } = {}): this {
    this.shapes.push({ kind: 'text', x, y, text, size: opts.size ?? 12, color: opts.color ?? '#000000', anchor: opts.anchor ?? 'start', bold: opts.bold ?? false });
    return this;
  }

  /** Approximate rendered width, good enough for layout in both outputs. */
  static textWidth(text: string, size: number): number {
    return text.length * size * HERSHEY_ADVANCE;
  }

  toSVG(): string {
    const out: string[] = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}">`,
      `<rect x="0" y="0" width="${this.width}" height="${this.height}" fill="${this.background}"/>`,
    ];
    for (const s of this.shapes) {
      if (s.kind === 'rect') {
        out.push(`<rect x="${r(s.x)}" y="${r(s.y)}" width="${r(s.w)}" height="${r(s.h)}" fill="${s.fill ?? 'none'}"${s.stroke ? ` stroke="${s.stroke}"` : ''}/>`);
      } else if (s.kind === 'line') {
        out.push(`<polyline points="${s.points.map(([x, y]) => `${r(x)},${r(y)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="${s.width}"/>`);
      } else {
        // font-size is the em box; cap height is ~0.7 em in sans-serif fonts.
        out.push(`<text x="${r(s.x)}" y="${r(s.y)}" font-family="sans-serif" font-size="${r(s.size / 0.7)}" fill="${s.color}" text-anchor="${s.anchor}"${s.bold ? ' font-weight="bold"' : ''}>${escapeXml(s.text)}</text>`);
      }
    }
    out.push('</svg>');
    return out.join('\n') + '\n';
  }

  async toPNG(): Promise<Buffer> {
    const cv: CV = await loadOpenCV();
    const [br, bg, bb] = hexToRgb(this.background);
    const mat = new cv.Mat(this.height, this.width, cv.CV_8UC3, new cv.Scalar(br, bg, bb));
    try {
      for (const s of this.shapes) {
        if (s.kind === 'rect') {
          const p1 = new cv.Point(Math.round(s.x), Math.round(s.y));
          const p2 = new cv.Point(Math.round(s.x + s.w) - 1, Math.round(s.y + s.h) - 1);
          if (s.fill) cv.rectangle(mat, p1, p2, scalar(cv, s.fill), -1, cv.LINE_8);
          if (s.stroke) cv.rectangle(mat, p1, p2, scalar(cv, s.stroke), 1, cv.LINE_8);
        } else if (s.kind === 'line') {
          for (let i = 1; i < s.points.length; i++) {
            const [x1, y1] = s.points[i - 1];
            const [x2, y2] = s.points[i];
            cv.line(mat, new cv.Point(Math.round(x1), Math.round(y1)), new cv.Point(Math.round(x2), Math.round(y2)), scalar(cv, s.color), Math.max(1, Math.round(s.width)), cv.LINE_AA);
          }
        } else {
          const scale = s.size / HERSHEY_CAP;
          const w = Canvas.textWidth(s.text, s.size);
          const x = s.anchor === 'start' ? s.x : s.anchor === 'middle' ? s.x - w / 2 : s.x - w;
          const thickness = s.bold || s.size >= 16 ? 2 : 1;
          cv.putText(mat, s.text, new cv.Point(Math.round(x), Math.round(s.y)), cv.FONT_HERSHEY_SIMPLEX, scale, scalar(cv, s.color), thickness, cv.LINE_AA);
        }
      }
      return await sharp(Buffer.from(mat.data), { raw: { width: this.width, height: this.height, channels: 3 } }).png().toBuffer();
    } finally {
      mat.delete();
    }
  }
}

function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

function scalar(cv: CV, c: Color): unknown {
  const [rr, g, b] = hexToRgb(c);
  return new cv.Scalar(rr, g, b, 255);
}

/** Write a canvas as .svg or .png according to the file's extension. */
export async function renderTo(canvas: Canvas, file: string): Promise<Uint8Array> {
  return file.toLowerCase().endsWith('.png') ? canvas.toPNG() : Buffer.from(canvas.toSVG());
}
