import { timingSafeEqual } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { commitTemp, discardTemp, tempSibling, trackTemp } from '../util/atomic';
import { isFerError } from '../util/errors';
import { CLASS_NAMES } from '../data/classes';
import { compareExpressions, pickComparedFaces } from '../vision/compare';
import { comparisonJson, fileResultJson } from '../vision/json';
import { Predictor, PredictorOptions, createPredictor } from '../vision/predict';
import { DetectOptions } from '../vision/types';
import { findFfprobe, probeVideo, resolveSource } from '../video/ffmpeg';
import { HttpError, errorBody, isHttpError } from './errors';
import { ImageAnalyzer } from './inference';
import { JOB_FILES, JOB_STATES, JobInfo, JobModelOptions, JobQueue, LocalJobQueue, VideoJobOptions, newJobId } from './jobs';
import { ServeMetrics, createServeMetrics } from './metrics';
import { RedisJobQueue } from './redis';

/** The static live page (web/ at the package root; the same path from src/serve and dist/serve). */
export const WEB_DIR = path.resolve(__dirname, '..', '..', 'web');

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: 'fer-data',
  maxBodyBytes: 20 * 1024 * 1024,
  maxVideoBytes: 2 * 1024 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxInflight: 32,
  timeoutMs: 30_000,
  maxQueued: 100,
  jobConcurrency: 1,
  batchWaitMs: 2,
  maxBatchFaces: 64,
  maxFiles: 16,
} as const;

export interface ServeOptions {
  /** A loaded predictor (kept open on close); otherwise one is made from `predictorOptions` and disposed on close. */
  predictor?: Predictor;
  /** Models, nets, TTA, backend, detector, margin and the default detection options of every request. */
  predictorOptions?: PredictorOptions;
  /** Address to bind (default 127.0.0.1: only this machine). */
  host?: string;
  /** TCP port; 0 picks a free one (default 8080). */
  port?: number;
  /** Bearer token every /v1 request must carry (default: none). */
  token?: string;
  /** Uploaded videos and job outputs live here; POST /v1/videos {"path"} may name files under it. */
  dataDir?: string;
  /** BullMQ on Redis for video jobs (`fer worker` runs them); without it jobs run in this process. */
  redis?: string;
  /** In-process video jobs at a time (no --redis; default 1). */
  jobConcurrency?: number;
  /** Video jobs that may wait before 429 (default 100). */
  maxQueued?: number;
  /** Largest image request body, bytes (default 20 MiB). */
  maxBodyBytes?: number;
  /** Largest video upload, bytes (default 2 GiB). */
  maxVideoBytes?: number;
  /** Largest image, pixels (default 40 M). */
  maxPixels?: number;
  /** Image requests being analysed at once before 429 (default 32). */
  maxInflight?: number;
  /** An image request not answered within this many ms gets 503 (default 30000). */
  timeoutMs?: number;
  /** Micro-batching: wait up to this many ms for other requests' faces (default 2), at most this many faces. */
  batchWaitMs?: number;
  maxBatchFaces?: number;
  /** Called for every request when set: (method, url, status, ms). */
  onRequestLog?: (line: { method: string; url: string; status: number; ms: number }) => void;
}

export interface FerServer {
  readonly app: FastifyInstance;
  readonly predictor: Predictor;
  readonly queue: JobQueue;
  readonly metrics: ServeMetrics;
  readonly analyzer: ImageAnalyzer;
  readonly dataDir: string;
  /** Start listening; resolves to the base URL (http://host:port). */
  listen(): Promise<string>;
  /** Stop listening, stop in-process jobs, release the models. */
  close(): Promise<void>;
}

/** Detection flags a request may set in the query string, as in `fer predict`. */
const DETECT_QUERY: Record<string, { key: keyof DetectOptions; int: boolean; min: number; max: number; auto?: true }> = {
  'detect-size': { key: 'detectSize', int: true, min: 24, max: 16384 },
  'min-face': { key: 'minFace', int: true, min: 0, max: 16384, auto: true },
  'scale-factor': { key: 'scaleFactor', int: false, min: 1.01, max: 2 },
  'min-neighbors': { key: 'minNeighbors', int: true, min: 0, max: 100 },
};
/** `fer predict` flags that are fixed when the server starts (the models are loaded once). */
const SERVER_FLAGS = ['models', 'net', 'tta', 'weights', 'backend', 'detector', 'margin'];

type Query = Record<string, string | string[] | undefined>;

