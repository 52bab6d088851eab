import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from './errors';

// Temp paths still on disk; removed if the process exits before they are renamed into place.
const pending = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of pending) {
      try { fs.rmSync(p, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  });
}

/** A unique sibling path of `target` (same directory, so the final rename is atomic). */
export function tempSibling(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  return path.join(dir, `.tmp-${base}-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`);
}

/** Track a temp path so it is cleaned up on exit unless `commitTemp` renames it first. */
export function trackTemp(p: string): string {
  hookExit();
  pending.add(p);
  return p;
}

export function discardTemp(p: string): void {
  pending.delete(p);
  fs.rmSync(p, { recursive: true, force: true });
}

/** Rename `tmp` onto `target`. For directories an existing target is swapped out and removed. */
export function commitTemp(tmp: string, target: string): void {
  try {
    const isDir = fs.statSync(tmp).isDirectory();
    if (isDir && fs.existsSync(target)) {
      const old = tempSibling(target);
      fs.renameSync(target, old);
      fs.renameSync(tmp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, target);
    }
  } catch (e) {
    throw new FerError(describeFsError(e, target));
  } finally {
    pending.delete(tmp);
  }
}

function ensureParent(target: string): void {
  const dir = path.dirname(path.resolve(target));
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new FerError(`cannot write ${target}: ${describeFsError(e, dir)}`);
  }
}

/** Write a whole file atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  ensureParent(target);
  const tmp = trackTemp(tempSibling(target));
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data as Uint8Array);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    discardTemp(tmp);
    throw new FerError(`cannot write ${target}: ${describeFsError(e, tmp)}`);
  }
  commitTemp(tmp, target);
}

/**
 * Build a directory atomically: `fill` writes into a fresh temp directory beside `target`; only when it
 * resolves is the directory renamed into place. On failure or interruption nothing is left behind.
 */
export async function writeDirAtomic<T>(target: string, fill: (tmpDir: string) => Promise<T>): Promise<T> {
  ensureParent(target);
  const tmp = trackTemp(tempSibling(target));
  try {
    fs.mkdirSync(tmp);
  } catch (e) {
    pending.delete(tmp);
    throw new FerError(`cannot write ${target}: ${describeFsError(e, tmp)}`);
  }
  let result: T;
  try {
    result = await fill(tmp);
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
  commitTemp(tmp, target);
  return result;
}
