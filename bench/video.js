#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:video`: frames/s of `fer video` end to end and milliseconds per stage (decode, detect,
// classify, annotate, encode) on ../shared/media/faces.mp4 (596×336, 115 frames, one face), with default
// settings and with --every 3. Goal: ≥ 25 fps end to end on 2 cores (real time). Prints numbers and ratios;
// asserts nothing.
//
// Then, per detector (--detectors, default blazeface,haar): detection ms per frame, frames where it finds a
// face, and `fer video` end to end (fps, frames with a reported face).
//
//   node bench/video.js [--input FILE] [--models DIR] [--nets 1,2,3] [--runs N] [--detector auto|haar|…] [--detect-size PX]
//                      [--detectors blazeface,haar]
//                      [--no-worker]   (detect on the main thread, to see what the worker buys)
//
// Without --models it times random-weight nets of the real architectures (the net registry, NETS): the same
// compute as trained ones. Decode and encode run in ffmpeg processes in parallel with the JavaScript stages,
// so they are timed alone first; in the end-to-end runs, "decode wait"/"encode wait" is the time the JS
// thread waited for them (≈ 0 when they keep up).

const fs = require('fs');
const os = require('os');
const path = require('path');
const { arg, load, median, fer, randomModels } = require('./util');

const ROOT = path.join(__dirname, '..');
const {
  createPredictor, rgbToGray, cropFaces, annotateRgb,
  processVideo, VIDEO_DEFAULTS, FrameDecoder, VideoEncoder, findFfmpeg, findFfprobe, probeVideo, resolveSource, ffmpegFeatures,
} = fer();

const now = () => Number(process.hrtime.bigint()) / 1e6;
const f1 = (v) => v.toFixed(1);
const f2 = (v) => v.toFixed(2);