function queryValue(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function numberParam(q: Query, name: string, int: boolean, min: number, max: number, alt = ''): number | undefined {
  const v = queryValue(q, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) {
    throw new HttpError(400, 'bad_param', `${name}=${v}: expected ${int ? 'an integer' : 'a number'} from ${min} to ${max}${alt}`);
  }
  return n;
}

function checkQuery(q: Query, allowed: string[]): void {
  for (const k of Object.keys(q)) {
    if (SERVER_FLAGS.includes(k)) throw new HttpError(400, 'fixed_at_start', `${k}: set when the server starts (fer serve --${k}); it cannot change per request`);
    if (!allowed.includes(k)) throw new HttpError(400, 'bad_param', `unknown query parameter ${k} (accepted: ${allowed.join(', ')})`);
  }
}

function detectQuery(q: Query): DetectOptions {
  const out: DetectOptions = {};
  for (const [name, d] of Object.entries(DETECT_QUERY)) {
    if (d.auto && queryValue(q, name) === 'auto') { out.minFace = 'auto'; continue; }
    const v = numberParam(q, name, d.int, d.min, d.max, d.auto ? ', or auto' : '');
    if (v !== undefined) out[d.key] = v;
  }
  return out;
}

function videoQuery(q: Query): VideoJobOptions {
  checkQuery(q, [...Object.keys(DETECT_QUERY), 'every', 'smooth', 'min-hits', 'max-frames', 'duration', 'video']);
  const video = queryValue(q, 'video');
  if (video !== undefined && video !== 'true' && video !== 'false') throw new HttpError(400, 'bad_param', `video=${video}: expected true or false`);
  const o: VideoJobOptions = {
    video: video !== 'false',
    every: numberParam(q, 'every', true, 1, 1000),
    smooth: numberParam(q, 'smooth', false, 0.01, 1),
    minHits: numberParam(q, 'min-hits', true, 1, 1000),
    maxFrames: numberParam(q, 'max-frames', true, 1, Number.MAX_SAFE_INTEGER),
    durationS: numberParam(q, 'duration', false, 0.001, 1e9),
  };
  const detect = detectQuery(q);
  if (Object.keys(detect).length > 0) o.detect = detect;
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as VideoJobOptions;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1].trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Resolve `rel` under `root`, refusing anything that leaves it (.., absolute paths, symlinks out). */
function resolveUnder(root: string, rel: string): string {
  if (typeof rel !== 'string' || rel === '' || rel.includes('\0')) throw new HttpError(400, 'bad_path', 'path: expected a file path relative to the data directory');
  const realRoot = fs.realpathSync(root);
  const target = path.resolve(realRoot, rel);
  if (!target.startsWith(realRoot + path.sep)) throw new HttpError(400, 'bad_path', `${rel}: outside the data directory`);
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    throw new HttpError(404, 'not_found', `${rel}: no such file in the data directory`);
  }
  if (!real.startsWith(realRoot + path.sep)) throw new HttpError(400, 'bad_path', `${rel}: outside the data directory`);
  if (!fs.statSync(real).isFile()) throw new HttpError(400, 'bad_path', `${rel}: not a file`);
  return real;
}

const VIDEO_EXT = /^\.[a-z0-9]{1,8}$/;

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(503, 'timeout', `not answered within ${ms} ms (server busy); retry later`, { 'retry-after': '1' })), ms);
  });
  p.catch(() => undefined);
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.mp4': 'video/mp4',
  '.csv': 'text/csv; charset=utf-8',
  '.jsonl': 'application/x-ndjson',
  '.json': 'application/json',
};

/** A job as GET /v1/jobs/:id shows it: state, progress, per-track summary and links to the outputs. */
export function jobView(job: JobInfo, dataDir: string): object {
  const links: Record<string, string> = { self: `/v1/jobs/${job.id}` };
  if (job.state === 'completed' && job.result) {
    for (const [kind, name] of Object.entries(job.result.files)) links[kind] = `/v1/jobs/${job.id}/${name}`;
  }
  const rel = path.relative(dataDir, job.data.input);
  const r = job.result;
  return {
    id: job.id,
    state: job.state,
    input: rel.startsWith('..') ? path.basename(job.data.input) : rel,
    progress: job.progress ?? null,
    attempts: job.attempts,
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt ? new Date(job.finishedAt).toISOString() : null,
    ...(job.error && job.state !== 'completed' ? { error: job.error } : {}),
    ...(r ? { result: { frames: r.frames, faceRows: r.faceRows, framesWithFace: r.framesWithFace, tracks: r.tracks, elapsedS: r.elapsedS, fps: r.fps, worker: r.worker } } : {}),
    links,
  };
}

