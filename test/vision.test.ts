import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { FIXTURES, runFer, tmpDir } from './helpers';
import { makeTinyModels } from './fixtures/tinyModels';
import { loadOpenCV } from '../src/vision/opencv';
import { createDetector, dropNested, nativeAvailable } from '../src/vision/detector';
import { cropFace, rgbToGray } from '../src/vision/faces';
import { annotateRgb, CLASS_COLORS } from '../src/vision/annotate';
import { decodeImage, loadImage } from '../src/vision/image';
import { compareExpressions, largestFaces } from '../src/vision/compare';
import { expandInputs } from '../src/vision/inputs';
import { FileResult, planOutputs, predictFiles } from '../src/vision/batch';
import { createPredictor, liveTensors, Predictor } from '../src/vision/predict';
import { Box, FaceDetector } from '../src/vision/types';
import * as tf from '@tensorflow/tfjs';
import { CLASS_NAMES } from '../src/data/classes';
import { buildNet } from '../src/models/nets';
import { loadModelDir, saveModelDir } from '../src/models/io';
import { foldForInference } from '../src/models/fold';
import { FerError } from '../src/util/errors';
import { defaultsForBackend, readModelDefaults } from '../src/models/checkpoints';

const ASTRONAUT = path.join(FIXTURES, 'astronaut.png');
const NO_FACE = path.join(FIXTURES, 'camera-no-face.png');
/** Where the astronaut's face is on the 512² image (shared/README.md). */
const ASTRONAUT_FACE: Box = { x: 177, y: 66, w: 95, h: 95 };

function expectNear(box: Box, want: Box, tol: number): void {
  for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(box[k] - want[k])).toBeLessThanOrEqual(tol);
}

describe('rgbToGray', () => {
  it('matches OpenCV cvtColor(RGB2GRAY) exactly on a random image', async () => {
    const cv = await loadOpenCV();
    const w = 37;
    const h = 23;
    const rgb = new Uint8Array(w * h * 3);
    let seed = 7;
    for (let i = 0; i < rgb.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; rgb[i] = seed >>> 24; }
    rgb.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255], 0);
    const src = cv.matFromArray(h, w, cv.CV_8UC3, rgb);
    const dst = new cv.Mat();
    cv.cvtColor(src, dst, cv.COLOR_RGB2GRAY);
    const ours = rgbToGray(rgb, w, h);
    expect(Array.from(ours)).toEqual(Array.from(dst.data as Uint8Array));
    expect(Array.from(ours.subarray(0, 4))).toEqual([76, 150, 29, 255]);
    src.delete();
    dst.delete();
  });
});

