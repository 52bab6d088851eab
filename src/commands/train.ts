import { Command, Option } from 'commander';
import { action, backendOption, examples, intFlag, numFlag, onStopSignals } from './common';
import { netOption, printSummaries, widthOption } from './models';
import { initBackend } from '../backend';
import { parseNetList } from '../models/nets';
import { DEFAULT_MODELS_DIR } from '../models/checkpoints';
import { DEFAULT_PREPARED_DIR } from '../data/dataset';
import { ResumeInfo, TRAIN_DEFAULTS, TrainOptions, TrainResult, trainNet } from '../train/trainer';
import { TrainHooks } from '../train/callbacks/hooks';
import { fmtLr, pct } from '../train/callbacks/format';
import { Progress, createProgress } from '../util/progress';
import { DEFAULT_PLATEAU, MONITORS, MonitorName } from '../train/plateau';
import { EXIT, FerError } from '../util/errors';
import { DEFAULT_TEACHER_WEIGHT, OPTIMIZERS, OptimizerName, RECIPE_DEFAULTS } from '../train/state';
import { SCHEDULES, ScheduleName } from '../train/schedule';
import { IMAGE_SIZE } from '../data/classes';
import { colorErr, info, warn } from '../util/log';

/** Without a TTY (no bar): a progress line this often shows the run is alive. */
const TEXT_PROGRESS_MS = 60_000;

interface TrainFlags {
  net: string;
  epochs: number;
  batchSize: number;
  lr: number;
  setLr?: number;
  replan: boolean;
  data: string;
  out: string;
  seed: number;
  augment: boolean;
  classWeights: boolean;
  weightDecay?: number;
  optimizer: OptimizerName;
  momentum: number;
  schedule: ScheduleName;
  warmup: number;
  labelSmoothing: number;
  crop: number;
  warpProb: number;
  erase: number;
  convDropout: number;
  headDropout?: number;
  ema: number;
  swa: boolean;
  teacher?: string[];
  teacherWeight?: number;
  width: number;
  bnRecalibrate: number;
  backend: string;
  resume: boolean;
  init?: string;
  earlyStop: number;
  plateauMonitor: MonitorName;
  plateauFactor: number;
  plateauPatience: number;
  plateauCooldown: number;
  plateauMinDelta: number;
  minLr: number;
  summary: boolean;
  json: boolean;
  quiet: boolean;
}

/** ReduceLROnPlateau flags: on --resume, those given change the schedule from then on. */
const PLATEAU_FLAGS = { plateauMonitor: 'monitor', plateauFactor: 'factor', plateauPatience: 'patience', plateauCooldown: 'cooldown',
  plateauMinDelta: 'minDelta', minLr: 'minLr' } as const;

/** A saved option's flag: batchSize → --batch-size. */
function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The hooks that draw `fer train`'s progress on stderr: a bar per epoch on a TTY (a line a minute without one:
 * nohup, CI logs), a line per epoch, the library's notes, and the warning for flags --resume ignores.
 */
