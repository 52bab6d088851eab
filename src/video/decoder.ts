import { ChildProcess, spawn } from 'child_process';
import { FerError } from '../util/errors';
import { FfmpegFeatures, Source, lastErrorLine, passthroughArgs } from './ffmpeg';

/** One decoded frame: raw RGB24, row-major, with its presentation time. */
export interface Frame {
  /** Index among all decoded frames (frames dropped by realtime mode still count). */
  index: number;
  /** Presentation time in microseconds from the start of the input. */
  timeUs: number;
  rgb: Buffer;
}

export interface DecoderOptions {
  ffmpeg: string;
  features: FfmpegFeatures;
  source: Source;
  width: number;
  height: number;
  /** Stop after this many seconds of input (ffmpeg `-t`). */
  durationS?: number;
  /**
   * Keep up with a live source: `next()` returns the newest decoded frame and drops older ones. For a
   * file, frames are also read at their native rate (`-re`) so it behaves like a camera.
   */
  realtime?: boolean;
  /** Fail on the first corrupt packet (truncated files); off for live sources, where glitches are normal. */
  strict?: boolean;
  /** Frames decoded ahead of the consumer before the pipe is paused (not in realtime mode). */
  readAhead?: number;
}

const REALTIME_BACKLOG = 4;
const SHOWINFO_FRAME = /\bn:\s*(\d+)\s+pts:\s*(-?\d+|NOPTS)\s+pts_time:\s*(\S+)/;
const SHOWINFO_TIMEBASE = /config in time_base:\s*(\d+)\/(\d+)/;

/**
 * Decodes a video with ffmpeg into raw RGB24 frames on a pipe. The decoder is a separate process, so it runs
 * in parallel with the JavaScript work on the previous frames.
 *
 * Timestamps come from ffmpeg's `showinfo` filter on stderr (one line per frame, written before the frame
 * itself) so variable-frame-rate video keeps its exact timing; `-vsync passthrough` means one output frame
 * per decoded frame, no duplicates or drops.
 */
export class FrameDecoder {
  readonly frameBytes: number;
  /** Frames dropped to keep up (realtime mode). */
  dropped = 0;
  /** Frames decoded so far. */
  decoded = 0;

  private readonly child: ChildProcess;
  private readonly frames: Buffer[] = [];
  private readonly stamps: number[] = [];
  private partial: Buffer;
  private filled = 0;
  private nextIndex = 0;
  private timeBase: [number, number] | undefined;
  private stderrTail = '';
  private errLines: string[] = [];
  private lastStampUs = -1;
  private ended = false;
  private failure: Error | undefined;
  private stoppedByUs = false;
  private paused = false;
  private waiter: (() => void) | undefined;
  private readonly readAhead: number;
  private readonly exited: Promise<void>;

