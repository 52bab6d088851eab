import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, runFer, tmpDir } from './helpers';
import { makeTinyModels } from './fixtures/tinyModels';
import { Proc, ffmpeg, filesEqual, inBatches, makeClips, runFerAsync, startFer, startRedis, stopProc, which } from './serve-helpers';
import { RedisJobQueue } from '../src/serve/redis';
import { JobInfo } from '../src/serve/jobs';

/**
 * A real redis-server (Debian package) on 127.0.0.1, two `fer worker` processes, jobs from `fer queue add` and from
 * `fer serve --redis`. One worker is SIGKILLed in the middle of a job: BullMQ's stalled-job check hands the job to
 * the other worker, and every output is still exactly `fer video`'s.
 */

const REDIS = which('redis-server');
const OUTPUTS = ['annotated.mp4', 'faces.csv', 'faces.jsonl', 'summary.json'];

function allTemps(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.tmp-')) found.push(path.join(d, e.name));
      else if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(root);
  return found;
}

if (!REDIS) {
  // eslint-disable-next-line no-console
  console.warn('skipping "fer worker on Redis": redis-server not found on PATH (Debian: apt-get install -y redis-server)');
  describe.skip('fer worker on Redis (skipped: redis-server not found on PATH; apt-get install -y redis-server)', () => {
    it('needs redis-server', () => undefined);
  });
} else {
  describe('fer worker, fer queue and fer serve --redis on a real redis-server', () => {
    let dir: string;
    let models: string;
    let redis: { url: string; proc: Proc };
    const workers: Proc[] = [];
    let server: Proc | undefined;
    let queue: RedisJobQueue;

    beforeAll(async () => {
      dir = tmpDir('fer-redis-');
      models = await makeTinyModels([1]);
      redis = await startRedis(REDIS, dir);
      queue = new RedisJobQueue(redis.url);
    });
    afterAll(async () => {
      await queue?.close();
      for (const p of [...workers, ...(server ? [server] : [])]) await stopProc(p, 'SIGKILL');
      if (redis) await stopProc(redis.proc, 'SIGTERM');
    });

    it('5 videos through `fer queue add` + 1 through POST /v1/videos, two workers, one SIGKILLed mid-job: all done once, outputs identical to `fer video`', async () => {
      // One longer clip (the pan played forward then backward, 320×240, 150 frames) to kill a worker in; four short
      // ones; a sixth video comes through the HTTP API.
      const long = path.join(dir, 'long.mp4');
      const pan = path.join(FIXTURES, 'astronaut-pan.mp4');
      ffmpeg(['-i', pan, '-filter_complex', '[0:v]scale=320:240,split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1[v]', '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', long]);
      const clips = [long, ...makeClips(dir, 4)];
      const t0 = Date.now();
      const marks: string[] = [];
      const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const out = path.join(dir, 'out');

      const lockMs = '3000';
      for (let i = 0; i < 2; i++) workers.push(startFer(['worker', '--redis', redis.url, '--models', models, '--lock-ms', lockMs]));
      await Promise.all(workers.map((w) => w.waitFor(/^fer worker: waiting for jobs/, 90000)));
      mark('workers ready');

      const added = runFer(['queue', 'add', ...clips, '--redis', redis.url, '--out-dir', out, '--json']);
      expect(added.stderr).toBe('');
      expect(added.status).toBe(0);
      const jobs = added.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; input: string; outDir: string });
      expect(jobs.map((j) => j.input)).toEqual(clips);
      expect(jobs.map((j) => path.basename(j.outDir))).toEqual(clips.map((c) => path.basename(c, '.mp4')));
      const longId = jobs[0].id;

      // Whichever worker takes the long job is killed once it has reported progress on it.
      const startedLong = new RegExp(`^job ${longId} started`);
      const victimIndex = await Promise.race(workers.map((w, i) => w.waitFor(startedLong, 120000).then(() => i)));
      const victim = workers[victimIndex];
      const survivor = workers[1 - victimIndex];
      const progress = await victim.waitFor(new RegExp(`^job ${longId} (\\d+)% `), 120000);
      expect(Number(progress[1])).toBeLessThan(100);
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBeNull();
      mark(`worker killed at ${progress[1]}% of the long job`);

      // A sixth video through the HTTP API of `fer serve --redis`, into the same queue.
      const data = path.join(dir, 'data');
      fs.mkdirSync(path.join(data, 'in'), { recursive: true });
      fs.copyFileSync(clips[1], path.join(data, 'in', 'web.mp4'));
      server = startFer(['serve', '--port', '0', '--redis', redis.url, '--data-dir', data, '--models', models, '-q']);
      const base = (await server.waitFor(/^(http:\/\/127\.0\.0\.1:\d+)$/, 90000))[1];
      const health = await (await fetch(`${base}/healthz`)).json() as { queue: string };
      expect(health.queue).toBe('redis');
      const posted = await fetch(`${base}/v1/videos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'in/web.mp4' }) });
      expect(posted.status).toBe(202);
      const webId = ((await posted.json()) as { id: string }).id;

      const ids = [...jobs.map((j) => j.id), webId];
      // `fer video` on the same inputs, for reference, while the workers run.
      const inputs = [...clips, path.join(data, 'in', 'web.mp4')];
      const refs = inputs.map((_, i) => path.join(dir, `ref${i}`));
      const references = inBatches(inputs.map((input, i) => () => runFerAsync(['video', input, path.join(refs[i], 'annotated.mp4'),
        '--csv', path.join(refs[i], 'faces.csv'), '--jsonl', path.join(refs[i], 'faces.jsonl'), '--summary-json', path.join(refs[i], 'summary.json'),
        '--models', models, '-q'])), 2);
      const end = Date.now() + 240000;
      let infos: (JobInfo | undefined)[] = [];
      while (Date.now() < end) {
        infos = await Promise.all(ids.map((id) => queue.get(id)));
        // Every job read back as completed comes with its result, at whatever moment it is read.
        for (const j of infos) if (j?.state === 'completed') expect([j.id, j.result?.worker]).toEqual([j.id, expect.any(String)]);
        if (infos.every((j) => j && (j.state === 'completed' || j.state === 'failed'))) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      mark('all jobs finished');
      expect(infos.map((j) => j?.state)).toEqual(ids.map(() => 'completed'));
      const counts = await queue.counts();
      expect(counts).toMatchObject({ completed: 6, failed: 0, active: 0, waiting: 0 });

      // The killed job: started twice, finished by the survivor, reported completed exactly once.
      const longInfo = infos[0]!;
      expect(longInfo.attempts).toBeGreaterThanOrEqual(2);
      expect(longInfo.result!.worker).toMatch(new RegExp(`:${survivor.child.pid}$`));
      expect(survivor.out.filter((l) => l.startsWith(`job ${longId} completed`))).toHaveLength(1);
      expect(victim.out.filter((l) => l.startsWith(`job ${longId} completed`))).toHaveLength(0);
      const completedLines = survivor.out.concat(victim.out).filter((l) => / completed in /.test(l));
      expect(completedLines).toHaveLength(6);

      // GET /v1/jobs/:id on the server shows the Redis job with its summary and links.
      const view = await (await fetch(`${base}/v1/jobs/${webId}`)).json() as { result: { tracks: unknown[] }; links: Record<string, string> };
      expect(view).toMatchObject({ id: webId, state: 'completed', input: path.join('in', 'web.mp4') });
      expect(view.result.tracks.length).toBeGreaterThanOrEqual(1);
      const csv = await (await fetch(`${base}${view.links.csv}`)).text();

      // Every output equals `fer video`'s on the same input; nothing half-written or left over.
      const outDirs = [...jobs.map((j) => j.outDir), path.join(data, 'jobs', webId)];
      const runs = await references;
      expect(runs.map((r) => r.status)).toEqual(inputs.map(() => 0));
      mark('fer video references');
      // eslint-disable-next-line no-console
      console.log(`redis test: ${marks.join(' · ')}`);
      for (let i = 0; i < inputs.length; i++) {
        expect(fs.readdirSync(outDirs[i]).sort()).toEqual(OUTPUTS);
        for (const f of OUTPUTS) expect([i, f, filesEqual(path.join(outDirs[i], f), path.join(refs[i], f))]).toEqual([i, f, true]);
      }
      expect(csv).toBe(fs.readFileSync(path.join(refs[inputs.length - 1], 'faces.csv'), 'utf8'));
      expect(allTemps(out)).toEqual([]);
      expect(allTemps(data)).toEqual([]);

      // `fer queue status` shows the same.
      const st = runFer(['queue', 'status', ...ids, '--redis', redis.url, '--json']);
      expect(st.status).toBe(0);
      const doc = JSON.parse(st.stdout);
      expect(doc.counts).toMatchObject({ completed: 6, failed: 0 });
      expect(doc.jobs.map((j: { state: string }) => j.state)).toEqual(ids.map(() => 'completed'));
      const text = runFer(['queue', 'status', '--redis', redis.url]);
      expect(text.stdout.split('\n')[0]).toBe('waiting 0 · active 0 · delayed 0 · completed 6 · failed 0');
    }, 400000);

    it('a job that keeps failing is retried with backoff, then marked failed with a one-line reason', async () => {
      if (workers.every((w) => w.child.exitCode !== null || w.child.signalCode !== null)) throw new Error('no worker left running');
      const id = await queue.add({ input: path.join(dir, 'gone.mp4'), outDir: path.join(dir, 'out', 'gone') });
      const end = Date.now() + 60000;
      let info: JobInfo | undefined;
      while (Date.now() < end) {
        info = await queue.get(id);
        if (info?.state === 'failed') break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(info?.state).toBe('failed');
      expect(info?.attempts).toBe(3);
      expect(info?.error).toMatch(/gone\.mp4/);
      expect(info?.error).not.toMatch(/\n/);
      expect(fs.existsSync(path.join(dir, 'out', 'gone'))).toBe(false);
    });

    it('`fer queue add` checks every input first (nothing queued on a typo) and names a bad --redis URL', async () => {
      const before = await queue.counts();
      const bad = runFer(['queue', 'add', path.join(FIXTURES, 'astronaut-pan.mp4'), path.join(dir, 'nope.mp4'), '--redis', redis.url]);
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim()).toBe(`fer: ${path.join(dir, 'nope.mp4')}: no such file`);
      expect(await queue.counts()).toEqual(before);
      const url = runFer(['queue', 'status', '--redis', 'http://127.0.0.1:1']);
      expect(url.status).toBe(2);
      expect(url.stderr.trim()).toBe('fer: --redis http://127.0.0.1:1: expected a redis:// or rediss:// URL');
    });
  });
}
