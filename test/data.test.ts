import { PIXELS, imageHash, parsePixels, pixelStd } from '../src/data/pixels';
import { CsvParserMode, MAX_RECORD_BYTES, readCsvRecords } from '../src/data/csvRecords';
import { RowStore } from '../src/data/rowStore';
import { carveValidation, mulberry32 } from '../src/data/clean';
import { FerError } from '../src/util/errors';
import { fakeImage, pixelsText } from './prepare-fixtures';

function parse(text: string): number | { kind: string; token?: string; count?: number } {
  const buf = Buffer.from(text);
  const dst = new Uint8Array(PIXELS + 8);
  const r = parsePixels(buf, 0, buf.length, dst, 4);
  if (typeof r === 'number') return r;
  return r.kind === 'value' ? { kind: 'value', token: buf.toString('latin1', r.at, r.end) } : { kind: 'count', count: r.count };
}

describe('parsePixels', () => {
  it('reads 2304 values from bytes into the destination at the offset', () => {
    const img = fakeImage(1);
    const buf = Buffer.from(pixelsText(img));
    const dst = new Uint8Array(PIXELS + 8);
    expect(parsePixels(buf, 0, buf.length, dst, 4)).toBe(PIXELS);
    expect(Array.from(dst.subarray(4, 4 + PIXELS))).toEqual(Array.from(img));
    expect(dst[3]).toBe(0);
    expect(dst[4 + PIXELS]).toBe(0);
  });

  it('accepts extra spaces and tabs between, before and after values, and 0/255 extremes', () => {
    const vals = Array.from({ length: PIXELS }, (_, i) => (i % 2 ? 255 : 0));
    expect(parse(`  ${vals.join(' \t ')}  `)).toBe(PIXELS);
    expect(parse(vals.map((v) => String(v).padStart(3, '0')).join(' '))).toBe(PIXELS);
  });

  it('names the offending token for out-of-range, negative, fractional and non-numeric values', () => {
    const base = pixelsText(fakeImage(2)).split(' ');
    for (const bad of ['256', '-1', '1.5', 'abc', '1000', '12a']) {
      const toks = [...base];
      toks[100] = bad;
      expect(parse(toks.join(' '))).toEqual({ kind: 'value', token: bad });
    }
  });

  it('reports the count when there are too few or too many values', () => {
    const toks = pixelsText(fakeImage(3)).split(' ');
    expect(parse(toks.slice(1).join(' '))).toEqual({ kind: 'count', count: PIXELS - 1 });
    expect(parse([...toks, '7'].join(' '))).toEqual({ kind: 'count', count: PIXELS + 1 });
    expect(parse('')).toEqual({ kind: 'count', count: 0 });
  });
});

describe('pixelStd and imageHash', () => {
  it('computes the population standard deviation', () => {
    const img = new Uint8Array(PIXELS);
    expect(pixelStd(img)).toBe(0);
    for (let i = 0; i < PIXELS; i++) img[i] = i % 2 ? 10 : 0;
    expect(pixelStd(img)).toBeCloseTo(5, 10);
  });

  it('gives equal hashes for equal images and different ones for a one-pixel change', () => {
    const a = fakeImage(4);
    const b = Uint8Array.from(a);
    const wa = new Int32Array(a.buffer);
    const wb = new Int32Array(b.buffer);
    expect(imageHash(wa, 0)).toBe(imageHash(wb, 0));
    b[2303] ^= 1;
    expect(imageHash(wa, 0)).not.toBe(imageHash(wb, 0));
    expect(Number.isSafeInteger(imageHash(wa, 0))).toBe(true);
    // No collisions among a few thousand distinct images.
    const seen = new Set<number>();
    for (let s = 0; s < 1000; s++) seen.add(imageHash(new Int32Array(fakeImage(s).buffer), 0));
    expect(seen.size).toBe(1000);
  });
});