async function main() {
  const shared = process.env.FER_SHARED ?? path.join(ROOT, '..', 'shared');
  let input = arg('input', path.join(shared, 'media', 'faces.mp4'));
  if (!fs.existsSync(input)) {
    console.log(`${input} not found: using the test fixture instead (numbers are not comparable with faces.mp4)`);
    input = path.join(ROOT, 'test', 'fixtures', 'astronaut-pan.mp4');
  }
  const nets = arg('nets', '1,2,3').split(',').map(Number);
  const runs = Number(arg('runs', '2'));
  const engine = arg('detector', 'auto');
  const detect = { ...VIDEO_DEFAULTS.detect, detectSize: Number(arg('detect-size', String(VIDEO_DEFAULTS.detect.detectSize))) };
  console.log(`bench:video — ${os.cpus().length} cores, load ${load()}`);
  const ffmpeg = findFfmpeg();
  const features = ffmpegFeatures(ffmpeg);
  const source = resolveSource(input);
  const info = await probeVideo(source, findFfprobe());
  console.log(`input ${path.relative(process.cwd(), input)}: ${info.width}×${info.height}, ${info.fps} fps, ${info.frameCount ?? '?'} frames; ffmpeg ${ffmpeg}`);
  const models = arg('models', undefined) ?? await randomModels(nets);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-bench-video-'));

  // --- decode alone: ffmpeg → raw RGB24 pipe → JS frames
  let t0 = now();
  const frames = [];
  const decoder = new FrameDecoder({ ffmpeg, features, source, width: info.width, height: info.height, strict: true });
  for (let f = await decoder.next(); f; f = await decoder.next()) frames.push(f);
  const decodeMs = now() - t0;
  const n = frames.length;
  console.log(`decode alone: ${n} frames in ${Math.round(decodeMs)} ms = ${f1(n / (decodeMs / 1000))} fps (${f2(decodeMs / n)} ms/frame)`);

  // --- encode alone: JS frames → Matroska pipe → ffmpeg libx264 (default preset) → mp4
  t0 = now();
  const encoder = new VideoEncoder({ ffmpeg, features, target: path.join(work, 'encode-only.mp4'), width: info.width, height: info.height, timeBaseDen: info.timeBaseDen, preset: VIDEO_DEFAULTS.preset, crf: VIDEO_DEFAULTS.crf });
  for (const f of frames) await encoder.write(f.rgb, f.timeUs);
  await encoder.finish();
  const encodeMs = now() - t0;
  console.log(`encode alone (x264 ${VIDEO_DEFAULTS.preset}): ${f1(n / (encodeMs / 1000))} fps (${f2(encodeMs / n)} ms/frame)`);

  // --- the JS stages alone, per frame, at the default settings
  const predictor = await createPredictor({ modelsDir: models, nets, detector: engine });
  console.log(`backend ${predictor.backend.description}; detector ${predictor.detector.engine}; nets ${predictor.nets.join(',')}`
    + `${arg('models', undefined) ? ` from ${models}` : ' (random-weight real architectures)'}; detect-size ${detect.detectSize}`);
  // Wall time suffers from other load on the machine; CPU time (all threads of this process) much less so.
  const st = { gray: [], detect: [], classify: [], annotate: [] };
  const cpu = { gray: 0, detect: 0, classify: 0, annotate: 0 };
  const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const timed = async (k, fn) => {
    const t = now();
    const c = cpuNow();
    const v = await fn();
    cpu[k] += cpuNow() - c;
    st[k].push(now() - t);
    return v;
  };
  let found = 0;
  const crops = [];
  for (const f of frames) {
    const rgb = Buffer.from(f.rgb);
    const gray = await timed('gray', () => rgbToGray(rgb, info.width, info.height));
    const boxes = await timed('detect', () => predictor.detector.detect(gray, info.width, info.height, detect));
    if (boxes.length > 0) found++;
    if (boxes.length > 0) crops.push(cropFaces(gray, info.width, info.height, boxes));
    const scores = await timed('classify', () => predictor.classifyBoxes(gray, info.width, info.height, boxes));
    await timed('annotate', () => annotateRgb(rgb, info.width, info.height, boxes.map((box, i) => ({ box, label: 'Happy', confidence: scores[i * 7 + 3], scores: scores.subarray(i * 7, i * 7 + 7), trackId: i + 1 }))));
  }
  const med = (k) => median(st[k]);
  const jsSum = med('gray') + med('detect') + med('classify') + med('annotate');
  console.log(`JS stages alone, median wall ms/frame: grey ${f2(med('gray'))}, detect ${f2(med('detect'))}, classify one face at a time ${f2(med('classify'))} `
    + `(${nets.length} nets), annotate ${f2(med('annotate'))} = ${f2(jsSum)} ms; face found in ${found}/${n} frames`);
  console.log(`   CPU ms/frame: grey ${f2(cpu.gray / n)}, detect ${f2(cpu.detect / n)}, classify ${f2(cpu.classify / n)}, annotate ${f2(cpu.annotate / n)}`);
  // What fer video does: the faces of 8 frames classified in one batch.
  const batch = new Uint8Array(8 * 48 * 48);
  for (let i = 0; i < 8; i++) batch.set(crops[i % crops.length], i * 48 * 48);
  predictor.classify(batch, 8);
  const bt = [];
  const bc = cpuNow();
  for (let r = 0; r < 8; r++) {
    const t = now();
    predictor.classify(batch, 8);
    bt.push((now() - t) / 8);
  }
  console.log(`   classify in batches of 8 faces: ${f2(median(bt))} ms/face wall, ${f2((cpuNow() - bc) / 64)} ms/face CPU`);
  predictor.dispose();

  // --- end to end, as `fer video in.mp4 out.mp4 [--every 3]` after start-up (models loaded once, reused)
  t0 = now();
  const ready = await createPredictor({ modelsDir: models, nets, detector: engine, detect, detectInWorker: !process.argv.includes('--no-worker') });
  console.log(`start-up (backend + ${nets.length} models + detector and its worker + warm-up): ${Math.round(now() - t0)} ms`);
  const results = {};
  for (const [name, extra] of [['default', {}], ['--every 3', { every: 3 }], ['--no-video', { noVideo: true }]]) {
    const fps = [];
    let last;
    let cpuPerFrame = Infinity;
    for (let r = 0; r < runs; r++) {
      const out = path.join(work, `out-${r}.mp4`);
      const c0 = cpuNow();
      const res = await processVideo({
        input, output: extra.noVideo ? undefined : out, csv: extra.noVideo ? path.join(work, 'rows.csv') : undefined,
        predictor: ready, detect, every: extra.every,
      });
      fps.push(res.fps);
      cpuPerFrame = Math.min(cpuPerFrame, (cpuNow() - c0) / res.frames);
      last = res;
    }
    const best = Math.max(...fps);
    results[name] = best;
    const s = last.stages;
    const per = (v) => f2(v / last.frames);
    console.log(`end to end ${name.padEnd(10)}: ${f1(best)} fps (best of ${runs}: ${fps.map(f1).join(', ')})  → goal ≥ 25 fps: ${f2(best / 25)}× (${best >= 25 ? 'met' : 'NOT met'})`);
    console.log(`   ms/frame on the JS thread: decode wait ${per(s.decodeWait)}, grey ${per(s.gray)}, detect ${per(s.detect)}, classify ${per(s.classify)}, `
      + `annotate ${per(s.annotate)}, encode wait ${per(s.encode)}; faces in ${last.framesWithFace}/${last.frames} frames, ${last.tracks.length} track(s)`);
    console.log(`   CPU of this process (all threads, not ffmpeg's): ${f1(cpuPerFrame)} ms/frame`);
  }
  ready.dispose();
  console.log(`--every 3 vs default: ${f2(results['--every 3'] / results.default)}× the frames/s`);

  // --- per detector: detection alone, then end to end with its own worker, default video settings
  console.log(`\nper detector (video defaults: --min-face ${detect.minFace}, --min-score ${detect.minScore}; frames ${info.width}×${info.height}):`);
  for (const name of arg('detectors', 'blazeface,haar').split(',')) {
    const p = await createPredictor({ modelsDir: models, nets, detector: name, detect, detectInWorker: true });
    const times = [];
    let withFace = 0;
    let boxes = 0;
    for (const f of frames) {
      const gray = rgbToGray(f.rgb, info.width, info.height);
      const t = now();
      const b = p.detector.detect(gray, info.width, info.height, detect);
      times.push(now() - t);
      boxes += b.length;
      if (b.length > 0) withFace++;
    }
    const res = await processVideo({ input, output: path.join(work, `det-${name}.mp4`), predictor: p, detect });
    p.dispose();
    console.log(`  ${p.detector.engine.padEnd(10)} detect ${f2(median(times))} ms/frame (median), a face in ${withFace}/${n} frames (${f1(100 * withFace / n)}%), `
      + `${f2(boxes / n)} boxes/frame; fer video ${f1(res.fps)} fps, faces reported in ${res.framesWithFace}/${res.frames} frames `
      + `(${f1(100 * res.framesWithFace / res.frames)}%), ${res.tracks.length} track(s)`);
  }
  console.log(`load now ${load()}`);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
