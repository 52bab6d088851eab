// The library: everything the CLI does is available here without it.
export * from './data/classes';
export * from './data/npy';
export * from './util/errors';
export { initBackend, BackendInfo, BackendName } from './backend';
export { saveModelDir, loadModelDir } from './models/io';
export { facesToTensor } from './preprocess/normalize';
export { Canvas } from './charts/canvas';
