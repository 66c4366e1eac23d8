/**
 * The run's history: every optimizer step and every evaluation, in order. On disk a step is one line of
 * `log.jsonl` and a checkpoint's `trainer_state.json` keeps the whole history (`logHistory`, as HF's
 * log_history); neither has a `kind` field, so an entry is told apart by its shape when read back.
 */
import type { ClassificationMetrics } from "./metrics.ts";

/** One optimizer step. `tokens` is this step's; `seconds` is the cumulative training time. */
export interface StepRecord {
  step: number;
  /** Fractional epoch at the end of the step. */
  epoch: number;
  loss: number;
  lr: number;
  /** Before clipping; null for a mixed-precision step skipped because its gradients overflowed. */
  grad_norm: number | null;
  tokens: number;
  seconds: number;
  /** Mixed precision: the loss scale after this step. */
  loss_scale?: number;
}

/** An evaluation: the metrics at a step. */
export interface EvalRecord extends Omit<ClassificationMetrics, "eval_samples"> {
  step: number;
  epoch: number;
  eval_samples?: number;
}

export type RunLogEntry = { kind: "step"; record: StepRecord } | { kind: "eval"; record: EvalRecord };

export class RunLog {
  readonly entries: RunLogEntry[] = [];

  /** A saved history (a checkpoint's logHistory) up to `step`: what a resumed run continues from. */
  static fromSaved(history: unknown[], step: number): RunLog {
    const log = new RunLog();
    for (const h of history) {
      const record = h as StepRecord | EvalRecord;
      if (record.step > step) continue;
      if (typeof (record as StepRecord).loss === "number") log.addStep(record as StepRecord);
      else log.addEval(record as EvalRecord);
    }
    return log;
  }

  addStep(record: StepRecord): void {
    this.entries.push({ kind: "step", record });
  }

  addEval(record: EvalRecord): void {
    this.entries.push({ kind: "eval", record });
  }

  steps(): StepRecord[] {
    return this.entries.flatMap((e) => e.kind === "step" ? [e.record] : []);
  }

  evals(): EvalRecord[] {
    return this.entries.flatMap((e) => e.kind === "eval" ? [e.record] : []);
  }

  /** The history as a checkpoint saves it: the records, in order. */
  toSaved(): (StepRecord | EvalRecord)[] {
    return this.entries.map((e) => e.record);
  }
}

/** A step's line in log.jsonl. */
export const stepLine = (record: StepRecord) => JSON.stringify(record) + "\n";
