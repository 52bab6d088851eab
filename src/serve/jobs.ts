import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeDirAtomic } from '../util/atomic';
import { FerError } from '../util/errors';
import { DetectorEngine } from '../vision/detector';
import { Predictor } from '../vision/predict';
import { DetectOptions } from '../vision/types';
import { TtaMode } from '../models/crops';
import { processVideo, summaryJson } from '../video/process';
import { HttpError } from './errors';

/** The files a video job writes into its output directory (the names `fer serve` links to). */
export const JOB_FILES = {
  video: 'annotated.mp4',
  csv: 'faces.csv',
  jsonl: 'faces.jsonl',
  summary: 'summary.json',
} as const;
export type JobFileKind = keyof typeof JOB_FILES;

/** Per-job `fer video` options (models and backend are the worker's). */
export interface VideoJobOptions {
  /** Write the annotated video (default true). */
  video?: boolean;
  every?: number;
  smooth?: number;
  minHits?: number;
  maxFrames?: number;
  durationS?: number;
  detect?: DetectOptions;
}

/** What a queue stores per job: plain JSON, so any worker on any machine sharing the paths can run it. */
export interface VideoJobData {
  /** Absolute path of the input video, readable by every worker. */
  input: string;
  /** Absolute directory the outputs go to (created whole, atomically, when the job succeeds). */
  outDir: string;
  options?: VideoJobOptions;
}

/** Model flags a worker (or `fer serve` for its in-process jobs) uses for every job. */
export interface JobModelOptions {
  modelsDir?: string;
  nets?: number[];
  tta?: boolean | TtaMode;
  weights?: number[];
  backend?: string;
  detector?: DetectorEngine;
  margin?: number;
  /** Detection defaults for jobs that set none (each job's own `detect` wins; default VIDEO_DEFAULTS.detect). */
  detect?: DetectOptions;
}

export interface JobProgress {
  frames: number;
  expectedFrames?: number;
  /** frames / expectedFrames in [0, 1] when the length is known. */
  fraction?: number;
  fps: number;
}

export interface VideoJobResult {
  outDir: string;
  /** Output file names inside outDir. */
  files: Partial<Record<JobFileKind, string>>;
  frames: number;
  faceRows: number;
  framesWithFace: number;
  /** The `--summary-json` tracks (per-track screen time, dominant emotion, shares). */
  tracks: unknown[];
  elapsedS: number;
  fps: number;
  /** host:pid of the process that ran it. */
  worker: string;
}

export const WORKER_ID = `${os.hostname()}:${process.pid}`;

export interface RunVideoJobOptions extends JobModelOptions {
  /** A loaded predictor to reuse across jobs (made as processVideo makes its own: detection thread on). */
  predictor?: Predictor;
  signal?: AbortSignal;
  onProgress?: (p: JobProgress) => void;
  /** Minimum ms between onProgress calls (default 500); the last frame always reports. */
  progressEveryMs?: number;
}

/**
 * Temp directories an earlier attempt of this job left beside its output directory (a worker killed mid-job
 * cannot clean up). Only one attempt of a job runs at a time, so they are safe to remove.
 */
export function removeStaleTemps(outDir: string): string[] {
  const parent = path.dirname(outDir);
  const prefix = `.tmp-${path.basename(outDir)}-`;
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  for (const n of names) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  return names;
}

/**
 * Run one video job: `fer video <input> annotated.mp4 --csv faces.csv --jsonl faces.jsonl --summary-json
 * summary.json` into a temp directory beside `outDir`, renamed into place only when complete. Same library
 * call as `fer video`, so the files are the same as the command's.
 */
export async function runVideoJob(data: VideoJobData, o: RunVideoJobOptions = {}): Promise<VideoJobResult> {
  if (!path.isAbsolute(data.input) || !path.isAbsolute(data.outDir)) throw new FerError('video job: input and outDir must be absolute paths');
  const opts = data.options ?? {};
  const withVideo = opts.video !== false;
  removeStaleTemps(data.outDir);
  const every = o.progressEveryMs ?? 500;
  let last = 0;
  return writeDirAtomic(data.outDir, async (tmp) => {
    const r = await processVideo({
      input: data.input,
      output: withVideo ? path.join(tmp, JOB_FILES.video) : undefined,
      csv: path.join(tmp, JOB_FILES.csv),
      jsonl: path.join(tmp, JOB_FILES.jsonl),
      summaryJson: path.join(tmp, JOB_FILES.summary),
      predictor: o.predictor,
      modelsDir: o.modelsDir, nets: o.nets, tta: o.tta, weights: o.weights, backend: o.backend, detector: o.detector, margin: o.margin,
      detect: { ...o.detect, ...opts.detect },
      every: opts.every, smooth: opts.smooth, minHits: opts.minHits, maxFrames: opts.maxFrames, durationS: opts.durationS,
      signal: o.signal,
      onFrame: (p) => {
        const now = performance.now();
        const end = p.expectedFrames !== undefined && p.frames >= p.expectedFrames;
        if (!o.onProgress || (!end && now - last < every)) return;
        last = now;
        o.onProgress({
          frames: p.frames, expectedFrames: p.expectedFrames, fps: Number(p.fps.toFixed(2)),
          fraction: p.expectedFrames ? Math.min(1, Number((p.frames / p.expectedFrames).toFixed(4))) : undefined,
        });
      },
    });
    // Stopped early (worker shutting down): throwing discards the temp directory; the job is retried.
    if (r.interrupted) throw new FerError(`${data.input}: stopped after ${r.frames} frames`);
    const files: Partial<Record<JobFileKind, string>> = { csv: JOB_FILES.csv, jsonl: JOB_FILES.jsonl, summary: JOB_FILES.summary };
    if (r.outputs.video) files.video = JOB_FILES.video;
    return {
      outDir: data.outDir, files, frames: r.frames, faceRows: r.faceRows, framesWithFace: r.framesWithFace,
      tracks: (summaryJson(r) as { tracks: unknown[] }).tracks,
      elapsedS: Number(r.elapsedS.toFixed(3)), fps: Number(r.fps.toFixed(2)), worker: WORKER_ID,
    };
  });
}

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed';
export const JOB_STATES: JobState[] = ['waiting', 'active', 'delayed', 'completed', 'failed'];