function trainProgress(quiet: boolean): TrainHooks & Pick<TrainOptions, 'onResume'> {
  const onResume = (r: ResumeInfo): void => {
    if (r.ignored.length > 0) warn(`--resume continues with the run's saved settings; ignoring ${r.ignored.map(flagOf).join(', ')}`);
  };
  if (quiet) return { onResume };
  let bar: Progress | null = null;
  let lastText = 0;
  const stopBar = (): void => {
    bar?.stop();
    bar = null;
  };
  return {
    onResume,
    onEpochBegin: (e) => {
      bar = createProgress(e.batches, `net${e.net} epoch ${e.epoch}/${e.epochs} {bar} {value}/{total} | loss {loss} acc {acc} | lr {lr} | {ips} img/s | ETA {eta_formatted}`, {
        payload: { loss: '-', acc: '-', lr: fmtLr(e.lr), ips: '-' },
      });
      bar.update(e.firstBatch, { lr: fmtLr(e.lr) });
      lastText = Date.now();
    },
    onBatch: (b) => {
      bar?.update(b.batch, { loss: b.loss.toFixed(4), acc: pct(b.acc), lr: fmtLr(b.lr), ips: Math.round(b.imgPerSec) });
      const now = Date.now();
      if (!process.stderr.isTTY && now - lastText >= TEXT_PROGRESS_MS) {
        lastText = now;
        const eta = (b.imagesPerEpoch - b.images) / b.imgPerSec;
        info(`net${b.net} epoch ${b.epoch}/${b.epochs}  batch ${b.batch}/${b.batches}  loss ${b.loss.toFixed(4)} acc ${pct(b.acc)}`
          + `  ${Math.round(b.imgPerSec)} img/s  ETA ${Math.round(eta)}s`);
      }
    },
    onEpochEnd: (rec, e) => {
      stopBar();
      info(`net${e.net} epoch ${rec.epoch}/${e.epochs}  loss ${rec.loss.toFixed(4)} acc ${pct(rec.acc)}  val_loss ${rec.val_loss.toFixed(4)} val_acc ${pct(rec.val_acc)}`
        + `${rec.rawValAcc !== undefined ? ` (trained weights ${pct(rec.rawValAcc)})` : ''}  lr ${fmtLr(rec.lr)}  ${rec.seconds}s  ${rec.imgPerSec} img/s  RSS ${rec.peakRssMB} MB${e.isBest ? '  * best' : ''}`);
    },
    onLog: (line) => {
      stopBar();
      info(line);
    },
  };
}

function emaFlag(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !(n === 0 || (n >= 0.5 && n < 1))) throw new FerError(`--ema ${v}: expected 0 (off) or a decay in [0.5, 1), e.g. 0.999`, EXIT.USAGE);
  return n;
}

function teacherFlag(v: string): string[] {
  const dirs = v.split(',').map((d) => d.trim());
  if (dirs.some((d) => d === '')) throw new FerError(`--teacher ${v}: expected model directories separated by commas, e.g. checkpoints/net2/best,checkpoints/net3/best`, EXIT.USAGE);
  return dirs;
}

function teacherWeightFlag(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !(n > 0 && n <= 1)) throw new FerError(`--teacher-weight ${v}: expected a number in (0, 1]`, EXIT.USAGE);
  return n;
}

function monitorFlag(v: string): MonitorName {
  if (!(MONITORS as readonly string[]).includes(v)) throw new FerError(`--plateau-monitor ${v}: choose one of ${MONITORS.join(', ')}`, EXIT.USAGE);
  return v as MonitorName;
}

