/**
 * The fine-tuning job behind `deno task train`: resolves the model and data, prints and records every
 * setting, trains with evaluation and checkpoints, and writes metrics.json, log.jsonl and report.html.
 */
import { dirname, join, resolve } from "node:path";
import { gpu, initGpu } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { hfConfigJson } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { exists, writeFileAtomic } from "../util/fs.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { tokenizerFiles } from "../data/tokenizer_files.ts";
import {
  historyUpTo,
  loadOptimizerState,
  readResumeState,
  saveCheckpoint,
  TRAINING_ARGS,
} from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { classificationMetrics } from "./metrics.ts";
import { ProgressReporter } from "./progress.ts";
import { type EvalRecord, type StepRecord, writeReport } from "./report.ts";
import { NonFiniteError, predictRows, Trainer } from "./trainer.ts";
import { resolveModel } from "./model_source.ts";
import { loadTrainingData } from "./data_source.ts";

export interface TrainResult {
  output: string;
  metrics: Record<string, unknown> | null;
  status: "done" | "stopped" | "early-stopped";
}

/** Trains as `cfg` says; `explicit` names the settings the user gave (they are never replaced by a fallback). */
export async function runTrainJob(cfg: TrainConfig, explicit: Set<string>): Promise<TrainResult> {
  const startedAt = new Date();
  if (cfg.resume) cfg = await settingsForResume(cfg, explicit);
  const output = resolve(cfg.output);
  if (!cfg.resume && !explicit.has("overwrite") && await hasCheckpoints(output)) {
    throw new UserError(
      `--output ${cfg.output}: already holds a run's checkpoints; pass --resume or another --output`,
    );
  }
  const runtime = await initGpu();
  const device = runtime.summary.description + (runtime.summary.isFallback ? " (fallback adapter)" : "");

  const source = await resolveModel(cfg, explicit);
  cfg = source.cfg;
  const data = await loadTrainingData(cfg, explicit, source.tokenizer.tokenizer);
  cfg = data.cfg;

  const settings = {
    ...cfg,
    init: source.init,
    modelSource: source.description,
    dataSource: data.description,
  };
  log(`device: ${device}`);
  log(`model: ${source.description}${source.loadReport ? `\n${source.loadReport}` : ""}`);
  log(
    `data: ${data.description} (${data.train.offsets.length - 1} train, ${
      data.eval.offsets.length - 1
    } eval rows)`,
  );
  log(`settings: ${JSON.stringify(settings)}`);

  const model = DistilBertClassifier.fromHost(source.config, source.weights);
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
    await loadOptimizerState(cfg.resume, trainer.optimizer, saved.optimizerStep, saved.lossScale ?? null);
    trainer.state = saved.trainer;
    logHistory = historyUpTo(saved.logHistory, saved.trainer.step);
    log(`resumed from ${cfg.resume} at step ${saved.trainer.step}`);
  }
  // The output directory and its files appear with the first step that completed on the GPU: a run that
  // fails before that (a device error, a limit) leaves the output as it was.
  const logPath = cfg.log ?? join(output, "log.jsonl");
  const opened: { log: Deno.FsFile | null } = { log: null };
  const openOutput = async (): Promise<Deno.FsFile> => {
    if (opened.log) return opened.log;
    await Deno.mkdir(output, { recursive: true });
    await writeFileAtomic(join(output, "run_config.json"), JSON.stringify(settings, null, 2) + "\n");
    await writeFileAtomic(logPath, logHistory.filter(isStep).map((l) => JSON.stringify(l) + "\n").join(""));
    return opened.log = await Deno.open(logPath, { append: true });
  };

  const progress = new ProgressReporter({ totalSteps: trainer.totalSteps, startStep: trainer.state.step });
  const evals: EvalRecord[] = logHistory.filter((h) => !isStep(h)) as EvalRecord[];
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) Deno.exit(130);
    stopRequested = true;
    progress.message("interrupted: saving a checkpoint, then stopping (Ctrl-C again to quit now)");
  };
  Deno.addSignalListener("SIGINT", onSigint);

  let lastMetrics: Record<string, number> | null = null;
  const evaluate = async () => {
    const r = await predictRows(model, data.eval, cfg.evalBatchSize, cfg.fp16);
    return classificationMetrics(r.labels, r.predictions, { sum: r.lossSum, count: r.labels.length });
  };
  let status: TrainResult["status"];
  try {
    status = await trainer.run({
      onStep: async (line) => {
        const file = await openOutput();
        logHistory.push(line);
        await file.write(new TextEncoder().encode(JSON.stringify(line) + "\n"));
        progress.update(line);
      },
      onEvaluate: async (state) => {
        const m = await evaluate();
        const record = {
          step: state.step,
          epoch: state.epoch + state.position / trainer.microBatchesPerEpoch,
          ...m,
        };
        evals.push(record as EvalRecord);
        logHistory.push(record);
        progress.message(
          `eval at step ${state.step}: loss ${m.eval_loss?.toFixed(4)} accuracy ${
            m.eval_accuracy.toFixed(4)
          } f1 ${m.eval_f1.toFixed(4)}`,
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
      shouldStop: () => stopRequested,
    });
  } catch (err) {
    progress.finish();
    if (err instanceof NonFiniteError) {
      throw new UserError(`${err.message}; the last good checkpoint in ${cfg.output} is kept`);
    }
    throw err;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
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
  const metrics = lastMetrics === null ? null : {
    ...(lastMetrics as Record<string, unknown>),
    step: s.step,
    epoch: s.epoch,
    init: source.init,
    best_step: s.bestStep,
    best_metric: s.bestMetric,
    metric_for_best_model: cfg.metricForBestModel,
    train_seconds: s.seconds,
    train_tokens: s.tokens,
    train_tokens_per_second: s.tokens / Math.max(1e-9, s.seconds),
    wall_seconds: wallSeconds,
    device,
  };
  if (metrics) await writeFileAtomic(join(output, "metrics.json"), JSON.stringify(metrics, null, 2) + "\n");
  await writeReport(join(output, "report.html"), {
    title: `DistilBERT IMDB fine-tuning (${source.init})`,
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
  if (metrics) log(JSON.stringify(lastMetrics));
  trainer.optimizer.dispose();
  model.dispose();
  await gpu().sync();
  return { output, metrics, status };
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
  const merged = { ...cfg };
  for (const key of Object.keys(cfg) as (keyof TrainConfig)[]) {
    if (key === "resume" || explicit.has(key) || !(key in args)) continue;
    (merged as Record<string, unknown>)[key] = args[key];
  }
  if (!explicit.has("output")) merged.output = dirname(resolve(dir));
  return merged;
}

const isStep = (h: unknown) => typeof (h as StepRecord).loss === "number";

function log(line: string): void {
  console.error(line);
}

async function hasCheckpoints(dir: string): Promise<boolean> {
  if (!(await exists(dir))) return false;
  for await (const e of Deno.readDir(dir)) if (e.isDirectory && e.name.startsWith("checkpoint-")) return true;
  return false;
}

/** Keeps the newest `limit` checkpoints, the best one among them (HF's save_total_limit); older ones go. */
async function pruneCheckpoints(dir: string, limit: number, best: number | null): Promise<void> {
  const steps: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^checkpoint-(\d+)$/.exec(e.name);
    if (e.isDirectory && m) steps.push(Number(m[1]));
  }
  steps.sort((a, b) => b - a);
  const keep = new Set(
    steps.slice(0, best !== null && !steps.slice(0, limit).includes(best) ? limit - 1 : limit),
  );
  if (best !== null) keep.add(best);
  for (const step of steps) {
    if (!keep.has(step)) await Deno.remove(join(dir, `checkpoint-${step}`), { recursive: true });
  }
}
