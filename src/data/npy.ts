import * as fs from 'fs';
import { FerError, describeFsError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';

/** NumPy .npy v1.0 files: the dtypes this project uses. */
export type NpyDtype = 'uint8' | 'float32' | 'int32';
const DESCR: Record<NpyDtype, string> = { uint8: '|u1', float32: '<f4', int32: '<i4' };
const BYTES: Record<NpyDtype, number> = { uint8: 1, float32: 4, int32: 4 };

export type NpyData = Uint8Array | Float32Array | Int32Array;
export interface NpyArray<T extends NpyData = NpyData> {
  dtype: NpyDtype;
  shape: number[];
  data: T;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** The .npy header for an array; pad so the data starts on a 64-byte boundary, as numpy does. */
export function npyHeader(dtype: NpyDtype, shape: number[]): Buffer {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const header = Buffer.alloc(MAGIC.length + 4 + dict.length);
  MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, 10, 'latin1');
  return header;
}

export function encodeNpy(arr: NpyArray): Buffer {
  const header = npyHeader(arr.dtype, arr.shape);
  const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  return Buffer.concat([header, body]);
}

export function writeNpy(file: string, arr: NpyArray): void {
  writeFileAtomic(file, encodeNpy(arr));
}

export function decodeNpy(buf: Buffer, file = '<buffer>'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new FerError(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const dict = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(dict)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(dict)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || shapeStr === undefined) throw new FerError(`${file}: unreadable .npy header`);
  if (fortran === 'True') throw new FerError(`${file}: Fortran-ordered arrays are not supported`);
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((k) => DESCR[k] === descr);
  if (!dtype) throw new FerError(`${file}: unsupported dtype ${descr}`);
  const shape = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const expected = count * BYTES[dtype];
  if (buf.length - offset < expected) throw new FerError(`${file}: truncated (.npy needs ${expected} data bytes, has ${buf.length - offset})`);
  // Copy into a fresh, aligned buffer: Buffer slices may share an unaligned pool.
  const bytes = new Uint8Array(expected);
  bytes.set(buf.subarray(offset, offset + expected));
  const data = dtype === 'uint8' ? bytes : dtype === 'float32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer);
  return { dtype, shape, data };
}

export function readNpy(file: string): NpyArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new FerError(describeFsError(e, file));
  }
  return decodeNpy(buf, file);
}
