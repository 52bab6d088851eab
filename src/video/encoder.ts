import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { FerError, invalidParameterError, EXIT } from '../util/errors';
import { commitTemp, discardTemp } from '../util/atomic';
import { FfmpegFeatures, Source, lastErrorLine, passthroughArgs } from './ffmpeg';
import { reserveOutput } from './files';
import { mkvFramePrefix, mkvHeader } from './mkv';

/** Output containers by file extension, and the audio codecs each can hold without re-encoding. */
const CONTAINERS: Record<string, { format: string; audio: RegExp | 'any' }> = {
  '.mp4': { format: 'mp4', audio: /^(aac|mp3|ac3|eac3|alac)$/ },
  '.m4v': { format: 'mp4', audio: /^(aac|mp3|ac3|eac3|alac)$/ },
  '.mov': { format: 'mov', audio: /^(aac|mp3|ac3|eac3|alac|pcm_[a-z0-9]+)$/ },
  '.mkv': { format: 'matroska', audio: 'any' },
};

export const OUTPUT_EXTENSIONS = Object.keys(CONTAINERS);

export function outputContainer(target: string): { format: string; audio: RegExp | 'any' } {
  const c = CONTAINERS[path.extname(target).toLowerCase()];
  if (!c) throw new FerError(`${target}: unsupported output type (use ${OUTPUT_EXTENSIONS.join(', ')})`);
  return c;
}

/** x264 presets, fastest first. */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;

export interface EncoderOptions {
  ffmpeg: string;
  features: FfmpegFeatures;
  /** The final file; written to a temp sibling and renamed by finish(). */
  target: string;
  width: number;
  height: number;
  /** Sample aspect ratio of the input (non-square pixels are kept). */
  sar?: number;
  /** The input's video time base denominator, so the output represents its timestamps exactly. */
  timeBaseDen?: number;
  /** Copy the first audio stream of this input (re-encoded to AAC only when the container cannot hold it). */
  audio?: { source: Source; codec: string; durationS?: number };
  /** End the output with the video even if the audio is longer (runs cut short by --max-frames). */
  shortest?: boolean;
  preset?: string;
  crf?: number;
}

/**
 * Encodes annotated RGB24 frames to H.264 with ffmpeg in a separate process (running in parallel with the
 * JavaScript work), keeping every frame's timestamp, and muxes in the input's audio.
 *
 * Frames travel as a Matroska stream (src/video/mkv.ts) so timestamps survive. B-frames and MP4 edit lists
 * are off: with variable frame rates, ffmpeg's MP4 muxer otherwise drops the last frame from the edit list.
 */
export class VideoEncoder {
  /** Milliseconds spent waiting for the encoder to accept frames (it was the bottleneck then). */
  waitMs = 0;
  frames = 0;

  private readonly tmp: string;
  private readonly container: { format: string; audio: RegExp | 'any' };
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private failure: Error | undefined;
  private stderr = '';
  private firstUs = 0;
  private lastRelUs = -1;
  private readonly minStepUs: number;
  private closed = false;
  private killOnExit: (() => void) | undefined;

  constructor(private readonly opts: EncoderOptions) {
    this.container = outputContainer(opts.target);
    if (opts.preset !== undefined && !(X264_PRESETS as readonly string[]).includes(opts.preset)) {
      throw invalidParameterError('preset', `unknown x264 preset (choose ${X264_PRESETS.join(', ')})`, opts.preset, EXIT.ERROR);
    }
    if (opts.crf !== undefined && !(opts.crf >= 0 && opts.crf <= 51)) throw invalidParameterError('crf', 'must be between 0 and 51', opts.crf, EXIT.ERROR);
    this.tmp = reserveOutput(opts.target, 'video');
    // Strictly increasing timestamps, by at least one tick of the output time base.
    this.minStepUs = opts.timeBaseDen ? Math.ceil(1e6 / opts.timeBaseDen) : 1;
  }

  get started(): boolean {
    return this.child !== undefined;
  }

  /** Whether the input's audio is copied as is (false: re-encoded to AAC, or no audio). */
  get audioCopied(): boolean {
    const a = this.opts.audio;
    return a !== undefined && (this.container.audio === 'any' || this.container.audio.test(a.codec));
  }

