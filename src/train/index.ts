// Training: the loop and its parts, usable without the CLI.
export { trainNet, train, TrainOptions, TrainResult, ResumeInfo, TRAIN_DEFAULTS, evaluateSplit, balancedClassWeights, crossEntropy, teacherProbabilities } from './trainer';
export { SAVED_OPTIONS, SavedOption, RESUMABLE_OPTIONS, ignoredOnResume, resolveRun } from './settings';
export * from './callbacks';
export { ReduceLROnPlateau, EarlyStopping, PlateauOptions, PlateauState, DEFAULT_PLATEAU, MonitorName, MONITORS } from './plateau';
export { AugmentOptions, DEFAULT_AUGMENT, gatherBatch, warpFace } from './augment';
export { Rng, RngState } from './rng';
export { Adam, AdamOptions, AdamState } from './adam';
export { EpochRecord, TrainState, readTrainState, TRAIN_STATE, OPTIMIZER_BIN, TRAIN_INFO } from './state';
export { writeHistory, historyCsv, curvesChart, HISTORY_FILES } from './history';
export { recalibrateBatchNorm } from './batchnorm';
export { Sgd, SgdOptions, DEFAULT_SGD } from './sgd';
export { Ema } from './ema';
export { scheduledLr, ScheduleSpec, ScheduleName, SCHEDULES } from './schedule';
export { CropAugment, eraseRect } from './augment';
export { RECIPE_DEFAULTS, DEFAULT_TEACHER_WEIGHT, OPTIMIZERS, OptimizerName, EMA_BIN } from './state';
