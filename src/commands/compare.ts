import { Command } from 'commander';
import { action, examples } from './common';
import { EXIT, FerError } from '../util/errors';
import { CLASS_NAMES } from '../data/classes';
import { loadImage } from '../vision/image';
import { compareExpressions, largestFaces } from '../vision/compare';
import { confidenceOf } from '../vision/predict';
import { FacePrediction } from '../vision/types';
import { ModelFlags, addModelOptions, predictorFor } from './predict';

interface CompareFlags extends ModelFlags {
  json: boolean;
}

interface Side {
  file: string;
  face: FacePrediction;
}

const round = (x: number) => Number(x.toFixed(6));
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function describe(s: Side): string {
  const { x, y, w, h } = s.face.box;
  return `${s.file} (face at x=${x} y=${y} w=${w} h=${h}): ${s.face.label} ${pct(confidenceOf(s.face))}`;
}

async function run(a: string, b: string | undefined, o: CompareFlags): Promise<number> {
  // Read both images before loading models, so a bad path fails fast.
  const imgA = await loadImage(a);
  const imgB = b === undefined ? imgA : await loadImage(b);
  const predictor = await predictorFor(o);
  let sides: Side[];
  try {
    const facesA = largestFaces(predictor.predictGray(imgA.gray, imgA.width, imgA.height), b === undefined ? 2 : 1);
    if (b === undefined) {
      if (facesA.length < 2) throw new FerError(`${a}: found ${facesA.length} face${facesA.length === 1 ? '' : 's'}; comparing within one image needs two (or give two images)`, EXIT.NO_FACE);
      sides = facesA.map((face) => ({ file: a, face }));
    } else {
      const facesB = largestFaces(predictor.predictGray(imgB.gray, imgB.width, imgB.height), 1);
      const missing = [facesA.length === 0 ? a : '', facesB.length === 0 ? b : ''].filter((f) => f !== '');
      if (missing.length > 0) throw new FerError(`no face found in ${missing.join(' or ')}`, EXIT.NO_FACE);
      sides = [{ file: a, face: facesA[0] }, { file: b, face: facesB[0] }];
    }
  } finally {
    predictor.dispose();
  }
  const vector = (s: Side) => CLASS_NAMES.map((c) => s.face.scores[c]);
  const cmp = compareExpressions(vector(sides[0]), vector(sides[1]));
  if (o.json) {
    const side = (s: Side) => ({ file: s.file, box: s.face.box, label: s.face.label, scores: Object.fromEntries(CLASS_NAMES.map((c) => [c, round(s.face.scores[c])])) });
    process.stdout.write(`${JSON.stringify({
      a: side(sides[0]), b: side(sides[1]),
      cosine: round(cmp.cosine), jsDivergence: round(cmp.jsDivergence),
      differences: cmp.differences.map((d) => ({ label: d.label, a: round(d.a), b: round(d.b), diff: round(d.diff) })),
    }, null, 2)}\n`);
    return EXIT.OK;
  }
  const lines = [
    `A  ${describe(sides[0])}`,
    `B  ${describe(sides[1])}`,
    `cosine similarity ${cmp.cosine.toFixed(3)} (1 = same mix of emotions) · Jensen–Shannon divergence ${cmp.jsDivergence.toFixed(3)} bits (0 = identical, 1 = disjoint)`,
    `${cmp.labelsAgree ? 'same' : 'different'} top emotion; differ most in: ${cmp.differences.slice(0, 3).map((d) => `${d.label} ${pct(d.a)} → ${pct(d.b)}`).join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.OK;
}

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .description('How similar two faces\' expressions are: cosine similarity and Jensen–Shannon divergence of their '
      + 'emotion distributions, and the emotions that differ most. Uses the largest face of each image; with one '
      + 'image, its two largest faces.\nExit code 3 when a face is missing.')
    .argument('<a>', 'first image')
    .argument('[b]', 'second image (omit to compare the two largest faces in <a>)');
  addModelOptions(cmd)
    .option('--json', 'print {a, b, cosine, jsDivergence, differences:[{label, a, b, diff}]} on stdout', false)
    .action(action(async (a: string, b: string | undefined, o: CompareFlags) => run(a, b, o)));
  examples(cmd, [
    'fer compare before.jpg after.jpg',
    'fer compare couple.jpg --json',
    'fer compare a.png b.png --net 2 --tta',
  ]);
}