async function records(text: string | Buffer, mode: CsvParserMode, chunkSize = 1 << 20): Promise<{ recs: [number, string[]][]; errors: [number, string][] }> {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < buf.length; i += chunkSize) yield buf.subarray(i, i + chunkSize);
  }
  const recs: [number, string[]][] = [];
  const errors: [number, string][] = [];
  await readCsvRecords(chunks(), {
    record: (fields, line) => recs.push([line, fields.map((f) => f.toString('utf8'))]),
    syntaxError: (line, message) => errors.push([line, message]),
  }, 'x.csv', mode);
  return { recs, errors };
}

describe('readCsvRecords', () => {
  const plain = '\ufeffemotion,pixels,Usage\r\n0,1 2 3,Training\r\n\r\n1,4 5,PublicTest\n2,,PrivateTest\n3,7,Training,extra';
  const plainExpected: [number, string[]][] = [
    [1, ['emotion', 'pixels', 'Usage']],
    [2, ['0', '1 2 3', 'Training']],
    [4, ['1', '4 5', 'PublicTest']],
    [5, ['2', '', 'PrivateTest']],
    [6, ['3', '7', 'Training', 'extra']],
  ];

  it.each(['auto', 'csv-parse'] as const)('%s: splits unquoted records (BOM, CRLF, blank lines, no final newline) with line numbers', async (mode) => {
    for (const size of [1, 5, 64, 1 << 20]) {
      const { recs, errors } = await records(plain, mode, size);
      expect(recs).toEqual(plainExpected);
      expect(errors).toEqual([]);
    }
  });

  const quoted = [
    'emotion,pixels,Usage',
    '0,1 2 3,Training',
    '1,"4 5 6",PublicTest',
    '2,"multi',
    'line",Training',
    '3,"a ""quoted"" word, with comma",PrivateTest',
    '4,8 9,Training',
  ].join('\n') + '\n';

  it.each(['auto', 'csv-parse'] as const)('%s: hands quoted fields (embedded newline, comma, escaped quotes) to csv-parse, whatever the chunking', async (mode) => {
    for (const size of [1, 3, 17, 1 << 20]) {
      const { recs } = await records(quoted, mode, size);
      expect(recs.map(([, f]) => f)).toEqual([
        ['emotion', 'pixels', 'Usage'],
        ['0', '1 2 3', 'Training'],
        ['1', '4 5 6', 'PublicTest'],
        ['2', 'multi\nline', 'Training'],
        ['3', 'a "quoted" word, with comma', 'PrivateTest'],
        ['4', '8 9', 'Training'],
      ]);
      // Line numbers stay absolute after the switch (a multi-line record is numbered by the line it starts on).
      expect(recs.map(([l]) => l)).toEqual([1, 2, 3, 4, 6, 7]);
    }
  });

  it('keeps a stray quote as a literal character; an unclosed quote is an error at the line where it opens', async () => {
    for (const mode of ['auto', 'csv-parse'] as const) {
      const stray = await records('emotion,pixels,Usage\n0,1 2,Training\n1,"3 4"x,Training\n2,5 "6,Training\n3,7,Training\n', mode);
      expect(stray.recs.map(([l, f]) => [l, f[1]])).toEqual([[1, 'pixels'], [2, '1 2'], [3, '"3 4"x'], [4, '5 "6'], [5, '7']]);
      expect(stray.errors).toEqual([]);
      // It swallows every row after it, so it stops the run rather than dropping them as one bad row.
      await expect(records('emotion,pixels,Usage\n0,1 2,Training\n1,"3 4,Training\n2,5 6,Training\n', mode))
        .rejects.toThrow(/^x\.csv: line 3: unclosed quote: .*runs to the end of the input \(line 4\)$/);
      // On the last line it spans nothing else: that row alone is dropped, at its line.
      const last = await records('emotion,pixels,Usage\n0,1 2,Training\n1,"3 4,Training\n', mode);
      expect(last.recs.map(([l]) => l)).toEqual([1, 2]);
      expect(last.errors).toEqual([[3, expect.stringMatching(/quote not closed/i)]]);
    }
  });

  it('refuses a record longer than the limit instead of buffering it', async () => {
    const text = Buffer.alloc(MAX_RECORD_BYTES + 10, 0x41);
    await expect(records(text, 'auto', 1 << 16)).rejects.toThrow(FerError);
    await expect(records(text, 'auto', 1 << 16)).rejects.toThrow(/x\.csv: line 1: longer than 1 MiB/);
  });

  it('stops on an exception thrown by the sink (e.g. a bad header), in both modes', async () => {
    for (const mode of ['auto', 'csv-parse'] as const) {
      async function* chunks(): AsyncGenerator<Buffer> { yield Buffer.from('a,b\n1,2\n'); }
      await expect(readCsvRecords(chunks(), {
        record: () => { throw new FerError('bad header'); },
        syntaxError: () => undefined,
      }, 'x.csv', mode)).rejects.toThrow('bad header');
    }
  });
});

