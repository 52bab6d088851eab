// `fer serve`, `fer worker` and `fer queue` as a library.
export { createServer, jobView, ServeOptions, FerServer, SERVE_DEFAULTS, WEB_DIR } from './server';
export { ImageAnalyzer, ImageAnalyzerOptions } from './inference';
export { MicroBatcher, MicroBatcherOptions } from './batcher';
export { HttpError } from './errors';
export { Registry, Counter, Gauge, Histogram, ServeMetrics, createServeMetrics } from './metrics';
export {
  runVideoJob, removeStaleTemps, LocalJobQueue, newJobId, JOB_FILES, JOB_STATES, WORKER_ID,
  JobQueue, JobInfo, JobState, JobProgress, VideoJobData, VideoJobOptions, VideoJobResult, JobModelOptions, RunVideoJobOptions, LocalJobQueueOptions,
} from './jobs';
export { RedisJobQueue, startVideoWorker, QUEUE_NAME, JOB_ATTEMPTS, BACKOFF_MS, VideoWorker, VideoWorkerOptions, WorkerEvent } from './redis';
