import { Job, Queue, Worker } from 'bullmq';
import { EXIT, FerError } from '../util/errors';
import { Predictor } from '../vision/predict';
import { HttpError } from './errors';
import { JobInfo, JobModelOptions, JobProgress, JobQueue, JobState, VideoJobData, VideoJobResult, WORKER_ID, newJobId, runVideoJob } from './jobs';

/** The BullMQ queue every `fer serve --redis`, `fer worker` and `fer queue` shares. */
export const QUEUE_NAME = 'fer-video';

/** Retries of a failed job, with exponential backoff from this delay (1 s, 2 s, 4 s ...). */
export const JOB_ATTEMPTS = 3;
export const BACKOFF_MS = 1000;

function connection(url: string): { url: string; maxRetriesPerRequest: null; lazyConnect?: boolean } {
  if (!/^rediss?:\/\//.test(url)) throw new FerError(`--redis ${url}: expected a redis:// or rediss:// URL`, EXIT.USAGE);
  // Workers block on Redis: BullMQ requires maxRetriesPerRequest null on their connection.
  return { url, maxRetriesPerRequest: null };
}

function stateOf(s: string): JobState {
  switch (s) {
    case 'active': return 'active';
    case 'completed': return 'completed';
    case 'failed': return 'failed';
    case 'delayed': return 'delayed';
    default: return 'waiting';
  }
}

export function jobInfo(job: Job<VideoJobData, VideoJobResult>, state: string): JobInfo {
  const progress = typeof job.progress === 'object' ? job.progress as unknown as JobProgress : undefined;
  return {
    id: String(job.id),
    state: stateOf(state),
    data: job.data,
    progress,
    result: job.returnvalue ?? undefined,
    error: job.failedReason || undefined,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    createdAt: job.timestamp,
    finishedAt: job.finishedOn,
  };
}

export interface RedisJobQueueOptions {
  /** Waiting jobs above which add() gives 429 (default 1000). */
  maxQueued?: number;
}

/** Video jobs in BullMQ on Redis; `fer worker` processes run them. */
export class RedisJobQueue implements JobQueue {
  readonly kind = 'redis' as const;
  readonly queue: Queue<VideoJobData, VideoJobResult>;
  private readonly maxQueued: number;

  constructor(url: string, o: RedisJobQueueOptions = {}) {
    this.queue = new Queue<VideoJobData, VideoJobResult>(QUEUE_NAME, { connection: connection(url) });
    // Connection errors surface on the calls that need Redis; without a listener they would also be thrown.
    this.queue.on('error', () => undefined);
    this.maxQueued = o.maxQueued ?? 1000;
  }

  async add(data: VideoJobData, id: string = newJobId()): Promise<string> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized');
    const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0);
    if (waiting >= this.maxQueued) {
      throw new HttpError(429, 'queue_full', `video queue full: ${waiting} jobs waiting (limit ${this.maxQueued}); retry later`, { 'retry-after': '5' });
    }
    await this.queue.add('video', data, {
      jobId: id, attempts: JOB_ATTEMPTS, backoff: { type: 'exponential', delay: BACKOFF_MS },
      removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 },
    });
    return id;
  }

  async get(id: string): Promise<JobInfo | undefined> {
    // The state first, then the job: a job read before it finished but labelled with the state read after would show
    // `completed` without its result. Read in this order, a finished state always comes with the finished job.
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') return undefined;
    const job = await Job.fromId<VideoJobData, VideoJobResult>(this.queue, id);
    if (!job) return undefined;
    return jobInfo(job, state);
  }

  async counts(): Promise<Record<JobState, number>> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0,
      completed: c.completed ?? 0, failed: c.failed ?? 0,
    };
  }

  /** Recent jobs in the given states, newest first. */
  async list(states: JobState[] = ['active', 'waiting', 'delayed', 'failed', 'completed'], limit = 100): Promise<JobInfo[]> {
    const out: JobInfo[] = [];
    for (const s of states) {
      const jobs = await this.queue.getJobs(s === 'waiting' ? ['waiting', 'prioritized'] : [s], 0, limit - 1);
      for (const j of jobs) if (j) out.push(jobInfo(j as Job<VideoJobData, VideoJobResult>, s));
    }
    return out.slice(0, limit);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export type WorkerEvent =
  | { type: 'ready'; worker: string }
  | { type: 'started'; id: string; input: string; attempt: number }
  | { type: 'progress'; id: string; progress: JobProgress }
  | { type: 'completed'; id: string; result: VideoJobResult }
  | { type: 'failed'; id: string; error: string; attempt: number; willRetry: boolean }
  | { type: 'error'; error: string };

export interface VideoWorkerOptions extends JobModelOptions {
  /** Jobs run at the same time in this process (default 1). */
  concurrency?: number;
  /**
   * How long a job's lock lasts without renewal, ms (default 30000). A worker that dies (SIGKILL, lost machine)
   * stops renewing; after this its job is moved back to waiting and another worker takes it.
   */
  lockMs?: number;
  /** A loaded predictor reused across jobs. */
  predictor?: Predictor;
  onEvent?: (e: WorkerEvent) => void;
}

export interface VideoWorker {
  /** Stop taking jobs; by default wait for the running ones, with `force` abandon them (they are retried). */
  close(force?: boolean): Promise<void>;
}

/**
 * Process video jobs from Redis until closed. Progress is written to the job; results are written atomically
 * (runVideoJob), so a retry or a second worker never leaves half or double outputs.
 */
export async function startVideoWorker(url: string, o: VideoWorkerOptions = {}): Promise<VideoWorker> {
  const lockMs = o.lockMs ?? 30000;
  const emit = o.onEvent ?? (() => undefined);
  const worker = new Worker<VideoJobData, VideoJobResult>(QUEUE_NAME, async (job, _token, signal) => {
    emit({ type: 'started', id: String(job.id), input: job.data.input, attempt: job.attemptsStarted ?? job.attemptsMade + 1 });
    return runVideoJob(job.data, {
      ...o, signal,
      onProgress: (p) => {
        emit({ type: 'progress', id: String(job.id), progress: p });
        job.updateProgress(p as unknown as object).catch(() => undefined);
      },
    });
  }, {
    connection: connection(url), concurrency: Math.max(1, o.concurrency ?? 1), autorun: false,
    lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: 2,
  });
  worker.on('completed', (job, result) => emit({ type: 'completed', id: String(job.id), result }));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    emit({ type: 'failed', id: String(job.id), error: err.message.split('\n')[0], attempt: job.attemptsMade, willRetry: job.attemptsMade < attempts });
  });
  worker.on('error', (err) => emit({ type: 'error', error: err.message.split('\n')[0] }));
  await worker.waitUntilReady();
  void worker.run();
  emit({ type: 'ready', worker: WORKER_ID });
  return { close: (force = false) => worker.close(force) };
}
