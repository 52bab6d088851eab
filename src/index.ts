// The library: everything the CLI does is available here without it.
export * from './data/classes';
export * from './data/npy';
export * from './util/errors';
export { initBackend, BackendInfo, BackendName } from './backend';
export { saveModelDir, loadModelDir } from './models/io';
export { facesToTensor } from './preprocess/normalize';
export { Canvas } from './charts/canvas';
export { createDetector, DetectorEngine, DEFAULT_DETECT, CASCADE_FILE } from './vision/detector';
export { Box, DetectOptions, FaceDetector, FacePrediction } from './vision/types';
export { cropFace, cropFaces, rgbToGray, DEFAULT_MARGIN } from './vision/faces';
export { annotateRgb, Annotation } from './vision/annotate';
export { loadImage, decodeImage, saveRgb, LoadedImage } from './vision/image';
export { prepareDataset, prepareInMemory, PrepareOptions, PrepareReport, PrepareProgress, SplitReport } from './data/prepare';
export { DROP_REASONS, DropReason, DropExample, DropTally } from './data/clean';
export { SPLITS, SplitName, Split, loadPreparedSplit } from './data/dataset';
export { barChart, classBarChart, BarChartSpec } from './charts/bar';
