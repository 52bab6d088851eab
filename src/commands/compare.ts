import { Command } from 'commander';
import { action, examples } from './common';
import { EXIT } from '../util/errors';
import { CLASS_NAMES } from '../data/classes';
import { loadImage } from '../vision/image';
import { compareExpressions, pickComparedFaces } from '../vision/compare';
import { confidenceOf } from '../vision/predict';
import { FacePrediction } from '../vision/types';
import { comparisonJson } from '../vision/json';
import { ModelFlags, addModelOptions, predictorFor } from './options';

interface CompareFlags extends ModelFlags {
  json: boolean;
}

interface Side {
  file: string;
  face: FacePrediction;
}

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
    const facesA = predictor.predictGray(imgA.gray, imgA.width, imgA.height);
    const facesB = b === undefined ? undefined : predictor.predictGray(imgB.gray, imgB.width, imgB.height);
    sides = pickComparedFaces(a, facesA, b, facesB);
  } finally {
    predictor.dispose();
  }
  const vector = (s: Side) => CLASS_NAMES.map((c) => s.face.scores[c]);
  const cmp = compareExpressions(vector(sides[0]), vector(sides[1]));
  if (o.json) {
    process.stdout.write(`${JSON.stringify(comparisonJson(sides[0], sides[1], cmp), null, 2)}\n`);
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
