import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { action, examples, intFlag, numFlag } from './common';
import { EXIT, FerError, isFerError } from '../util/errors';
import { colorErr, info } from '../util/log';
import { findFfprobe, probeVideo, resolveSource } from '../video/ffmpeg';
import { VIDEO_DEFAULTS } from '../video/process';
import { JobInfo, VideoJobOptions, newJobId } from '../serve/jobs';
import { RedisJobQueue } from '../serve/redis';

interface QueueFlags {
  redis?: string;
  json: boolean;
}

interface AddFlags extends QueueFlags {
  outDir: string;
  video: boolean;
  every?: number;
  smooth?: number;
  minHits?: number;
  detectSize?: number;
  wait: boolean;
  pollMs: number;
}

function redisUrl(o: QueueFlags): string {
  const url = o.redis ?? process.env.FER_REDIS;
  if (!url) throw new FerError('--redis <url> is required (or set FER_REDIS), e.g. redis://127.0.0.1:6379', EXIT.USAGE);
  return url;
}

async function openQueue(url: string): Promise<RedisJobQueue> {
  const q = new RedisJobQueue(url);
  try {
    await Promise.race([
      q.queue.waitUntilReady(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
  } catch (e) {
    await q.close().catch(() => undefined);
    throw new FerError(`--redis ${url}: cannot connect (${(e as Error).message.split('\n')[0]})`);
  }
  return q;
}

function line(j: JobInfo): string {
  const p = j.progress;
  const pct = j.state === 'active' && p?.fraction !== undefined ? ` ${Math.round(p.fraction * 100)}%` : '';
  const tail = j.state === 'completed' && j.result ? ` → ${j.result.outDir} (${j.result.frames} frames, ${j.result.faceRows} faces, by ${j.result.worker})`
    : j.state === 'failed' ? `: ${j.error ?? 'failed'}` : '';
  return `${j.id}  ${j.state}${pct}  ${j.data.input}${tail}${j.attempts > 1 ? `  (attempts ${j.attempts})` : ''}`;
}

function jobJson(j: JobInfo): object {
  return { id: j.id, state: j.state, input: j.data.input, outDir: j.data.outDir, progress: j.progress ?? null, attempts: j.attempts, error: j.error ?? null, result: j.result ?? null };
}

/** Output directories: <out-dir>/<name of the video>, with the job id added when that is taken. */
function planDirs(files: string[], outDir: string, ids: string[]): string[] {
  const used = new Set<string>();
  return files.map((f, i) => {
    let dir = path.join(outDir, path.basename(f, path.extname(f)));
    if (used.has(dir) || fs.existsSync(dir)) dir = `${dir}-${ids[i]}`;
    used.add(dir);
    return dir;
  });
}

async function add(inputs: string[], o: AddFlags): Promise<number> {
  const url = redisUrl(o);
  // Every input is checked before anything is queued: a typo fails the whole command, with nothing half-queued.
  const files = inputs.map((f) => path.resolve(f));
  for (let i = 0; i < files.length; i++) {
    if (!fs.existsSync(files[i]) || !fs.statSync(files[i]).isFile()) throw new FerError(`${inputs[i]}: no such file`);
    try {
      await probeVideo(resolveSource(files[i]), findFfprobe());
    } catch (e) {
      if (isFerError(e)) throw new FerError(`${inputs[i]}: not a video ffmpeg can read`);
      throw e;
    }
  }
  const options: VideoJobOptions = Object.fromEntries(Object.entries({
    video: o.video, every: o.every, smooth: o.smooth, minHits: o.minHits,
    detect: o.detectSize !== undefined ? { detectSize: o.detectSize } : undefined,
  }).filter(([, v]) => v !== undefined));
  const outDir = path.resolve(o.outDir);
  const ids = files.map(() => newJobId());
  const dirs = planDirs(files, outDir, ids);
  const q = await openQueue(url);
  try {
    for (let i = 0; i < files.length; i++) {
      await q.add({ input: files[i], outDir: dirs[i], options }, ids[i]);
      if (o.json) process.stdout.write(`${JSON.stringify({ id: ids[i], input: files[i], outDir: dirs[i] })}\n`);
      else process.stdout.write(`${ids[i]}  ${files[i]} → ${dirs[i]}\n`);
    }
    if (!o.wait) return EXIT.OK;
    info(`waiting for ${ids.length} job${ids.length === 1 ? '' : 's'} (fer worker --redis ${url} runs them)`);
    const last = new Map<string, string>();
    for (;;) {
      const jobs = await Promise.all(ids.map((id) => q.get(id)));
      let open = 0;
      for (const j of jobs) {
        if (!j) continue;
        if (j.state !== 'completed' && j.state !== 'failed') open++;
        const key = `${j.state}`;
        if (last.get(j.id) !== key) {
          last.set(j.id, key);
          if (!o.json) info(line(j));
        }
      }
      if (open === 0) {
        if (o.json) jobs.forEach((j) => j && process.stdout.write(`${JSON.stringify(jobJson(j))}\n`));
        return jobs.some((j) => !j || j.state === 'failed') ? EXIT.ERROR : EXIT.OK;
      }
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  } finally {
    await q.close();
  }
}

async function status(ids: string[], o: QueueFlags & { limit: number }): Promise<number> {
  const q = await openQueue(redisUrl(o));
  try {
    const counts = await q.counts();
    let jobs: JobInfo[];
    let missing: string[] = [];
    if (ids.length > 0) {
      const found = await Promise.all(ids.map((id) => q.get(id)));
      missing = ids.filter((_, i) => !found[i]);
      jobs = found.filter((j): j is JobInfo => j !== undefined);
    } else {
      jobs = await q.list(undefined, o.limit);
    }
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ counts, jobs: jobs.map(jobJson), missing }, null, 2)}\n`);
    } else {
      process.stdout.write(`${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(' · ')}\n`);
      jobs.forEach((j) => process.stdout.write(`${line(j)}\n`));
      missing.forEach((id) => process.stderr.write(`${colorErr.red('fer:')} job ${id}: not found\n`));
    }
    return missing.length > 0 ? EXIT.ERROR : EXIT.OK;
  } finally {
    await q.close();
  }
}

export function register(program: Command): void {
  const queue = program
    .command('queue')
    .description('Add video files to the Redis job queue that `fer worker` processes, and show its state.');
  const redisOpt = () => new Option('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379 (env FER_REDIS)');
  const addCmd = queue
    .command('add')
    .description('Queue each video as a `fer video` job (annotated.mp4, faces.csv, faces.jsonl, summary.json in <out-dir>/<name>/). '
      + 'Prints one line per job: id, input → output directory. Paths are made absolute: workers on other machines must see them at the same place.')
    .argument('<videos...>', 'video files')
    .addOption(redisOpt())
    .option('--out-dir <dir>', 'job outputs go to <dir>/<video name>/', 'fer-jobs')
    .option('--no-video', 'write only the data files, no annotated video')
    .option('--every <n>', 'detect faces every n frames', intFlag('--every', 1))
    .option('--smooth <alpha>', 'per-track moving average weight of the newest frame (1 = off)', numFlag('--smooth', 0.01, 1))
    .option('--min-hits <n>', 'report a new face after n consecutive detections', intFlag('--min-hits', 1))
    .option('--detect-size <px>', `detection copy's long side (default ${VIDEO_DEFAULTS.detect.detectSize})`, intFlag('--detect-size', 24))
    .option('--wait', 'wait until every added job has completed or failed (exit 1 if one failed)', false)
    .option('--poll-ms <n>', 'with --wait: how often to look', intFlag('--poll-ms', 50), 1000)
    .option('--json', 'print one JSON object per job instead of text', false)
    .action(action(async (inputs: string[], o: AddFlags) => add(inputs, o)));
  const statusCmd = queue
    .command('status')
    .description('Job counts by state, and the most recent jobs (or the ones named) with state, progress, output and worker.')
    .argument('[ids...]', 'job ids (default: the most recent jobs)')
    .addOption(redisOpt())
    .option('--limit <n>', 'jobs listed without ids', intFlag('--limit', 1), 50)
    .option('--json', 'print {counts, jobs:[...]} as JSON', false)
    .action(action(async (ids: string[], o: QueueFlags & { limit: number }) => status(ids, o)));
  for (const c of [queue, addCmd, statusCmd]) c.exitOverride();
  examples(queue, [
    'fer queue add interviews/*.mp4 --redis redis://127.0.0.1:6379 --out-dir /mnt/shared/results',
    'fer queue add a.mp4 b.mp4 --redis redis://127.0.0.1:6379 --wait',
    'fer queue status --redis redis://127.0.0.1:6379',
  ]);
}
