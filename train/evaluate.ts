/**
 * Evaluation: class logits for every row of a tokenized split (in batches, without the tape) and the
 * classification metrics they give; the job evaluates with it during training, `deno task eval` and
 * `predict` after.
 */
import { gpu, noGrad, type Tensor, tidy } from "../autograd/mod.ts";
import type { DistilBertClassifier } from "../model/distilbert.ts";
import { makeBatch, rowCount, splitBatch, type TokenizedRows } from "./batches.ts";
import { type ClassificationMetrics, classificationMetrics } from "./metrics.ts";

/** The elements of several f32 tensors, read back in one submission. */
async function readMany(tensors: Tensor[]): Promise<Float32Array[]> {
  const data = await gpu().readMany(tensors.map((t) => t.binding));
  return data.map((d, i) => new Float32Array(d, 0, tensors[i].size));
}

export interface EvalResult {
  labels: Int32Array;
  predictions: Int32Array;
  logits: Float32Array;
  lossSum: number;
}

/** Class logits for every row, in batches, without the tape (`fp16`: mixed-precision matmuls). */
export async function predictRows(
  model: DistilBertClassifier,
  rows: TokenizedRows,
  batchSize: number,
  fp16 = false,
): Promise<EvalResult> {
  const n = rowCount(rows);
  const classes = model.config.num_labels;
  const logits = new Float32Array(n * classes);
  const predictions = new Int32Array(n);
  let lossSum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
    const batch = makeBatch(rows, idx);
    // A batch larger than one pass fits on this adapter runs as several passes.
    const passes = splitBatch(batch, model.maxRowsPerPass(batch.seq));
    const outs = passes.map((piece) =>
      noGrad(() => tidy(() => model.forward(piece, { training: false, fp16 })))
    );
    const parts = await readMany(outs);
    outs.forEach((t) => t.dispose());
    const values = new Float32Array(idx.length * classes);
    let at = 0;
    for (const part of parts) {
      values.set(part, at);
      at += part.length;
    }
    logits.set(values, start * classes);
    for (let b = 0; b < idx.length; b++) {
      const row = values.subarray(b * classes, (b + 1) * classes);
      let best = 0;
      for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
      predictions[start + b] = best;
      const m = row[best];
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      lossSum += lse - row[rows.labels[start + b]];
    }
  }
  return { labels: rows.labels, predictions, logits, lossSum };
}

/** The metrics of `model` on `rows`, among `numLabels` classes, with the mean loss. */
export async function evaluate(
  model: DistilBertClassifier,
  rows: TokenizedRows,
  opts: { batchSize: number; fp16?: boolean; numLabels: number },
): Promise<ClassificationMetrics> {
  const r = await predictRows(model, rows, opts.batchSize, opts.fp16);
  return classificationMetrics(
    r.labels,
    r.predictions,
    { sum: r.lossSum, count: r.labels.length },
    opts.numLabels,
  );
}
