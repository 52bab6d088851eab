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

/**
 * Turn command-line inputs into image files: a file is taken as is (whatever its extension, so a wrong file
 * gets a clear decode error), a directory gives the images directly in it, anything with * ? [ is a glob
 * (for quoted patterns; a shell usually expands them first).
 */
export function expandInputs(inputs: string[]): ExpandedInputs {
  const files: string[] = [];
  const problems: ExpandedInputs['problems'] = [];
  for (const input of inputs) {
    if (fs.existsSync(input)) {
      if (isDirectory(input)) {
        const images = listDir(input).filter((e) => !e.name.startsWith('.') && isImagePath(e.name) && !isDirectory(path.join(input, e.name), e));
        if (images.length === 0) problems.push({ input, message: `${input}: no images in this directory (looked for ${IMAGE_EXTENSIONS.join(' ')})` });
        files.push(...images.map((e) => path.join(input, e.name)));
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
  return { files, problems };
}
