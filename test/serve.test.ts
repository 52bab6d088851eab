import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { execFileSync } from 'child_process';
import { FIXTURES, runFer, tmpDir } from './helpers';
import { makeTinyModels } from './fixtures/tinyModels';
import { Proc, filesEqual, makeClips, startFer, stopProc } from './serve-helpers';
import { createServer } from '../src/serve/server';
import { MicroBatcher } from '../src/serve/batcher';
import { createPredictor } from '../src/vision/predict';
import { findFfmpeg } from '../src/video/ffmpeg';

/**
 * `fer serve` as a user runs it (child processes, tiny untrained models, real sharp/OpenCV.js/tfjs/ffmpeg), plus
 * the library's createServer for the limits that need odd settings.
 */

const ASTRONAUT = path.join(FIXTURES, 'astronaut.png');
const NO_FACE = path.join(FIXTURES, 'no-face.png');

interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

function form(files: [string, string, Buffer][]): FormData {
  const f = new FormData();
  for (const [field, name, data] of files) f.append(field, new Blob([data]), name);
  return f;
}

function image(file: string, type = 'image/png'): RequestInit {
  return { method: 'POST', headers: { 'content-type': type }, body: fs.readFileSync(file) };
}

async function serverUrl(p: Proc): Promise<string> {
  return (await p.waitFor(/^(http:\/\/127\.0\.0\.1:\d+)$/, 90000))[1];
}

