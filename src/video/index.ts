// `fer video` as a library: processVideo() and the pieces it is built from.
export { processVideo, summaryJson, VIDEO_DEFAULTS, ProcessVideoOptions, VideoResult, VideoProgress, VideoStart, StageTimes } from './process';
export { FrameDecoder, Frame, DecoderOptions } from './decoder';
export { VideoEncoder, EncoderOptions, OUTPUT_EXTENSIONS, X264_PRESETS } from './encoder';
export { findFfmpeg, findFfprobe, probeVideo, resolveSource, ffmpegFeatures, Source, SourceKind, VideoInfo } from './ffmpeg';
export { FaceTracker, Track, TrackerOptions, iou, smoothScores } from './tracker';
export { FaceRow, TrackSummary, SummaryBuilder, CSV_HEADER, csvRow, jsonRow } from './rows';