export function register(program: Command): void {
  const d = TRAIN_DEFAULTS;
  const p = DEFAULT_PLATEAU;
  const cmd = program
    .command('train')
    .description('Train the CNNs on a prepared dataset (fer prepare): AdamW or SGD, ReduceLROnPlateau or warm-up + cosine, on-the-fly augmentation '
      + '(random crops, warp, erasing), label smoothing, weight EMA, '
      + '`best` and `last` checkpoints in <out>/net<k>/, history (JSON, CSV) and curves (SVG, PNG). '
      + 'Ctrl-C saves `last` and exits 130; --resume continues exactly where it stopped. A run locks <out>/net<k> (a second one '
      + 'exits 1 naming its pid); after a crash the next run restores the newest complete checkpoint.')
    .addOption(netOption('all'))
    .addOption(new Option('--epochs <n>', 'total epochs (with --resume: including those already done)').default(d.epochs).argParser(intFlag('--epochs', 1)))
    .addOption(new Option('--batch-size <n>', 'images per batch').default(d.batchSize).argParser(intFlag('--batch-size', 1, 4096)))
    .addOption(new Option('--lr <x>', 'initial learning rate (Adam)').default(d.lr).argParser(numFlag('--lr', 1e-9, 10)))
    .option('--data <dir>', 'prepared dataset directory (from fer prepare), needs train and val splits', DEFAULT_PREPARED_DIR)
    .option('--out <dir>', 'checkpoints directory: writes <out>/net<k>/best, last, history.json/.csv, curves.svg/.png', DEFAULT_MODELS_DIR)
    .addOption(new Option('--seed <n>', 'seed for weights, shuffling, augmentation and dropout (same seed, same run)').default(d.seed).argParser(intFlag('--seed', 0, 2 ** 32 - 1)))
    .option('--augment', 'random flip, shift ±10%, rotation ±10°, zoom ±10%, on the fly', d.augment)
    .option('--no-augment', 'train on the images as they are')
    .option('--class-weights', 'weight the loss by inverse class frequency (helps rare classes such as Disgust)', d.classWeights)
    .addOption(new Option('--weight-decay <x>', `weight decay on conv/dense kernels only: decoupled (AdamW, default ${d.weightDecay}; 0 = plain Adam) `
      + `or L2 (SGD, default ${d.sgdWeightDecay})`).argParser(numFlag('--weight-decay', 0, 1)))
    .addOption(new Option('--optimizer <name>', 'adamw, or sgd (Nesterov momentum)').choices([...OPTIMIZERS]).default(RECIPE_DEFAULTS.optimizer))
    .addOption(new Option('--momentum <x>', 'SGD momentum').default(RECIPE_DEFAULTS.momentum).argParser(numFlag('--momentum', 0, 0.999)))
    .addOption(new Option('--schedule <name>', 'LR schedule: plateau (ReduceLROnPlateau, see --plateau-*) or cosine (from --lr down to --min-lr '
      + 'at the last of --epochs, planned when the run starts) or constant (--lr throughout)').choices([...SCHEDULES]).default(RECIPE_DEFAULTS.schedule))
    .addOption(new Option('--warmup <epochs>', 'linear LR warm-up over this many epochs (fractions allowed)').default(RECIPE_DEFAULTS.warmup).argParser(numFlag('--warmup', 0, 1000)))
    .addOption(new Option('--label-smoothing <e>', 'train towards (1 − e)·one-hot + e/7').default(RECIPE_DEFAULTS.labelSmoothing).argParser(numFlag('--label-smoothing', 0, 0.5)))
    .addOption(new Option('--crop <px>', `train on random px×px crops of the ${IMAGE_SIZE}-px faces; the net takes px-size input and is evaluated `
      + `on the centre crop (fer eval --tta 5crop/10crop: multi-crop)`).default(RECIPE_DEFAULTS.crop).argParser(intFlag('--crop', 8, IMAGE_SIZE)))
    .addOption(new Option('--warp-prob <p>', 'probability of the shift/rotation/zoom warp per face (the rest are only flipped and cropped)')
      .default(RECIPE_DEFAULTS.warpProb).argParser(numFlag('--warp-prob', 0, 1)))
    .addOption(new Option('--erase <p>', 'probability of random erasing per face (a 2–25% rectangle filled with noise)').default(RECIPE_DEFAULTS.erase).argParser(numFlag('--erase', 0, 1)))
    .addOption(new Option('--conv-dropout <m>', 'multiply the conv blocks\' dropout rates by m (0 = none: dropout only in the head)').default(RECIPE_DEFAULTS.convDropout)
      .argParser(numFlag('--conv-dropout', 0, 2)))
    .addOption(new Option('--head-dropout <r>', 'dropout rate of the dense head (default: the net\'s own)').argParser(numFlag('--head-dropout', 0, 0.95)))
    .addOption(new Option('--ema <decay>', 'keep an exponential moving average of the weights (e.g. 0.999); it is validated (after BatchNorm '
      + 're-estimation) and saved as best; 0 = off').default(RECIPE_DEFAULTS.ema).argParser(emaFlag))
    .option('--swa', 'stochastic weight averaging: keep the plain mean of the weights after every step (instead of --ema\'s moving average), '
      + 'validated and saved as best the same way; for a constant-LR phase from a trained net (--init, --schedule constant)', false)
    .addOption(new Option('--teacher <dirs>', 'knowledge distillation: model directories (comma-separated, e.g. checkpoints/net1/best,checkpoints/net2/best,'
      + 'checkpoints/net3/best); their mean prediction on each training face (with flip) is mixed into its target').argParser(teacherFlag))
    .addOption(new Option('--teacher-weight <a>', `with --teacher: the teachers' share of the target, (1 − a)·(smoothed one-hot) + a·(their probabilities) `
      + `(default ${DEFAULT_TEACHER_WEIGHT})`).argParser(teacherWeightFlag))
    .addOption(widthOption())
    .addOption(new Option('--bn-recalibrate <n>', 'after each epoch re-estimate BatchNorm statistics on n un-augmented training faces (0 = off)')
      .default(d.bnRecalibrate).argParser(intFlag('--bn-recalibrate', 0)))
    .addOption(backendOption())
    .option('--resume', 'continue from <out>/net<k>/last with its saved settings (only --epochs, --early-stop, --bn-recalibrate, --set-lr, --replan and the plateau flags may change)', false)
    .option('--init <dir>', 'start a new run from a trained model\'s weights (e.g. checkpoints/net3/best; same --net, --width and --crop) instead of '
      + 'random ones: fine-tuning, e.g. --schedule constant with --swa (weight averaging); not with --resume')
    .option('--replan', 'with --resume and a cosine schedule: end the schedule at this --epochs instead of the planned total (the LR follows the new curve from here)', false)
    .addOption(new Option('--set-lr <x>', 'with --resume: continue with this LR (a manual step of the schedule; ReduceLROnPlateau goes on from it)').argParser(numFlag('--set-lr', 0)))
    .addOption(new Option('--early-stop <n>', 'stop after n epochs without a better val_acc (0 = off)').default(d.earlyStop).argParser(intFlag('--early-stop', 0)))
    .addOption(new Option('--plateau-monitor <m>', `metric ReduceLROnPlateau watches: ${MONITORS.join(', ')}`).default(p.monitor).argParser(monitorFlag))
    .addOption(new Option('--plateau-factor <f>', 'multiply the LR by f when the metric plateaus').default(p.factor).argParser(numFlag('--plateau-factor', 1e-6, 0.999999)))
    .addOption(new Option('--plateau-patience <n>', 'epochs without improvement before the LR is reduced').default(p.patience).argParser(intFlag('--plateau-patience', 0)))
    .addOption(new Option('--plateau-cooldown <n>', 'epochs to wait after a reduction before counting again').default(p.cooldown).argParser(intFlag('--plateau-cooldown', 0)))
    .addOption(new Option('--plateau-min-delta <x>', 'smallest change that counts as an improvement').default(p.minDelta).argParser(numFlag('--plateau-min-delta', 0)))
    .addOption(new Option('--min-lr <x>', 'the LR is never reduced below this').default(p.minLr).argParser(numFlag('--min-lr', 0)))
    .option('--summary', 'print the layer table of each selected net (as `fer models`) and exit without training', false)
    .option('--json', 'print the training results (history, best epoch, peak RSS) as JSON on stdout', false)
    .option('-q, --quiet', 'no progress bars, notes or per-epoch lines on stderr; the final best-epoch line, warnings and errors still print', false)
    .action(action(async (opts: TrainFlags, command: Command) => {
      if (opts.summary) {
        await printSummaries({ net: opts.net, width: opts.width, json: opts.json });
        return EXIT.OK;
      }
      const nets = parseNetList(opts.net);
      const fromCli = (key: string): boolean => command.getOptionValueSource(key) === 'cli';
      if (!opts.resume && opts.ema > 0 && opts.bnRecalibrate === 0) {
        throw new FerError('--ema needs --bn-recalibrate > 0: averaged weights need their own BatchNorm statistics', EXIT.USAGE);
      }
      if (opts.replan && (!opts.resume || !fromCli('epochs'))) throw new FerError('--replan ends a resumed cosine schedule at a new total: use it with --resume and --epochs', EXIT.USAGE);
      if (opts.init !== undefined && opts.resume) throw new FerError('--init starts a new run from a trained model; --resume continues <out>/net<k>/last: use one of them', EXIT.USAGE);
      if (opts.teacherWeight !== undefined && opts.teacher === undefined && !opts.resume) {
        throw new FerError('--teacher-weight is the teachers\' share of the target: give --teacher too', EXIT.USAGE);
      }
      if (opts.setLr !== undefined && !opts.resume) throw new FerError('--set-lr changes the LR of a run being resumed: use it with --resume (or use --lr)', EXIT.USAGE);
      const plateauChanges = Object.fromEntries(Object.entries(PLATEAU_FLAGS).filter(([flag]) => fromCli(flag))
        .map(([flag, key]) => [key, opts[flag as keyof typeof PLATEAU_FLAGS]]));
      // On --resume the library keeps the run's saved settings: pass only the flags given, so it can say which of
      // them differ from the saved values (and --early-stop / --bn-recalibrate keep theirs unless given).
      const given = <K extends keyof TrainFlags>(key: K): TrainFlags[K] | undefined => (opts.resume && !fromCli(key) ? undefined : opts[key]);
      const backend = await initBackend(opts.backend);
      if (!opts.quiet) info(`backend: ${backend.description}`);
      const abort = new AbortController();
      // The first signal stops the loop after the current batch (it saves `last`); a second one exits at once.
      const uninstall = onStopSignals('finishing the current batch, then saving the checkpoint', () => abort.abort());
      const results: TrainResult[] = [];
      try {
        for (const net of nets) {
          const r = await trainNet({
            net, data: opts.data, out: opts.out, epochs: opts.epochs, batchSize: given('batchSize'), lr: given('lr'), seed: given('seed'),
            augment: given('augment'), classWeights: given('classWeights'), weightDecay: given('weightDecay'), width: given('width'), resume: opts.resume, init: opts.init,
            optimizer: given('optimizer'), momentum: given('momentum'), schedule: given('schedule'), warmup: given('warmup'),
            labelSmoothing: given('labelSmoothing'), crop: given('crop'), warpProb: given('warpProb'), erase: given('erase'), convDropout: given('convDropout'),
            headDropout: given('headDropout'), ema: given('ema'), swa: given('swa'),
            teacher: given('teacher'), teacherWeight: given('teacherWeight'), bnRecalibrate: given('bnRecalibrate'), earlyStop: given('earlyStop'),
            plateau: {
              monitor: opts.plateauMonitor, factor: opts.plateauFactor, patience: opts.plateauPatience, cooldown: opts.plateauCooldown,
              minDelta: opts.plateauMinDelta, minLr: opts.minLr,
            },
            resumeSchedule: { lr: opts.setLr, plateau: plateauChanges, replan: opts.replan },
            signal: abort.signal,
            ...trainProgress(opts.quiet),
          });
          results.push(r);
          if (r.best) info(colorErr.green(`net${net}: best val_acc ${(r.best.val_acc * 100).toFixed(2)}% at epoch ${r.best.epoch} → ${r.dirs.best}; peak RSS ${r.peakRssMB} MB`));
          if (r.interrupted) break;
        }
      } finally {
        uninstall();
      }
      if (opts.json) process.stdout.write(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + '\n');
      return results.some((r) => r.interrupted) ? EXIT.INTERRUPTED : EXIT.OK;
    }));
  examples(cmd, [
    'fer train --net 1 --epochs 15',
    'fer train --net all --data data/prepared --out checkpoints --class-weights',
    'fer train --net 3 --resume --epochs 30      # continue net 3 up to epoch 30',
    'fer train --net 1 --resume --epochs 40 --set-lr 0.0002 --plateau-patience 2   # step the LR down by hand',
    'fer train --net 2 --plateau-monitor val_acc --plateau-patience 2 --early-stop 6',
    'fer train --summary --net 3',
    'fer train --net 3 --epochs 120 --crop 44 --warp-prob 0.5 --schedule cosine --warmup 2 --label-smoothing 0.1 --ema 0.999 --out runs/c',
    'fer train --net 3 --optimizer sgd --lr 0.01 --schedule cosine --epochs 60 --crop 44',
    'fer train --net 3 --crop 44 --init checkpoints/net3/best --schedule constant --lr 0.0002 --swa --epochs 10 --out runs/swa',
    'fer train --net 1 --width 1.5 --crop 46 --schedule cosine --epochs 50 --teacher checkpoints/net1/best,checkpoints/net2/best,checkpoints/net3/best --out runs/kd',
  ]);
}