export interface JobInfo {
  id: string;
  state: JobState;
  data: VideoJobData;
  progress?: JobProgress;
  result?: VideoJobResult;
  error?: string;
  /** Attempts started (more than 1 after a retry or a crashed worker). */
  attempts: number;
  createdAt: number;
  finishedAt?: number;
}

/** Where video jobs wait and run: in this process, or BullMQ on Redis (see redis.ts). */
export interface JobQueue {
  readonly kind: 'local' | 'redis';
  /** Queue a job; HttpError 429 when the queue is full. Returns the job id. */
  add(data: VideoJobData, id?: string): Promise<string>;
  get(id: string): Promise<JobInfo | undefined>;
  counts(): Promise<Record<JobState, number>>;
  close(): Promise<void>;
}

export function newJobId(): string {
  return `j${randomBytes(8).toString('hex')}`;
}

export interface LocalJobQueueOptions extends JobModelOptions {
  /** Jobs run at the same time (default 1). */
  concurrency?: number;
  /** Jobs that may wait; more gives 429 (default 100). */
  maxQueued?: number;
  predictor?: Predictor;
  /** Called when a job finishes (completed or failed). */
  onDone?: (job: JobInfo) => void;
}

/**
 * Video jobs run in this process, `concurrency` at a time: `fer serve` without --redis. Jobs live in memory
 * (their output files stay on disk); a restart forgets them.
 */
export class LocalJobQueue implements JobQueue {
  readonly kind = 'local' as const;
  private readonly jobs = new Map<string, JobInfo>();
  private readonly waiting: string[] = [];
  private running = 0;
  private readonly controller = new AbortController();
  private readonly active = new Set<Promise<void>>();
  private readonly concurrency: number;
  private readonly maxQueued: number;

  constructor(private readonly o: LocalJobQueueOptions = {}) {
    this.concurrency = Math.max(1, o.concurrency ?? 1);
    this.maxQueued = Math.max(0, o.maxQueued ?? 100);
  }

  async add(data: VideoJobData, id: string = newJobId()): Promise<string> {
    if (this.controller.signal.aborted) throw new HttpError(503, 'closing', 'server is shutting down');
    if (this.running >= this.concurrency && this.waiting.length >= this.maxQueued) {
      throw new HttpError(429, 'queue_full', `video queue full: ${this.waiting.length} jobs waiting (limit ${this.maxQueued}); retry later`, { 'retry-after': '5' });
    }
    this.jobs.set(id, { id, state: 'waiting', data, attempts: 0, createdAt: Date.now() });
    this.waiting.push(id);
    this.pump();
    return id;
  }

  async get(id: string): Promise<JobInfo | undefined> {
    return this.jobs.get(id);
  }

  async counts(): Promise<Record<JobState, number>> {
    const c: Record<JobState, number> = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
    for (const j of this.jobs.values()) c[j.state]++;
    return c;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.jobs.get(this.waiting.shift() as string) as JobInfo;
      this.running++;
      job.state = 'active';
      job.attempts++;
      const p = runVideoJob(job.data, {
        ...this.o, predictor: this.o.predictor, signal: this.controller.signal,
        onProgress: (pr) => { job.progress = pr; },
      }).then((result) => {
        job.state = 'completed';
        job.result = result;
      }, (e: unknown) => {
        job.state = 'failed';
        job.error = (e as Error)?.message?.split('\n')[0] ?? String(e);
      }).finally(() => {
        job.finishedAt = Date.now();
        this.running--;
        this.active.delete(p);
        this.o.onDone?.(job);
        if (!this.controller.signal.aborted) this.pump();
      });
      this.active.add(p);
    }
  }

  /** Stop: running jobs are aborted (their temp outputs removed), waiting ones stay 'waiting'. */
  async close(): Promise<void> {
    this.controller.abort();
    await Promise.all([...this.active]);
  }
}
