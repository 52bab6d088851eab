import { Command } from 'commander';
import { action, examples, intFlag, numFlag } from './common';
import { EXIT, FerError } from '../util/errors';
import { info, warn } from '../util/log';
import { ModelFlags, addModelOptions, predictorFor, predictorOptions } from './options';
import { SERVE_DEFAULTS, createServer } from '../serve/server';

interface ServeFlags extends ModelFlags {
  host: string;
  port: number;
  token?: string;
  dataDir: string;
  redis?: string;
  jobs: number;
  maxQueued: number;
  maxBodyMb: number;
  maxVideoMb: number;
  maxPixels: number;
  maxInflight: number;
  timeoutMs: number;
  batchWaitMs: number;
  log: boolean;
}

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

async function run(o: ServeFlags): Promise<number> {
  const token = o.token ?? process.env.FER_TOKEN;
  const redis = o.redis ?? process.env.FER_REDIS;
  if (!LOOPBACK.includes(o.host) && !token) warn(`--host ${o.host}: the API is reachable from other machines without a token; set --token or FER_TOKEN`);
  const predictor = await predictorFor(o, true);
  let server;
  try {
    server = await createServer({
      predictor,
      predictorOptions: predictorOptions(o),
      host: o.host, port: o.port, token, dataDir: o.dataDir, redis,
      jobConcurrency: o.jobs, maxQueued: o.maxQueued,
      maxBodyBytes: Math.round(o.maxBodyMb * 1024 * 1024), maxVideoBytes: Math.round(o.maxVideoMb * 1024 * 1024),
      maxPixels: o.maxPixels, maxInflight: o.maxInflight, timeoutMs: o.timeoutMs, batchWaitMs: o.batchWaitMs,
      onRequestLog: o.log ? (l) => info(`${l.method} ${l.url} ${l.status} ${l.ms.toFixed(1)} ms`) : undefined,
    });
  } catch (e) {
    predictor.dispose();
    throw e;
  }
  let url: string;
  try {
    url = await server.listen();
  } catch (e) {
    await server.close();
    predictor.dispose();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new FerError(`--port ${o.port}: address ${o.host}:${o.port} already in use`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new FerError(`--host ${o.host}: not an address of this machine`);
    if (code === 'EACCES') throw new FerError(`--port ${o.port}: permission denied (ports below 1024 need root)`);
    throw e;
  }
  // The URL goes to stdout (scripts wait for it); everything else to stderr.
  process.stdout.write(`${url}\n`);
  if (!o.quiet) {
    info(`fer serve: listening on ${url} · live page ${url}/ · API ${url}/v1 · metrics ${url}/metrics · `
      + `video jobs ${redis ? `on Redis (run fer worker --redis ${redis})` : `in this process (${o.jobs} at a time)`} · data ${server.dataDir}`
      + `${token ? ' · bearer token required' : ''}`);
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (!o.quiet) info(`\n${sig}: stopping (running in-process jobs are abandoned; their partial outputs removed)`);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  predictor.dispose();
  return EXIT.OK;
}

export function register(program: Command): void {
  const d = SERVE_DEFAULTS;
  const cmd = program
    .command('serve')
    .description('HTTP API and live webcam page: POST /v1/predict and /v1/compare (same JSON as fer predict/compare --json), '
      + 'POST /v1/videos → job (GET /v1/jobs/:id), GET /healthz, GET /metrics (Prometheus), and the live page at /. '
      + 'Models load once; faces of concurrent requests are classified in one batch. Video jobs run in this process, '
      + 'or with --redis on `fer worker` processes. Binds 127.0.0.1 unless --host. Prints the URL on stdout; Ctrl-C stops.');
  addModelOptions(cmd)
    .option('--host <addr>', 'address to bind (0.0.0.0: every interface; then set --token)', d.host)
    .option('--port <n>', 'TCP port (0: any free port)', intFlag('--port', 0, 65535), d.port)
    .option('--token <secret>', 'require "Authorization: Bearer <secret>" on /v1 (env FER_TOKEN, which other users cannot see in ps)')
    .option('--data-dir <dir>', 'uploaded videos and job outputs; POST /v1/videos {"path"} may name files under it', d.dataDir)
    .option('--redis <url>', 'queue video jobs in Redis (BullMQ) for `fer worker` processes, e.g. redis://127.0.0.1:6379 (env FER_REDIS)')
    .option('--jobs <n>', 'video jobs run at once in this process (without --redis)', intFlag('--jobs', 1, 64), d.jobConcurrency)
    .option('--max-queued <n>', 'video jobs that may wait; more get 429', intFlag('--max-queued', 0), d.maxQueued)
    .option('--max-body-mb <n>', 'largest image request, MiB (larger: 413)', numFlag('--max-body-mb', 0.001), d.maxBodyBytes / 1024 / 1024)
    .option('--max-video-mb <n>', 'largest video upload, MiB (larger: 413)', numFlag('--max-video-mb', 0.001), d.maxVideoBytes / 1024 / 1024)
    .option('--max-pixels <n>', 'largest image, pixels (larger: 413)', intFlag('--max-pixels', 1), d.maxPixels)
    .option('--max-inflight <n>', 'image requests analysed at once; more get 429', intFlag('--max-inflight', 1), d.maxInflight)
    .option('--timeout-ms <n>', 'an image request not answered in this time gets 503', intFlag('--timeout-ms', 1), d.timeoutMs)
    .option('--batch-wait-ms <n>', 'wait up to this long for other requests\' faces to classify together (0: same tick only)', numFlag('--batch-wait-ms', 0, 1000), d.batchWaitMs)
    .option('--log', 'one stderr line per request (method, path, status, ms)', false)
    .action(action(async (o: ServeFlags) => run(o)));
  examples(cmd, [
    'fer serve',
    'fer serve --port 9000 --token s3cret --data-dir /srv/fer',
    'fer serve --host 0.0.0.0 --token s3cret --redis redis://10.0.0.5:6379 --data-dir /mnt/shared/fer',
    'curl -s --data-binary @photo.jpg -H "Content-Type: image/jpeg" http://127.0.0.1:8080/v1/predict',
  ]);
}
