// The training loop's callbacks (tfjs-layers' BaseCallback / CallbackList shape).
export { TrainCallback, CallbackList, TrainLoop, BatchLogs, EpochEnd, TrainEnd, ValidationLogs } from './base';
export { LrSchedule } from './schedule';
export { ReduceLROnPlateauCallback, EarlyStoppingCallback } from './plateau';
export { BestCheckpoint, LastCheckpoint, BestSoFar, saveCheckpoint, dropoutLayers } from './checkpoints';
export { History } from './history';
export { BatchNormRecalibration } from './batchnorm';
export { EmaCallback } from './ema';
export { ProgressHooks, TrainHooks, EpochStartInfo, BatchInfo, EpochEndInfo } from './hooks';
