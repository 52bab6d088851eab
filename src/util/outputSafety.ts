import * as fs from 'fs';
import * as path from 'path';
import { EXIT, FerError, InvalidParameterError, OptionNamer, describeFsError } from './errors';

/**
 * The one output-safety rule every command follows before it writes anything:
 *   - an output is never an input of the run (same device and inode, whatever path, symlink or hard link names it);
 *   - no two outputs of a run are the same file;
 *   - no input or other output lies inside a folder the run replaces;
 *   - a folder is replaced only when it holds nothing but what fer wrote there (see checkReplaceableDir).
 * A refusal is a FerError (exit 1) naming both paths. A path a library option named is labelled `{ option }`:
 * the refusal is then an InvalidParameterError naming that option (the CLI names its flag instead).
 */

/** How a message names a path: a fixed word ('input', 'output video') or the library option that gave it. */
export type PathLabel = string | { option: string };

function labelText(l: PathLabel, n: OptionNamer): string {
  return typeof l === 'string' ? l : n(l.option);
}

export interface PathRole {
  path: string;
  /** How the user named it, for messages: 'input', 'output video', '--out', or `{ option: 'csv' }`… */
  what: PathLabel;
}

export interface OutputRole extends PathRole {
  /** 'dir': the run replaces this whole folder; 'file' (default): a file written whole. */
  kind?: 'file' | 'dir';
}

type Id = string;

function statId(p: string): { id: Id; stat: fs.Stats } | undefined {
  try {
    const s = fs.statSync(p);
    return { id: `${s.dev}:${s.ino}`, stat: s };
  } catch {
    return undefined;
  }
}

/** The nearest existing ancestor of `p` (or `p` itself) and the path below it that does not exist yet. */
function nearestExisting(p: string): { dir: string; rest: string[] } {
  let cur = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    if (statId(cur)) return { dir: cur, rest };
    const parent = path.dirname(cur);
    if (parent === cur) return { dir: cur, rest };
    rest.unshift(path.basename(cur));
    cur = parent;
  }
}

/** A key equal for two paths exactly when they name the same file, existing or to be created. */
export function locationKey(p: string): string {
  const { dir, rest } = nearestExisting(p);
  const id = statId(dir)?.id ?? path.resolve(dir);
  return rest.length === 0 ? id : `${id}/${rest.join('/')}`;
}

/** True when `a` and `b` are the same existing file (device and inode, through symlinks). */
export function sameFile(a: string, b: string): boolean {
  const x = statId(a);
  const y = statId(b);
  return Boolean(x && y && x.id === y.id);
}

/** Device+inode of every existing folder that physically contains `p` (symlinks resolved), `p` included. */
function containerIds(p: string): Set<Id> {
  const ids = new Set<Id>();
  const { dir } = nearestExisting(p);
  let cur: string;
  try {
    cur = fs.realpathSync(dir);
  } catch {
    cur = dir;
  }
  for (;;) {
    const s = statId(cur);
    if (s) ids.add(s.id);
    const parent = path.dirname(cur);
    if (parent === cur) return ids;
    cur = parent;
  }
}

/** True when `p` lies inside folder `dir` (or is it), judged physically. */
export function isInside(p: string, dir: string): boolean {
  const d = statId(dir);
  if (!d || !d.stat.isDirectory()) return false;
  return containerIds(p).has(d.id);
}

/** Throw a refusal: an InvalidParameterError when a label is an option (the first one), else a FerError. */
function refuse(labels: PathLabel[], render: (n: OptionNamer) => string): never {
  const option = labels.find((l): l is { option: string } => typeof l !== 'string');
  if (option) throw new InvalidParameterError(option.option, render, EXIT.ERROR);
  throw new FerError(render((o) => o), EXIT.ERROR);
}