/**
 * The `fer serve` HTTP API on Fastify: image prediction and comparison with models loaded once and faces
 * batched across concurrent requests, video jobs (in process or on Redis), health, Prometheus metrics and the
 * live page. Nothing is listening until `listen()`.
 */
export async function createServer(o: ServeOptions = {}): Promise<FerServer> {
  const host = o.host ?? SERVE_DEFAULTS.host;
  const port = o.port ?? SERVE_DEFAULTS.port;
  const dataDir = path.resolve(o.dataDir ?? SERVE_DEFAULTS.dataDir);
  const maxBody = o.maxBodyBytes ?? SERVE_DEFAULTS.maxBodyBytes;
  const maxVideo = o.maxVideoBytes ?? SERVE_DEFAULTS.maxVideoBytes;
  const maxInflight = o.maxInflight ?? SERVE_DEFAULTS.maxInflight;
  const timeoutMs = o.timeoutMs ?? SERVE_DEFAULTS.timeoutMs;
  const token = o.token && o.token.length > 0 ? o.token : undefined;
  fs.mkdirSync(path.join(dataDir, 'uploads'), { recursive: true });
  fs.mkdirSync(path.join(dataDir, 'jobs'), { recursive: true });

  const popts = o.predictorOptions ?? {};
  const ownPredictor = !o.predictor;
  const predictor = o.predictor ?? await createPredictor({ threads: 1, ...popts, detectInWorker: true });
  const modelOptions: JobModelOptions = {
    modelsDir: popts.modelsDir, nets: popts.nets, tta: popts.tta, weights: popts.weights, backend: popts.backend,
    detector: typeof popts.detector === 'string' ? popts.detector : undefined, margin: popts.margin,
  };
  let queue: JobQueue;
  try {
    queue = o.redis
      ? new RedisJobQueue(o.redis, { maxQueued: o.maxQueued ?? 1000 })
      : new LocalJobQueue({ ...modelOptions, predictor, concurrency: o.jobConcurrency ?? SERVE_DEFAULTS.jobConcurrency, maxQueued: o.maxQueued ?? SERVE_DEFAULTS.maxQueued });
  } catch (e) {
    if (ownPredictor) predictor.dispose();
    throw e;
  }
  let inflight = 0;
  const metrics = createServeMetrics(async () => {
    try {
      const c = await queue.counts();
      return JOB_STATES.map((s) => [{ state: s }, c[s]]);
    } catch {
      return [];
    }
  }, () => inflight);
  const analyzer = new ImageAnalyzer({
    predictor, maxPixels: o.maxPixels ?? SERVE_DEFAULTS.maxPixels,
    batch: { waitMs: o.batchWaitMs ?? SERVE_DEFAULTS.batchWaitMs, maxFaces: o.maxBatchFaces ?? SERVE_DEFAULTS.maxBatchFaces, onBatch: (_r, faces) => metrics.batches.observe(faces) },
  });

  const app = Fastify({ logger: false, bodyLimit: maxBody, requestTimeout: 120_000 });
  await app.register(multipart, { limits: { fileSize: maxBody, files: SERVE_DEFAULTS.maxFiles, fields: 16, parts: 64 } });
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));
  // Video bodies are streamed to disk by the route, not buffered.
  app.addContentTypeParser(/^video\/[\w.+-]+$/, (_req, payload, done) => done(null, payload));

  app.addHook('onRequest', async (req, reply) => {
    if (token && req.url.startsWith('/v1/') && !tokenMatches(req.headers.authorization, token)) {
      reply.header('www-authenticate', 'Bearer realm="fer"');
      throw new HttpError(401, 'unauthorized', req.headers.authorization ? 'bad bearer token' : 'missing bearer token: send Authorization: Bearer <token>');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, code: String(reply.statusCode) });
    metrics.latency.observe(reply.elapsedTime / 1000, { route });
    o.onRequestLog?.({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime });
  });
  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isHttpError(err)) {
      reply.headers(err.headers).code(err.status).send(errorBody(err.code, err.message));
      return;
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    const status = e.statusCode ?? 500;
    if (status >= 500) {
      process.stderr.write(`fer serve: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      reply.code(500).send(errorBody('internal', 'internal error (see the server log)'));
      return;
    }
    const codes: Record<string, string> = {
      FST_ERR_CTP_BODY_TOO_LARGE: 'too_large', FST_REQ_FILE_TOO_LARGE: 'too_large', FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media',
      FST_FILES_LIMIT: 'too_many_files', FST_PARTS_LIMIT: 'too_many_parts', FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
    };
    let message = (e.message ?? 'bad request').split('\n')[0];
    if (status === 413) message = `request body too large (limit ${maxBody} bytes for images, ${maxVideo} for videos)`;
    reply.code(status).send(errorBody(codes[e.code ?? ''] ?? (status === 415 ? 'unsupported_media' : 'bad_request'), message));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('not_found', `${req.method} ${req.url.split('?')[0]}: no such route`));
  });

  /** The images of a request: a raw image body, or every file of a multipart form. */
  async function readImages(req: FastifyRequest, max: number): Promise<{ name: string; data: Buffer }[]> {
    if (req.isMultipart()) {
      const images: { name: string; data: Buffer }[] = [];
      for await (const part of req.parts({ limits: { fileSize: maxBody, files: max } })) {
        if (part.type !== 'file') continue;
        images.push({ name: part.filename || part.fieldname, data: await part.toBuffer() });
      }
      if (images.length === 0) throw new HttpError(400, 'no_image', 'multipart form without a file part: attach the image as a file');
      return images;
    }
    if (Buffer.isBuffer(req.body)) return [{ name: queryValue(req.query as Query, 'name') ?? 'upload', data: req.body }];
    if (req.body instanceof Readable) req.body.resume();
    throw new HttpError(415, 'unsupported_media', `content-type ${req.headers['content-type'] ?? '(none)'}: send an image (image/jpeg, image/png, ...) or a multipart/form-data upload`);
  }

  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    if (inflight >= maxInflight) throw new HttpError(429, 'busy', `${inflight} image requests in progress (limit ${maxInflight}); retry later`, { 'retry-after': '1' });
    inflight++;
    try {
      return await withTimeout(work(), timeoutMs);
    } finally {
      inflight--;
    }
  }

  async function analyzeAll(images: { name: string; data: Buffer }[], detect: DetectOptions) {
    const results = await Promise.all(images.map(async (im) => analyzer.analyze(await analyzer.decode(im.data, im.name), im.name, detect)));
    metrics.images.inc({}, results.length);
    metrics.faces.inc({}, results.reduce((s, r) => s + r.faces.length, 0));
    return results;
  }

  app.post('/v1/predict', async (req) => {
    const q = req.query as Query;
    checkQuery(q, [...Object.keys(DETECT_QUERY), 'name']);
    const detect = detectQuery(q);
    const images = await readImages(req, SERVE_DEFAULTS.maxFiles);
    const results = await guarded(() => analyzeAll(images, detect));
    return results.map(fileResultJson);
  });

  app.post('/v1/compare', async (req) => {
    const q = req.query as Query;
    checkQuery(q, [...Object.keys(DETECT_QUERY), 'name']);
    const detect = detectQuery(q);
    const images = await readImages(req, 2);
    if (images.length > 2) throw new HttpError(400, 'too_many_files', 'compare takes one image (its two largest faces) or two');
    const results = await guarded(() => analyzeAll(images, detect));
    let sides;
    try {
      sides = pickComparedFaces(results[0].file, results[0].faces, results[1]?.file, results[1]?.faces);
    } catch (e) {
      if (isFerError(e)) throw new HttpError(422, 'no_face', e.message);
      throw e;
    }
    const vector = (i: number) => CLASS_NAMES.map((c) => sides[i].face.scores[c]);
    return comparisonJson(sides[0], sides[1], compareExpressions(vector(0), vector(1)));
  });

  /** Stream a video upload into uploads/ (temp name, renamed when complete). */
  async function saveUpload(stream: NodeJS.ReadableStream & { truncated?: boolean }, ext: string, id: string): Promise<string> {
    const target = path.join(dataDir, 'uploads', `${id}${VIDEO_EXT.test(ext) ? ext : '.mp4'}`);
    const tmp = trackTemp(tempSibling(target));
    let bytes = 0;
    const limiter = async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        bytes += chunk.length;
        if (bytes > maxVideo) throw new HttpError(413, 'too_large', `video upload larger than ${maxVideo} bytes`);
        yield chunk;
      }
    };
    try {
      await pipeline(stream as AsyncIterable<Buffer>, limiter, fs.createWriteStream(tmp));
      if (stream.truncated) throw new HttpError(413, 'too_large', `video upload larger than ${maxVideo} bytes`);
      if (bytes === 0) throw new HttpError(400, 'empty_body', 'empty video upload');
    } catch (e) {
      discardTemp(tmp);
      throw e;
    }
    commitTemp(tmp, target);
    return target;
  }

  app.post('/v1/videos', async (req, reply) => {
    const options = videoQuery(req.query as Query);
    const id = newJobId();
    let input: string;
    let uploaded = false;
    if (req.isMultipart()) {
      const part = await req.file({ limits: { fileSize: maxVideo, files: 1 } });
      if (!part) throw new HttpError(400, 'no_file', 'multipart form without a file part: attach the video as a file');
      input = await saveUpload(part.file, path.extname(part.filename || '').toLowerCase(), id);
      uploaded = true;
    } else if (req.body instanceof Readable) {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > maxVideo) {
        req.body.resume();
        throw new HttpError(413, 'too_large', `video upload of ${declared} bytes is larger than the limit ${maxVideo}`);
      }
      const sub = String(req.headers['content-type']).split(';')[0].split('/')[1] ?? 'mp4';
      input = await saveUpload(req.body, `.${sub.replace('quicktime', 'mov').replace('x-matroska', 'mkv')}`, id);
      uploaded = true;
    } else if (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) {
      input = resolveUnder(dataDir, (req.body as { path?: string }).path as string);
    } else {
      throw new HttpError(415, 'unsupported_media', `content-type ${req.headers['content-type'] ?? '(none)'}: upload the video as multipart/form-data or video/*, or send {"path": "<file under the data directory>"} as JSON`);
    }
    try {
      await probeVideo(resolveSource(input), findFfprobe());
    } catch (e) {
      if (uploaded) fs.rmSync(input, { force: true });
      if (isFerError(e)) throw new HttpError(415, 'unsupported_media', `${path.basename(input)}: not a video ffmpeg can read`);
      throw e;
    }
    try {
      await queue.add({ input, outDir: path.join(dataDir, 'jobs', id), options }, id);
    } catch (e) {
      if (uploaded) fs.rmSync(input, { force: true });
      throw e;
    }
    metrics.jobs.inc();
    const job = await queue.get(id);
    reply.code(202).header('location', `/v1/jobs/${id}`);
    return job ? jobView(job, dataDir) : { id, state: 'waiting', links: { self: `/v1/jobs/${id}` } };
  });

  async function findJob(id: string): Promise<JobInfo> {
    if (!/^[\w-]{1,64}$/.test(id)) throw new HttpError(404, 'not_found', `job ${id}: no such job`);
    const job = await queue.get(id);
    if (!job) throw new HttpError(404, 'not_found', `job ${id}: no such job`);
    return job;
  }

  app.get('/v1/jobs/:id', async (req) => jobView(await findJob((req.params as { id: string }).id), dataDir));

  app.get('/v1/jobs/:id/:file', async (req, reply: FastifyReply) => {
    const { id, file } = req.params as { id: string; file: string };
    const job = await findJob(id);
    if (!(Object.values(JOB_FILES) as string[]).includes(file)) throw new HttpError(404, 'not_found', `${file}: jobs write ${Object.values(JOB_FILES).join(', ')}`);
    if (job.state !== 'completed' || !job.result) throw new HttpError(409, 'not_ready', `job ${id} is ${job.state}; its files appear when it is completed`);
    const full = path.join(job.data.outDir, file);
    if (!fs.existsSync(full)) throw new HttpError(404, 'not_found', `job ${id}: ${file} was not written (or was removed)`);
    reply.header('content-type', CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream');
    return reply.send(fs.createReadStream(full));
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    backend: predictor.backend.description,
    nets: predictor.nets,
    tta: predictor.tta,
    weights: predictor.weights ?? null,
    detector: predictor.detector.engine,
    queue: queue.kind,
    inflight,
    uptimeS: Math.round(process.uptime()),
  }));

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return metrics.registry.render();
  });

  // The live page: static files, no build step.
  if (fs.existsSync(WEB_DIR)) {
    for (const name of fs.readdirSync(WEB_DIR)) {
      const full = path.join(WEB_DIR, name);
      if (!fs.statSync(full).isFile()) continue;
      const url = name === 'index.html' ? '/' : `/${name}`;
      app.get(url, async (_req, reply) => {
        reply.header('content-type', CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream');
        reply.header('cache-control', 'no-cache');
        return fs.promises.readFile(full);
      });
    }
  }

  let closed = false;
  return {
    app, predictor, queue, metrics, analyzer, dataDir,
    async listen(): Promise<string> {
      await app.listen({ host, port });
      const addr = app.server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      analyzer.close();
      await app.close();
      await queue.close();
      if (ownPredictor) predictor.dispose();
    },
  };
}
