/**
 * The end of a training run: the final model at the output's root (as HF Trainer's save_model does),
 * metrics.json, report.html, and the last lines on stderr; then the GPU memory is released.
 */
import { join } from "node:path";
import { gpu } from "../autograd/mod.ts";
import { hfConfigJson } from "../model/config.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { tokenizerFiles } from "../data/tokenizer_files.ts";
import { writeFileAtomic } from "../util/fs.ts";
import type { ClassificationMetrics } from "./metrics.ts";
import { writeReport } from "./report/page.ts";
import type { RunSetup } from "./job.ts";

export interface TrainResult {
  output: string;
  metrics: Record<string, unknown> | null;
  status: "done" | "stopped" | "early-stopped";
  /** The signal that stopped the run (it saved a checkpoint first); the task exits 130 or 143. */
  signal?: "SIGINT" | "SIGTERM";
}

export async function finishRun(
  run: RunSetup,
  end: {
    output: string;
    status: TrainResult["status"];
    startedAt: Date;
    lastMetrics: ClassificationMetrics | null;
  },
): Promise<TrainResult> {
  const { cfg, model, trainer, source, data, device } = run;
  const { output, status, startedAt, lastMetrics } = end;
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
  const evaluated = data.eval !== null;
  // A run without evaluation has train metrics only, and no best model.
  const metrics = lastMetrics === null && evaluated ? null : {
    ...lastMetrics,
    step: s.step,
    epoch: s.epoch,
    init: source.init,
    num_labels: data.labels.names.length,
    best_step: s.bestStep,
    best_metric: s.bestMetric,
    metric_for_best_model: evaluated ? cfg.metricForBestModel : null,
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
    settings: run.settings,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds,
    device,
    init: source.init,
    steps: run.log.steps(),
    evals: run.log.evals(),
    notes: [source.description, data.description, `status: ${status}`],
  });
  console.error(`${status}: ${s.step} steps in ${wallSeconds.toFixed(1)} s; outputs in ${output}`);
  if (lastMetrics) console.error(JSON.stringify(lastMetrics));
  trainer.optimizer.dispose();
  model.dispose();
  await gpu().sync();
  return { output, metrics, status };
}