/** Apply the rule to a run's inputs and outputs (paths that do not exist are fine as outputs). */
export function checkOutputSafety(inputs: PathRole[], outputs: OutputRole[]): void {
  const given = outputs.filter((o) => o.path);
  const inputIds = new Map<Id, PathRole>();
  for (const i of inputs) {
    const s = statId(i.path);
    if (s && !inputIds.has(s.id)) inputIds.set(s.id, i);
    // An input that cannot be stat'ed (yet) still is one by its path.
    if (!inputIds.has(path.resolve(i.path))) inputIds.set(path.resolve(i.path), i);
  }
  const keys = new Map<string, OutputRole>();
  for (const o of given) {
    const s = statId(o.path);
    if (s && (o.kind ?? 'file') === 'file' && s.stat.isDirectory()) refuse([o.what], (n) => `${labelText(o.what, n)} ${o.path}: is a directory`);
    const input = (s ? inputIds.get(s.id) : undefined) ?? inputIds.get(path.resolve(o.path));
    if (input) refuse([o.what, input.what], (n) => `${labelText(o.what, n)} ${o.path} is the ${labelText(input.what, n)} ${input.path} (the same file); refusing to overwrite it`);
    const key = locationKey(o.path);
    const twin = keys.get(key);
    if (twin) refuse([twin.what, o.what], (n) => `${labelText(twin.what, n)} ${twin.path} and ${labelText(o.what, n)} ${o.path} are the same file; give each output its own name`);
    keys.set(key, o);
  }
  for (const o of given) {
    if (o.kind !== 'dir') continue;
    for (const i of inputs) {
      if (isInside(i.path, o.path)) refuse([o.what, i.what], (n) => `${labelText(o.what, n)} ${o.path} would be replaced, but it holds the ${labelText(i.what, n)} ${i.path}; choose another ${labelText(o.what, n)}`);
    }
    for (const other of given) {
      if (other !== o && isInside(other.path, o.path)) {
        refuse([o.what, other.what], (n) => `${labelText(o.what, n)} ${o.path} would be replaced, but ${labelText(other.what, n)} ${other.path} lies inside it; choose another ${labelText(o.what, n)}`);
      }
    }
  }
}

/**
 * `out` can be created or written as a folder: it is absent or a folder, and its nearest existing ancestor is a
 * writable folder. `flag` names it in messages (e.g. '--out', or `{ option: 'out' }` from library code).
 */
export function checkOutputDir(out: string, flag: PathLabel): void {
  const fail: (rest: (f: string) => string) => never = (rest) => refuseAs(flag, rest);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') fail((f) => `${f} ${describeFsError(e, out)}`);
  }
  if (stat && !stat.isDirectory()) fail((f) => `${f} ${out}: exists and is not a directory`);
  let dir = stat ? path.resolve(out) : path.dirname(path.resolve(out));
  for (;;) {
    let s: fs.Stats;
    try {
      s = fs.statSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && path.dirname(dir) !== dir) {
        dir = path.dirname(dir);
        continue;
      }
      return fail((f) => `${f} ${out}: cannot write: ${describeFsError(e, dir)}`);
    }
    if (!s.isDirectory()) fail((f) => `${f} ${out}: cannot write: ${dir} is not a directory`);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (e) {
      fail((f) => `${f} ${out}: cannot write: ${describeFsError(e, dir)}`);
    }
    return;
  }
}

export interface FerFolder {
  /** Names fer writes in such a folder (files only). */
  allowed: (name: string) => boolean;
  /** The marker file fer writes there, and a test that a parsed copy of it is fer's. */
  marker: string;
  isFerMarker: (content: string) => boolean;
  /** What such a folder is, for messages: 'a prepared dataset'. */
  kind: string;
}

/**
 * Refuse to replace `dir` unless it is absent, empty, or holds nothing but what fer wrote there: fer's marker
 * file and only names fer writes (no subfolders, no other files).
 */
export function checkReplaceableDir(dir: string, flag: PathLabel, folder: FerFolder): void {
  const fail: (rest: (f: string) => string) => never = (rest) => refuseAs(flag, rest);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') fail((f) => `${f} ${dir}: exists and is not a directory`);
    fail((f) => `${f} ${describeFsError(e, dir)}`);
  }
  if (entries.length === 0) return;
  const markerPath = path.join(dir, folder.marker);
  let ours = false;
  try {
    ours = folder.isFerMarker(fs.readFileSync(markerPath, 'utf8'));
  } catch {
    ours = false;
  }
  if (!ours) {
    fail((f) => `${f} ${dir}: exists and is not ${folder.kind} written by fer (no fer ${folder.marker}); refusing to replace it`);
  }
  const foreign = entries.find((e) => !e.isFile() || !folder.allowed(e.name));
  if (foreign) {
    fail((f) => `${f} ${dir}: holds ${path.join(dir, foreign.name)}, which fer did not write; refusing to replace the folder (move it or choose another ${f})`);
  }
}

/** A refusal whose message starts with the label `flag` (rendered by the CLI as its flag when it is an option). */
function refuseAs(flag: PathLabel, rest: (f: string) => string): never {
  return refuse([flag], (n) => rest(labelText(flag, n)));
}
