import chalk from 'chalk';

/** Colour only for a TTY, never when NO_COLOR is set (https://no-color.org), forced by FORCE_COLOR. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export const color = new chalk.Instance({ level: colorEnabled() ? 2 : 0 });
export const colorErr = new chalk.Instance({ level: colorEnabled(process.stderr) ? 2 : 0 });

/** Human-facing status lines go to stderr so stdout stays clean for --json and piping. */
export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`${colorErr.yellow('warning:')} ${message}\n`);
}
