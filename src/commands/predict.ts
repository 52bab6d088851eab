import { Command, Option } from 'commander';
import { action, examples, onStopSignals } from './common';
import { ModelFlags, addModelOptions, detectOptions, predictorFor } from './options';
import { EXIT } from '../util/errors';
import { colorErr, info } from '../util/log';
import { createProgress } from '../util/progress';
import { CLASS_NAMES } from '../data/classes';
import { expandInputs } from '../vision/inputs';
import { confidenceOf } from '../vision/predict';
import { FileResult, planOutputs, predictFiles } from '../vision/batch';
import { FacePrediction } from '../vision/types';
import { faceJson, fileResultJson } from '../vision/json';

// The model/detector flags moved to ./options; re-exported so older imports keep working.
export { ModelFlags, addModelOptions, detectOptions, predictorFor } from './options';

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
      + '(existing, ending in /, or without extension) mirroring the inputs\' names and subfolders (gif/avif/bmp/pgm/ppm → png); never an input (default: none)')
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