describe('cropFace', () => {
  it('area-averages a 2× downscale like OpenCV INTER_AREA and keeps left/right orientation', async () => {
    const cv = await loadOpenCV();
    const w = 120;
    const h = 100;
    const gray = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) gray[y * w + x] = (x * 7 + y * 3 + ((x * y) % 11) * 9) & 255;
    const box = { x: 10, y: 4, w: 96, h: 96 };
    const crop = cropFace(gray, w, h, box, 0);
    const roi = cv.matFromArray(h, w, cv.CV_8UC1, gray).roi(new cv.Rect(box.x, box.y, box.w, box.h));
    const ref = new cv.Mat();
    cv.resize(roi, ref, new cv.Size(48, 48), 0, 0, cv.INTER_AREA);
    const diffs = Array.from(crop, (v, i) => Math.abs(v - ref.data[i]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
    roi.delete();
    ref.delete();
  });

  it('returns 48×48, adds the margin as context, and replicates borders for boxes leaving the image', () => {
    const w = 100;
    const h = 100;
    // Dark 60×60 square at (20,20) on white: the tight crop is all dark, a 0.25 margin shows white around it.
    const gray = new Uint8Array(w * h).fill(255);
    for (let y = 20; y < 80; y++) for (let x = 20; x < 80; x++) gray[y * w + x] = 0;
    const tight = cropFace(gray, w, h, { x: 20, y: 20, w: 60, h: 60 }, 0);
    expect(tight.length).toBe(48 * 48);
    expect(Math.max(...tight)).toBe(0);
    const wide = cropFace(gray, w, h, { x: 20, y: 20, w: 60, h: 60 }, 0.25);
    expect(wide[0]).toBe(255);
    expect(wide[24 * 48 + 24]).toBe(0);
    // Smaller than 48 px: enlarged (bilinear), still dark in the middle.
    expect(cropFace(gray, w, h, { x: 40, y: 40, w: 20, h: 20 }, 0)[24 * 48 + 24]).toBe(0);
    // A box hanging off the top-left corner: the outside repeats the corner pixel (white), no throw.
    const off = cropFace(gray, w, h, { x: -20, y: -20, w: 30, h: 30 }, 0);
    expect(off.every((v) => v === 255)).toBe(true);
  });
});

describe('face detection (OpenCV.js)', () => {
  let detector: FaceDetector;
  beforeAll(async () => { detector = await createDetector('wasm'); });
  afterAll(() => detector.dispose());

  it('finds exactly the astronaut\'s face and nothing in the no-face photo', async () => {
    expect(detector.engine).toBe('wasm');
    const img = await loadImage(ASTRONAUT);
    expect([img.width, img.height]).toEqual([512, 512]);
    const boxes = detector.detect(img.gray, img.width, img.height);
    expect(boxes).toHaveLength(1);
    expectNear(boxes[0], ASTRONAUT_FACE, 6);
    const none = await loadImage(NO_FACE);
    expect(detector.detect(none.gray, none.width, none.height)).toEqual([]);
  });

  it('maps boxes from the downscaled copy back to original pixels, and honours --min-face', async () => {
    const big = await decodeImage(await sharp(ASTRONAUT).resize(1024, 1024).png().toBuffer(), 'astronaut@2x');
    // Default --min-face 48: found on a 512-px copy (24/48), reported in 1024-px pixels.
    const boxes = detector.detect(big.gray, big.width, big.height);
    expect(boxes).toHaveLength(1);
    expectNear(boxes[0], { x: 354, y: 132, w: 190, h: 190 }, 12);
    expect(detector.detect(big.gray, big.width, big.height, { minFace: 300 })).toEqual([]);
  });

  it('drops a box lying mostly inside a larger one (the cascade firing on part of a face)', () => {
    const face = { x: 100, y: 100, w: 100, h: 100 };
    const mouth = { x: 130, y: 150, w: 45, h: 45 };
    const neighbour = { x: 190, y: 100, w: 100, h: 100 }; // overlaps by 10%: a second face, kept
    expect(dropNested([face, mouth, neighbour])).toEqual([face, neighbour]);
  });

  it('rejects bad options with the flag named', () => {
    const g = new Uint8Array(100);
    expect(() => detector.detect(g, 10, 10, { scaleFactor: 1 })).toThrow(/^scaleFactor 1: must be greater than 1$/);
    expect(() => detector.detect(g, 10, 20)).toThrow(RangeError);
  });
});

if (nativeAvailable()) {
  describe('face detection (native OpenCV)', () => {
    it('gives the same boxes as OpenCV.js on the test photos', async () => {
      const native = await createDetector('native');
      const wasm = await createDetector('wasm');
      expect(native.engine).toBe('native');
      for (const f of [ASTRONAUT, NO_FACE]) {
        const img = await loadImage(f);
        const a = native.detect(img.gray, img.width, img.height);
        const b = wasm.detect(img.gray, img.width, img.height);
        expect(a.length).toBe(b.length);
        a.forEach((box, i) => expectNear(box, b[i], 1));
      }
      wasm.dispose();
      native.dispose();
    });

    it('a batch predictor keeps native detection in the main thread (the binding cannot load in two threads)', async () => {
      const p = await createPredictor({ modelsDir: await makeTinyModels([1]), detector: 'haar', detectInWorker: true });
      expect(p.detector.engine).toBe('native');
      const img = await loadImage(ASTRONAUT);
      expect(p.predictGray(img.gray, img.width, img.height)).toHaveLength(1);
      expect(await p.detectAsync(img.gray, img.width, img.height)).toHaveLength(1);
      p.dispose();
    });
  });
} else {
  describe('face detection (native OpenCV)', () => {
    it.skip('skipped: @u4/opencv4nodejs is not installed (optional; see README)', () => undefined);
    it('--detector native says how to install the binding', async () => {
      await expect(createDetector('native')).rejects.toThrow(/opencv4nodejs is not installed; install .*NODE_PATH/);
    });
  });
}

describe('annotateRgb', () => {
  it('draws the box in the class colour, a label, and a score bar split by the scores; nothing else', async () => {
    const w = 200;
    const h = 160;
    const rgb = new Uint8Array(w * h * 3).fill(40);
    const box = { x: 60, y: 50, w: 70, h: 70 };
    await annotateRgb(rgb, w, h, [{ box, label: 'Happy', confidence: 0.5, scores: [0, 0, 0, 0.5, 0.5, 0, 0], trackId: 2 }]);
    const px = (x: number, y: number) => Array.from(rgb.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
    const happy = [...CLASS_COLORS[3]];
    const sad = [...CLASS_COLORS[4]];
    expect(px(box.x, box.y + 35)).toEqual(happy); // left edge
    expect(px(box.x + box.w - 1, box.y + 35)).toEqual(happy); // right edge
    expect(px(box.x + 35, box.y + 35)).toEqual([40, 40, 40]); // inside untouched
    expect(px(5, 5)).toEqual([40, 40, 40]); // far away untouched
    // Label above the box: background in the class colour with dark text on it.
    let labelBg = 0;
    let ink = 0;
    for (let y = 30; y < box.y; y++) for (let x = box.x; x < box.x + 60; x++) {
      const p = px(x, y);
      if (p.join() === happy.join()) labelBg++;
      else if (p[0] < 120) ink++;
    }
    expect(labelBg).toBeGreaterThan(200);
    expect(ink).toBeGreaterThan(20);
    // Score bar under the box: left half Happy, right half Sad.
    const barY = box.y + box.h + 2;
    expect(px(box.x + 10, barY)).toEqual(happy);
    expect(px(box.x + box.w - 10, barY)).toEqual(sad);
  });
});

describe('loadImage', () => {
  it('gives one-line errors naming the file for truncated PNGs, text files and missing files', async () => {
    const dir = tmpDir();
    const truncated = path.join(dir, 'cut.png');
    fs.writeFileSync(truncated, fs.readFileSync(ASTRONAUT).subarray(0, 40000));
    const text = path.join(dir, 'notes.jpg');
    fs.writeFileSync(text, 'this is not an image\n');
    await expect(loadImage(truncated)).rejects.toThrow(new FerError(`${truncated}: not a readable image (truncated or corrupt data)`));
    await expect(loadImage(text)).rejects.toThrow(new FerError(`${text}: not a readable image (unsupported or unrecognised format)`));
    await expect(loadImage(path.join(dir, 'nope.png'))).rejects.toThrow(/nope\.png: no such file or directory/);
  });

  it('applies EXIF orientation, expands grey and flattens transparency onto white', async () => {
    // A 40×20 JPEG stored sideways (orientation 6 = rotate 90° clockwise to display).
    const jpeg = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const rotated = await decodeImage(jpeg, 'rotated.jpg');
    expect([rotated.width, rotated.height]).toEqual([20, 40]);
    const grey = await decodeImage(await sharp(Buffer.alloc(6 * 4, 90), { raw: { width: 6, height: 4, channels: 1 } }).png().toBuffer(), 'grey.png');
    expect(grey.rgb.length).toBe(6 * 4 * 3);
    expect(Array.from(grey.rgb.subarray(0, 3))).toEqual([90, 90, 90]);
    expect(grey.gray[0]).toBe(90);
    const clear = await decodeImage(await sharp({ create: { width: 3, height: 3, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer(), 'clear.png');
    expect(Array.from(clear.rgb.subarray(0, 3))).toEqual([255, 255, 255]);
  });
});

describe('compareExpressions', () => {
  it('is 1 / 0 for identical distributions and 0 / 1 for disjoint ones', () => {
    const p = [0.1, 0.05, 0.05, 0.5, 0.1, 0.1, 0.1];
    const same = compareExpressions(p, p);
    expect(same.cosine).toBeCloseTo(1, 12);
    expect(same.jsDivergence).toBeCloseTo(0, 12);
    expect(same.labelsAgree).toBe(true);
    const disjoint = compareExpressions([1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0]);
    expect(disjoint.cosine).toBe(0);
    expect(disjoint.jsDivergence).toBeCloseTo(1, 12);
    expect(disjoint.labelsAgree).toBe(false);
  });

  it('lists the emotions that differ most first, with a known JS divergence', () => {
    // Half-overlapping: JSD = 1 - H(…) terms give exactly 0.5 bits for [½,½,0] vs [0,½,½].
    const r = compareExpressions([0.5, 0.5, 0, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0, 0, 0]);
    expect(r.jsDivergence).toBeCloseTo(0.5, 12);
    expect(r.cosine).toBeCloseTo(0.5, 12);
    expect(r.differences.slice(0, 2).map((d) => d.label).sort()).toEqual(['Angry', 'Fear']);
    expect(r.differences[0].diff).toBeCloseTo(r.differences[0].b - r.differences[0].a, 12);
    expect(() => compareExpressions([1, 2], [1, 2])).toThrow(/expected 7/);
  });

  it('largestFaces picks by area and orders left to right', () => {
    const f = (x: number, s: number) => ({ box: { x, y: 0, w: s, h: s }, label: 'Happy' as const, scores: Object.fromEntries(CLASS_NAMES.map((c) => [c, 1 / 7])) as never });
    expect(largestFaces([f(300, 50), f(10, 20), f(100, 80)], 2).map((p) => p.box.x)).toEqual([100, 300]);
  });
});

describe('inputs and outputs', () => {
  it('expands directories (images only) and globs, and reports inputs that match nothing', () => {
    const dir = tmpDir();
    for (const f of ['b.png', 'a.jpg', 'notes.txt', '.hidden.png', 'sub/c.png']) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), 'x');
    }
    // A folder is searched through its subfolders unless told otherwise (hidden names skipped either way).
    expect(expandInputs([dir]).files).toEqual([path.join(dir, 'a.jpg'), path.join(dir, 'b.png'), path.join(dir, 'sub', 'c.png')]);
    expect(expandInputs([dir], { recursive: false }).files).toEqual([path.join(dir, 'a.jpg'), path.join(dir, 'b.png')]);
    expect(expandInputs([`${dir}/**/*.png`]).files).toEqual([path.join(dir, 'b.png'), path.join(dir, 'sub', 'c.png')]);
    expect(expandInputs([`${dir}/*.[jJ]pg`]).files).toEqual([path.join(dir, 'a.jpg')]);
    const r = expandInputs([path.join(dir, 'notes.txt'), path.join(dir, 'missing.png'), `${dir}/*.gif`]);
    expect(r.files).toEqual([path.join(dir, 'notes.txt')]);
    expect(r.problems.map((p) => p.message)).toEqual([`${path.join(dir, 'missing.png')}: no such file or directory`, `${dir}/*.gif: no image matches this pattern`]);
  });

  it('plans one output file, or a directory with de-duplicated names, and never overwrites an input', () => {
    expect([...planOutputs(['x/a.jpg'], 'out.png').values()]).toEqual(['out.png']);
    expect([...planOutputs(['x/a.jpg', 'y/a.jpg', 'z/b.gif'], 'out').values()]).toEqual(['out/a.jpg', 'out/a-2.jpg', 'out/b.png']);
    expect(() => planOutputs(['x/a.jpg', 'x/b.jpg'], 'x')).toThrow(/^out x\/a\.jpg is the input x\/a\.jpg/);
  });
});

describe('Predictor (tiny untrained models)', () => {
  let models: string;
  let predictor: Predictor;
  beforeAll(async () => {
    models = await makeTinyModels([1, 2]);
    predictor = await createPredictor({ modelsDir: models, backend: 'auto', detector: 'wasm' });
  });
  afterAll(() => predictor.dispose());

  it('detects and classifies the astronaut: one face, 7 scores summing to 1, label = top score, no tensor leak', async () => {
    expect(predictor.nets).toEqual([1, 2]);
    const img = await loadImage(ASTRONAUT);
    predictor.predictGray(img.gray, img.width, img.height);
    const before = liveTensors();
    const faces = predictor.predictGray(img.gray, img.width, img.height);
    expect(liveTensors()).toBe(before);
    expect(faces).toHaveLength(1);
    expectNear(faces[0].box, ASTRONAUT_FACE, 6);
    const scores = CLASS_NAMES.map((c) => faces[0].scores[c]);
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(faces[0].scores[faces[0].label]).toBe(Math.max(...scores));
  });

  it('ensembles by averaging the nets, and TTA leaves a mirror-symmetric face unchanged', async () => {
    const face = new Uint8Array(48 * 48);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) face[y * 48 + x] = (Math.abs(x - 23.5) * 9 + y * 3) & 255;
    const single = await Promise.all([1, 2].map((n) => createPredictor({ modelsDir: models, nets: [n], detector: 'wasm' })));
    const [s1, s2] = single.map((p) => p.classify(face, 1));
    const both = predictor.classify(face, 1);
    both.forEach((v, i) => expect(v).toBeCloseTo((s1[i] + s2[i]) / 2, 6));
    const withTta = await createPredictor({ modelsDir: models, tta: true, detector: predictor.detector });
    withTta.classify(face, 1).forEach((v, i) => expect(v).toBeCloseTo(both[i], 5));
    // …while an asymmetric face does change under TTA (the models are not mirror-invariant).
    const skew = face.map((v, i) => (i % 48 < 10 ? 0 : v));
    const diff = withTta.classify(skew, 1).reduce((s, v, i) => s + Math.abs(v - predictor.classify(skew, 1)[i]), 0);
    expect(diff).toBeGreaterThan(1e-4);
    single.forEach((p) => p.dispose());
    withTta.dispose();
  });

  it("a models directory's defaults.json sets the nets and TTA used when none are given; given options win; a bad one is one line", async () => {
    expect(predictor.tta).toBe('none');
    fs.writeFileSync(path.join(models, 'defaults.json'), JSON.stringify({ nets: [2], tta: 'flip', why: 'test' }));
    try {
      const p = await createPredictor({ modelsDir: models, detector: predictor.detector });
      expect([p.nets, p.tta]).toEqual([[2], 'flip']);
      const q = await createPredictor({ modelsDir: models, nets: [1], tta: 'none', detector: predictor.detector });
      expect([q.nets, q.tta]).toEqual([[1], 'none']);
      p.dispose();
      q.dispose();
      const cli = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm', '--json']);
      expect(cli.status).toBe(0);
      expect(cli.stderr).toMatch(/nets 2 from .* · tta flip/);
      fs.writeFileSync(path.join(models, 'defaults.json'), JSON.stringify({ nets: [7] }));
      await expect(createPredictor({ modelsDir: models, detector: predictor.detector })).rejects.toThrow(/defaults\.json: "nets" must be/);
      const bad = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm']);
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/defaults\.json: "nets" must be a non-empty list/)]);
    } finally {
      fs.rmSync(path.join(models, 'defaults.json'), { force: true });
    }
  });

  it('defaults.json "backends" lays a per-backend setting over the top level for the backend that runs; a bad entry is one line', async () => {
    const running = predictor.backend.name;
    const other = running === 'wasm' ? 'cpu' : 'wasm';
    const file = path.join(models, 'defaults.json');
    fs.writeFileSync(file, JSON.stringify({ nets: [1, 2], tta: 'none', weights: [1, 3], backends: { [running]: { tta: 'flip' }, [other]: { nets: [2] } } }));
    try {
      const p = await createPredictor({ modelsDir: models, detector: predictor.detector });
      expect([p.nets, p.tta, p.weights]).toEqual([[1, 2], 'flip', [1, 3]]);
      p.dispose();
      const d = readModelDefaults(models);
      expect(defaultsForBackend(d, other)).toEqual({ nets: [2], tta: 'none', weights: undefined }); // weights belong to nets 1,2
      expect(defaultsForBackend(d, 'webgpu')).toEqual({ nets: [1, 2], tta: 'none', weights: [1, 3] });
      const cli = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm', '--backend', running, '--json']);
      expect(cli.status).toBe(0);
      expect(cli.stderr).toMatch(/nets 1,2 .*from .* · tta flip/);
      const elsewhere = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm', '--backend', other, '--json']);
      expect(elsewhere.status).toBe(0);
      expect(elsewhere.stderr).toMatch(/nets 2 from /);
      expect(elsewhere.stderr).not.toMatch(/tta/);
      fs.writeFileSync(file, JSON.stringify({ tta: 'none', backends: { gpu: { tta: 'flip' } } }));
      const bad = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm']);
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/defaults\.json: "backends": unknown backend "gpu" \(choose tensorflow, webgpu, native, wasm, cpu\)$/)]);
      fs.writeFileSync(file, JSON.stringify({ backends: { native: { weights: [1, 1] } } }));
      expect(() => readModelDefaults(models)).toThrow(/"backends\.native\.weights": needs "nets"/);
      fs.writeFileSync(file, JSON.stringify({ backends: { native: { tta: 'mirror' } } }));
      expect(() => readModelDefaults(models)).toThrow(/"backends\.native\.tta" must be one of/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('weights the ensemble (given, or from defaults.json with its nets); bad or mismatched weights are one line naming --weights', async () => {
    const face = new Uint8Array(48 * 48);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) face[y * 48 + x] = (x * 7 + y * 11 + ((x * y) % 13) * 9) & 255;
    const [p1, p2] = await Promise.all([1, 2].map((n) => createPredictor({ modelsDir: models, nets: [n], detector: predictor.detector })));
    const [a, b] = [p1.classify(face, 1), p2.classify(face, 1)];
    p1.dispose();
    p2.dispose();
    expect(a.reduce((d, v, i) => d + Math.abs(v - b[i]), 0)).toBeGreaterThan(1e-3); // else weights could not show
    const weighted = await createPredictor({ modelsDir: models, nets: [1, 2], weights: [1, 3], detector: predictor.detector });
    expect(weighted.weights).toEqual([1, 3]);
    weighted.classify(face, 1).forEach((v, i) => expect(v).toBeCloseTo((a[i] + 3 * b[i]) / 4, 6));
    weighted.dispose();
    expect(predictor.weights).toBeUndefined();
    await expect(createPredictor({ modelsDir: models, nets: [1, 2], weights: [1], detector: predictor.detector }))
      .rejects.toThrow(/^weights 1: 1 weights for 2 nets/);
    await expect(createPredictor({ modelsDir: models, weights: [-1, 2], detector: predictor.detector })).rejects.toThrow(/^weights -1,2: expected numbers ≥ 0/);

    fs.writeFileSync(path.join(models, 'defaults.json'), JSON.stringify({ nets: [2, 1], weights: [0, 1] }));
    try {
      const p = await createPredictor({ modelsDir: models, detector: predictor.detector });
      expect([p.nets, p.weights]).toEqual([[2, 1], [0, 1]]);
      p.classify(face, 1).forEach((v, i) => expect(v).toBeCloseTo(a[i], 6)); // all the weight on net 1
      p.dispose();
      const chosen = await createPredictor({ modelsDir: models, nets: [1, 2], detector: predictor.detector }); // its own nets: equal
      expect(chosen.weights).toBeUndefined();
      chosen.classify(face, 1).forEach((v, i) => expect(v).toBeCloseTo((a[i] + b[i]) / 2, 6));
      chosen.dispose();
      const cli = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm', '--net', '1,2', '--weights', '3,1', '--json']);
      expect(cli.status).toBe(0);
      expect(cli.stderr).toMatch(/nets 1,2 \(weights 3,1\) from /);
      const mismatch = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm', '--net', '1', '--weights', '1,1']);
      expect(mismatch.status).toBe(2);
      expect(mismatch.stderr.trim().split('\n')).toEqual([expect.stringMatching(/--weights 1,1: 2 weights for 1 net\b/)]);
      const notNumbers = runFer(['predict', ASTRONAUT, '--models', models, '--weights', '1,x']);
      expect(notNumbers.status).toBe(2);
      expect(notNumbers.stderr).toMatch(/--weights 1,x: expected comma-separated numbers/);
      fs.writeFileSync(path.join(models, 'defaults.json'), JSON.stringify({ weights: [1, 2] }));
      const bad = runFer(['predict', ASTRONAUT, '--models', models, '--detector', 'wasm']);
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/defaults\.json: "weights": needs "nets"/)]);
    } finally {
      fs.rmSync(path.join(models, 'defaults.json'), { force: true });
    }
  });

  it('predictFiles: detection in a worker thread gives the same results as in-thread; a bad file does not stop the batch', async () => {
    const dir = tmpDir();
    const bad = path.join(dir, 'bad.png');
    fs.writeFileSync(bad, 'not a png');
    const files = [ASTRONAUT, bad, NO_FACE, ASTRONAUT];
    const threaded = await createPredictor({ modelsDir: models, detector: 'wasm', detectInWorker: true });
    const results: FileResult[] = [];
    for await (const r of predictFiles(files, threaded)) results.push(r);
    threaded.dispose();
    expect(results.map((r) => r.file)).toEqual(files);
    expect(results.map((r) => r.faces.length)).toEqual([1, 0, 0, 1]);
    expect(results[1].error).toMatch(/bad\.png: not a readable image/);
    const img = await loadImage(ASTRONAUT);
    const direct = predictor.predictGray(img.gray, img.width, img.height);
    expect(results[0].faces[0].box).toEqual(direct[0].box);
    CLASS_NAMES.forEach((c) => expect(results[3].faces[0].scores[c]).toBeCloseTo(direct[0].scores[c], 6));
  });

  it('says how to get a model when the directory has none', async () => {
    await expect(createPredictor({ modelsDir: tmpDir() })).rejects.toThrow(/no trained model in .*run `fer train`/);
  });
});

