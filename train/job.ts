/**
 * The fine-tuning job behind `deno task train`: resolves the model and data, prints and records every
 * setting, trains with evaluation and checkpoints, and writes metrics.json, log.jsonl and report.html.
 */
import { dirname, join, resolve } from "node:path";
import { gpu, initGpu } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { useDiskAutotuneCache } from "../autograd/autotune_disk.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { hfConfigJson } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { writeError, writeFileAtomic } from "../util/fs.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { tokenizerFiles } from "../data/tokenizer_files.ts";
import {
  historyUpTo,
  loadOptimizerState,
  readResumeState,
  saveCheckpoint,
  TRAINER_STATE,
  TRAINING_ARGS,
} from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { classificationMetrics } from "./metrics.ts";
import { ProgressReporter } from "./progress.ts";
import { type EvalRecord, type StepRecord, writeReport } from "./report/page.ts";
import { NonFiniteError, predictRows, Trainer } from "./trainer.ts";
import { fitHead, resolveModel } from "./model_source.ts";
import { openRunDir, pruneCheckpoints, type RunDir } from "./run_dir.ts";
import { loadTrainingData } from "./data_source.ts";

export interface TrainResult {
  output: string;
  metrics: Record<string, unknown> | null;
  status: "done" | "stopped" | "early-stopped";
  /** The signal that stopped the run (it saved a checkpoint first); the task exits 130 or 143. */
  signal?: StopSignal;
}

type StopSignal = "SIGINT" | "SIGTERM";

/** Trains as `cfg` says; `explicit` names the settings the user gave (they are never replaced by a fallback). */
export async function runTrainJob(cfg: TrainConfig, explicit: Set<string>): Promise<TrainResult> {
  const startedAt = new Date();
  if (cfg.resume) cfg = await settingsForResume(cfg, explicit);
  // The output folder is checked, claimed and locked before any work (see run_dir.ts).
  const runDir = await openRunDir(cfg, explicit, cfg.resume ? dirname(resolve(cfg.resume)) : null);
  const asked = resolve(cfg.output);
  if (runDir.path !== asked) cfg = { ...cfg, output: cfg.output + runDir.path.slice(asked.length) };
  try {
    return await trainInRunDir(cfg, explicit, runDir, startedAt);
  } finally {
    await runDir.release();
  }
}

