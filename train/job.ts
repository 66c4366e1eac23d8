/**
 * The fine-tuning job behind `deno task train`, in three parts: setup (the run folder, the model, the data,
 * every setting printed and recorded, the trainer, a resumed state), the training itself with a recorder
 * (log, progress, evaluations, checkpoints; see recorder.ts), and the finish (final model, metrics.json,
 * report.html; see job_finish.ts).
 */
import { dirname, resolve } from "node:path";
import { initGpu } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { useDiskAutotuneCache } from "../autograd/autotune_disk.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { UserError } from "../util/errors.ts";
import { loadOptimizerState, readResumeState, resumeSettings } from "./checkpoint.ts";
import type { GivenSettings, TrainConfig } from "./config.ts";
import { NonFiniteError, Trainer } from "./trainer.ts";
import { fitHead, type ModelSource, resolveModel } from "./model_source.ts";
import { openRunDir, type RunDir } from "./run_dir.ts";
import { loadTrainingData, type TrainingData } from "./data_source.ts";
import { RunRecorder } from "./recorder.ts";
import { RunLog } from "./run_log.ts";
import { finishRun, type TrainResult } from "./job_finish.ts";

export type { TrainResult } from "./job_finish.ts";

type StopSignal = NonNullable<TrainResult["signal"]>;

/** Trains as `cfg` says; `given` holds the settings the user gave (they are never replaced by a fallback). */
export async function runTrainJob(cfg: TrainConfig, given: GivenSettings): Promise<TrainResult> {
  const startedAt = new Date();
  if (cfg.resume) cfg = await resumeSettings(cfg, given);
  // The output folder is checked, claimed and locked before any work (see run_dir.ts).
  const runDir = await openRunDir(cfg, given, cfg.resume ? dirname(resolve(cfg.resume)) : null);
  const asked = resolve(cfg.output);
  if (runDir.path !== asked) cfg = { ...cfg, output: cfg.output + runDir.path.slice(asked.length) };
  try {
    return await trainInRunDir(cfg, given, runDir, startedAt);
  } finally {
    await runDir.release();
  }
}

/** Everything a run trains with, set up and printed. */
export interface RunSetup {
  cfg: TrainConfig;
  device: string;
  source: ModelSource;
  data: TrainingData;
  /** The settings as run_config.json records them (the config plus where model and data came from). */
  settings: Record<string, unknown>;
  model: DistilBertClassifier;
  trainer: Trainer;
  log: RunLog;
}

async function setUpRun(cfg: TrainConfig, given: GivenSettings): Promise<RunSetup> {
  const runtime = await initGpu();
  const device = runtime.summary.description + (runtime.summary.isFallback ? " (fallback adapter)" : "");
  const resolved = await resolveModel(cfg, given);
  cfg = resolved.cfg;
  // A trained head's classes keep their ids: the data's names are matched to its id2label where they can be.
  const trainedLabels = resolved.freshHead
    ? null
    : Array.from({ length: resolved.config.num_labels }, (_, i) => resolved.config.id2label[String(i)]);
  const data = await loadTrainingData(cfg, given, resolved.tokenizer.tokenizer, trainedLabels);
  cfg = data.cfg;
  const source = fitHead(resolved, data.labels, cfg);
  const settings = {
    ...cfg,
    init: source.init,
    modelSource: source.description,
    dataSource: data.description,
    labelNames: data.labels.names,
  };
  const evalCount = data.eval ? data.eval.offsets.length - 1 : 0;
  const labels = data.labels.names.map((n) => JSON.stringify(n)).join(", ");
  log(`device: ${device}`);
  log(`model: ${source.description}${source.loadReport ? `\n${source.loadReport}` : ""}`);
  log(
    `data: ${data.description} (${data.train.offsets.length - 1} train, ${evalCount} eval rows; ` +
      `${data.labels.names.length} labels: ${labels})`,
  );
  log(`settings: ${JSON.stringify(settings)}`);

  const model = DistilBertClassifier.fromHost(source.config, source.weights);
  useDiskAutotuneCache();
  await autotuneAttention(
    [
      model.attentionShape(cfg.batchSize, cfg.maxLength, cfg.fp16),
      model.attentionShape(cfg.evalBatchSize, cfg.maxLength),
    ],
    { log },
  );
  await autotuneMatmul(model.matmulShapes(cfg.batchSize, cfg.maxLength, cfg.fp16), { log });
  const trainer = new Trainer(model, data.train, cfg);
  return { cfg, device, source, data, settings, model, trainer, log: await restore(cfg, trainer, data) };
}

