/**
 * The training loop: micro-batches with gradient accumulation, AdamW with a linear warmup/decay schedule
 * and global-norm clipping, pipelined steps, and hooks where the job evaluates, logs and saves checkpoints.
 */
import { gpu, keep, mul, readScalars, scale, type Tensor, tidy } from "../autograd/mod.ts";

import { type Batch, DistilBertClassifier } from "../model/distilbert.ts";
import { mixSeed } from "../model/modules.ts";
import { AdamW } from "./optimizer.ts";
import { linearWarmupDecay } from "./schedule.ts";
import {
  batchTokens,
  bucketByLength,
  epochOrder,
  makeBatch,
  rowCount,
  splitBatch,
  type TokenizedRows,
} from "./batches.ts";
import type { TrainConfig } from "./config.ts";
import type { StepRecord } from "./run_log.ts";
import type { ClassificationMetrics } from "./metrics.ts";

/** Where a run stands: everything a checkpoint needs besides weights and optimizer moments. */
export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  epoch: number;
  /** Micro-batches of `epoch` already consumed. */
  position: number;
  tokens: number;
  seconds: number;
  bestMetric: number | null;
  bestStep: number | null;
  evalsWithoutImprovement: number;
}

export interface TrainerHooks {
  /** After every optimizer step, with its log line. */
  onStep?: (record: StepRecord, state: TrainerState) => Promise<void> | void;
  /** When an evaluation is due (epoch end or every N steps); returns the metrics. */
  onEvaluate?: (state: TrainerState) => Promise<ClassificationMetrics>;
  /** When a checkpoint is due. */
  onSave?: (state: TrainerState, reason: "epoch" | "interval" | "end" | "interrupt") => Promise<void>;
  /** Polled between steps: true asks the loop to save and stop (Ctrl-C). */
  shouldStop?: () => boolean;
}

export class NonFiniteError extends Error {}

/** A submitted step: its learning rate and token count now, its loss and gradient norm once the GPU ran it. */
export interface PendingStep {
  lr: number;
  tokens: number;
  result: Promise<StepResult>;
}

/** What a step gives back once the GPU ran it. */
export interface StepResult {
  loss: number;
  /** null: a mixed-precision step skipped because its gradients overflowed. */
  gradNorm: number | null;
  /** Mixed precision: the loss scale after the step. */
  lossScale?: number;
}

export class Trainer {
  readonly optimizer: AdamW;
  readonly microBatchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  state: TrainerState = {
    step: 0,
    epoch: 0,
    position: 0,
    tokens: 0,
    seconds: 0,
    bestMetric: null,
    bestStep: null,
    evalsWithoutImprovement: 0,
  };

  constructor(readonly model: DistilBertClassifier, readonly rows: TokenizedRows, readonly cfg: TrainConfig) {
    if (cfg.fp16) gpu().requireShaderF16("--fp16", "train without --fp16");
    this.optimizer = new AdamW(
      model.store,
      { lr: cfg.lr, ...cfg.optimizer },
      cfg.fp16 ? cfg.lossScale : null,
    );
    const n = rowCount(rows);
    this.microBatchesPerEpoch = Math.ceil(n / cfg.batchSize);
    this.stepsPerEpoch = Math.max(1, Math.ceil(this.microBatchesPerEpoch / cfg.gradAccum));
    this.totalSteps = cfg.maxSteps > 0 ? cfg.maxSteps : this.stepsPerEpoch * cfg.epochs;
    this.warmupSteps = cfg.warmupSteps > 0 ? cfg.warmupSteps : Math.ceil(cfg.warmupRatio * this.totalSteps);
  }

  /** The rows of an epoch in batch order: shuffled (or file order), then length-bucketed when asked. */
  orderFor(epoch: number): Int32Array {
    const cfg = this.cfg, rows = this.rows;
    const order = epochOrder(rowCount(rows), cfg.seed, epoch, cfg.shuffle);
    if (!cfg.groupByLength) return order;
    const length = (r: number) => rows.offsets[r + 1] - rows.offsets[r];
    return bucketByLength(order, length, cfg.batchSize, cfg.seed + epoch);
  }

  lrAt(step: number): number {
    return this.cfg.lr * linearWarmupDecay(step, this.warmupSteps, this.totalSteps);
  }

