import * as fs from 'fs';
import * as path from 'path';
import { IMAGE_EXTENSIONS, isImagePath } from './image';

export interface ExpandedInputs {
  /** Files to process, in the order given (directory and glob matches sorted by name). */
  files: string[];
  /** Inputs that named nothing, with a one-line reason; callers count them as failures. */
  problems: { input: string; message: string }[];
}

const GLOB_CHARS = /[*?[]/;

/** One path segment of a glob → RegExp. `*` and `?` never match a leading dot (as in a shell). */
function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${seg.startsWith('.') ? '' : '(?!\\.)'}${re}$`);
}

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return [];
  }
}

function isDirectory(p: string, entry?: fs.Dirent): boolean {
  if (entry && !entry.isSymbolicLink()) return entry.isDirectory();
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

/** Match glob `segments` under `dir`; `**` matches any number of directories. */
function walk(dir: string, segments: string[], out: string[]): void {
  if (segments.length === 0) return;
  const [seg, ...rest] = segments;
  if (seg === '**') {
    walk(dir, rest, out);
    for (const e of listDir(dir)) {
      if (!e.name.startsWith('.') && isDirectory(path.join(dir, e.name), e)) walk(path.join(dir, e.name), segments, out);
    }
    return;
  }
  if (!GLOB_CHARS.test(seg)) {
    const p = path.join(dir, seg);
    if (rest.length === 0) { if (fs.existsSync(p) && !isDirectory(p)) out.push(p); } else if (isDirectory(p)) walk(p, rest, out);
    return;
  }
  const re = segmentRegExp(seg);
  for (const e of listDir(dir)) {
    if (!re.test(e.name)) continue;
    const p = path.join(dir, e.name);
    if (rest.length === 0) { if (!isDirectory(p, e)) out.push(p); } else if (isDirectory(p, e)) walk(p, rest, out);
  }
}

/** Files matching a glob pattern (relative patterns resolve against cwd and stay relative). */
export function globFiles(pattern: string): string[] {
  const parts = pattern.split('/');
  const first = parts.findIndex((s) => GLOB_CHARS.test(s));
  if (first < 0) return fs.existsSync(pattern) ? [pattern] : [];
  const base = parts.slice(0, first).join('/') || (pattern.startsWith('/') ? '/' : '.');
  const out: string[] = [];
  walk(base, parts.slice(first), out);
  return [...new Set(out)];
}

export interface ExpandOptions {
  /** Search folders given as inputs through their subfolders too (default true). */
  recursive?: boolean;
  /** Folders never searched (e.g. the --out folder, so a second run does not read the first one's output). */
  exclude?: string[];
}

function dirId(p: string): string | undefined {
  try {
    const s = fs.statSync(p);
    return s.isDirectory() ? `${s.dev}:${s.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** Images in `dir` (sorted by name, hidden names skipped), and in its subfolders when `recursive`. */
function imagesIn(dir: string, rel: string, recursive: boolean, skip: Set<string>, out: { file: string; rel: string }[]): void {
  for (const e of listDir(dir)) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (isDirectory(p, e)) {
      const id = dirId(p);
      // `skip` also holds every folder already searched: a symlink loop is entered once.
      if (!recursive || !id || skip.has(id)) continue;
      skip.add(id);
      imagesIn(p, path.join(rel, e.name), recursive, skip, out);
    } else if (isImagePath(e.name)) {
      out.push({ file: p, rel: path.join(rel, e.name) });
    }
  }
}

/**
 * Turn command-line inputs into image files: a file is taken as is (whatever its extension, so a wrong file
 * gets a clear decode error), a directory gives the images in it and, unless `recursive` is false, in its
 * subfolders; anything with * ? [ is a glob (for quoted patterns; a shell usually expands them first).
 * `relative` gives, for files found in a folder, their path below that folder (to mirror it under --out).
 */
export function expandInputs(inputs: string[], opts: ExpandOptions = {}): ExpandedInputs & { relative: Map<string, string> } {
  const files: string[] = [];
  const relative = new Map<string, string>();
  const problems: ExpandedInputs['problems'] = [];
  const recursive = opts.recursive ?? true;
  for (const input of inputs) {
    if (fs.existsSync(input)) {
      if (isDirectory(input)) {
        const skip = new Set((opts.exclude ?? []).map(dirId).filter((x): x is string => x !== undefined));
        const own = dirId(input);
        const excluded = (opts.exclude ?? []).find((e) => own !== undefined && dirId(e) === own);
        if (excluded !== undefined) {
          problems.push({ input, message: `${input}: is the --out folder ${excluded}; its images would be overwritten: choose another --out` });
          continue;
        }
        if (own) skip.add(own);
        const found: { file: string; rel: string }[] = [];
        imagesIn(input, '', recursive, skip, found);
        if (found.length === 0) {
          problems.push({ input, message: `${input}: no images in this directory${recursive ? ' or its subfolders' : ''} (looked for ${IMAGE_EXTENSIONS.join(' ')})` });
        }
        for (const f of found) {
          files.push(f.file);
          relative.set(f.file, f.rel);
        }
      } else {
        files.push(input);
      }
    } else if (GLOB_CHARS.test(input)) {
      const matched = globFiles(input).filter((f) => isImagePath(f));
      if (matched.length === 0) problems.push({ input, message: `${input}: no image matches this pattern` });
      files.push(...matched);
    } else {
      problems.push({ input, message: `${input}: no such file or directory` });
    }
  }
  return { files, problems, relative };
}