async function waitJob(base: string, id: string, headers: Record<string, string> = {}, timeoutMs = 120000): Promise<Reply> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(`${base}/v1/jobs/${id}`, { headers });
    if (r.json?.state === 'completed' || r.json?.state === 'failed' || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

describe('fer serve: the HTTP API (child process, tiny untrained models)', () => {
  let models: string;
  let dir: string;
  let data: string;
  let server: Proc;
  let base: string;
  let clips: string[];

  beforeAll(async () => {
    models = await makeTinyModels([1, 2]);
    dir = tmpDir('fer-serve-');
    data = path.join(dir, 'data');
    clips = makeClips(dir, 2);
    server = startFer(['serve', '--port', '0', '--models', models, '--data-dir', data, '--max-body-mb', '1', '--max-pixels', '1000000', '--log']);
    base = await serverUrl(server);
  });
  afterAll(async () => {
    if (server) expect(await stopProc(server, 'SIGINT')).toBe(0);
  });

  it('GET /healthz reports the loaded nets and the in-process queue; GET / serves the live page', async () => {
    const h = await call(`${base}/healthz`);
    expect(h.status).toBe(200);
    expect(h.json).toMatchObject({ status: 'ok', nets: [1, 2], tta: 'none', weights: null, queue: 'local' });
    const page = await call(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toContain('<script src="/app.js">');
    const js = await call(`${base}/app.js`);
    expect(js.status).toBe(200);
    expect(js.text).toContain('/v1/predict');
  });

  it('POST /v1/predict returns exactly `fer predict --json` (raw body, multipart with two files, detection flags in the query)', async () => {
    const cli = runFer(['predict', 'astronaut.png', 'no-face.png', '--models', models, '--json', '-q'], { cwd: FIXTURES });
    expect(cli.status).toBe(0);
    const expected = JSON.parse(cli.stdout);
    expect(expected[0].faces).toHaveLength(1);

    const raw = await call(`${base}/v1/predict?name=astronaut.png`, image(ASTRONAUT));
    expect(raw.status).toBe(200);
    expect(raw.json).toEqual([expected[0]]);

    const multi = await call(`${base}/v1/predict`, {
      method: 'POST', body: form([['a', 'astronaut.png', fs.readFileSync(ASTRONAUT)], ['b', 'no-face.png', fs.readFileSync(NO_FACE)]]),
    });
    expect(multi.status).toBe(200);
    expect(multi.json).toEqual(expected);

    const flags = ['--detect-size', '200', '--min-neighbors', '2', '--scale-factor', '1.2'];
    const cli2 = runFer(['predict', 'astronaut.png', '--models', models, '--json', '-q', ...flags], { cwd: FIXTURES });
    const q = await call(`${base}/v1/predict?name=astronaut.png&detect-size=200&min-neighbors=2&scale-factor=1.2`, image(ASTRONAUT));
    expect(q.json).toEqual(JSON.parse(cli2.stdout));
    // A BMP (decoded by fer, not sharp): the PNG's answer; a cut one is 400 naming why.
    const bmp = execFileSync(findFfmpeg(), ['-loglevel', 'error', '-i', ASTRONAUT, '-f', 'image2', '-c:v', 'bmp', '-']);
    const asBmp = await call(`${base}/v1/predict?name=astronaut.png`, { method: 'POST', headers: { 'content-type': 'image/bmp' }, body: bmp });
    expect(asBmp.json).toEqual([expected[0]]);
    const cut = await call(`${base}/v1/predict?name=cut.bmp`, { method: 'POST', headers: { 'content-type': 'image/bmp' }, body: bmp.subarray(0, 4000) });
    expect([cut.status, cut.json.error.code, cut.json.error.message]).toEqual([400, 'bad_image', 'cut.bmp: not a readable image (truncated or corrupt data)']);
    // min-face: pixels or auto, as the flag.
    const auto = await call(`${base}/v1/predict?name=astronaut.png&min-face=auto`, image(ASTRONAUT));
    expect(auto.json).toEqual([expected[0]]);
    const none = await call(`${base}/v1/predict?name=astronaut.png&min-face=200`, image(ASTRONAUT));
    expect((none.json as { faces: unknown[] }[])[0].faces).toEqual([]);
  });

  it('POST /v1/compare returns exactly `fer compare --json`; a missing face is 422 naming the file', async () => {
    const cli = runFer(['compare', 'astronaut.png', 'astronaut.png', '--models', models, '--json', '-q'], { cwd: FIXTURES });
    expect(cli.status).toBe(0);
    const r = await call(`${base}/v1/compare`, {
      method: 'POST', body: form([['a', 'astronaut.png', fs.readFileSync(ASTRONAUT)], ['b', 'astronaut.png', fs.readFileSync(ASTRONAUT)]]),
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual(JSON.parse(cli.stdout));
    expect(r.json.cosine).toBe(1);

    const miss = await call(`${base}/v1/compare`, {
      method: 'POST', body: form([['a', 'astronaut.png', fs.readFileSync(ASTRONAUT)], ['b', 'no-face.png', fs.readFileSync(NO_FACE)]]),
    });
    expect(miss.status).toBe(422);
    expect(miss.json.error).toEqual({ code: 'no_face', message: 'no face found in no-face.png' });
  });

  it('limits and bad input give one-line 4xx JSON errors: type, truncated, oversize, pixels, query flags, routes', async () => {
    const err = async (url: string, init: RequestInit, status: number, code: string, message?: RegExp) => {
      const r = await call(url, init);
      expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
      expect(r.json.error.message).not.toMatch(/\n/);
      if (message) expect(r.json.error.message).toMatch(message);
    };
    const png = fs.readFileSync(ASTRONAUT);
    const jpeg = await sharp(png).jpeg().toBuffer();
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'unsupported_media', /content-type text\/plain/);
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, 415, 'unsupported_media');
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from('not an image at all') }, 415, 'unsupported_media');
    await err(`${base}/v1/predict?name=half.jpg`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg.subarray(0, jpeg.length >> 1) }, 400, 'bad_image', /^half\.jpg: .*truncated or corrupt/);
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(0) }, 400, 'empty_body');
    // --max-body-mb 1: a 1.5 MB body is refused before it is decoded (raw and multipart).
    const big = Buffer.concat([jpeg, Buffer.alloc(1_500_000)]);
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: big }, 413, 'too_large');
    await err(`${base}/v1/predict`, { method: 'POST', body: form([['a', 'big.jpg', big]]) }, 413, 'too_large');
    // --max-pixels 1000000: 1200×1000 is refused from its header.
    const wide = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#808080' } }).png().toBuffer();
    await err(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: wide }, 413, 'too_many_pixels', /1200×1000 is 1200000 pixels; the limit is 1000000/);
    await err(`${base}/v1/predict?net=1`, image(ASTRONAUT), 400, 'fixed_at_start', /fer serve --net/);
    await err(`${base}/v1/predict?detect-size=abc`, image(ASTRONAUT), 400, 'bad_param', /detect-size=abc/);
    await err(`${base}/v1/predict?min-face=big`, image(ASTRONAUT), 400, 'bad_param', /^min-face=big: expected an integer from 0 to 16384, or auto$/);
    await err(`${base}/v1/predict?colour=red`, image(ASTRONAUT), 400, 'bad_param', /unknown query parameter colour/);
    await err(`${base}/v1/predict`, { method: 'POST', body: form([]) }, 400, 'no_image');
    await err(`${base}/v1/nothing`, {}, 404, 'not_found');
    await err(`${base}/v1/jobs/jdoesnotexist`, {}, 404, 'not_found');
    // The server is still fine.
    expect((await call(`${base}/v1/predict`, image(ASTRONAUT))).status).toBe(200);
  });

  it('POST /v1/videos (a path under --data-dir, and an upload) runs jobs whose files are exactly `fer video`\'s', async () => {
    fs.mkdirSync(path.join(data, 'in'), { recursive: true });
    fs.copyFileSync(clips[0], path.join(data, 'in', 'clip.mp4'));
    const byPath = await call(`${base}/v1/videos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'in/clip.mp4' }) });
    expect(byPath.status).toBe(202);
    expect(byPath.headers.get('location')).toBe(`/v1/jobs/${byPath.json.id}`);
    const upload = await call(`${base}/v1/videos?every=2`, { method: 'POST', body: form([['video', 'second.mp4', fs.readFileSync(clips[1])]]) });
    expect(upload.status).toBe(202);

    for (const [job, input, extra] of [[byPath.json.id, path.join(data, 'in', 'clip.mp4'), []], [upload.json.id, path.join(data, 'uploads', `${upload.json.id}.mp4`), ['--every', '2']]] as [string, string, string[]][]) {
      const done = await waitJob(base, job);
      expect(done.json.state).toBe('completed');
      expect(done.json.progress.fraction).toBe(1);
      expect(done.json.result.tracks.length).toBeGreaterThanOrEqual(1);
      expect(Object.keys(done.json.links).sort()).toEqual(['csv', 'jsonl', 'self', 'summary', 'video']);
      const ref = path.join(dir, `ref-${job}`);
      const r = runFer(['video', input, path.join(ref, 'annotated.mp4'), '--csv', path.join(ref, 'faces.csv'), '--jsonl', path.join(ref, 'faces.jsonl'),
        '--summary-json', path.join(ref, 'summary.json'), '--models', models, '-q', ...extra]);
      expect(r.status).toBe(0);
      const out = path.join(data, 'jobs', job);
      expect(fs.readdirSync(out).sort()).toEqual(['annotated.mp4', 'faces.csv', 'faces.jsonl', 'summary.json']);
      for (const f of ['faces.csv', 'faces.jsonl', 'summary.json', 'annotated.mp4']) expect([f, filesEqual(path.join(out, f), path.join(ref, f))]).toEqual([f, true]);
      const csv = await call(`${base}${done.json.links.csv}`);
      expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
      expect(csv.text).toBe(fs.readFileSync(path.join(ref, 'faces.csv'), 'utf8'));
    }
    expect(fs.readdirSync(path.join(data, 'jobs')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);

    const bad = async (init: RequestInit, status: number, code: string) => {
      const r = await call(`${base}/v1/videos`, init);
      expect({ status: r.status, code: r.json?.error?.code }).toEqual({ status, code });
    };
    const json = (body: object): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await bad(json({ path: '../../etc/passwd' }), 400, 'bad_path');
    await bad(json({ path: 'in/missing.mp4' }), 404, 'not_found');
    await bad({ method: 'POST', body: form([['video', 'notes.mp4', Buffer.from('these are not video frames\n')]]) }, 415, 'unsupported_media');
    await bad({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }, 415, 'unsupported_media');
    expect(fs.readdirSync(path.join(data, 'uploads')).sort()).toEqual([`${upload.json.id}.mp4`]);
  });

  it('GET /metrics: Prometheus text with requests by route and status, a latency histogram, faces found and queue depth', async () => {
    const r = await call(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const value = (re: RegExp) => Number((re.exec(r.text) ?? [])[1]);
    expect(value(/^fer_http_requests_total\{code="200",method="POST",route="\/v1\/predict"\} (\d+)$/m)).toBeGreaterThanOrEqual(4);
    expect(value(/^fer_http_requests_total\{code="415",method="POST",route="\/v1\/predict"\} (\d+)$/m)).toBe(3);
    expect(value(/^fer_http_request_duration_seconds_count\{route="\/v1\/predict"\} (\d+)$/m)).toBeGreaterThanOrEqual(10);
    expect(r.text).toMatch(/^fer_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/predict"\} \d+$/m);
    expect(value(/^fer_faces_found_total (\d+)$/m)).toBeGreaterThanOrEqual(4);
    expect(value(/^fer_queue_depth\{state="completed"\} (\d+)$/m)).toBe(2);
    expect(value(/^fer_queue_depth\{state="waiting"\} (\d+)$/m)).toBe(0);
    expect(r.text).toMatch(/^# TYPE fer_classify_batch_faces histogram$/m);
  });
});

describe('fer serve: bearer token, 429 when busy or the queue is full (child process)', () => {
  let models: string;
  let dir: string;
  let server: Proc;
  let base: string;
  const auth = { authorization: 'Bearer s3cret' };

  beforeAll(async () => {
    models = await makeTinyModels([1]);
    dir = tmpDir('fer-serve-limits-');
    server = startFer(['serve', '--port', '0', '--models', models, '--data-dir', path.join(dir, 'data'), '--max-inflight', '1', '--max-queued', '0', '-q'], { FER_TOKEN: 's3cret' });
    base = await serverUrl(server);
  });
  afterAll(async () => {
    if (server) expect(await stopProc(server, 'SIGTERM')).toBe(0);
  });

  it('/v1 needs the token (FER_TOKEN): none or a wrong one is 401 with WWW-Authenticate; /healthz stays open', async () => {
    const none = await call(`${base}/v1/predict`, image(ASTRONAUT));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="fer"');
    expect(none.json.error.code).toBe('unauthorized');
    const wrong = await call(`${base}/v1/predict`, { ...image(ASTRONAUT), headers: { 'content-type': 'image/png', authorization: 'Bearer s3cre7' } });
    expect([wrong.status, wrong.json.error.message]).toEqual([401, 'bad bearer token']);
    const ok = await call(`${base}/v1/predict`, { ...image(ASTRONAUT), headers: { 'content-type': 'image/png', ...auth } });
    expect(ok.status).toBe(200);
    expect((await call(`${base}/healthz`)).status).toBe(200);
  });

  it('--max-inflight 1: concurrent image requests beyond it get 429 busy with Retry-After; the others succeed', async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => call(`${base}/v1/predict`, { ...image(ASTRONAUT), headers: { 'content-type': 'image/png', ...auth } })));
    const codes = replies.map((r) => r.status);
    expect(codes).toContain(200);
    expect(codes).toContain(429);
    const busy = replies.find((r) => r.status === 429)!;
    expect(busy.json.error.code).toBe('busy');
    expect(busy.headers.get('retry-after')).toBe('1');
  });

  it('--max-queued 0: a second video while one runs gets 429 queue_full, and its upload is removed', async () => {
    const body = () => ({ method: 'POST', headers: { 'content-type': 'video/mp4', ...auth }, body: fs.readFileSync(path.join(FIXTURES, 'astronaut-pan.mp4')) });
    const first = await call(`${base}/v1/videos`, body());
    expect(first.status).toBe(202);
    const second = await call(`${base}/v1/videos`, body());
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe('queue_full');
    expect(fs.readdirSync(path.join(dir, 'data', 'uploads'))).toEqual([`${first.json.id}.mp4`]);
    expect((await waitJob(base, first.json.id, auth)).json.state).toBe('completed');
  });
});

describe('createServer (library): timeouts, concurrent requests, the micro-batcher', () => {
  it('a request not answered within timeoutMs is 503 timeout; concurrent requests each get their own faces', async () => {
    const models = await makeTinyModels([1]);
    const dir = tmpDir('fer-serve-lib-');
    const slow = await createServer({ port: 0, dataDir: path.join(dir, 'a'), predictorOptions: { modelsDir: models, detector: 'wasm' }, timeoutMs: 1 });
    try {
      const base = await slow.listen();
      const r = await call(`${base}/v1/predict`, image(ASTRONAUT));
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('timeout');
    } finally {
      await slow.close();
    }

    const server = await createServer({ port: 0, dataDir: path.join(dir, 'b'), predictorOptions: { modelsDir: models, detector: 'wasm' }, batchWaitMs: 100 });
    try {
      const base = await server.listen();
      const one = await call(`${base}/v1/predict`, image(ASTRONAUT));
      const mirrored = await sharp(fs.readFileSync(ASTRONAUT)).flop().png().toBuffer();
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => call(`${base}/v1/predict`, {
        method: 'POST', headers: { 'content-type': 'image/png' }, body: i % 2 === 0 ? fs.readFileSync(ASTRONAUT) : mirrored,
      })));
      for (let i = 0; i < 6; i += 2) {
        const [a, b] = [replies[i].json[0].faces[0], one.json[0].faces[0]];
        expect(a.box).toEqual(b.box);
        for (const k of Object.keys(b.scores)) expect(Math.abs(a.scores[k] - b.scores[k])).toBeLessThan(1e-5);
      }
      expect(replies[1].json[0].faces[0].box.x).not.toBe(one.json[0].faces[0].box.x);
    } finally {
      await server.close();
    }
  });

  it('MicroBatcher: requests queued in the same window are classified in one call, each gets exactly its own rows', async () => {
    const models = await makeTinyModels([1]);
    const predictor = await createPredictor({ modelsDir: models, detector: 'wasm' });
    try {
      const calls: number[] = [];
      const batcher = new MicroBatcher((faces, n) => { calls.push(n); return predictor.classify(faces, n); }, { waitMs: 5, maxFaces: 64 });
      const face = (seed: number) => Uint8Array.from({ length: 48 * 48 }, (_, i) => (i * seed + seed * 7) % 251);
      const two = new Uint8Array(2 * 48 * 48);
      two.set(face(3), 0);
      two.set(face(5), 48 * 48);
      const [a, none, b] = await Promise.all([batcher.run(face(1), 1), batcher.run(new Uint8Array(0), 0), batcher.run(two, 2)]);
      expect(calls).toEqual([3]);
      expect(none).toHaveLength(0);
      const alone = [predictor.classify(face(1), 1), predictor.classify(two, 2)];
      expect(a).toHaveLength(7);
      expect(b).toHaveLength(14);
      [[a, alone[0]], [b, alone[1]]].forEach(([x, y]) => x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThan(1e-6)));
      // maxFaces: a full batch goes at once, without waiting for the window.
      const full = new MicroBatcher((faces, n) => { calls.push(n); return predictor.classify(faces, n); }, { waitMs: 60000, maxFaces: 2 });
      await full.run(two, 2);
      expect(calls).toEqual([3, 2]);
    } finally {
      predictor.dispose();
    }
  });
});
