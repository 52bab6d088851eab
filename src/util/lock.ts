import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FerError, describeFsError } from './errors';
import { makeDirs } from './atomic';

/**
 * Run locks: `fer train` (per <out>/net<k>) and `fer prepare` (per --out) hold one while they write, so two runs
 * never mix their outputs. The lock is a file `.<name>.lock` beside the folder it guards, holding the owner's
 * pid; it is removed when the process exits. A lock whose process is gone (killed, crashed) is taken over.
 */

interface LockInfo {
  pid: number;
  host: string;
  /** Start time of the owning process (Linux: clock ticks since boot), so a reused pid is not taken for the owner. */
  start: string | null;
  token: string;
  command: string;
  since: string;
}

export interface RunLock {
  /** The lock file. */
  file: string;
  /** Remove the lock (idempotent); also done automatically on exit. */
  release(): void;
  /** Set when a stale lock (its process gone) was taken over: that process's pid. */
  tookOverFrom?: number;
}

const held = new Map<string, LockInfo>();
let hooked = false;

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the parenthesised command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return true; // cannot tell: assume it is running
  try {
    process.kill(info.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid exists; it is the owner unless it started at another time (a reused pid).
  const start = procStart(info.pid);
  return !(info.start && start && start !== info.start);
}

function readLock(file: string): LockInfo | null | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const j = JSON.parse(text) as LockInfo;
    return Number.isInteger(j.pid) ? j : null;
  } catch {
    return null; // torn or foreign content: treated as stale
  }
}

function releaseAll(): void {
  for (const [file, info] of held) {
    try {
      if (readLock(file)?.token === info.token) fs.unlinkSync(file);
    } catch { /* best effort */ }
  }
  held.clear();
}

/** The lock file guarding `target` (a folder): `.<name>.lock` beside it. */
export function lockFileFor(target: string): string {
  const abs = path.resolve(target);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.lock`);
}

/**
 * Take the exclusive lock for `target`. Another live run holding it is a FerError naming its pid; a lock left
 * by a dead process is taken over. `what` names the run in messages ('fer train --out ck (net 1)').
 */
export function acquireLock(target: string, what: string): RunLock {
  const file = lockFileFor(target);
  try {
    makeDirs(path.dirname(file));
  } catch (e) {
    throw new FerError(`cannot lock ${target}: ${describeFsError(e, path.dirname(file))}`);
  }
  const mine: LockInfo = {
    pid: process.pid, host: os.hostname(), start: procStart(process.pid), token: crypto.randomBytes(8).toString('hex'),
    command: process.argv.slice(1).map((a) => path.basename(a)).join(' ').slice(0, 200), since: new Date().toISOString(),
  };
  // Written whole under a private name, then hard-linked to the lock name: the link fails if the lock exists, and
  // a reader never sees a half-written lock.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}-${process.pid}-${mine.token}`);
  let tookOverFrom: number | undefined;
  try {
    fs.writeFileSync(tmp, JSON.stringify(mine));
  } catch (e) {
    throw new FerError(`cannot lock ${target}: ${describeFsError(e, tmp)}`);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FerError(`cannot lock ${target}: ${describeFsError(e, file)}`);
      }
      const holder = readLock(file);
      if (holder === undefined) continue; // released meanwhile: try again
      if (holder && alive(holder)) {
        const mineAlready = holder.pid === process.pid && held.has(file);
        throw new FerError(`${what}: ${target} is in use by ${mineAlready ? 'this process' : `another fer run (pid ${holder.pid}, since ${holder.since})`}; `
          + `wait for it to finish or stop it (lock file ${file})`);
      }
      if (attempt > 5) throw new FerError(`cannot lock ${target}: ${file} keeps changing; is another run starting?`);
      // Stale: move it aside under a private name, then make sure what was moved is what was judged stale.
      const aside = `${tmp}.stale`;
      try {
        fs.renameSync(file, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new FerError(`cannot take over the stale lock ${file}: ${describeFsError(e, file)}`);
      }
      const moved = readLock(aside);
      if (moved && holder && moved.token !== holder.token) {
        // A live run took it over between our read and the rename: give it back (unless someone holds it now).
        try { fs.linkSync(aside, file); } catch { /* the name is taken again: that holder wins */ }
      } else {
        tookOverFrom = holder?.pid;
      }
      fs.rmSync(aside, { force: true });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  held.set(file, mine);
  if (!hooked) {
    hooked = true;
    process.on('exit', releaseAll);
  }
  return {
    file,
    tookOverFrom,
    release: () => {
      const info = held.get(file);
      if (!info || info.token !== mine.token) return;
      held.delete(file);
      try {
        if (readLock(file)?.token === mine.token) fs.unlinkSync(file);
      } catch { /* best effort */ }
    },
  };
}
