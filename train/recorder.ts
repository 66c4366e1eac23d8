/**
 * What a training run leaves as it goes: the log (log.jsonl and the in-memory history), the progress line,
 * the evaluations, and the checkpoints. The output folder and its first files appear with the first step
 * that completed on the GPU: a run that fails before that (a device error, a limit) leaves the output as it
 * was, the previous run's files too.
 */
import { join } from "node:path";
import type { DistilBertClassifier } from "../model/distilbert.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { writeError, writeFileAtomic } from "../util/fs.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { evaluate } from "./evaluate.ts";
import type { TokenizedRows } from "./batches.ts";
import type { ClassificationMetrics } from "./metrics.ts";
import { ProgressReporter } from "./progress.ts";
import { type RunLog, stepLine, type StepRecord } from "./run_log.ts";
import { pruneCheckpoints, type RunDir } from "./run_dir.ts";
import type { Trainer, TrainerHooks, TrainerState } from "./trainer.ts";

export interface RecorderParts {
  cfg: TrainConfig;
  runDir: RunDir;
  model: DistilBertClassifier;
  trainer: Trainer;
  /** The history so far: empty, or a resumed checkpoint's. */
  log: RunLog;
  /** run_config.json: the settings as the run records them. */
  settings: Record<string, unknown>;
  evalRows: TokenizedRows | null;
  numLabels: number;
  trainRows: number;
  tokenizer: BertTokenizer;
}

export class RunRecorder {
  readonly progress: ProgressReporter;
  /** The metrics of the latest evaluation. */
  lastMetrics: ClassificationMetrics | null = null;
  private readonly logPath: string;
  private logFile: Deno.FsFile | null = null;

  constructor(private readonly parts: RecorderParts) {
    const { cfg, trainer } = parts;
    this.logPath = cfg.log ?? join(parts.runDir.path, "log.jsonl");
    this.progress = new ProgressReporter({ totalSteps: trainer.totalSteps, startStep: trainer.state.step });
  }

  /** The trainer's hooks: log each step, evaluate (when there is evaluation data), save checkpoints. */
  hooks(shouldStop: () => boolean): TrainerHooks {
    return {
      onStep: (record) => this.step(record),
      // Without evaluation data there is no evaluation and no best model (HF's eval_strategy "no").
      onEvaluate: this.parts.evalRows === null ? undefined : (state) => this.evaluate(state),
      onSave: (state) => this.save(state),
      shouldStop,
    };
  }

  /** Creates the output (once): clears a run it replaces, writes run_config.json and the log so far. */
  async openOutput(): Promise<Deno.FsFile> {
    if (this.logFile) return this.logFile;
    const { runDir, settings, log } = this.parts;
    await runDir.clearPreviousRun();
    await Deno.mkdir(runDir.path, { recursive: true });
    await writeFileAtomic(join(runDir.path, "run_config.json"), JSON.stringify(settings, null, 2) + "\n");
    await writeFileAtomic(this.logPath, log.steps().map(stepLine).join(""));
    return this.logFile = await Deno.open(this.logPath, { append: true });
  }

  close(): void {
    this.logFile?.close();
  }

  private async step(record: StepRecord): Promise<void> {
    const file = await this.openOutput();
    this.parts.log.addStep(record);
    await file.write(new TextEncoder().encode(stepLine(record))).catch((err) => {
      throw writeError(err, this.logPath);
    });
    this.progress.update(record);
  }

  private async evaluate(state: TrainerState): Promise<ClassificationMetrics> {
    const { model, cfg, trainer, numLabels } = this.parts;
    const m = await evaluate(model, this.parts.evalRows!, {
      batchSize: cfg.evalBatchSize,
      fp16: cfg.fp16,
      numLabels,
    });
    this.parts.log.addEval({
      step: state.step,
      epoch: state.epoch + state.position / trainer.microBatchesPerEpoch,
      ...m,
    });
    const f1 = m.eval_f1 !== undefined
      ? `f1 ${m.eval_f1.toFixed(4)}`
      : `macro f1 ${m.eval_macro_f1.toFixed(4)}`;
    this.progress.message(
      `eval at step ${state.step}: loss ${m.eval_loss?.toFixed(4)} accuracy ${
        m.eval_accuracy.toFixed(4)
      } ${f1}`,
    );
    return this.lastMetrics = m;
  }

  private async save(state: TrainerState): Promise<void> {
    const { runDir, model, trainer, cfg } = this.parts;
    await this.openOutput();
    await saveCheckpoint(join(runDir.path, `checkpoint-${state.step}`), {
      model,
      optimizer: trainer.optimizer,
      state,
      cfg,
      trainRows: this.parts.trainRows,
      log: this.parts.log,
      tokenizer: this.parts.tokenizer,
    });
    if (cfg.saveTotalLimit > 0) await pruneCheckpoints(runDir.path, cfg.saveTotalLimit, state.bestStep);
  }
}