  private args(firstS: number): string[] {
    const o = this.opts;
    const a = o.audio;
    const audioArgs = a
      ? ['-map', '1:a:0', ...(this.audioCopied ? ['-c:a', 'copy'] : ['-c:a', 'aac', '-b:a', '160k'])]
      : [];
    const evenPad = o.width % 2 !== 0 || o.height % 2 !== 0;
    const mp4Like = this.container.format === 'mp4' || this.container.format === 'mov';
    return [
      '-hide_banner', '-nostats', '-loglevel', 'level+error',
      // Our Matroska timestamps start at 0; shift them back to where the first frame was in the input, so
      // they line up with the audio, whose timestamps ffmpeg keeps relative to the same file start.
      '-itsoffset', firstS.toFixed(6),
      '-f', 'matroska', '-i', 'pipe:0',
      ...(a ? [...a.source.inputOptions, ...(a.durationS !== undefined ? ['-t', String(a.durationS)] : []), '-i', a.source.input] : []),
      '-map', '0:v:0',
      ...audioArgs,
      '-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-crf', String(o.crf ?? 23), '-bf', '0', '-pix_fmt', 'yuv420p',
      // yuv420p needs even sides: pad odd ones by a pixel rather than crop a face.
      ...(evenPad ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : []),
      ...(o.sar && Math.abs(o.sar - 1) > 1e-3 ? ['-aspect', `${(o.width * o.sar / o.height).toFixed(6)}`] : []),
      ...passthroughArgs(o.features), '-enc_time_base', o.features.demuxTimeBase,
      ...(mp4Like ? ['-use_editlist', '0', '-movflags', '+faststart'] : []),
      ...(mp4Like && o.timeBaseDen && o.timeBaseDen <= 1000000 ? ['-video_track_timescale', String(o.timeBaseDen)] : []),
      ...(o.shortest && a ? ['-shortest'] : []),
      '-f', this.container.format, '-y', this.tmp,
    ];
  }

  private start(firstUs: number): void {
    this.firstUs = firstUs;
    const child = spawn(this.opts.ffmpeg, this.args(firstUs / 1e6), { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    this.child = child;
    this.killOnExit = () => { child.kill('SIGKILL'); };
    process.once('exit', this.killOnExit);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    // EPIPE when ffmpeg died: reported through the exit status below.
    child.stdin!.on('error', () => undefined);
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (e) => {
        this.failure ??= new FerError(`${this.opts.ffmpeg}: cannot run ffmpeg (${e.message})`);
        resolve();
      });
      child.once('close', (code, signal) => {
        if (this.killOnExit) process.removeListener('exit', this.killOnExit);
        if (code !== 0 || signal) {
          const why = signal ? `ffmpeg was killed by ${signal}` : `ffmpeg: ${lastErrorLine(this.stderr)}`;
          this.failure ??= new FerError(`encoding ${this.opts.target} failed (${why})`);
        }
        resolve();
      });
    });
    child.stdin!.write(mkvHeader(this.opts.width, this.opts.height));
  }

  /** Queue one frame (RGB24, width × height × 3 bytes). Resolves when the pipe can take more. */
  async write(rgb: Uint8Array, timeUs: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('VideoEncoder.write after finish()');
    if (!this.child) this.start(timeUs);
    let rel = timeUs - this.firstUs;
    if (rel < this.lastRelUs + this.minStepUs && this.lastRelUs >= 0) rel = this.lastRelUs + this.minStepUs;
    rel = Math.max(0, rel);
    this.lastRelUs = rel;
    const stdin = this.child!.stdin!;
    if (stdin.destroyed) {
      // ffmpeg is gone (crashed or killed): its exit status says why.
      await this.exited;
      throw this.failure ?? new FerError(`encoding ${this.opts.target} failed (ffmpeg stopped reading)`);
    }
    stdin.write(mkvFramePrefix(rel, rgb.length));
    this.frames++;
    if (!stdin.write(rgb)) {
      const t0 = performance.now();
      let stop = (): void => undefined;
      // Wait for room in the pipe, or for ffmpeg to exit (then no 'drain' ever comes).
      await Promise.race([
        new Promise<void>((resolve) => {
          stdin.once('drain', resolve);
          stdin.once('close', resolve);
          stop = () => {
            stdin.removeListener('drain', resolve);
            stdin.removeListener('close', resolve);
          };
        }),
        this.exited,
      ]);
      stop();
      this.waitMs += performance.now() - t0;
      if (this.failure) throw this.failure;
    }
  }

  /**
   * End the stream, wait for ffmpeg to finish the file and rename it into place. Returns false (and
   * writes nothing) when no frame was ever written.
   */
  async finish(): Promise<boolean> {
    this.closed = true;
    if (!this.child) {
      discardTemp(this.tmp);
      return false;
    }
    const t0 = performance.now();
    this.child.stdin!.end();
    await this.exited;
    this.waitMs += performance.now() - t0;
    if (this.failure) {
      discardTemp(this.tmp);
      throw this.failure;
    }
    commitTemp(this.tmp, this.opts.target);
    return true;
  }

  /** Stop now and leave nothing behind. */
  async abort(): Promise<void> {
    this.closed = true;
    if (this.child && this.exited) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    discardTemp(this.tmp);
  }
}
