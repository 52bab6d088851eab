import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, pipeline } from 'stream';
import * as zlib from 'zlib';
import { FerError, describeFsError } from '../util/errors';

export interface SourceInfo {
  /** File name as given on the command line (basename). */
  file: string;
  bytes: number;
  /** gzip is detected by magic bytes, whatever the extension. */
  gzip: boolean;
}

export interface OpenedSource {
  info: SourceInfo;
  /** Decompressed CSV bytes. */
  chunks: AsyncIterable<Buffer>;
  /** Raw (compressed) bytes read so far, for progress. */
  bytesRead(): number;
  /** sha256 of the raw file; valid once `chunks` is exhausted. */
  sha256(): string;
  close(): void;
}

const READ_CHUNK = 1 << 16;

/**
 * Open a CSV or gzipped CSV for streaming. Missing, empty or unreadable files are a one-line FerError. Pipes work
 * too (a FIFO, `<(zcat …)`, /dev/stdin): the input is read once, front to back, and gzip is told from its first
 * bytes; their size is unknown until the end (`info.bytes` is then the bytes read).
 */
export function openSource(file: string): OpenedSource {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw new FerError(describeFsError(e, file));
  }
  if (stat.isDirectory()) throw new FerError(describeFsError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), file));
  const regular = stat.isFile();
  if (regular && stat.size === 0) throw new FerError(`${file}: empty file`);
  if (regular) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      throw new FerError(describeFsError(e, file));
    }
  }

  const info: SourceInfo = { file: path.basename(file), bytes: regular ? stat.size : 0, gzip: false };
  let read = 0;
  const hash = crypto.createHash('sha256');
  let digest: string | undefined;
  const raw = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
  let gunzip: zlib.Gunzip | undefined;

  async function* rawChunks(): AsyncGenerator<Buffer> {
    for await (const chunk of raw) {
      read += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }

  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      const it = rawChunks();
      // The first two bytes decide gzip; a pipe may deliver them one at a time.
      let head = Buffer.alloc(0);
      while (head.length < 2) {
        const n = await it.next();
        if (n.done) break;
        head = Buffer.concat([head, n.value]);
      }
      if (head.length === 0) throw new FerError(`${file}: empty ${regular ? 'file' : 'input'}`);
      info.gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
      async function* all(): AsyncGenerator<Buffer> {
        yield head;
        yield* it;
      }
      if (!info.gzip) {
        yield* all();
      } else {
        gunzip = zlib.createGunzip({ chunkSize: 1 << 18 });
        const out = (pipeline as unknown as (...s: unknown[]) => Readable)(Readable.from(all()), gunzip, () => undefined);
        for await (const chunk of out) yield chunk as Buffer;
      }
    } catch (e) {
      throw describeReadError(e, file, info.gzip);
    }
    digest = hash.digest('hex');
    if (!regular) info.bytes = read;
  }

  return {
    info,
    chunks: chunks(),
    bytesRead: () => read,
    sha256: () => {
      if (digest === undefined) throw new Error('sha256 requested before the source was fully read');
      return digest;
    },
    close: () => {
      raw.destroy();
      gunzip?.destroy();
    },
  };
}

function describeReadError(e: unknown, file: string, gzip: boolean): FerError {
  if (e instanceof FerError) return e;
  const err = e as NodeJS.ErrnoException;
  if (gzip && /unexpected end of file/i.test(err?.message ?? '')) {
    return new FerError(`${file}: truncated gzip file (unexpected end of file)`);
  }
  if (gzip && typeof err?.code === 'string' && err.code.startsWith('Z_')) {
    return new FerError(`${file}: corrupt gzip data (${err.message})`);
  }
  return new FerError(describeFsError(e, file));
}
