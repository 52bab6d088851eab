import * as path from 'path';
import { Command, Option } from 'commander';
import { EXIT, FerError } from '../util/errors';
import { action, examples, numFlag } from './common';
import { initBackend } from '../backend';
import { NetId, buildNet, NET_TITLES, netListText, parseNetList } from '../models/nets';
import { formatSummary, summarizeModel, ModelSummary } from '../models/summary';
import { modelDiagram } from '../models/diagram';
import { renderTo } from '../charts/canvas';
import { writeFileAtomic } from '../util/atomic';
import { info } from '../util/log';

export interface SummaryOptions {
  net: string;
  width: number;
  svg?: string;
  json?: boolean;
}

export function netSummaries(nets: NetId[], width: number): { net: NetId; title: string; summary: ModelSummary }[] {
  return nets.map((net) => {
    const model = buildNet(net, 1, { width });
    const summary = summarizeModel(model);
    model.dispose();
    return { net, title: `net ${net} — ${NET_TITLES[net]}`, summary };
  });
}

/** Shared by `fer models` and `fer train --summary`: tables on stdout (or JSON), optional diagram. */
export async function printSummaries(opts: SummaryOptions): Promise<void> {
  // Building a model only needs some backend for its variables; cpu starts instantly and prints nothing.
  await initBackend('cpu');
  const list = netSummaries(parseNetList(opts.net), opts.width);
  if (opts.json) {
    process.stdout.write(JSON.stringify(list.map((s) => ({ net: s.net, title: s.title, ...s.summary })), null, 2) + '\n');
  } else {
    process.stdout.write(list.map((s) => formatSummary(s.summary, `Model: net${s.net} — ${NET_TITLES[s.net]}`)).join('\n\n') + '\n');
  }
  if (opts.svg) {
    const canvas = modelDiagram(list.map((s) => ({ title: `net ${s.net}`, summary: s.summary })));
    writeFileAtomic(opts.svg, await renderTo(canvas, opts.svg));
    info(`wrote ${opts.svg}`);
  }
}

export function netOption(defaultValue: string): Option {
  return new Option('--net <list>', `which nets: ${netListText()}`).default(defaultValue);
}

export function widthOption(): Option {
  return new Option('--width <x>', 'width multiplier on every conv/dense layer (1 = the documented nets; e.g. 0.5 for a quick trial)')
    .default(1).argParser(numFlag('--width', 0.01, 4));
}

export function register(program: Command): void {
  const cmd = program
    .command('models')
    .description('Print each net\'s layer table (output shapes, parameters, FLOPs per image) and optionally draw a diagram.')
    .addOption(netOption('all'))
    .addOption(widthOption())
    .option('--svg <file>', 'also write a block diagram of the nets (SVG; PNG when the name ends in .png)')
    .option('--json', 'print the summaries as JSON on stdout instead of tables', false)
    .action(action(async (opts: SummaryOptions) => {
      const ext = opts.svg ? path.extname(opts.svg).toLowerCase() : '.svg';
      if (ext !== '.svg' && ext !== '.png') throw new FerError(`--svg ${opts.svg}: unknown image type ${ext || '(none)'}; use .svg or .png`, EXIT.USAGE);
      await printSummaries(opts);
    }));
  examples(cmd, ['fer models', 'fer models --net 3', 'fer models --svg models.svg', 'fer models --net 1,2 --json']);
}
