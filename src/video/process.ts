import { FerError, invalidParameterError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { checkOutputSafety } from '../util/outputSafety';
import { argmax } from '../util/argmax';
import { CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { DEFAULT_DETECT, DetectorEngine } from '../vision/detector';
import { rgbToGray } from '../vision/faces';
import { Annotation, annotateRgb } from '../vision/annotate';
import { Predictor, createPredictor } from '../vision/predict';
import { Box, DetectOptions, FaceDetector } from '../vision/types';
import { Frame, FrameDecoder } from './decoder';
import { VideoEncoder } from './encoder';
import { Source, VideoInfo, ffmpegFeatures, findFfmpeg, findFfprobe, isLive, probeVideo, resolveSource } from './ffmpeg';
import { LineFile } from './files';
import { CSV_HEADER, FaceRow, SummaryBuilder, TrackSummary, csvRow, jsonRow } from './rows';
import { TtaMode } from '../models/crops';
import { FaceTracker, Track, smoothScores } from './tracker';

/**
 * Video defaults. Detection is the costliest stage per frame. --min-face 110: a VGA frame is searched in one
 * pass of the CNN detector (BlazeFace finds faces from ~44 of its 256 px, i.e. ~110 px in a 640-px frame);
 * lower it for smaller faces (more passes per frame: slower). Haar (--detector haar) searches a 256-px copy
 * as before (~15 ms of CPU on OpenCV.js, faces from ~60 px in a 640-px frame); raise --detect-size for
 * small faces in HD video.
 */
export const VIDEO_DEFAULTS = {
  every: 1,
  smooth: 0.3,
  minHits: 3,
  detect: { ...DEFAULT_DETECT, detectSize: 256, minFace: 110 } as Required<DetectOptions>,
  preset: 'veryfast',
  crf: 23,
} as const;

export interface ProcessVideoOptions {
  /** A file ffmpeg reads, a v4l2 device (/dev/video0) or a stream URL (rtsp://, http://, ...). */
  input: string;
  /** Annotated video (.mp4, .mov or .mkv); omit to write only the data. */
  output?: string;
  /** One CSV row per face per frame. */
  csv?: string;
  /** One JSON object per face per frame. */
  jsonl?: string;
  /** Per-track summary (dominant emotion, share of time per emotion). */
  summaryJson?: string;

  /** A ready predictor (kept open); otherwise one is made from the options below and disposed at the end. */
  predictor?: Predictor;
  modelsDir?: string;
  nets?: number[];
  tta?: boolean | TtaMode;
  /** Ensemble weights, one per net (see PredictorOptions.weights). */
  weights?: number[];
  backend?: string;
  detector?: DetectorEngine | FaceDetector;
  /** A CNN detector's model.json instead of its npm package's. */
  detectorModel?: string;
  margin?: number;
  detect?: DetectOptions;

  /** Detect on a worker thread, in parallel with classification (default true; a given predictor decides). */
  detectThread?: boolean;
  /** Detect every N frames; in between, faces keep their last boxes (default 1). */
  every?: number;
  /** EMA weight of the newest frame's scores per track, in (0, 1]; 1 = no smoothing (default 0.3). */
  smooth?: number;
  /** A new face is reported after this many consecutive detection rounds (default 3; 1 = at once). */
  minHits?: number;
  /** Keep up with the source by dropping frames (live cameras and streams). */
  realtime?: boolean;
  /** Stop after this many processed frames. */
  maxFrames?: number;
  /** Stop after this many seconds of input. */
  durationS?: number;
  /** x264 preset (default veryfast) and quality (CRF, default 23). */
  preset?: string;
  crf?: number;

  /** Abort to stop early: the frames so far are finished into playable, complete outputs. */
  signal?: AbortSignal;
  /** Called once the input is probed and models are loaded, before the first frame. */
  onStart?: (s: VideoStart) => void;
  /** Called after every processed frame. */
  onFrame?: (p: VideoProgress) => void;
}

export interface VideoStart {
  source: Source;
  video: VideoInfo;
  predictor: Predictor;
  /** Expected frames when known (files), for progress and ETA. */
  expectedFrames?: number;
}

export interface VideoProgress {
  frames: number;
  dropped: number;
  faces: number;
  elapsedS: number;
  fps: number;
  expectedFrames?: number;
}

/** Milliseconds spent in each stage on the JavaScript thread, summed over the video. */
export interface StageTimes {
  /** Waiting for the decoder (it runs in parallel; this is the time it was the bottleneck). */
  decodeWait: number;
  /** RGB → grey conversion. */
  gray: number;
  detect: number;
  classify: number;
  annotate: number;
  /** Handing frames to the encoder, including waiting when it was the bottleneck and the final flush. */
  encode: number;
}

export interface VideoResult {
  input: string;
  outputs: { video?: string; csv?: string; jsonl?: string; summaryJson?: string };
  video: VideoInfo;
  /** Frames processed (and written to the output video). */
  frames: number;
  /** Frames decoded but skipped to keep up (--realtime). */
  dropped: number;
  faceRows: number;
  framesWithFace: number;
  tracks: TrackSummary[];
  /** Stopped early by the abort signal; outputs hold the frames so far. */
  interrupted: boolean;
  audio: 'copied' | 'aac' | 'none';
  elapsedS: number;
  fps: number;
  stages: StageTimes;
}

/** Frames whose faces are classified together: batches cost ~2.5× less per face than one at a time. */
const BATCH_FRAMES = 8;
const MAX_BATCH_FACES = 64;

/** A decoded frame whose detection (on the worker, or already done) is pending. */
interface Intake {
  frame: Frame;
  gray: Uint8Array;
  /** Detection result when this frame is a detection frame (--every). */
  boxes?: Promise<Box[]>;
}

/** A decoded frame waiting for its faces' batch to be classified. */
interface Pending {
  frame: Frame;
  tracks: Track[];
  boxes: Box[];
  /** Index of this frame's first face in the batch. */
  faceOffset: number;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function validate(o: ProcessVideoOptions): void {
  const every = o.every ?? VIDEO_DEFAULTS.every;
  if (!(Number.isInteger(every) && every >= 1)) throw invalidParameterError('every', 'expected an integer ≥ 1', every);
  const smooth = o.smooth ?? VIDEO_DEFAULTS.smooth;
  if (!(smooth > 0 && smooth <= 1)) throw invalidParameterError('smooth', 'expected a number in (0, 1] (1 = no smoothing)', smooth);
  const minHits = o.minHits ?? VIDEO_DEFAULTS.minHits;
  if (!(Number.isInteger(minHits) && minHits >= 1)) throw invalidParameterError('minHits', 'expected an integer ≥ 1', minHits);
  if (o.maxFrames !== undefined && !(Number.isInteger(o.maxFrames) && o.maxFrames >= 1)) {
    throw invalidParameterError('maxFrames', 'expected an integer ≥ 1', o.maxFrames);
  }
  if (o.durationS !== undefined && !(o.durationS > 0)) throw invalidParameterError('durationS', 'expected seconds > 0', o.durationS);
}

/**
 * Find, track and classify every face in every frame of a video; write an annotated copy (same frames,
 * timestamps and audio) and per-face rows. Decoding and encoding run in ffmpeg processes in parallel with
 * detection and classification here.
 *
 * @example
 * ```ts
 * import { processVideo } from 'fer';
 *
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());       // Ctrl-C: finish the outputs with the frames so far
 * const result = await processVideo({
 *   input: 'in.mp4', output: 'out.mp4', csv: 'faces.csv', summaryJson: 'summary.json',
 *   every: 2, signal: controller.signal,                   // detect every 2nd frame, track in between
 *   onFrame: (p) => process.stderr.write(`\r${p.frames} frames, ${p.fps.toFixed(1)} fps`),
 * });
 * for (const t of result.tracks) console.log(`#${t.trackId}: ${t.dominant} for ${t.seconds.toFixed(1)} s`);
 * if (result.interrupted) console.log(`stopped after ${result.frames} frames`);
 * ```
 */
export async function processVideo(o: ProcessVideoOptions): Promise<VideoResult> {
  validate(o);
  // No output may be the input or another output (src/util/outputSafety.ts).
  checkOutputSafety([{ path: o.input, what: 'input' }], [{ path: o.output ?? '', what: 'output video' }, { path: o.csv ?? '', what: { option: 'csv' } },
    { path: o.jsonl ?? '', what: { option: 'jsonl' } }, { path: o.summaryJson ?? '', what: { option: 'summaryJson' } }]);
  const every = o.every ?? VIDEO_DEFAULTS.every;
  const alpha = o.smooth ?? VIDEO_DEFAULTS.smooth;
  const detectOpts: DetectOptions = { ...VIDEO_DEFAULTS.detect, ...Object.fromEntries(Object.entries(o.detect ?? {}).filter(([, v]) => v !== undefined)) };
  const ffmpeg = findFfmpeg();
  const ffprobe = findFfprobe();
  const source = resolveSource(o.input);
  const live = isLive(source);
  const video = await probeVideo(source, ffprobe);
  const features = ffmpegFeatures(ffmpeg);
  const { width, height } = video;

  // Open every output first: an unwritable path fails before minutes of work, and nothing is left behind.
  const opened: { discard(): void }[] = [];
  let encoder: VideoEncoder | undefined;
  let csv: LineFile | undefined;
  let jsonl: LineFile | undefined;
  let predictor: Predictor | undefined;
  const ownPredictor = !o.predictor;
  let decoder: FrameDecoder | undefined;
  const cleanup = async (): Promise<void> => {
    await decoder?.stop();
    await encoder?.abort();
    opened.forEach((f) => f.discard());
  };
  try {
    if (o.summaryJson) reserveCheck(o.summaryJson);
    if (o.output) {
      encoder = new VideoEncoder({
        ffmpeg, features, target: o.output, width, height, sar: video.sar, timeBaseDen: video.timeBaseDen,
        // A live source cannot be opened twice; its audio is not recorded.
        audio: video.audioCodec && !live ? { source, codec: video.audioCodec, durationS: o.durationS } : undefined,
        shortest: o.maxFrames !== undefined || o.durationS !== undefined,
        preset: o.preset ?? VIDEO_DEFAULTS.preset, crf: o.crf ?? VIDEO_DEFAULTS.crf,
      });
    }
    if (o.csv) {
      csv = new LineFile(o.csv, 'CSV');
      opened.push(csv);
      csv.write(CSV_HEADER);
    }
    if (o.jsonl) {
      jsonl = new LineFile(o.jsonl, 'JSONL');
      opened.push(jsonl);
    }
    // Detection runs on a worker thread (the predictor's detectAsync) so that it overlaps classification.
    predictor = o.predictor ?? await createPredictor({
      modelsDir: o.modelsDir, nets: o.nets, tta: o.tta, weights: o.weights, backend: o.backend, detector: o.detector, detect: detectOpts, margin: o.margin, detectorModel: o.detectorModel,
      detectInWorker: o.detectThread !== false,
    });
  } catch (e) {
    await cleanup();
    throw e;
  }

  // One expected count, capped by --duration and --max-frames, for both the start and the per-frame progress.
  let expectedFrames = live ? undefined : video.frameCount
    ?? (video.durationS && video.avgFps ? Math.round(video.durationS * video.avgFps) : undefined);
  if (expectedFrames !== undefined && o.durationS !== undefined && video.avgFps) expectedFrames = Math.min(expectedFrames, Math.ceil(o.durationS * video.avgFps));
  if (o.maxFrames !== undefined) expectedFrames = expectedFrames !== undefined ? Math.min(expectedFrames, o.maxFrames) : o.maxFrames;
  o.onStart?.({ source, video, predictor, expectedFrames });

  const stages: StageTimes = { decodeWait: 0, gray: 0, detect: 0, classify: 0, annotate: 0, encode: 0 };
  const tracker = new FaceTracker({
    memoryFrames: Math.max(2 * every, Math.round(video.fps > 0 ? video.fps : 25)), minHits: o.minHits ?? VIDEO_DEFAULTS.minHits,
  });
  const summary = new SummaryBuilder();
  let frames = 0;
  let faceRows = 0;
  let framesWithFace = 0;
  let interrupted = false;
  const started = performance.now();
  const onAbort = (): void => {
    interrupted = true;
    void decoder?.stop();
  };
  let pending: Pending[] = [];
  let crops: Uint8Array[] = [];
  let cropCount = 0;

  // Classify the faces of the pending frames in one batch, then finish those frames in order: smoothing
  // (an EMA, so order matters), rows, annotation, encoding.
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    let t = performance.now();
    const raw = cropCount > 0 ? predictor!.classify(concat(crops, cropCount * IMAGE_SIZE * IMAGE_SIZE), cropCount) : new Float32Array(0);
    stages.classify += performance.now() - t;
    for (const p of pending) {
      const timeS = p.frame.timeUs / 1e6;
      const rows: FaceRow[] = p.tracks.map((track, i) => {
        const at = (p.faceOffset + i) * NUM_CLASSES;
        const s = smoothScores(track, raw.subarray(at, at + NUM_CLASSES), alpha);
        const k = argmax(s);
        return { frame: p.frame.index, timeS, trackId: track.id, box: p.boxes[i], label: CLASS_NAMES[k], confidence: s[k], scores: Float32Array.from(s) };
      });
      if (rows.length > 0) framesWithFace++;
      for (const r of rows) {
        csv?.write(csvRow(r));
        jsonl?.write(jsonRow(r));
      }
      faceRows += rows.length;
      summary.addFrame(timeS, rows);
      if (encoder) {
        if (rows.length > 0) {
          t = performance.now();
          await annotateRgb(p.frame.rgb, width, height, rows.map((r): Annotation => ({ box: r.box, label: r.label, confidence: r.confidence, scores: r.scores, trackId: r.trackId })));
          stages.annotate += performance.now() - t;
        }
        t = performance.now();
        await encoder.write(p.frame.rgb, p.frame.timeUs);
        stages.encode += performance.now() - t;
      }
      frames++;
      const elapsedS = (performance.now() - started) / 1000;
      o.onFrame?.({ frames, dropped: decoder?.dropped ?? 0, faces: faceRows, elapsedS, fps: frames / Math.max(elapsedS, 1e-6), expectedFrames });
    }
    pending = [];
    crops = [];
    cropCount = 0;
  };

  try {
    const frameBytes = width * height * 3;
    // Frames in flight ≈ 4 batches (decoder read-ahead, detection queue, batch): keep them under ~128 MB.
    const batchFrames = Math.max(1, Math.min(BATCH_FRAMES, Math.floor((128 << 20) / (4 * frameBytes))));
    decoder = new FrameDecoder({
      ffmpeg, features, source, width, height, durationS: o.durationS, realtime: o.realtime, strict: !live, readAhead: batchFrames,
    });
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    // Frames are decoded and handed to the detection worker up to `depth` ahead, so it detects the next
    // frames while this thread classifies a batch.
    const queue: Intake[] = [];
    const depth = 2 * batchFrames;
    let taken = 0;
    let ended = false;
    const pull = async (): Promise<void> => {
      const t = performance.now();
      const frame = await decoder!.next();
      stages.decodeWait += performance.now() - t;
      if (!frame || interrupted) {
        ended = true;
        return;
      }
      const tg = performance.now();
      const gray = rgbToGray(frame.rgb, width, height);
      stages.gray += performance.now() - tg;
      let boxes: Promise<Box[]> | undefined;
      if (taken % every === 0) {
        const td = performance.now();
        boxes = predictor!.detectAsync(gray, width, height, detectOpts);
        // Marked handled now: if we stop early (an error elsewhere) it is never awaited, and its rejection
        // when the worker is shut down must not become an unhandled rejection.
        boxes.catch(() => undefined);
        stages.detect += performance.now() - td;
      }
      queue.push({ frame, gray, boxes });
      taken++;
      if (o.maxFrames !== undefined && taken >= o.maxFrames) {
        ended = true;
        await decoder!.stop();
      }
    };

    for (;;) {
      while (!ended && queue.length < depth) await pull();
      const item = queue.shift();
      if (!item) break;
      let tracks;
      if (item.boxes !== undefined) {
        const t = performance.now();
        const found = await item.boxes;
        stages.detect += performance.now() - t;
        tracks = tracker.update(found, item.frame.index);
      } else {
        tracks = tracker.current();
      }
      // Boxes are copied now: a track's box moves on with later detections.
      const boxes = tracks.map((tr) => ({ ...tr.box }));
      if (boxes.length > 0) {
        const t = performance.now();
        crops.push(predictor!.cropBoxes(item.gray, width, height, boxes));
        stages.classify += performance.now() - t;
      }
      pending.push({ frame: item.frame, tracks: [...tracks], boxes, faceOffset: cropCount });
      cropCount += boxes.length;
      if (pending.length >= batchFrames || cropCount >= MAX_BATCH_FACES) await flush();
    }
    // Frames already decoded and detected when the input ended (or Ctrl-C) are finished too.
    await flush();
    if (!interrupted && !(o.maxFrames !== undefined && taken >= o.maxFrames)) await decoder.done();
    else await decoder.stop();

    if (frames === 0) {
      await cleanup();
      if (interrupted) return emptyResult(o, video, stages, started);
      throw new FerError(`${o.input}: no video frames could be decoded`);
    }
    const t = performance.now();
    const wroteVideo = encoder ? await encoder.finish() : false;
    stages.encode += performance.now() - t;
    csv?.commit();
    jsonl?.commit();
    const nominal = video.fps > 0 ? 1 / video.fps : undefined;
    const tracks = summary.finish(nominal);
    const elapsedS = (performance.now() - started) / 1000;
    const result: VideoResult = {
      input: o.input,
      outputs: { video: wroteVideo ? o.output : undefined, csv: o.csv, jsonl: o.jsonl, summaryJson: o.summaryJson },
      video,
      frames,
      dropped: decoder.dropped,
      faceRows,
      framesWithFace,
      tracks,
      interrupted,
      audio: wroteVideo && encoder && video.audioCodec && !live ? (encoder.audioCopied ? 'copied' : 'aac') : 'none',
      elapsedS,
      fps: frames / Math.max(elapsedS, 1e-6),
      stages,
    };
    if (o.summaryJson) writeFileAtomic(o.summaryJson, `${JSON.stringify(summaryJson(result), null, 2)}\n`);
    return result;
  } catch (e) {
    await cleanup();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (ownPredictor) predictor.dispose();
  }
}

/** Fail early on an unwritable summary path (it is written whole at the end). */
function reserveCheck(target: string): void {
  // Creating and removing the temp sibling proves the directory is writable now.
  const probe = new LineFile(target, 'summary');
  probe.discard();
}

function emptyResult(o: ProcessVideoOptions, video: VideoInfo, stages: StageTimes, started: number): VideoResult {
  return {
    input: o.input, outputs: {}, video, frames: 0, dropped: 0, faceRows: 0, framesWithFace: 0, tracks: [], interrupted: true,
    audio: 'none', elapsedS: (performance.now() - started) / 1000, fps: 0, stages,
  };
}

/** The `--summary-json` document. */
export function summaryJson(r: VideoResult): object {
  return {
    input: r.input,
    width: r.video.width,
    height: r.video.height,
    fps: Number(r.video.fps.toFixed(6)),
    frames: r.frames,
    dropped: r.dropped,
    frames_with_face: r.framesWithFace,
    face_rows: r.faceRows,
    interrupted: r.interrupted,
    tracks: r.tracks.map((t) => ({
      track_id: t.trackId,
      first_frame: t.firstFrame,
      last_frame: t.lastFrame,
      first_time_s: t.firstTimeS,
      last_time_s: t.lastTimeS,
      frames: t.frames,
      seconds: t.seconds,
      dominant: t.dominant,
      share: t.share,
      mean_scores: t.meanScores,
    })),
  };
}
