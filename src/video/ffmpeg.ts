import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from '../util/errors';

/**
 * Locating ffmpeg/ffprobe, describing inputs to them and probing metadata. Everything is spawned with
 * argument arrays, never through a shell.
 */

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

function locate(tool: 'ffmpeg' | 'ffprobe', envVar: string, npmPackage: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) throw new FerError(`${envVar}=${fromEnv}: not an executable file (${tool} not found)`);
    return fromEnv;
  }
  const fromPath = onPath(tool);
  if (fromPath) return fromPath;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const p = (require(npmPackage) as { path: string }).path;
    if (isExecutableFile(p)) return p;
  } catch {
    // Unsupported platform or package missing: fall through to the error below.
  }
  throw new FerError(`${tool} not found: install it on PATH, set ${envVar}, or reinstall fer (npm ci installs ${npmPackage})`);
}

/** ffmpeg: $FFMPEG_PATH, else `ffmpeg` on PATH, else the binary of @ffmpeg-installer/ffmpeg. */
export function findFfmpeg(): string {
  return locate('ffmpeg', 'FFMPEG_PATH', '@ffmpeg-installer/ffmpeg');
}

/** ffprobe: $FFPROBE_PATH, else `ffprobe` on PATH, else the binary of @ffprobe-installer/ffprobe. */
export function findFfprobe(): string {
  return locate('ffprobe', 'FFPROBE_PATH', '@ffprobe-installer/ffprobe');
}

/** Option names differ across ffmpeg versions (the npm binary is a 2018 build; distributions ship newer). */
export interface FfmpegFeatures {
  /** `-fps_mode` (ffmpeg ≥ 5.1) replaces the deprecated `-vsync`. */
  fpsMode: boolean;
  /** The `-enc_time_base` value meaning "the demuxer's time base": `demux` in ffmpeg ≥ 6.1, `-1` before. */
  demuxTimeBase: string;
}

const featureCache = new Map<string, FfmpegFeatures>();

export function ffmpegFeatures(ffmpeg: string): FfmpegFeatures {
  let f = featureCache.get(ffmpeg);
  if (!f) {
    const r = spawnSync(ffmpeg, ['-hide_banner', '-h', 'full'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new FerError(`${ffmpeg}: cannot run ffmpeg (${r.error.message})`);
    const help = r.stdout ?? '';
    f = {
      fpsMode: /^\s*-fps_mode\b/m.test(help),
      demuxTimeBase: /-enc_time_base[^\n]*\bdemux\b/.test(help) ? 'demux' : '-1',
    };
    featureCache.set(ffmpeg, f);
  }
  return f;
}

/** `-vsync passthrough` or its modern spelling: every decoded frame passes with its own timestamp. */
export function passthroughArgs(features: FfmpegFeatures): string[] {
  return features.fpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'];
}

/** Where frames come from: a file, a capture device, or a network stream. */
export type SourceKind = 'file' | 'device' | 'stream';

export interface Source {
  input: string;
  kind: SourceKind;
  /** ffmpeg/ffprobe input options that go before `-i input`. */
  inputOptions: string[];
}

const STREAM_URL = /^(rtsps?|rtmps?|https?|udp|tcp|srt|rtp):\/\//i;

/**
 * Classify an input. Files must exist (checked here so the error names the file); `/dev/video*` is a v4l2
 * webcam; rtsp/rtmp/http(s)/udp/tcp/srt URLs are live streams.
 */
export function resolveSource(input: string): Source {
  if (STREAM_URL.test(input)) {
    const rtsp = /^rtsps?:/i.test(input);
    // TCP: UDP RTSP loses packets (grey smears) on busy networks; TCP costs a little latency.
    return { input, kind: 'stream', inputOptions: rtsp ? ['-rtsp_transport', 'tcp'] : [] };
  }
  if (/^\/dev\/video\d+$/.test(input)) {
    if (!fs.existsSync(input)) throw new FerError(`${input}: no such capture device`);
    return { input, kind: 'device', inputOptions: ['-f', 'v4l2'] };
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch (e) {
    throw new FerError(describeFsError(e, input));
  }
  if (st.isDirectory()) throw new FerError(`${input}: is a directory, not a video`);
  if (st.size === 0) throw new FerError(`${input}: empty file`);
  return { input, kind: 'file', inputOptions: [] };
}

export function isLive(source: Source): boolean {
  return source.kind !== 'file';
}

/** What ffprobe says about the input's first video stream (and its first audio stream). */
export interface VideoInfo {
  /** Frame size as decoded, after ffmpeg applies the rotation metadata. */
  width: number;
  height: number;
  /** Display rotation in degrees from the container (0, 90, 180, 270); ffmpeg rotates frames upright. */
  rotation: number;
  /** Nominal frame rate (r_frame_rate, or avg_frame_rate); may be 0 when unknown. */
  fps: number;
  /** Mean frame rate over the file when known (differs from fps for variable-frame-rate video). */
  avgFps: number;
  /** Seconds; undefined for live sources or when the container does not say. */
  durationS?: number;
  /** Frames in the stream per the container; undefined when not stored. */
  frameCount?: number;
  /** The video stream's time base denominator (e.g. 12800), used to keep timestamps exact in the output. */
  timeBaseDen?: number;
  /** Sample aspect ratio (pixel shape); 1 for square pixels. */
  sar: number;
  codec: string;
  audioCodec?: string;
}

function ratio(s: unknown): number {
  if (typeof s !== 'string') return 0;
  const m = /^(\d+)[/:](\d+)$/.exec(s);
  if (!m) return Number(s) || 0;
  const d = Number(m[2]);
  return d === 0 ? 0 : Number(m[1]) / d;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  time_base?: string;
  duration?: string;
  nb_frames?: string;
  sample_aspect_ratio?: string;
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number | string }[];
  disposition?: { attached_pic?: number };
}

/** The last meaningful line of ffmpeg/ffprobe stderr, for one-line error messages. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/)
    .map((l) => l.replace(/^\[[a-z]+\]\s*/, '').trim())
    .filter((l) => l.length > 0 && !/^Conversion failed!?$/.test(l) && !/^Exiting normally/.test(l));
  return lines.length > 0 ? lines[lines.length - 1] : 'unknown error';
}

