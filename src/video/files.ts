import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from '../util/errors';
import { commitTemp, discardTemp, makeDirs, tempSibling, trackTemp } from '../util/atomic';

/**
 * Outputs streamed while a video is processed. Each goes to a temporary sibling of its target and is renamed
 * into place only when complete; an error or a crash leaves no half file (src/util/atomic.ts).
 */

/** Check that `target` can be written (creating its directory) and return a tracked temp path beside it. */
export function reserveOutput(target: string, what: string): string {
  const dir = path.dirname(path.resolve(target));
  try {
    makeDirs(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new FerError(`cannot write ${what} ${target}: ${describeFsError(e, dir)}`);
  }
  let isDir = false;
  try {
    isDir = fs.statSync(target).isDirectory();
  } catch {
    // Does not exist yet: fine.
  }
  if (isDir) throw new FerError(`cannot write ${what} ${target}: is a directory`);
  return trackTemp(tempSibling(target));
}

/** A text file written line by line through a buffer, committed atomically at the end. */
export class LineFile {
  private readonly tmp: string;
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(readonly target: string, what: string) {
    this.tmp = reserveOutput(target, what);
    try {
      this.fd = fs.openSync(this.tmp, 'w');
    } catch (e) {
      discardTemp(this.tmp);
      throw new FerError(`cannot write ${what} ${target}: ${describeFsError(e, this.tmp)}`);
    }
  }

  write(line: string): void {
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    if (this.pendingChars > 1 << 16) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined || this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingChars = 0;
    try {
      fs.writeSync(this.fd, text);
    } catch (e) {
      throw new FerError(`cannot write ${this.target}: ${describeFsError(e, this.tmp)}`);
    }
  }

  /** Flush, sync and rename into place. */
  commit(): void {
    this.flush();
    if (this.fd !== undefined) {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    commitTemp(this.tmp, this.target);
  }

  discard(): void {
    if (this.fd !== undefined) {
      try { fs.closeSync(this.fd); } catch { /* already closed */ }
      this.fd = undefined;
    }
    discardTemp(this.tmp);
  }
}