describe('RowStore and validation carving', () => {
  function storeWith(labels: number[]): RowStore {
    const store = new RowStore();
    labels.forEach((label, i) => {
      const [dst, off] = store.slot();
      dst.set(fakeImage(i), off);
      store.commit(label, 0, i + 2);
    });
    return store;
  }

  it('stores rows across chunks, batches them, and moves them out into one buffer per list', () => {
    const store = storeWith(Array.from({ length: 1100 }, (_, i) => i % 7));
    expect(store.count).toBe(1100);
    expect(Array.from(store.row(1050))).toEqual(Array.from(fakeImage(1050)));
    const batches: number[] = [];
    store.forEachBatch([0, 1, 2, 3, 4], 2 * PIXELS, (b) => batches.push(b.length / PIXELS));
    expect(batches).toEqual([2, 2, 1]);
    expect(store.sameImage(5, 5)).toBe(true);
    expect(store.sameImage(5, 6)).toBe(false);

    const [evens, tail, none] = store.takeAll([Int32Array.from({ length: 550 }, (_, i) => 2 * i), Int32Array.from([1023, 1024, 1099]), new Int32Array(0)]);
    expect(evens.length).toBe(550 * PIXELS);
    expect(Array.from(evens.subarray(549 * PIXELS))).toEqual(Array.from(fakeImage(1098)));
    expect(Array.from(tail.subarray(PIXELS, 2 * PIXELS))).toEqual(Array.from(fakeImage(1024)));
    expect(none.length).toBe(0);
    expect(store.count).toBe(0);
  });

  it('carves a seeded, per-class fraction of train into val, keeping input order', () => {
    const labels = [...Array(100).fill(0), ...Array(20).fill(1), ...Array(10).fill(6)];
    const store = storeWith(labels);
    const train = Int32Array.from(labels.keys());
    const a = carveValidation(store, train, 0.1, 7);
    const b = carveValidation(store, train, 0.1, 7);
    const c = carveValidation(store, train, 0.1, 8);
    expect(Array.from(a.val)).toEqual(Array.from(b.val));
    expect(Array.from(a.val)).not.toEqual(Array.from(c.val));
    const perClass = (rows: Int32Array): number[] => [0, 1, 6].map((k) => Array.from(rows).filter((i) => labels[i] === k).length);
    expect(perClass(a.val)).toEqual([10, 2, 1]);
    expect(perClass(a.train)).toEqual([90, 18, 9]);
    expect(Array.from(a.val)).toEqual([...a.val].sort((x, y) => x - y));
    expect(new Set([...a.train, ...a.val]).size).toBe(130);
  });

  it('mulberry32 is deterministic and roughly uniform', () => {
    const r = mulberry32(1);
    const xs = Array.from({ length: 10000 }, () => r());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
    expect(mulberry32(1)()).toBe(xs[0]);
  });
});
