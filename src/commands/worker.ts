import { Command } from 'commander';
import { action, examples, intFlag } from './common';
import { EXIT, FerError } from '../util/errors';
import { info } from '../util/log';
import { ModelFlags, addModelOptions, detectOptions, predictorOptions } from './options';
import { createPredictor } from '../vision/predict';
import { VIDEO_DEFAULTS } from '../video/process';
import { QUEUE_NAME, WorkerEvent, startVideoWorker } from '../serve/redis';

const PROGRESS_LINE_MS = 10_000;

interface WorkerFlags extends ModelFlags {
  redis?: string;
  concurrency: number;
  lockMs: number;
}

/** One line per event on stdout, e.g. `job j1f… 40% (30/75 frames, 21.0 fps)`. */
function describe(e: WorkerEvent): string | undefined {
  switch (e.type) {
    case 'ready': return undefined;
    case 'started': return `job ${e.id} started ${e.input} (attempt ${e.attempt})`;
    case 'progress': {
      const p = e.progress;
      const pct = p.fraction !== undefined ? `${Math.round(p.fraction * 100)}% ` : '';
      return `job ${e.id} ${pct}(${p.frames}${p.expectedFrames ? `/${p.expectedFrames}` : ''} frames, ${p.fps.toFixed(1)} fps)`;
    }
    case 'completed': {
      const r = e.result;
      return `job ${e.id} completed in ${r.elapsedS.toFixed(1)} s: ${r.frames} frames, ${r.faceRows} faces, ${r.tracks.length} tracks → ${r.outDir}`;
    }
    case 'failed': return `job ${e.id} failed (attempt ${e.attempt}, ${e.willRetry ? 'will retry' : 'giving up'}): ${e.error}`;
    case 'error': return `worker error: ${e.error}`;
  }
  return undefined;
}

async function run(o: WorkerFlags): Promise<number> {
  const url = o.redis ?? process.env.FER_REDIS;
  if (!url) throw new FerError('--redis <url> is required (or set FER_REDIS), e.g. redis://127.0.0.1:6379', EXIT.USAGE);
  // Made as `fer video` makes its own (same defaults, detection thread), so job outputs are the command's.
  const detect = { ...VIDEO_DEFAULTS.detect, ...detectOptions(o) };
  const predictor = await createPredictor({ ...predictorOptions(o), detect, detectInWorker: true });
  if (!o.quiet) info(`backend ${predictor.backend.description} · nets ${predictor.nets.join(',')} from ${o.models}${predictor.tta !== 'none' ? ` · tta ${predictor.tta}` : ''} · detector ${predictor.detector.engine}`);
  // Progress: the first report of each job, then one line every 10 s (the job itself is updated every 0.5 s).
  const lastPrinted = new Map<string, number>();
  const print = (e: WorkerEvent) => {
    if (e.type === 'progress') {
      const last = lastPrinted.get(e.id);
      if (o.quiet || (last !== undefined && Date.now() - last < PROGRESS_LINE_MS)) return;
      lastPrinted.set(e.id, Date.now());
    } else if (e.type === 'completed' || e.type === 'failed') {
      lastPrinted.delete(e.id);
    }
    const line = describe(e);
    if (line) process.stdout.write(`${line}\n`);
  };
  let worker;
  try {
    worker = await startVideoWorker(url, {
      ...predictorOptions(o), detect, predictor, concurrency: o.concurrency, lockMs: o.lockMs,
      onEvent: print,
    });
  } catch (e) {
    predictor.dispose();
    throw new FerError(`--redis ${url}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!o.quiet) info(`fer worker: waiting for jobs on ${url} (queue ${QUEUE_NAME}, ${o.concurrency} at a time); Ctrl-C finishes the current job and stops`);
  let signals = 0;
  await new Promise<void>((resolve) => {
    const handler = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        info(`\n${sig} again: exiting now; the running job is picked up by another worker once its lock expires (${o.lockMs} ms)`);
        process.exit(EXIT.INTERRUPTED);
      }
      info(`\n${sig}: finishing the running job, taking no new ones (again to quit at once)`);
      resolve();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
  await worker.close();
  predictor.dispose();
  return EXIT.OK;
}

export function register(program: Command): void {
  const cmd = program
    .command('worker')
    .description('Run video jobs from the Redis queue (BullMQ) that `fer serve --redis` and `fer queue add` fill: each job is '
      + '`fer video` with --csv, --jsonl and --summary-json into its output directory, written atomically. Start any number, '
      + 'on any machines that see the same paths. Failed jobs are retried with backoff; a worker that dies loses its job '
      + 'to another after --lock-ms. Prints one line per job event on stdout.');
  addModelOptions(cmd, VIDEO_DEFAULTS.detect)
    .option('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379 (env FER_REDIS)')
    .option('--concurrency <n>', 'jobs run at once in this process', intFlag('--concurrency', 1, 64), 1)
    .option('--lock-ms <n>', 'job lock lifetime: a dead worker\'s job goes to another after about this long', intFlag('--lock-ms', 1000), 30000)
    .action(action(async (o: WorkerFlags) => run(o)));
  examples(cmd, [
    'fer worker --redis redis://127.0.0.1:6379',
    'FER_REDIS=redis://10.0.0.5:6379 fer worker --concurrency 2 --net 1,3',
  ]);
}
