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