describe('foldForInference', () => {
  it('folds batch-norm and ReLU into the convs of all three real nets (saved and reloaded) with the same outputs', async () => {
    const x = tf.randomUniform([3, 48, 48, 1], 0, 1, 'float32', 5);
    for (const id of [1, 2, 3]) {
      const net = buildNet(id, id, { width: 0.25 });
      // Batch-norm statistics away from the identity, as after training.
      for (const l of net.layers) {
        if (l.getClassName() !== 'BatchNormalization') continue;
        l.setWeights(l.getWeights().map((w, i) => (i === 3 ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 7) : tf.randomNormal(w.shape, i === 0 ? 1 : 0, 0.3, 'float32', 11 + i))));
      }
      const dir = path.join(tmpDir(), `net${id}`);
      await saveModelDir(net, dir);
      const loaded = await loadModelDir(dir);
      const folded = foldForInference(loaded);
      expect(folded).not.toBe(loaded);
      const kinds = folded.layers.map((l) => l.getClassName());
      expect(kinds).not.toContain('BatchNormalization');
      expect(kinds).not.toContain('Dropout');
      expect(folded.layers.length).toBeLessThan(loaded.layers.length / 1.5);
      const a = loaded.predict(x) as tf.Tensor;
      const b = folded.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(a.sub(b))).dataSync()[0]).toBeLessThan(1e-5);
      expect(tf.argMax(a, 1).dataSync()).toEqual(tf.argMax(b, 1).dataSync());
      [net, loaded, folded, a, b].forEach((t) => t.dispose());
    }
  });

  it('leaves a model without batch-norm or dropout as it is', async () => {
    const model = await loadModelDir(path.join(await makeTinyModels([1]), 'net1', 'best'));
    expect(foldForInference(model)).toBe(model);
  });
});
