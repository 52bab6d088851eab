/**
 * A minimal streaming Matroska writer for raw RGB24 frames with per-frame timestamps.
 *
 * Why not `-f rawvideo`: raw video has no timestamps, so the encoder would have to assume a constant frame
 * rate and variable-frame-rate inputs would drift. Matroska carries each frame's timestamp (here in
 * microseconds), ffmpeg reads it from a pipe, and the frame bytes are passed through without copying.
 */

// EBML element ids (Matroska specification).
const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  ColourSpace: 0x2eb524,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
} as const;

/** Nanoseconds per timestamp tick: microseconds. */
export const MKV_TIMESTAMP_SCALE = 1000;

function idBytes(id: number): Buffer {
  const bytes: number[] = [];
  for (let v = id; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}

/** An element size as an 8-byte EBML variable-length integer (always 8 bytes: simple, and valid). */
function size8(n: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x01;
  let v = n;
  for (let i = 7; i >= 1; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return b;
}

function element(id: number, payload: Buffer): Buffer {
  return Buffer.concat([idBytes(id), size8(payload.length), payload]);
}

function uint(id: number, value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Math.round(value)));
  let i = 0;
  while (i < 7 && b[i] === 0) i++;
  return element(id, b.subarray(i));
}

function text(id: number, s: string): Buffer {
  return element(id, Buffer.from(s, 'latin1'));
}

// Segment of unknown size: we stream, so the total is not known when the header is written.
const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The stream header: EBML header, segment start, timestamp scale and one uncompressed RGB24 video track. */
export function mkvHeader(width: number, height: number): Buffer {
  return Buffer.concat([
    element(ID.EBML, Buffer.concat([
      uint(ID.EBMLVersion, 1), uint(ID.EBMLReadVersion, 1), uint(ID.EBMLMaxIDLength, 4), uint(ID.EBMLMaxSizeLength, 8),
      text(ID.DocType, 'matroska'), uint(ID.DocTypeVersion, 4), uint(ID.DocTypeReadVersion, 2),
    ])),
    idBytes(ID.Segment), UNKNOWN_SIZE,
    element(ID.Info, Buffer.concat([uint(ID.TimestampScale, MKV_TIMESTAMP_SCALE), text(ID.MuxingApp, 'fer'), text(ID.WritingApp, 'fer')])),
    element(ID.Tracks, element(ID.TrackEntry, Buffer.concat([
      uint(ID.TrackNumber, 1), uint(ID.TrackUID, 1), uint(ID.TrackType, 1), uint(ID.FlagLacing, 0),
      text(ID.CodecID, 'V_UNCOMPRESSED'),
      element(ID.Video, Buffer.concat([
        uint(ID.PixelWidth, width), uint(ID.PixelHeight, height),
        // FourCC 'RGB' + 24 bits: how ffmpeg names packed RGB24 for raw video.
        element(ID.ColourSpace, Buffer.from([0x52, 0x47, 0x42, 24])),
      ])),
    ]))),
  ]);
}

/**
 * The bytes that precede one frame: a cluster holding its timestamp and a SimpleBlock header. Write this,
 * then the frame's `frameBytes` bytes. One cluster per frame keeps the block's 16-bit relative time at 0.
 */
export function mkvFramePrefix(timeUs: number, frameBytes: number): Buffer {
  const timestamp = uint(ID.Timestamp, Math.max(0, timeUs));
  // SimpleBlock payload: track number 1 (vint 0x81), relative time 0 (int16), flags 0x80 (keyframe).
  const blockHead = Buffer.from([0x81, 0x00, 0x00, 0x80]);
  const blockSize = blockHead.length + frameBytes;
  const blockIdSize = Buffer.concat([idBytes(ID.SimpleBlock), size8(blockSize)]);
  const clusterPayload = timestamp.length + blockIdSize.length + blockSize;
  return Buffer.concat([idBytes(ID.Cluster), size8(clusterPayload), timestamp, blockIdSize, blockHead]);
}