/** Parse `ffprobe -show_streams -show_format -of json` output. Exported for tests. */
export function parseProbe(json: string, input: string): VideoInfo {
  let doc: { streams?: ProbeStream[]; format?: { duration?: string } };
  try {
    doc = JSON.parse(json);
  } catch {
    throw new FerError(`${input}: ffprobe gave unreadable output`);
  }
  const streams = doc.streams ?? [];
  // Cover art in music files is a "video" stream with one picture: not a video.
  const v = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!v) throw new FerError(`${input}: no video stream`);
  if (!v.width || !v.height) throw new FerError(`${input}: video stream has no frame size`);
  const sideRotation = v.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const raw = Number(sideRotation ?? v.tags?.rotate ?? 0) || 0;
  const rotation = ((Math.round(raw / 90) * 90) % 360 + 360) % 360;
  const swap = rotation === 90 || rotation === 270;
  const fpsNominal = ratio(v.r_frame_rate);
  const fpsAvg = ratio(v.avg_frame_rate);
  // r_frame_rate is a guess that can be absurd (e.g. 90000 for some VFR files); prefer the mean then.
  const fps = fpsNominal > 0 && fpsNominal <= 240 ? fpsNominal : fpsAvg;
  const duration = Number(v.duration ?? doc.format?.duration);
  const frames = Number(v.nb_frames);
  const tb = /^1\/(\d+)$/.exec(v.time_base ?? '');
  const sar = ratio(v.sample_aspect_ratio);
  const audio = streams.find((s) => s.codec_type === 'audio');
  return {
    width: swap ? v.height : v.width,
    height: swap ? v.width : v.height,
    rotation,
    fps,
    avgFps: fpsAvg > 0 ? fpsAvg : fps,
    durationS: Number.isFinite(duration) && duration > 0 ? duration : undefined,
    frameCount: Number.isInteger(frames) && frames > 0 ? frames : undefined,
    timeBaseDen: tb ? Number(tb[1]) : undefined,
    sar: sar > 0 ? sar : 1,
    codec: v.codec_name ?? 'unknown',
    audioCodec: audio?.codec_name,
  };
}

/** Probe the input with ffprobe. A file ffprobe cannot open is "not a readable video", naming the file. */
export async function probeVideo(source: Source, ffprobe: string = findFfprobe()): Promise<VideoInfo> {
  const args = ['-v', 'error', ...source.inputOptions, '-show_streams', '-show_format', '-of', 'json', '-i', source.input];
  const timeoutMs = isLive(source) ? 30000 : 120000;
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown; killed?: boolean }) | null }>((resolve) => {
    execFile(ffprobe, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, out, errText) => {
      resolve({ stdout: out, stderr: errText, error: err });
    });
  });
  if (error) {
    if (error.killed) throw new FerError(`${source.input}: no answer from ffprobe within ${timeoutMs / 1000} s`);
    if (typeof error.code === 'string') throw new FerError(`${ffprobe}: cannot run ffprobe (${error.message})`);
    const why = lastErrorLine(stderr ?? '').replace(`${source.input}: `, '');
    throw new FerError(`${source.input}: not a readable video (${why})`);
  }
  return parseProbe(stdout, source.input);
}
