import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from './errors';

/**
 * Atomic outputs. A file is written to a temp sibling and renamed onto its target. A directory is built in a temp
 * sibling and swapped in through names that say how far the swap got, so that a crash at any instant leaves a
 * state `recoverDir` repairs (the newest complete copy wins):
 *
 *   .tmp-<name>-<id>     being written: never complete, always removed on recovery
 *   .ready-<name>-<id>   complete new copy, not yet in place: wins over <name>
 *   .old-<name>-<id>     the copy being replaced: removed once <name> (or a .ready) exists, restored otherwise
 *
 * Swap: build .tmp → rename to .ready → rename <name> to .old → rename .ready to <name> → remove .old.
 * <id> is <time base36>-<pid>-<random>, so names sort by age.
 */

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

function newId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** A unique sibling path of `target` (same directory, so the final rename is atomic). */
export function tempSibling(target: string, kind: 'tmp' | 'ready' | 'old' = 'tmp', id = newId()): string {
  return path.join(path.dirname(target), `.${kind}-${path.basename(target)}-${id}`);
}

const ID_RE = '(\\d|[a-z])+-\\d+-[0-9a-z]+';

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The names fer's swaps leave beside `name` in its directory, by kind. */
function siblingsOf(dir: string, name: string): { tmp: string[]; ready: string[]; old: string[]; legacy: string[] } {
  const out = { tmp: [] as string[], ready: [] as string[], old: [] as string[], legacy: [] as string[] };
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return out;
  }
  const re = new RegExp(`^\\.(tmp|ready|old)-${escapeRe(name)}-(${ID_RE})$`);
  // Names written before the staged swap existed: .tmp-<name>-<pid>-<time+random>.
  const legacy = new RegExp(`^\\.tmp-${escapeRe(name)}-\\d+-[0-9a-z]+$`);
  for (const e of entries.sort()) {
    const m = re.exec(e);
    if (m) out[m[1] as 'tmp' | 'ready' | 'old'].push(path.join(dir, e));
    else if (legacy.test(e)) out.legacy.push(path.join(dir, e));
  }
  return out;
}

/** Track a temp path so it is cleaned up on exit unless `commitTemp` renames it first. */
export function trackTemp(p: string): string {
  hookExit();
  pending.add(p);
  return p;
}

export function discardTemp(p: string): void {
  pending.delete(p);
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch { /* never created (e.g. its folder is a file): nothing to remove */ }
}

/**
 * Test hook: FER_TEST_KILL_AT=<name>:<step>[:<n>] makes the process SIGKILL itself right after step <step> of the
 * <n>-th (default first) directory swap onto a target named <name> (steps in swapDir). Used to prove recovery.
 */
const swapCounts = new Map<string, number>();
function killPoint(target: string, step: number): void {
  const spec = process.env.FER_TEST_KILL_AT;
  if (!spec) return;
  const [name, s, n] = spec.split(':');
  if (name !== path.basename(target)) return;
  if (step === 1) swapCounts.set(target, (swapCounts.get(target) ?? 0) + 1);
  if (Number(s) !== step || (swapCounts.get(target) ?? 0) !== Number(n ?? 1)) return;
  process.kill(process.pid, 'SIGKILL');
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* not supported everywhere; durability only */ }
}

/**
 * Swap the complete directory `tmp` in as `target` (steps 2–5 of the scheme above; step 1 was building `tmp`).
 * Any failure leaves `target` as it was.
 */