  constructor(private readonly opts: DecoderOptions) {
    this.frameBytes = opts.width * opts.height * 3;
    this.partial = Buffer.allocUnsafe(this.frameBytes);
    this.readAhead = opts.readAhead ?? 8;
    const live = opts.source.kind !== 'file';
    const args = [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+info',
      ...(opts.strict ? ['-xerror'] : []),
      ...(opts.realtime && !live ? ['-re'] : []),
      ...opts.source.inputOptions,
      ...(opts.durationS !== undefined ? ['-t', String(opts.durationS)] : []),
      '-i', opts.source.input,
      '-map', '0:v:0',
      // showinfo first (timestamps as decoded); scale pins the size so a mid-stream resolution change
      // cannot desynchronise the fixed-size frames on the pipe.
      '-vf', `showinfo,scale=${opts.width}:${opts.height}`,
      ...passthroughArgs(opts.features),
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
    ];
    // Own process group: a terminal Ctrl-C reaches only us, and we decide how the children stop.
    this.child = spawn(opts.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killOnExit = (): void => { this.child.kill('SIGKILL'); };
    process.once('exit', killOnExit);
    this.exited = new Promise<void>((resolve) => {
      this.child.once('error', (e) => {
        this.fail(new FerError(`${opts.ffmpeg}: cannot run ffmpeg (${e.message})`));
        resolve();
      });
      this.child.once('close', (code, signal) => {
        process.removeListener('exit', killOnExit);
        this.flushStderr();
        if (!this.stoppedByUs && (code !== 0 || signal)) {
          const why = signal ? `killed by ${signal}`
            : this.errLines.length > 0 ? this.errLines[this.errLines.length - 1] : lastErrorLine(this.stderrTail);
          const what = /corrupt|invalid|truncat|partial|end of file|error while decoding|missing/i.test(why) ? 'corrupt or truncated video' : 'decoding failed';
          this.fail(new FerError(`${opts.source.input}: ${what} (ffmpeg: ${why.replace(`${opts.source.input}: `, '')})`));
        }
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => this.onStderr(s));
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.frameBytes - this.filled);
      chunk.copy(this.partial, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        this.frames.push(this.partial);
        this.partial = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
      }
    }
    if (this.opts.realtime) {
      // Bound memory while the consumer is busy: only the newest frames matter.
      while (this.frames.length > REALTIME_BACKLOG && this.stamps.length > 0) {
        this.frames.shift();
        this.stamps.shift();
        this.nextIndex++;
        this.dropped++;
        this.decoded++;
      }
    } else if (this.frames.length >= this.readAhead && !this.paused) {
      this.paused = true;
      this.child.stdout!.pause();
    }
    this.wake();
  }

  private onStderr(s: string): void {
    this.stderrTail += s;
    let nl: number;
    while ((nl = this.stderrTail.indexOf('\n')) >= 0) {
      this.onLine(this.stderrTail.slice(0, nl));
      this.stderrTail = this.stderrTail.slice(nl + 1);
    }
    this.wake();
  }

  private flushStderr(): void {
    if (this.stderrTail.length > 0) this.onLine(this.stderrTail);
    this.stderrTail = '';
  }

  private onLine(line: string): void {
    if (line.includes('Parsed_showinfo')) {
      const f = SHOWINFO_FRAME.exec(line);
      if (f) {
        this.stamps.push(this.stampUs(f[2], f[3]));
        return;
      }
      const tb = SHOWINFO_TIMEBASE.exec(line);
      if (tb && !this.timeBase) this.timeBase = [Number(tb[1]), Number(tb[2])];
      return;
    }
    const m = /^\[(error|fatal|panic)\]\s*(.*)$/.exec(line.trim());
    if (m && m[2].length > 0 && !/^Conversion failed/.test(m[2])) {
      this.errLines.push(m[2]);
      if (this.errLines.length > 10) this.errLines.shift();
    }
  }

  /** Exact microseconds from the integer pts and the filter time base; pts_time has only 6 digits. */
  private stampUs(pts: string, ptsTime: string): number {
    let us: number;
    if (pts !== 'NOPTS' && this.timeBase && this.timeBase[1] > 0) {
      us = Math.round((Number(pts) * this.timeBase[0] * 1e6) / this.timeBase[1]);
    } else {
      const t = Number(ptsTime);
      us = Number.isFinite(t) ? Math.round(t * 1e6) : NaN;
    }
    if (!Number.isFinite(us)) {
      // No timestamp (some raw streams): continue from the previous one at 25 fps.
      us = this.lastStampUs < 0 ? 0 : this.lastStampUs + 40000;
    }
    this.lastStampUs = us;
    return us;
  }

  private available(): number {
    return Math.min(this.frames.length, this.stamps.length);
  }

  /** The next frame (or, in realtime mode, the newest one), or null at the end of the input. */
  async next(): Promise<Frame | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.available() > 0) {
        if (this.opts.realtime) {
          while (this.available() > 1) {
            this.frames.shift();
            this.stamps.shift();
            this.nextIndex++;
            this.dropped++;
            this.decoded++;
          }
        }
        const rgb = this.frames.shift() as Buffer;
        const timeUs = this.stamps.shift() as number;
        this.decoded++;
        if (this.paused && this.frames.length < this.readAhead / 2) {
          this.paused = false;
          this.child.stdout!.resume();
        }
        return { index: this.nextIndex++, timeUs, rgb };
      }
      if (this.ended) {
        // A frame can precede its showinfo line only while ffmpeg runs; after exit, unmatched data is junk.
        return null;
      }
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
  }

  /** Stop decoding now (Ctrl-C, enough frames). Safe to call more than once. */
  async stop(): Promise<void> {
    if (!this.ended) {
      this.stoppedByUs = true;
      this.child.kill('SIGKILL');
      // A paused pipe would hold 'close' back until read; nothing more is wanted from it.
      this.child.stdout?.destroy();
    }
    await this.exited;
  }

  /** Resolves once ffmpeg has exited (after the last frame, or after stop()). */
  async done(): Promise<void> {
    await this.exited;
    if (this.failure) throw this.failure;
  }
}
