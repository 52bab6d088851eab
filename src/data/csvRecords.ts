import { once } from 'events';
import { finished } from 'stream/promises';
import { parse, CsvError, Options, Parser } from 'csv-parse';
import { FerError } from '../util/errors';

/** Receives CSV records in order; the first one is the header. Fields are raw bytes (no decoding). */
export interface RecordSink {
  record(fields: Buffer[], line: number): void;
  /** A record csv-parse could not read (bad quoting); parsing goes on with the next one. */
  syntaxError(line: number, message: string): void;
}

/**
 * How records are found. `auto`: a line with no double quote is split on commas directly (FER2013 never
 * quotes, and this is ~7× faster than a general CSV parser); from the first line that contains a quote on,
 * the rest of the input goes through csv-parse, which handles quoted fields, embedded commas, newlines and
 * escaped quotes. `csv-parse`: csv-parse reads everything.
 */
export type CsvParserMode = 'auto' | 'csv-parse';

/** No FER2013 record comes near this; a longer one means the input is not FER2013 (or has no line breaks). */
export const MAX_RECORD_BYTES = 1 << 20;

const NL = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const QUOTE = 0x22;

/** Feed decoded CSV bytes to `sink` record by record. Throws FerError (naming `file`) on fatal problems. */
export async function readCsvRecords(chunks: AsyncIterable<Buffer>, sink: RecordSink, file: string, mode: CsvParserMode = 'auto'): Promise<void> {
  let line = 0; // lines consumed by the fast path so far
  let carry: Buffer | null = null; // an incomplete last line, carried into the next chunk
  let general: GeneralParser | null = mode === 'csv-parse' ? new GeneralParser(sink, 0, file) : null;

  const fastLine = (buf: Buffer, start: number, end: number): void => {
    line++;
    if (end > start && buf[end - 1] === CR) end--;
    if (end === start) return; // blank line, as csv-parse's skip_empty_lines
    const fields: Buffer[] = [];
    let from = start;
    for (;;) {
      const comma = buf.indexOf(COMMA, from);
      if (comma < 0 || comma >= end) break;
      fields.push(buf.subarray(from, comma));
      from = comma + 1;
    }
    fields.push(buf.subarray(from, end));
    sink.record(fields, line);
  };

  for await (let chunk of withoutBom(chunks)) {
    if (general) {
      await general.write(chunk);
      continue;
    }
    let pos = 0;
    if (carry) {
      const nl = chunk.indexOf(NL);
      if (nl < 0 || carry.indexOf(QUOTE) >= 0 || chunk.subarray(0, nl).indexOf(QUOTE) >= 0) {
        chunk = Buffer.concat([carry, chunk]);
      } else {
        const joined = Buffer.concat([carry, chunk.subarray(0, nl)]);
        fastLine(joined, 0, joined.length);
        pos = nl + 1;
      }
      carry = null;
    }
    // Found once per chunk: searching per line would rescan the rest of the chunk every time.
    const quote = chunk.indexOf(QUOTE, pos);
    for (;;) {
      const nl = chunk.indexOf(NL, pos);
      const lineEnd = nl < 0 ? chunk.length : nl;
      if (quote >= 0 && quote < lineEnd) {
        // A quoted field may span lines: from this record on, csv-parse does the splitting.
        general = new GeneralParser(sink, line, file);
        await general.write(chunk.subarray(pos));
        pos = chunk.length;
        break;
      }
      if (nl < 0) break;
      fastLine(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) {
      carry = Buffer.from(chunk.subarray(pos));
      if (carry.length > MAX_RECORD_BYTES) throw new FerError(`${file}: line ${line + 1}: longer than ${MAX_RECORD_BYTES >> 20} MiB; not a FER2013 CSV`);
    }
  }
  if (general) {
    await general.end();
  } else if (carry) {
    fastLine(carry, 0, carry.length);
  }
}

/** Drop a UTF-8 byte order mark, even when it is split across the first chunks. */
async function* withoutBom(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head: Buffer | null = Buffer.alloc(0);
  for await (const chunk of chunks) {
    if (head === null) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) continue;
    yield head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
    head = null;
  }
  if (head !== null && head.length > 0) yield head;
}

