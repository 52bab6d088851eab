import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { action, examples, intFlag, numFlag, onStopSignals } from './common';
import { EXIT, FerError } from '../util/errors';
import { info } from '../util/log';
import { Progress, createProgress } from '../util/progress';
import { OUTPUT_EXTENSIONS, X264_PRESETS } from '../video/encoder';
import { ModelFlags, addModelOptions, predictorOptions } from './options';
import { VIDEO_DEFAULTS, VideoResult, processVideo, summaryJson } from '../video/process';

interface VideoFlags extends ModelFlags {
  csv?: string;
  jsonl?: string;
  summaryJson?: string;
  video: boolean;
  json: boolean;
  every: number;
  smooth: number;
  minHits: number;
  realtime: boolean;
  maxFrames?: number;
  duration?: number;
  preset: string;
  crf: number;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function report(r: VideoResult): void {
  const written = [r.outputs.video, r.outputs.csv, r.outputs.jsonl, r.outputs.summaryJson].filter(Boolean).join(', ');
  info(`${r.input}: ${r.frames} frames${r.dropped ? ` (+${r.dropped} dropped to keep up)` : ''}, `
    + `${r.faceRows} face${r.faceRows === 1 ? '' : 's'} in ${r.framesWithFace} frames, ${r.tracks.length} track${r.tracks.length === 1 ? '' : 's'} · `
    + `${r.fps.toFixed(1)} fps (${r.elapsedS.toFixed(1)} s)${r.outputs.video ? ` · audio ${r.audio}` : ''}`);
  for (const t of r.tracks.slice(0, 20)) {
    info(`  #${t.trackId}  ${t.dominant} ${pct(t.share[t.dominant])} of ${t.seconds.toFixed(2)} s  (frames ${t.firstFrame}–${t.lastFrame})`);
  }
  if (r.tracks.length > 20) info(`  … ${r.tracks.length - 20} more tracks (see --summary-json)`);
  if (written) info(`wrote ${written}`);
}

async function run(input: string, output: string | undefined, o: VideoFlags): Promise<number> {
  if (output && !o.video) throw new FerError(`--no-video: drop the output file ${output}, or drop --no-video`, EXIT.USAGE);
  if (!output && o.video) throw new FerError('no output video given: add one (e.g. out.mp4), or pass --no-video with --csv, --jsonl, --summary-json or --json', EXIT.USAGE);
  if (!o.video && !o.csv && !o.jsonl && !o.summaryJson && !o.json) {
    throw new FerError('--no-video: nothing to write: add --csv, --jsonl, --summary-json or --json', EXIT.USAGE);
  }
  checkOutputNames(output, o);
  checkInputIsReadableTwice(input);
  const controller = new AbortController();
  // Stop reading, finish the outputs with the frames so far (a playable video), exit 130.
  const removeHandlers = onStopSignals('finishing the outputs with the frames so far', () => controller.abort());
  let bar: Progress | undefined;
  let result: VideoResult;
  try {
    result = await processVideo({
      input,
      output,
      csv: o.csv,
      jsonl: o.jsonl,
      summaryJson: o.summaryJson,
      ...predictorOptions(o),
      detectorModel: o.detectorModel,
      every: o.every,
      smooth: o.smooth,
      minHits: o.minHits,
      realtime: o.realtime,
      maxFrames: o.maxFrames,
      durationS: o.duration,
      preset: o.preset,
      crf: o.crf,
      signal: controller.signal,
      onStart: (s) => {
        if (!o.quiet) {
          const v = s.video;
          info(`${input}: ${v.width}×${v.height}, ${v.fps ? `${Number(v.fps.toFixed(2))} fps` : 'unknown fps'}`
            + `${s.expectedFrames ? `, ~${s.expectedFrames} frames` : ''}${v.audioCodec ? `, audio ${v.audioCodec}` : ''} · `
            + `backend ${s.predictor.backend.description} · nets ${s.predictor.nets.join(',')} · detector ${s.predictor.detector.engine}`);
        }
        const known = s.expectedFrames !== undefined;
        bar = createProgress(s.expectedFrames ?? 0,
          known ? '{bar} {value}/{total} frames | {fps} fps | {faces} faces | ETA {eta_formatted}' : '{value} frames | {fps} fps | {dropped} dropped | {faces} faces',
          { quiet: o.quiet, payload: { fps: '0.0', faces: 0, dropped: 0 } });
      },
      onFrame: (p) => {
        if (p.expectedFrames !== undefined && p.frames > p.expectedFrames) bar?.setTotal(p.frames);
        bar?.update(p.frames, { fps: p.fps.toFixed(1), faces: p.faces, dropped: p.dropped });
      },
    });
  } finally {
    bar?.stop();
    removeHandlers();
  }
  if (o.json) process.stdout.write(`${JSON.stringify(summaryJson(result), null, 2)}\n`);
  if (!o.quiet) report(result);
  if (result.interrupted) {
    info(result.frames > 0 ? `interrupted: the outputs hold the first ${result.frames} frames` : 'interrupted before the first frame: nothing written');
    return EXIT.INTERRUPTED;
  }
  return EXIT.OK;
}

/** Media extensions: a data flag (--csv, --jsonl, --summary-json) naming one of these is a slip, e.g. `--csv out.mp4`. */
const MEDIA_EXTENSIONS = ['.mp4', '.mov', '.mkv', '.avi', '.webm', '.m4v', '.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp', '.pgm', '.ppm', '.pbm', '.pnm'];

/** Unknown or mismatched output extensions are usage errors (exit 2), before anything is read. */
function checkOutputNames(output: string | undefined, o: VideoFlags): void {
  if (output) {
    const ext = path.extname(output).toLowerCase();
    if (!OUTPUT_EXTENSIONS.includes(ext)) {
      throw new FerError(`${output}: ${ext ? `unknown video type ${ext}` : 'no file extension'}; the output video must end in ${OUTPUT_EXTENSIONS.join(', ')}`, EXIT.USAGE);
    }
  }
  for (const [flag, file] of [['--csv', o.csv], ['--jsonl', o.jsonl], ['--summary-json', o.summaryJson]] as const) {
    if (file && MEDIA_EXTENSIONS.includes(path.extname(file).toLowerCase())) {
      throw new FerError(`${flag} ${file}: a ${path.extname(file)} name for a text file; give a .${flag === '--csv' ? 'csv' : flag === '--jsonl' ? 'jsonl' : 'json'} name`, EXIT.USAGE);
    }
  }
}

/** ffprobe and ffmpeg each open the input: a pipe would be consumed by the first. */
function checkInputIsReadableTwice(input: string): void {
  let stat: fs.Stats | undefined;
  try { stat = fs.statSync(input); } catch { return; /* a URL or a missing file: reported by the probe */ }
  if (stat.isFIFO() || stat.isSocket()) {
    throw new FerError(`${input}: is a pipe; fer video reads its input twice (probe, then decode), so save it to a file first`);
  }
}

export function register(program: Command): void {
  const d = VIDEO_DEFAULTS;
  const cmd = program
    .command('video')
    .description('Find, track and classify every face in every frame of a video; write an annotated H.264 copy '
      + '(same frames, timestamps and audio) and per-face data. Inputs: any file ffmpeg reads, a webcam '
      + '(/dev/video0) or a stream (rtsp://, http://). Ctrl-C finishes the outputs with the frames so far (exit 130).')
    .argument('<input>', 'video file, /dev/videoN webcam, or rtsp/rtmp/http(s)/udp/srt URL')
    .argument('[output]', `annotated video to write (${OUTPUT_EXTENSIONS.join(', ')}); omit with --no-video`)
    .option('--csv <file>', 'one row per face per frame: frame,time_s,track_id,x,y,w,h,label,confidence,Angry..Neutral')
    .option('--jsonl <file>', 'one JSON object per face per frame: {frame,time_s,track_id,box,label,confidence,scores}')
    .option('--summary-json <file>', 'per track: frames, screen time, dominant emotion, share of time per emotion')
    .option('--json', 'print that summary on stdout too', false)
    .option('--no-video', 'write only the data files, no output video')
    .option('--every <n>', 'detect faces every n frames; in between, tracked faces keep their boxes', intFlag('--every', 1), d.every)
    .option('--smooth <alpha>', 'per-track moving average of scores: weight of the newest frame, 1 = off', numFlag('--smooth', 0.01, 1), d.smooth)
    .option('--min-hits <n>', 'report a new face once detected in n consecutive detection rounds (drops one-off false detections; 1 = at once)', intFlag('--min-hits', 1), d.minHits)
    .option('--realtime', 'drop frames to keep up with a live source (files are then read at their own speed)', false)
    .option('--max-frames <n>', 'stop after n processed frames (default: all)', intFlag('--max-frames', 1))
    .option('--duration <s>', 'stop after this many seconds of input (default: all)', numFlag('--duration', 0.001))
    .addOption(new Option('--preset <name>', 'x264 speed preset (faster = bigger file)').choices(X264_PRESETS as unknown as string[]).default(d.preset))
    .option('--crf <n>', 'x264 quality: 0 lossless … 51 worst', intFlag('--crf', 0, 51), d.crf);
  addModelOptions(cmd, d.detect)
    .action(action(async (input: string, output: string | undefined, o: VideoFlags) => run(input, output, o)));
  examples(cmd, [
    'fer video in.mp4 out.mp4',
    'fer video in.mp4 out.mp4 --csv faces.csv --summary-json summary.json',
    'fer video in.mp4 --no-video --jsonl faces.jsonl --every 3',
    'fer video /dev/video0 webcam.mp4 --realtime --duration 60',
    'fer video rtsp://camera.local/stream --no-video --realtime --csv live.csv',
  ]);
  cmd.addHelpText('after', '\nffmpeg/ffprobe: $FFMPEG_PATH/$FFPROBE_PATH, else on PATH, else the binaries installed with fer.\n');
}
