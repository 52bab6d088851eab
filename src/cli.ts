import { Command, CommanderError } from 'commander';
import { EXIT, FerError } from './util/errors';
import { cliMessage, takeExitCode } from './commands/common';
import { colorErr } from './util/log';
import * as prepare from './commands/prepare';
import * as train from './commands/train';
import * as models from './commands/models';
import * as evaluate from './commands/eval';
import * as predict from './commands/predict';
import * as compare from './commands/compare';
import * as video from './commands/video';
import * as serve from './commands/serve';
import * as worker from './commands/worker';
import * as queue from './commands/queue';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const pkg = require('../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('fer')
    .description('Facial expression recognition: prepare FER2013, train CNNs, evaluate, predict on photos and video.\n'
      + 'Classes (FER2013 order): 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral.')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const m of [prepare, train, models, evaluate, predict, compare, video]) m.register(program);
  for (const m of [serve, worker, queue]) m.register(program);
  program.commands.forEach((c) => c.exitOverride());
  // An extra file name is a mistake (e.g. `fer prepare a.csv b.csv`), never silently ignored: exit 2.
  program.commands.forEach((c) => c.allowExcessArguments(false));
  program.addHelpText('after', `
Exit codes: 0 ok, 1 error, 2 bad usage, 3 no face found (predict), 130 interrupted.
Outputs never overwrite an input (checked by device and inode), and a folder is only replaced when fer wrote
everything in it; refusals exit 1 naming both paths. \`fer train\` and \`fer prepare\` lock their output.
Run \`fer <command> --help\` for a command's flags and examples.`);
  return program;
}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return takeExitCode();
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help/version text).
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (e instanceof FerError) {
      // Thrown by a flag parser before the action ran.
      process.stderr.write(`${colorErr.red('fer:')} ${cliMessage(e)}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
