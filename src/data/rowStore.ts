import { PIXELS, imageHash } from './pixels';

/** Rows per storage chunk: fixed-size chunks grow without ever copying what is already stored. */
const CHUNK_ROWS = 1024;
const RELEASED = new Uint8Array(0);
const RELEASED_WORDS = new Int32Array(0);

/**
 * Every accepted CSV row in input order: pixels in fixed-size chunks, metadata in small growable typed
 * arrays. Pixels are parsed straight into `slot()` and kept only if `commit()` is called, so a rejected row
 * costs no allocation.
 */
export class RowStore {
  count = 0;
  private readonly chunks: Uint8Array[] = [];
  private readonly words: Int32Array[] = [];
  labels = new Uint8Array(1024);
  /** Index into SPLITS. */
  splits = new Uint8Array(1024);
  lines = new Int32Array(1024);
  hashes = new Float64Array(1024);

  /** Where the next row's pixels go: [buffer, byte offset]. */
  slot(): [Uint8Array, number] {
    const c = Math.floor(this.count / CHUNK_ROWS);
    if (c === this.chunks.length) {
      const chunk = new Uint8Array(CHUNK_ROWS * PIXELS);
      this.chunks.push(chunk);
      this.words.push(new Int32Array(chunk.buffer));
    }
    return [this.chunks[c], (this.count % CHUNK_ROWS) * PIXELS];
  }

  /** Keep the row whose pixels were written to the current slot. */
  commit(label: number, split: number, line: number): number {
    const i = this.count;
    if (i === this.labels.length) this.grow();
    this.labels[i] = label;
    this.splits[i] = split;
    this.lines[i] = line;
    const c = Math.floor(i / CHUNK_ROWS);
    this.hashes[i] = imageHash(this.words[c], ((i % CHUNK_ROWS) * PIXELS) / 4);
    this.count++;
    return i;
  }

  /** A view of row i's 48×48 pixels (no copy). */
  row(i: number): Uint8Array {
    const chunk = this.chunks[Math.floor(i / CHUNK_ROWS)];
    const off = (i % CHUNK_ROWS) * PIXELS;
    return chunk.subarray(off, off + PIXELS);
  }

  sameImage(a: number, b: number): boolean {
    const ra = this.row(a);
    const rb = this.row(b);
    for (let k = 0; k < PIXELS; k++) if (ra[k] !== rb[k]) return false;
    return true;
  }

  /**
   * Move the given rows into one contiguous buffer per list, releasing each storage chunk once every list
   * has passed it, so the peak stays near one copy of the images instead of two. Each list must be in
   * increasing order. The store is empty afterwards.
   */
  takeAll(lists: Int32Array[]): Uint8Array[] {
    const outs = lists.map((l) => new Uint8Array(l.length * PIXELS));
    const next = lists.map(() => 0);
    for (let c = 0; c < this.chunks.length; c++) {
      const end = (c + 1) * CHUNK_ROWS;
      lists.forEach((list, k) => {
        for (let j = next[k]; j < list.length && list[j] < end; j = ++next[k]) {
          if (j > 0 && list[j] <= list[j - 1]) throw new Error('RowStore.takeAll: rows must be increasing');
          outs[k].set(this.row(list[j]), j * PIXELS);
        }
      });
      this.chunks[c] = RELEASED;
      this.words[c] = RELEASED_WORDS;
    }
    lists.forEach((list, k) => {
      if (next[k] !== list.length) throw new Error(`RowStore.takeAll: row ${list[next[k]]} is not stored`);
    });
    this.count = 0;
    return outs;
  }

  /**
   * Visit the given rows' pixels in contiguous batches of at most `batchBytes` (for streaming them to a file
   * without materialising the whole split).
   */
  forEachBatch(rows: ArrayLike<number>, batchBytes: number, visit: (batch: Uint8Array) => void): void {
    const perBatch = Math.max(1, Math.floor(batchBytes / PIXELS));
    const buf = new Uint8Array(Math.min(rows.length, perBatch) * PIXELS);
    let filled = 0;
    for (let k = 0; k < rows.length; k++) {
      buf.set(this.row(rows[k]), filled * PIXELS);
      if (++filled === perBatch) {
        visit(buf);
        filled = 0;
      }
    }
    if (filled > 0) visit(buf.subarray(0, filled * PIXELS));
  }

  private grow(): void {
    const n = this.labels.length * 2;
    this.labels = resize(this.labels, new Uint8Array(n));
    this.splits = resize(this.splits, new Uint8Array(n));
    this.lines = resize(this.lines, new Int32Array(n));
    this.hashes = resize(this.hashes, new Float64Array(n));
  }
}

function resize<T extends Uint8Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from as never);
  return to;
}
