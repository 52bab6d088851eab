import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { FIXTURES, ROOT, runFer, tmpDir } from './helpers';
import { makeTinyModels } from './fixtures/tinyModels';
import { CLASS_NAMES } from '../src/data/classes';
import { processVideo } from '../src/video/process';
import { FrameDecoder } from '../src/video/decoder';
import { ffmpegFeatures, findFfmpeg, findFfprobe, probeVideo, resolveSource } from '../src/video/ffmpeg';

/** Public-domain pan over astronaut.png: 640×480, 25 fps, 75 frames, one face in every frame, no audio. */
const PAN = path.join(FIXTURES, 'astronaut-pan.mp4');
const FFMPEG = findFfmpeg();
const FFPROBE = findFfprobe();

function ffmpeg(args: string[]): void {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function probe(file: string, args: string[]): any {
  const r = spawnSync(FFPROBE, ['-v', 'error', ...args, '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Frames a decoder really gets out of the file. */
function countFrames(file: string): number {
  return Number(probe(file, ['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames']).streams[0].nb_read_frames);
}

function frameTimes(file: string): number[] {
  return probe(file, ['-select_streams', 'v:0', '-show_entries', 'frame=best_effort_timestamp_time'])
    .frames.map((f: { best_effort_timestamp_time: string }) => Number(f.best_effort_timestamp_time));
}

function streamInfo(file: string, stream: string): string {
  const s = probe(file, ['-select_streams', stream, '-show_entries', 'stream=codec_name,pix_fmt,width,height']).streams[0];
  return [s.codec_name, s.width, s.height, s.pix_fmt].filter((v) => v !== undefined).join(',');
}

function packetSizes(file: string, stream: string): number[] {
  return probe(file, ['-select_streams', stream, '-show_entries', 'packet=size']).packets.map((p: { size: string }) => Number(p.size));
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('.tmp-'));
}

function noStack(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('fer video (real ffmpeg, OpenCV.js and tfjs; tiny untrained models)', () => {
  let models: string;
  let dir: string;
  beforeAll(async () => {
    models = await makeTinyModels([1]);
    dir = tmpDir('fer-video-');
  });

  it('annotates the pan clip: same frames and timestamps, one stable track in ≥ 95% of frames, CSV/JSONL/summary consistent', async () => {
    const out = path.join(dir, 'pan.mp4');
    const csv = path.join(dir, 'pan.csv');
    const jsonl = path.join(dir, 'pan.jsonl');
    const summary = path.join(dir, 'sub', 'summary.json');
    const r = await processVideo({ input: PAN, output: out, csv, jsonl, summaryJson: summary, modelsDir: models });

    expect(r.frames).toBe(75);
    expect(countFrames(out)).toBe(countFrames(PAN));
    expect(frameTimes(out)).toEqual(frameTimes(PAN));
    expect(streamInfo(out, 'v:0')).toBe('h264,640,480,yuv420p');

    const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(['frame', 'time_s', 'track_id', 'x', 'y', 'w', 'h', 'label', 'confidence', ...CLASS_NAMES].join(','));
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows).toHaveLength(r.faceRows);
    const framesWithFace = new Set(rows.map((c) => Number(c[0])));
    expect(framesWithFace.size).toBeGreaterThanOrEqual(Math.ceil(0.95 * 75));
    for (const c of rows) {
      const frame = Number(c[0]);
      expect(frame).toBeGreaterThanOrEqual(0);
      expect(frame).toBeLessThan(75);
      expect(Number(c[1])).toBeCloseTo(frame / 25, 6);
      const scores = c.slice(9).map(Number);
      expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(c[7]).toBe(CLASS_NAMES[scores.indexOf(Math.max(...scores))]);
    }
    // One face, one id: the main track covers ≥ 95% of the frames.
    const perTrack = new Map<string, number>();
    rows.forEach((c) => perTrack.set(c[2], (perTrack.get(c[2]) ?? 0) + 1));
    expect(Math.max(...perTrack.values())).toBeGreaterThanOrEqual(Math.ceil(0.95 * 75));

    const j = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(j).toHaveLength(rows.length);
    expect(j[0]).toMatchObject({ frame: Number(rows[0][0]), track_id: Number(rows[0][2]), box: { x: Number(rows[0][3]) } });

    const s = JSON.parse(fs.readFileSync(summary, 'utf8'));
    expect(s).toMatchObject({ frames: 75, face_rows: rows.length, interrupted: false });
    const main = s.tracks.find((t: { frames: number }) => t.frames >= 72);
    expect(main).toBeDefined();
    expect(CLASS_NAMES).toContain(main.dominant);
    expect(Object.values(main.share as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(leftovers(dir)).toEqual([]);
  });

  it('--every 3 detects on every third frame and carries the tracked box in between', async () => {
    const csv = path.join(dir, 'every3.csv');
    const r = await processVideo({ input: PAN, csv, modelsDir: models, every: 3, smooth: 1 });
    expect(r.frames).toBe(75);
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const boxOf = new Map(rows.map((c) => [Number(c[0]), c.slice(3, 7).join(' ')]));
    for (let f = 0; f + 2 < 75; f += 3) {
      if (!boxOf.has(f)) continue;
      expect(boxOf.get(f + 1)).toBe(boxOf.get(f));
      expect(boxOf.get(f + 2)).toBe(boxOf.get(f));
    }
    // The face pans: detections on different rounds do move.
    expect(new Set(boxOf.values()).size).toBeGreaterThan(5);
  });

  it('a clip with no face gives zero face rows and still a valid output with every frame', async () => {
    const clip = path.join(dir, 'noface.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=0x336699:s=160x120:r=25:d=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip]);
    const out = path.join(dir, 'noface-out.mp4');
    const csv = path.join(dir, 'noface.csv');
    const r = await processVideo({ input: clip, output: out, csv, modelsDir: models });
    expect(r.faceRows).toBe(0);
    expect(r.tracks).toEqual([]);
    expect(fs.readFileSync(csv, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(countFrames(out)).toBe(countFrames(clip));
    expect(countFrames(out)).toBe(25);
  });

  it('copies the audio stream packet for packet', async () => {
    const clip = path.join(dir, 'sine.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=0x808080:s=128x96:r=25:d=1', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1',
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', clip]);
    const out = path.join(dir, 'sine-out.mp4');
    const r = await processVideo({ input: clip, output: out, modelsDir: models });
    expect(r.audio).toBe('copied');
    expect(streamInfo(out, 'a:0')).toBe(streamInfo(clip, 'a:0'));
    const sizes = packetSizes(clip, 'a:0');
    expect(sizes.length).toBeGreaterThan(40);
    expect(packetSizes(out, 'a:0')).toEqual(sizes);
    expect(countFrames(out)).toBe(countFrames(clip));
  });

  it('keeps variable-frame-rate timestamps exactly', async () => {
    const clip = path.join(dir, 'vfr.mp4');
    const vfr = ffmpegFeatures(FFMPEG).fpsMode ? ['-fps_mode', 'vfr'] : ['-vsync', 'vfr'];
    // Every third frame 13 ms late: no constant rate describes these timestamps.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25:duration=1', '-vf', "settb=1/1000,setpts='(N*0.04+if(eq(mod(N,3),1),0.013,0))/TB'",
      ...vfr, '-enc_time_base', '1:1000', '-c:v', 'libx264', '-bf', '0', '-pix_fmt', 'yuv420p', clip]);
    const times = frameTimes(clip);
    expect(times.slice(0, 3)).toEqual([0, 0.053, 0.08]);
    const out = path.join(dir, 'vfr-out.mp4');
    await processVideo({ input: clip, output: out, modelsDir: models });
    expect(frameTimes(out)).toEqual(times);
  });

  it('turns rotated phone video upright: sides swapped, every frame kept', async () => {
    const plain = path.join(dir, 'plain.mp4');
    const rotated = path.join(dir, 'rotated.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x96:rate=25:duration=0.4', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', plain]);
    // The rotation lives in the container's display matrix only; the pixels stay 160×96. ffmpeg < 6 sets it
    // from a `rotate` tag, newer versions with -display_rotation.
    ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
    if ((await probeVideo(resolveSource(rotated), FFPROBE)).rotation === 0) ffmpeg(['-display_rotation', '90', '-i', plain, '-c', 'copy', rotated]);
    const out = path.join(dir, 'rotated-out.mp4');
    const r = await processVideo({ input: rotated, output: out, modelsDir: models });
    expect([r.video.width, r.video.height]).toEqual([96, 160]);
    expect([90, 270]).toContain(r.video.rotation);
    expect(streamInfo(out, 'v:0')).toBe('h264,96,160,yuv420p');
    expect(countFrames(out)).toBe(10);
  });

  it('stops early on abort and leaves a playable file with exactly the frames processed', async () => {
    const out = path.join(dir, 'aborted.mp4');
    const controller = new AbortController();
    const r = await processVideo({
      input: PAN, output: out, modelsDir: models, signal: controller.signal,
      onFrame: (p) => { if (p.frames === 10) controller.abort(); },
    });
    expect(r.interrupted).toBe(true);
    // Frames already decoded and detected (at most a batch or two) are finished too.
    expect(r.frames).toBeGreaterThanOrEqual(10);
    expect(r.frames).toBeLessThan(75);
    expect(countFrames(out)).toBe(r.frames);
    expect(leftovers(dir)).toEqual([]);
  });

  (process.platform === 'linux' ? it : it.skip)('an encoder that dies mid-run is a one-line error, and nothing is left behind', async () => {
    const sub = tmpDir('fer-video-kill-');
    // Our own ffmpeg encoder child, found through /proc (it reads the Matroska stream on stdin).
    const encoderPid = (): number | undefined => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('matroska');
      } catch {
        return false;
      }
    });
    let killed = false;
    await expect(processVideo({
      input: PAN, output: path.join(sub, 'out.mp4'), csv: path.join(sub, 'out.csv'), modelsDir: models,
      onFrame: (p) => {
        const pid = encoderPid();
        if (p.frames >= 8 && !killed && pid) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
      },
    })).rejects.toThrow(/encoding .*out\.mp4 failed \(ffmpeg was killed by SIGKILL\)/);
    expect(killed).toBe(true);
    expect(fs.readdirSync(sub)).toEqual([]);
  });

  it('a truncated input is an error naming the file, and leaves no output behind', async () => {
    const sub = tmpDir('fer-video-trunc-');
    const cut = path.join(sub, 'cut.mp4');
    const bytes = fs.readFileSync(PAN);
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const out = path.join(sub, 'out.mp4');
    const csv = path.join(sub, 'out.csv');
    await expect(processVideo({ input: cut, output: out, csv, modelsDir: models })).rejects.toThrow(/cut\.mp4: corrupt or truncated video/);
    expect(fs.readdirSync(sub)).toEqual(['cut.mp4']);
  });

  it('reads a network stream (HTTP) like a live source', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': fs.statSync(PAN).size });
      fs.createReadStream(PAN).pipe(res);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pan.mp4`;
      const csv = path.join(dir, 'stream.csv');
      const r = await processVideo({ input: url, csv, modelsDir: models, maxFrames: 20 });
      expect(r.frames).toBe(20);
      expect(r.faceRows).toBeGreaterThanOrEqual(19);
      expect(fs.readFileSync(csv, 'utf8').trim().split('\n')).toHaveLength(r.faceRows + 1);
    } finally {
      server.close();
    }
  });

  it('realtime mode hands out the newest frame and counts the ones it skipped', async () => {
    const d = new FrameDecoder({ ffmpeg: FFMPEG, features: ffmpegFeatures(FFMPEG), source: resolveSource(PAN), width: 640, height: 480, realtime: true });
    const first = await d.next();
    expect(first?.index).toBe(0);
    // The file is read at its own 25 fps: in 1.5 s ~37 frames arrive while we are "busy". A loaded machine can
    // starve ffmpeg, so ask only that several were skipped; that the newest is handed out is the point.
    await new Promise((res) => setTimeout(res, 1500));
    const later = await d.next();
    expect(later!.index).toBeGreaterThanOrEqual(3);
    expect(d.dropped).toBe(later!.index - 1);
    expect(later!.timeUs).toBe(later!.index * 40000);
    await d.stop();
  });
});

describe('fer video CLI', () => {
  let models: string;
  let dir: string;
  beforeAll(async () => {
    models = await makeTinyModels([1]);
    dir = tmpDir('fer-video-cli-');
  });

  it('bad inputs and outputs: one line naming the file or flag, non-zero exit, nothing left behind', () => {
    const missing = runFer(['video', path.join(dir, 'nope.mp4'), path.join(dir, 'o.mp4'), '--models', models]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^fer: .*nope\.mp4: no such file or directory$/);

    const text = path.join(dir, 'notes.mp4');
    fs.writeFileSync(text, 'this is not a video\n');
    const corrupt = runFer(['video', text, path.join(dir, 'o.mp4'), '--models', models]);
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr.trim()).toMatch(/^fer: .*notes\.mp4: not a readable video \(.+\)$/);

    const audioOnly = path.join(dir, 'tone.m4a');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.2', '-c:a', 'aac', audioOnly]);
    const noVideo = runFer(['video', audioOnly, path.join(dir, 'o.mp4'), '--models', models]);
    expect(noVideo.status).toBe(1);
    expect(noVideo.stderr.trim()).toMatch(/^fer: .*tone\.m4a: no video stream$/);

    fs.writeFileSync(path.join(dir, 'blocker'), '');
    const unwritable = runFer(['video', PAN, path.join(dir, 'blocker', 'o.mp4'), '--models', models]);
    expect(unwritable.status).toBe(1);
    expect(unwritable.stderr).toMatch(/cannot write video .*blocker\/o\.mp4/);

    const noFfmpeg = runFer(['video', PAN, path.join(dir, 'o.mp4'), '--models', models], { env: { FFMPEG_PATH: path.join(dir, 'no-ffmpeg') } });
    expect(noFfmpeg.status).toBe(1);
    expect(noFfmpeg.stderr).toMatch(/FFMPEG_PATH=.*no-ffmpeg: not an executable file \(ffmpeg not found\)/);

    const badFlag = runFer(['video', PAN, path.join(dir, 'o.mp4'), '--every', '0']);
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toMatch(/--every 0: expected an integer ≥ 1/);

    const nothing = runFer(['video', PAN, '--no-video']);
    expect(nothing.status).toBe(2);
    expect(nothing.stderr).toMatch(/--no-video: nothing to write/);

    for (const r of [missing, corrupt, noVideo, unwritable, noFfmpeg, badFlag, nothing]) noStack(r.stderr);
    expect(fs.readdirSync(dir).sort()).toEqual(['blocker', 'notes.mp4', 'tone.m4a']);
  });

  it('--help documents every flag with defaults and examples', () => {
    const r = runFer(['video', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--csv', '--jsonl', '--summary-json', '--no-video', '--every', '--smooth', '--realtime', '--max-frames', '--preset', '--crf', '--detect-size']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/--every <n>[\s\S]*\(default: 1\)/);
    expect(r.stdout).toContain('Examples:');
  });

  it('Ctrl-C (SIGINT) finishes a playable video with the frames so far and exits 130', async () => {
    const out = path.join(dir, 'interrupted.mp4');
    // --realtime reads the 3 s file at its own speed, so there is time to interrupt it.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fer'), 'video', PAN, out, '--models', models, '--realtime'], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { stderr += s; });
    // The encoder's temp file appears with the first annotated frame: interrupt shortly after that.
    const poll = setInterval(() => {
      if (leftovers(dir).length > 0) {
        clearInterval(poll);
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    }, 50);
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    clearInterval(poll);
    expect(code).toBe(130);
    noStack(stderr);
    const m = /the outputs hold the first (\d+) frames/.exec(stderr);
    expect(m).not.toBeNull();
    const frames = Number(m![1]);
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThan(75);
    expect(countFrames(out)).toBe(frames);
    expect(leftovers(dir)).toEqual([]);
  });
});
