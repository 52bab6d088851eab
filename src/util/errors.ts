/** Exit codes shared by every command (documented in README). */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  /** `fer predict`: the inputs were read, but no face was found in any of them. */
  NO_FACE: 3,
  /** Stopped by SIGINT/SIGTERM after saving what could be saved. */
  INTERRUPTED: 130,
} as const;

/**
 * An error the user can act on: the CLI prints only its message, on one line, and exits with `exitCode`.
 * Anything else that escapes is a bug and is printed with its stack.
 */
export class FerError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.ERROR) {
    super(message);
    this.name = 'FerError';
    this.exitCode = exitCode;
  }
}

/** How a message names an option: the library passes names through; the CLI turns them into flags. */
export type OptionNamer = (option: string) => string;

/**
 * A bad option value. The message names the library's option (`minFace 5: must be 0 or more`); `option` says
 * which one, and `messageFor(namer)` renders the same message with the option (and any other option it
 * mentions) named otherwise, which is how the CLI says `--min-face 5: must be 0 or more`.
 */
export class InvalidParameterError extends FerError {
  /** The option at fault, as the library names it (e.g. `minFace`). */
  readonly option: string;
  private readonly render: (name: OptionNamer) => string;
  constructor(option: string, render: (name: OptionNamer) => string, exitCode: number = EXIT.USAGE) {
    super(render((o) => o), exitCode);
    this.name = 'InvalidParameterError';
    this.option = option;
    this.render = render;
  }

  /** The message with every option named by `name`. */
  messageFor(name: OptionNamer): string {
    return this.render(name);
  }
}

/**
 * An InvalidParameterError for `name` with the value it got, as `<name> <actual>: <expected>` (or `<name>:
 * <expected>` when `actual` is undefined). Exit code USAGE unless given (the CLI keeps each message's old code).
 */
export function invalidParameterError(name: string, expected: string, actual?: unknown, exitCode: number = EXIT.USAGE): InvalidParameterError {
  return new InvalidParameterError(name, (n) => `${n(name)}${actual === undefined ? '' : ` ${String(actual)}`}: ${expected}`, exitCode);
}

/** A library call stopped by its AbortSignal; exit code INTERRUPTED (130). */
export class AbortedError extends FerError {
  constructor(message = 'interrupted') {
    super(message, EXIT.INTERRUPTED);
    this.name = 'AbortedError';
  }
}

/** Throw an AbortedError when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}

export function isFerError(e: unknown): e is FerError {
  return e instanceof FerError;
}

/** Node's fs errors carry a code; turn the common ones into a sentence naming the path. */
export function describeFsError(e: unknown, path: string): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return `${path}: no such file or directory`;
    case 'EACCES': case 'EPERM': return `${path}: permission denied`;
    case 'EISDIR': return `${path}: is a directory`;
    case 'ENOTDIR': return `${path}: a parent is not a directory`;
    case 'EROFS': return `${path}: read-only file system`;
    case 'ENOSPC': return `${path}: no space left on device`;
    default: return `${path}: ${(e as Error)?.message ?? String(e)}`;
  }
}
