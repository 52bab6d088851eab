import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Transform, pipeline } from 'stream';
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

/** Open a CSV or gzipped CSV for streaming. Missing, empty or unreadable files are a one-line FerError. */
export function openSource(file: string): OpenedSource {
  let stat: fs.Stats;
  let magic = Buffer.alloc(2);
  try {
    stat = fs.statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const fd = fs.openSync(file, 'r');
    try {
      const n = fs.readSync(fd, magic, 0, 2, 0);
      magic = magic.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new FerError(describeFsError(e, file));
  }
  if (stat.size === 0) throw new FerError(`${file}: empty file`);
  const gzip = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;

  let read = 0;
  const hash = crypto.createHash('sha256');
  let digest: string | undefined;
  const raw = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      read += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const streams: NodeJS.ReadWriteStream[] = [tap];
  if (gzip) streams.push(zlib.createGunzip({ chunkSize: 1 << 18 }));
  // pipeline destroys every stage on error; the error surfaces through the iteration below.
  const out = (pipeline as unknown as (...s: unknown[]) => Readable)(raw, ...streams, () => undefined);

  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of out) yield chunk as Buffer;
    } catch (e) {
      throw describeReadError(e, file, gzip);
    }
    digest = hash.digest('hex');
  }

  return {
    info: { file: path.basename(file), bytes: stat.size, gzip },
    chunks: chunks(),
    bytesRead: () => read,
    sha256: () => {
      if (digest === undefined) throw new Error('sha256 requested before the source was fully read');
      return digest;
    },
    close: () => {
      raw.destroy();
      out.destroy();
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