/** A resumed run's trainer state, optimizer and history from its checkpoint; a new run's empty history. */
async function restore(cfg: TrainConfig, trainer: Trainer, data: TrainingData): Promise<RunLog> {
  if (!cfg.resume) return new RunLog();
  const saved = await readResumeState(cfg.resume, cfg, data.train.offsets.length - 1);
  if (trainer.totalSteps <= saved.trainer.step) {
    throw new UserError(
      `--resume ${cfg.resume}: the checkpoint is at step ${saved.trainer.step} of this run's ` +
        `${trainer.totalSteps}: nothing left to train (raise --max-steps or --epochs)`,
    );
  }
  await loadOptimizerState(cfg.resume, trainer.optimizer, saved.optimizerStep, saved.lossScale ?? null);
  trainer.state = saved.trainer;
  log(`resumed from ${cfg.resume} at step ${saved.trainer.step}`);
  return RunLog.fromSaved(saved.logHistory, saved.trainer.step);
}

async function trainInRunDir(
  cfg: TrainConfig,
  given: GivenSettings,
  runDir: RunDir,
  startedAt: Date,
): Promise<TrainResult> {
  const run = await setUpRun(cfg, given);
  const { data, trainer } = run;
  const recorder = new RunRecorder({
    ...run,
    runDir,
    evalRows: data.eval,
    numLabels: data.labels.names.length,
    trainRows: data.train.offsets.length - 1,
    tokenizer: run.source.tokenizer.tokenizer,
  });
  const stop = listenForStop((text) => recorder.progress.message(text));
  let status: TrainResult["status"];
  try {
    status = await trainer.run(recorder.hooks(() => stop.signal !== null));
  } catch (err) {
    recorder.progress.finish();
    if (err instanceof NonFiniteError) {
      throw new UserError(`${err.message}; the last good checkpoint in ${run.cfg.output} is kept`);
    }
    throw err;
  } finally {
    stop.remove();
    recorder.close();
  }
  recorder.progress.finish();
  await recorder.openOutput();
  const result = await finishRun(run, {
    output: runDir.path,
    status,
    startedAt,
    lastMetrics: recorder.lastMetrics,
  });
  return { ...result, ...(status === "stopped" && stop.signal ? { signal: stop.signal } : {}) };
}

/**
 * Ctrl-C and SIGTERM (timeout, schedulers, containers) alike: the run saves a checkpoint and stops, and the
 * task exits 130 / 143; the same signal again exits at once.
 */
function listenForStop(message: (text: string) => void) {
  const stop: { signal: StopSignal | null; remove: () => void } = { signal: null, remove: () => {} };
  const signals: StopSignal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => {
    const listener = () => {
      if (stop.signal) Deno.exit(signal === "SIGTERM" ? 143 : 130);
      stop.signal = signal;
      const again = signal === "SIGINT" ? "Ctrl-C" : "SIGTERM";
      message(`interrupted (${signal}): saving a checkpoint, then stopping (${again} again to quit now)`);
    };
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });
  stop.remove = () => {
    for (const { signal, listener } of listeners) Deno.removeSignalListener(signal, listener);
  };
  return stop;
}

function log(line: string): void {
  console.error(line);
}