/** csv-parse driven by pushed chunks, forwarding records (with absolute line numbers) to the sink. */
class GeneralParser {
  private readonly parser: Parser;
  private failure: unknown = undefined;
  /** Absolute line number where the last record ended, and csv-parse's count of empty lines then. */
  private lastEnd: number;
  private lastEmpty = 0;

  constructor(private readonly sink: RecordSink, private readonly lineOffset: number, private readonly file: string) {
    this.lastEnd = lineOffset;
    // encoding null and on_skip exist in csv-parse 5 but not in its type definitions.
    this.parser = parse({
      encoding: null, // fields as Buffers: pixels are parsed from bytes
      bom: true,
      info: true,
      // The same line breaks as the fast path: LF or CRLF, mixed freely.
      record_delimiter: ['\r\n', '\n'],
      relax_column_count: true,
      // A stray quote inside a field stays a literal character (the row then fails pixel validation) instead
      // of swallowing the records after it.
      relax_quotes: true, // a wrong column count is a malformed row, not a fatal error
      skip_empty_lines: true,
      skip_records_with_error: true,
      max_record_size: MAX_RECORD_BYTES,
      on_skip: (err: CsvError | undefined) => {
        if (!err) return;
        const e = err as unknown as { lines?: number; empty_lines?: number };
        const start = this.recordStart(e);
        const end = (e.lines ?? 0) + this.lineOffset;
        this.lastEnd = end;
        // Only a quoted field makes a record span lines: an unclosed quote swallows every row after it, so it is
        // reported, fatally, at the line where it opens.
        if (err.code === 'CSV_MAX_RECORD_SIZE') {
          this.fail(new FerError(end > start
            ? `${file}: line ${start}: unclosed quote: the quoted field opened on this line is still open at line ${end} (over ${MAX_RECORD_BYTES >> 20} MiB); not a FER2013 CSV`
            : `${file}: line ${start}: longer than ${MAX_RECORD_BYTES >> 20} MiB; not a FER2013 CSV`));
          return;
        }
        if (err.code === 'CSV_QUOTE_NOT_CLOSED' && end > start) {
          this.fail(new FerError(`${file}: line ${start}: unclosed quote: the quoted field opened on this line runs to the end of the input (line ${end})`));
          return;
        }
        this.guard(() => sink.syntaxError(start, err.message.replace(/\s+at line \d+.*$/, '').replace(/:$/, '')));
      },
    } as unknown as Options);
    this.parser.on('data', (r: { record: Buffer[]; info: { lines: number; empty_lines?: number } }) => {
      const start = this.recordStart(r.info);
      this.lastEnd = r.info.lines + this.lineOffset;
      this.guard(() => this.sink.record(r.record, start));
    });
    this.parser.on('error', (e) => this.fail(e));
  }

  async write(chunk: Buffer): Promise<void> {
    this.check();
    if (!this.parser.write(chunk)) {
      try {
        await Promise.race([once(this.parser, 'drain'), finished(this.parser)]);
      } catch {
        /* the failure was recorded by the 'error' listener; check() reports it */
      }
    }
    this.check();
  }

  async end(): Promise<void> {
    this.check();
    this.parser.end();
    try {
      await finished(this.parser);
    } catch {
      /* reported by check() */
    }
    this.check();
  }

  /** The line a record (or failed record) starts on: after the previous one and the empty lines skipped since. */
  private recordStart(info: { empty_lines?: number }): number {
    const empty = info.empty_lines ?? 0;
    const start = this.lastEnd + 1 + (empty - this.lastEmpty);
    this.lastEmpty = empty;
    return start;
  }

  private guard(fn: () => void): void {
    if (this.failure !== undefined) return;
    try {
      fn();
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (this.failure === undefined) this.failure = e;
    this.parser.destroy();
  }

  private check(): void {
    const e = this.failure;
    if (e === undefined) return;
    if (e instanceof FerError) throw e;
    throw new FerError(`${this.file}: ${(e as Error)?.message ?? String(e)}`);
  }
}