function swapDir(tmp: string, target: string): void {
  const id = /-((\d|[a-z])+-\d+-[0-9a-z]+)$/.exec(path.basename(tmp))?.[1] ?? newId();
  killPoint(target, 1);
  const ready = tempSibling(target, 'ready', id);
  fs.renameSync(tmp, ready);
  pending.delete(tmp);
  trackTemp(ready);
  killPoint(target, 2);
  const old = tempSibling(target, 'old', id);
  let moved = false;
  try {
    // Only a directory is ever swapped out: a file (or anything else) by that name is the user's.
    if (!fs.lstatSync(target).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.renameSync(target, old);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  killPoint(target, 3);
  try {
    fs.renameSync(ready, target);
  } catch (e) {
    if (moved) fs.renameSync(old, target);
    throw e;
  }
  pending.delete(ready);
  fsyncDir(path.dirname(target));
  killPoint(target, 4);
  if (moved) fs.rmSync(old, { recursive: true, force: true });
  killPoint(target, 5);
}

/** What recoverDir did, for a note to the user. */
export interface Recovery {
  /** A complete copy that was not yet in place and now is. */
  restored?: string;
  /** Leftovers removed (incomplete or superseded copies). */
  removed: string[];
}

/**
 * Repair an interrupted swap onto `target` (see the scheme above): the newest complete copy ends up as `target`,
 * every other leftover is removed. Only call it while holding the target's run lock: a live writer's temps look
 * the same as a dead one's. `isComplete` judges copies left by older versions of fer (.tmp- names only).
 */
export function recoverDir(target: string, isComplete?: (dir: string) => boolean): Recovery {
  const s = siblingsOf(path.dirname(target), path.basename(target));
  const r: Recovery = { removed: [] };
  const remove = (p: string): void => {
    fs.rmSync(p, { recursive: true, force: true });
    r.removed.push(p);
  };
  const exists = fs.existsSync(target);
  const newestReady = s.ready[s.ready.length - 1];
  if (newestReady) {
    if (exists) {
      const aside = tempSibling(target, 'old');
      fs.renameSync(target, aside);
      s.old.push(aside);
    }
    fs.renameSync(newestReady, target);
    r.restored = newestReady;
  } else if (!exists && s.old.length > 0) {
    const newestOld = s.old.pop() as string;
    fs.renameSync(newestOld, target);
    r.restored = newestOld;
  } else if (!exists && isComplete && s.legacy.length > 0) {
    const complete = s.legacy.filter((p) => isComplete(p))
      .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
    const newest = complete[complete.length - 1];
    if (newest) {
      fs.renameSync(newest, target);
      r.restored = newest;
      s.legacy = s.legacy.filter((p) => p !== newest);
    }
  }
  for (const p of [...s.tmp, ...s.ready.slice(0, -1), ...s.old, ...s.legacy]) remove(p);
  if (r.restored || r.removed.length > 0) fsyncDir(path.dirname(target));
  return r;
}

/** Remove fer's leftover temp files (.tmp-<name>-<id>) in `dir`; call only while holding the run lock for it. */
export function removeStaleTemps(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const re = new RegExp(`^\\.(tmp|ready|old)-.+-(${ID_RE}|\\d+-[0-9a-z]+)$`);
  const removed: string[] = [];
  for (const e of entries) {
    if (!re.test(e)) continue;
    const p = path.join(dir, e);
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/**
 * Rename `tmp` onto `target`. A directory is swapped in recoverably (see above). On failure the temp is removed
 * and `target` is left as it was.
 */
export function commitTemp(tmp: string, target: string): void {
  try {
    const isDir = fs.statSync(tmp).isDirectory();
    if (isDir) {
      swapDir(tmp, target);
    } else {
      fs.renameSync(tmp, target);
    }
  } catch (e) {
    for (const p of [tmp, tempSibling(target, 'ready', /-((\d|[a-z])+-\d+-[0-9a-z]+)$/.exec(path.basename(tmp))?.[1] ?? 'x')]) {
      pending.delete(p);
      try { fs.rmSync(p, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    const code = (e as NodeJS.ErrnoException).code;
    let why = describeFsError(e, target);
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') why = `${target}: is a directory`;
    else if (code === 'ENOTDIR') why = `${target}: exists and is not a directory`;
    throw new FerError(`cannot write ${why}`);
  } finally {
    pending.delete(tmp);
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns on some file systems that refuse the
 * folder (procfs), where this throws ENOENT/EACCES like any other failure.
 */
export function makeDirs(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  while (!fs.existsSync(cur)) {
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  if (!fs.statSync(abs).isDirectory()) throw Object.assign(new Error(`not a directory: ${abs}`), { code: 'ENOTDIR' });
}

function ensureParent(target: string): void {
  const dir = path.dirname(path.resolve(target));
  try {
    makeDirs(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new FerError(`cannot write ${target}: ${describeFsError(e, dir)}`);
  }
}

/** Write a whole file atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  ensureParent(target);
  let isDir = false;
  try { isDir = fs.statSync(target).isDirectory(); } catch { /* absent: fine */ }
  if (isDir) throw new FerError(`cannot write ${target}: is a directory`);
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
 * resolves is the directory swapped into place. On failure or interruption nothing is left behind; after a crash
 * `recoverDir(target)` restores the newest complete copy.
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
    for (const f of fs.readdirSync(tmp)) {
      // Complete means on disk: sync every file before the copy is marked ready.
      const p = path.join(tmp, f);
      if (!fs.statSync(p).isFile()) continue;
      const fd = fs.openSync(p, 'r');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    }
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
  commitTemp(tmp, target);
  return result;
}