async function trainInRunDir(
  cfg: TrainConfig,
  explicit: Set<string>,
  runDir: RunDir,
  startedAt: Date,
): Promise<TrainResult> {
  const output = runDir.path;
  const runtime = await initGpu();
  const device = runtime.summary.description + (runtime.summary.isFallback ? " (fallback adapter)" : "");

  const resolved = await resolveModel(cfg, explicit);
  cfg = resolved.cfg;
  // A trained head's classes keep their ids: the data's names are matched to its id2label where they can be.
  const trainedLabels = resolved.freshHead
    ? null
    : Array.from({ length: resolved.config.num_labels }, (_, i) => resolved.config.id2label[String(i)]);
  const data = await loadTrainingData(cfg, explicit, resolved.tokenizer.tokenizer, trainedLabels);
  cfg = data.cfg;
  const numLabels = data.labels.names.length;
  const source = fitHead(resolved, data.labels, cfg);

  const settings = {
    ...cfg,
    init: source.init,
    modelSource: source.description,
    dataSource: data.description,
    labelNames: data.labels.names,
  };
  log(`device: ${device}`);
  log(`model: ${source.description}${source.loadReport ? `\n${source.loadReport}` : ""}`);
  log(
    `data: ${data.description} (${data.train.offsets.length - 1} train, ${
      data.eval ? data.eval.offsets.length - 1 : 0
    } eval rows; ${numLabels} labels: ${data.labels.names.map((n) => JSON.stringify(n)).join(", ")})`,
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
  let logHistory: unknown[] = [];
  if (cfg.resume) {
    const saved = await readResumeState(cfg.resume, cfg, data.train.offsets.length - 1);
    if (trainer.totalSteps <= saved.trainer.step) {
      throw new UserError(
        `--resume ${cfg.resume}: the checkpoint is at step ${saved.trainer.step} of this run's ` +
          `${trainer.totalSteps}: nothing left to train (raise --max-steps or --epochs)`,
      );
    }
    await loadOptimizerState(cfg.resume, trainer.optimizer, saved.optimizerStep, saved.lossScale ?? null);
    trainer.state = saved.trainer;
    logHistory = historyUpTo(saved.logHistory, saved.trainer.step);
    log(`resumed from ${cfg.resume} at step ${saved.trainer.step}`);
  }
  // The output directory and its files appear with the first step that completed on the GPU: a run that
  // fails before that (a device error, a limit) leaves the output as it was, the previous run's files too.
  const logPath = cfg.log ?? join(output, "log.jsonl");
  const opened: { log: Deno.FsFile | null } = { log: null };
  const openOutput = async (): Promise<Deno.FsFile> => {
    if (opened.log) return opened.log;
    await runDir.clearPreviousRun();
    await Deno.mkdir(output, { recursive: true });
    await writeFileAtomic(join(output, "run_config.json"), JSON.stringify(settings, null, 2) + "\n");
    await writeFileAtomic(logPath, logHistory.filter(isStep).map((l) => JSON.stringify(l) + "\n").join(""));
    return opened.log = await Deno.open(logPath, { append: true });
  };

  const progress = new ProgressReporter({ totalSteps: trainer.totalSteps, startStep: trainer.state.step });
  const evals: EvalRecord[] = logHistory.filter((h) => !isStep(h)) as EvalRecord[];
  // Ctrl-C and SIGTERM (timeout, schedulers, containers) alike: save a checkpoint, stop, exit 130 / 143.
  let stopSignal: StopSignal | null = null;
  const signals: StopSignal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners = signals.map((signal) => {
    const listener = () => {
      if (stopSignal) Deno.exit(signal === "SIGTERM" ? 143 : 130);
      stopSignal = signal;
      const again = signal === "SIGINT" ? "Ctrl-C" : "SIGTERM";
      progress.message(
        `interrupted (${signal}): saving a checkpoint, then stopping (${again} again to quit now)`,
      );
    };
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });

  let lastMetrics: Record<string, number> | null = null;
  const evalRows = data.eval;
  const evaluate = async (rows: NonNullable<typeof evalRows>) => {
    const r = await predictRows(model, rows, cfg.evalBatchSize, cfg.fp16);
    return classificationMetrics(
      r.labels,
      r.predictions,
      { sum: r.lossSum, count: r.labels.length },
      numLabels,
    );
  };
  let status: TrainResult["status"];
  try {
    status = await trainer.run({
      onStep: async (line) => {
        const file = await openOutput();
        logHistory.push(line);
        await file.write(new TextEncoder().encode(JSON.stringify(line) + "\n")).catch((err) => {
          throw writeError(err, logPath);
        });
        progress.update(line);
      },
      // Without evaluation data there is no evaluation and no best model (HF's eval_strategy "no").
      onEvaluate: evalRows === null ? undefined : async (state) => {
        const m = await evaluate(evalRows);
        const record = {
          step: state.step,
          epoch: state.epoch + state.position / trainer.microBatchesPerEpoch,
          ...m,
        };
        evals.push(record as EvalRecord);
        logHistory.push(record);
        const f1 = m.eval_f1 !== undefined
          ? `f1 ${m.eval_f1.toFixed(4)}`
          : `macro f1 ${m.eval_macro_f1.toFixed(4)}`;
        progress.message(
          `eval at step ${state.step}: loss ${m.eval_loss?.toFixed(4)} accuracy ${
            m.eval_accuracy.toFixed(4)
          } ${f1}`,
        );
        lastMetrics = m as unknown as Record<string, number>;
        return lastMetrics;
      },
      onSave: async (state) => {
        await openOutput();
        const dir = join(output, `checkpoint-${state.step}`);
        await saveCheckpoint(dir, {
          model,
          optimizer: trainer.optimizer,
          state,
          cfg,
          trainRows: data.train.offsets.length - 1,
          logHistory,
          tokenizer: source.tokenizer.tokenizer,
        });
        if (cfg.saveTotalLimit > 0) await pruneCheckpoints(output, cfg.saveTotalLimit, state.bestStep);
      },
      shouldStop: () => stopSignal !== null,
    });
  } catch (err) {
    progress.finish();
    if (err instanceof NonFiniteError) {
      throw new UserError(`${err.message}; the last good checkpoint in ${cfg.output} is kept`);
    }
    throw err;
  } finally {
    for (const { signal, listener } of listeners) Deno.removeSignalListener(signal, listener);
    opened.log?.close();
  }
  progress.finish();

  await openOutput();
  // The final model at the output's root, as HF Trainer's save_model does.
  if (status !== "stopped") {
    await writeSafetensors(join(output, "model.safetensors"), await model.toHost());
    await writeFileAtomic(
      join(output, "config.json"),
      JSON.stringify(hfConfigJson(model.config), null, 2) + "\n",
    );
    for (const [name, text] of tokenizerFiles(source.tokenizer.tokenizer)) {
      await writeFileAtomic(join(output, name), text);
    }
  }
  const finishedAt = new Date();
  const wallSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const s = trainer.state;
  // A run without evaluation has train metrics only, and no best model.
  const metrics = lastMetrics === null && evalRows !== null ? null : {
    ...(lastMetrics as Record<string, unknown> | null),
    step: s.step,
    epoch: s.epoch,
    init: source.init,
    num_labels: numLabels,
    best_step: s.bestStep,
    best_metric: s.bestMetric,
    metric_for_best_model: evalRows === null ? null : cfg.metricForBestModel,
    train_seconds: s.seconds,
    train_tokens: s.tokens,
    train_tokens_per_second: s.tokens / Math.max(1e-9, s.seconds),
    wall_seconds: wallSeconds,
    device,
  };
  if (metrics) await writeFileAtomic(join(output, "metrics.json"), JSON.stringify(metrics, null, 2) + "\n");
  await writeReport(join(output, "report.html"), {
    title: `DistilBERT ${cfg.data === null ? "IMDB " : ""}fine-tuning (${source.init})`,
    labelNames: data.labels.names,
    settings,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds,
    device,
    init: source.init,
    steps: logHistory.filter(isStep) as StepRecord[],
    evals,
    notes: [source.description, data.description, `status: ${status}`],
  });
  log(`${status}: ${s.step} steps in ${wallSeconds.toFixed(1)} s; outputs in ${output}`);
  if (lastMetrics) log(JSON.stringify(lastMetrics));
  trainer.optimizer.dispose();
  model.dispose();
  await gpu().sync();
  return { output, metrics, status, ...(status === "stopped" && stopSignal ? { signal: stopSignal } : {}) };
}

/** A resumed run continues with the checkpoint's settings, except those given again on the command line. */
async function settingsForResume(cfg: TrainConfig, explicit: Set<string>): Promise<TrainConfig> {
  const dir = cfg.resume!;
  let args: Partial<TrainConfig>;
  try {
    args = JSON.parse(await Deno.readTextFile(join(dir, TRAINING_ARGS)));
  } catch (err) {
    const what = err instanceof Deno.errors.NotFound
      ? "is not a training checkpoint (no training_args.json)"
      : "has a corrupt training_args.json";
    throw new UserError(`--resume ${dir}: ${what}`);
  }
  // The checkpoint's model is what trains: a --preset, --model or --init naming another is a conflict.
  for (const key of ["model", "init"] as const) {
    if (explicit.has(key) && key in args && args[key] !== cfg[key]) {
      throw new UserError(
        `--resume ${dir}: the checkpoint trains ${args.model} (init ${args.init}), not ` +
          `${key === "model" ? cfg.model : `init ${cfg.init}`}; drop --preset/--model/--init when resuming`,
      );
    }
  }
  const merged = { ...cfg };
  for (const key of Object.keys(cfg) as (keyof TrainConfig)[]) {
    if (key === "resume" || explicit.has(key) || !(key in args)) continue;
    (merged as Record<string, unknown>)[key] = args[key];
  }
  if (!explicit.has("output")) merged.output = dirname(resolve(dir));
  let step: unknown;
  try {
    step = JSON.parse(await Deno.readTextFile(join(dir, TRAINER_STATE)))?.trainer?.step;
  } catch (err) {
    const what = err instanceof Deno.errors.NotFound
      ? "is not a training checkpoint (no trainer_state.json)"
      : "has a corrupt trainer_state.json";
    throw new UserError(`--resume ${dir}: ${what}`);
  }
  if (typeof step === "number" && merged.maxSteps > 0 && merged.maxSteps <= step) {
    throw new UserError(
      explicit.has("maxSteps")
        ? `--max-steps ${merged.maxSteps}: the checkpoint ${dir} is already at step ${step}; ` +
          "pass a larger --max-steps to train further"
        : `--resume ${dir}: the checkpoint is at step ${step} of the run's ${merged.maxSteps}: ` +
          "nothing left to train (pass a larger --max-steps)",
    );
  }
  return merged;
}

const isStep = (h: unknown) => typeof (h as StepRecord).loss === "number";

function log(line: string): void {
  console.error(line);
}
