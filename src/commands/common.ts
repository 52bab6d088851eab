import { Command, Option } from 'commander';
import { EXIT, FerError, InvalidParameterError, isFerError } from '../util/errors';
import { colorErr } from '../util/log';
import { BACKEND_NAMES } from '../backend';

let lastExitCode: number = EXIT.OK;

export function takeExitCode(): number {
  const c = lastExitCode;
  lastExitCode = EXIT.OK;
  return c;
}

/**
 * Library options whose flag is not simply `--` + the name in kebab case (`minFace` → `--min-face`).
 */
const FLAG_NAMES: Readonly<Record<string, string>> = {
  nets: '--net',
  modelsDir: '--models',
  durationS: '--duration',
  dataDir: '--data',
  confusionDir: '--out',
};

/** The CLI flag for a library option: `minFace` → `--min-face`, `nets` → `--net`. */
export function flagFor(option: string): string {
  return FLAG_NAMES[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * An error's message as the CLI prints it: library errors that name an option (InvalidParameterError) name its
 * flag instead, so `minFace 5: …` reads `--min-face 5: …`. Only the first line.
 */
export function cliMessage(e: FerError): string {
  const message = e instanceof InvalidParameterError ? e.messageFor(flagFor) : e.message;
  return message.split('\n')[0];
}

/**
 * Wrap a command's action: a FerError becomes one line on stderr and its exit code; the action may return an
 * exit code (e.g. NO_FACE). Anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      lastExitCode = typeof code === 'number' ? code : EXIT.OK;
    } catch (e) {
      if (isFerError(e)) {
        process.stderr.write(`${colorErr.red('fer:')} ${cliMessage(e)}\n`);
        lastExitCode = e.exitCode;
      } else {
        throw e;
      }
    }
  };
}

/** Parse an integer flag, naming the flag on error. */
export function intFlag(name: string, min = -Infinity, max = Infinity): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new FerError(`${name} ${v}: expected an integer${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` and ≤ ${max}` : ''}`, EXIT.USAGE);
    }
    return n;
  };
}

/** Parse a number flag, naming the flag on error. */
export function numFlag(name: string, min = -Infinity, max = Infinity): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new FerError(`${name} ${v}: expected a number${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` and ≤ ${max}` : ''}`, EXIT.USAGE);
    }
    return n;
  };
}

/** Parser of `--weights 1,1,2`: ensemble weights, numbers ≥ 0 with a positive sum (their count is checked against the nets later). */
export function weightList(v: string): number[] {
  const w = v.split(',').map((s) => Number(s.trim()));
  if (w.length === 0 || w.some((x) => !Number.isFinite(x) || x < 0) || !(w.reduce((a, b) => a + b, 0) > 0)) {
    throw new FerError(`--weights ${v}: expected comma-separated numbers ≥ 0 with a positive sum, one per net`, EXIT.USAGE);
  }
  return w;
}

/** The --backend option every computing command takes. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend (env FER_BACKEND overrides auto)').choices(['auto', ...BACKEND_NAMES]).default('auto');
}

/** Append an example block to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/**
 * The first SIGINT/SIGTERM prints `stopping` and calls `onFirst`, which asks the work to wind down and save what it
 * has; a second one exits 130 at once (outputs are atomic, so that is safe too). Returns the uninstaller.
 * `announce: false` skips the `stopping` line (the command reports the stop itself).
 */
export function onStopSignals(stopping: string, onFirst: (sig: NodeJS.Signals) => void, opts: { announce?: boolean } = {}): () => void {
  let signalled = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (signalled) {
      process.stderr.write(`\n${sig} again: exiting without saving\n`);
      process.exit(EXIT.INTERRUPTED);
    }
    signalled = true;
    // `announce: false`: the command says what happened itself once the work has stopped.
    if (opts.announce !== false) process.stderr.write(`\n${sig}: ${stopping} (again to quit at once)\n`);
    onFirst(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