  /**
   * Records one optimizer step over `batches` (its micro-batches) and submits it, with the copies of its
   * losses and gradient norm, as one queue submission. `result` settles once the GPU has run it: the mean
   * loss and the norm, or a NonFiniteError (the AdamW kernel then left the parameters untouched). With
   * fp16, a non-finite gradient norm is an overflow of the scaled gradients: the GPU skipped the update and
   * halved the scale, and the run goes on (the learning-rate schedule still advances, as in PyTorch's AMP
   * recipe); a non-finite loss still stops it.
   */
  submitStep(microBatches: Batch[]): PendingStep {
    const lr = this.lrAt(this.state.step);
    const step = this.state.step + 1;
    // A micro-batch larger than one pass fits on this adapter runs as several passes (accumulated).
    const batches = microBatches.flatMap((b) => splitBatch(b, this.model.maxRowsPerPass(b.seq)));
    const losses: Tensor[] = [];
    const totalRows = batches.reduce((s, b) => s + b.batch, 0);
    const fp16 = this.cfg.fp16, lossScale = this.optimizer.lossScale;
    batches.forEach((batch, i) => {
      // Each micro-batch's mean loss is weighted by its share of rows, so accumulation equals one big batch.
      const seed = mixSeed(this.cfg.seed, this.state.step * 1024 + i);
      losses.push(tidy(() => {
        const logits = this.model.forward(batch, { training: true, seed, fp16 });
        const loss = this.model.loss(logits, batch.labels!);
        const weighted = scale(loss, batch.batch / totalRows);
        (lossScale ? mul(weighted, lossScale) : weighted).backward();
        return keep(loss);
      }));
    });
    const normSq = this.optimizer.update(lr);
    this.model.zeroGrad();
    const values = readScalars([...losses, normSq, ...(lossScale ? [lossScale] : [])]);
    losses.forEach((l) => l.dispose());
    normSq.dispose();
    const tokens = batches.reduce((s, b) => s + batchTokens(b), 0);
    const result = values.then((v): StepResult => {
      const scaleAfter = lossScale ? v.pop()! : undefined;
      const gradNorm = Math.sqrt(v.pop()!);
      const loss = v.reduce((s, x, i) => s + x * batches[i].batch, 0) / totalRows;
      if (lossScale && Number.isFinite(loss) && !Number.isFinite(gradNorm)) {
        return { loss, gradNorm: null, lossScale: scaleAfter };
      }
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        throw new NonFiniteError(
          `non-finite ${Number.isFinite(loss) ? "gradient norm" : "loss"} at step ${step} ` +
            `(loss ${loss}, grad norm ${gradNorm}): stopping; the parameters were not updated`,
        );
      }
      return { loss, gradNorm, ...(lossScale ? { lossScale: scaleAfter } : {}) };
    });
    result.catch(() => {}); // a step abandoned after an earlier failure must not reject unobserved
    return { lr, tokens, result };
  }

  /** One optimizer step, waited for: the mean loss and the grad norm. */
  async trainStep(batches: Batch[]): Promise<StepResult & { lr: number; tokens: number }> {
    const pending = this.submitStep(batches);
    return { ...(await pending.result), lr: pending.lr, tokens: pending.tokens };
  }

  /**
   * Runs until `totalSteps`, calling the hooks; resumes from `state` when it was restored. Step N+1 is
   * recorded and submitted while the GPU still runs step N (its loss is read back asynchronously), except
   * where step N ends an epoch, evaluates, saves or is the last: there the loop waits, so hooks always see
   * the parameters of the step they are called for.
   */
  async run(hooks: TrainerHooks = {}): Promise<"done" | "stopped" | "early-stopped"> {
    const cfg = this.cfg, s = this.state;
    const n = rowCount(this.rows);
    let order = this.orderFor(s.epoch);
    let inFlight: { pending: PendingStep; step: number; epoch: number } | null = null;
    let mark = performance.now();
    /** Waits for a submitted step and logs it. */
    const complete = async (f: { pending: PendingStep; step: number; epoch: number }) => {
      const r = await f.pending.result;
      const now = performance.now();
      s.tokens += f.pending.tokens;
      s.seconds += (now - mark) / 1000;
      mark = now;
      await hooks.onStep?.({
        step: f.step,
        epoch: Number(f.epoch.toFixed(4)),
        loss: r.loss,
        lr: f.pending.lr,
        grad_norm: r.gradNorm,
        tokens: f.pending.tokens,
        seconds: Number(s.seconds.toFixed(3)),
        ...(r.lossScale !== undefined ? { loss_scale: r.lossScale } : {}),
      }, s);
    };
    while (s.step < this.totalSteps) {
      if (hooks.shouldStop?.()) {
        if (inFlight) await complete(inFlight);
        await hooks.onSave?.(s, "interrupt");
        return "stopped";
      }
      if (s.position >= this.microBatchesPerEpoch) {
        s.epoch++;
        s.position = 0;
        order = this.orderFor(s.epoch);
      }
      const batches: Batch[] = [];
      for (let a = 0; a < cfg.gradAccum && s.position < this.microBatchesPerEpoch; a++, s.position++) {
        const start = s.position * cfg.batchSize;
        batches.push(makeBatch(this.rows, order.subarray(start, Math.min(n, start + cfg.batchSize))));
      }
      if (!inFlight) mark = performance.now(); // the time since the last wait was the hooks', not training
      const pending = this.submitStep(batches);
      s.step++;
      const current = { pending, step: s.step, epoch: s.epoch + s.position / this.microBatchesPerEpoch };
      if (inFlight) await complete(inFlight);
      inFlight = current;

      const epochEnd = s.position >= this.microBatchesPerEpoch;
      const last = s.step >= this.totalSteps;
      const evalDue = epochEnd || last || (cfg.evalEvery > 0 && s.step % cfg.evalEvery === 0);
      const intervalSave = cfg.saveEvery > 0 && s.step % cfg.saveEvery === 0;
      if (!evalDue && !intervalSave) continue; // submit the next step before waiting for this one
      await complete(inFlight);
      inFlight = null;
      if (evalDue && hooks.onEvaluate) {
        const metrics = await hooks.onEvaluate(s);
        const value = metrics[cfg.metricForBestModel as keyof ClassificationMetrics] as number | undefined;
        const lowerIsBetter = cfg.metricForBestModel.endsWith("loss");
        if (value !== undefined) {
          const better = s.bestMetric === null ||
            (lowerIsBetter ? value < s.bestMetric : value > s.bestMetric);
          if (better) {
            s.bestMetric = value;
            s.bestStep = s.step;
            s.evalsWithoutImprovement = 0;
          } else s.evalsWithoutImprovement++;
        }
      }
      if (last) await hooks.onSave?.(s, "end");
      else if (epochEnd) await hooks.onSave?.(s, "epoch");
      else if (intervalSave) await hooks.onSave?.(s, "interval");
      if (cfg.earlyStoppingPatience > 0 && s.evalsWithoutImprovement >= cfg.earlyStoppingPatience && !last) {
        await hooks.onSave?.(s, "end");
        return "early-stopped";
      }
    }
    if (inFlight) await complete(inFlight);
    await gpu().sync();
    return "done";
  }
}
