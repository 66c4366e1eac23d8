/**
 * Classification metrics with scikit-learn semantics for any number of classes: accuracy, per-class
 * precision/recall/F1 averaged as `average="macro"` (the unweighted mean over every class) and
 * `average="weighted"` (weighted by each class's true count), and the confusion matrix. A precision, recall
 * or F1 whose denominator is 0 is 0 (sklearn's `zero_division=0`). With two classes the binary keys of the
 * positive class (id 1), sklearn's `average="binary"`, are there too.
 */

/** `matrix[actual][predicted]`; for two classes `[[tn, fp], [fn, tp]]`. */
export type ConfusionMatrix = number[][];

export interface ClassificationMetrics {
  /** Mean loss over `losses.count` samples; present only when `losses` was given. */
  eval_loss?: number;
  eval_accuracy: number;
  /** Two classes only: precision, recall and F1 of the positive class (id 1). */
  eval_precision?: number;
  eval_recall?: number;
  eval_f1?: number;
  eval_macro_precision: number;
  eval_macro_recall: number;
  eval_macro_f1: number;
  eval_weighted_precision: number;
  eval_weighted_recall: number;
  eval_weighted_f1: number;
  eval_confusion_matrix: ConfusionMatrix;
  eval_samples: number;
}

/**
 * The metrics of `predictions` against `labels` (class ids in 0..numLabels-1; `numLabels` defaults to 2).
 * `losses` (a sum of per-sample losses and how many) adds `eval_loss` = sum / count.
 */
export function classificationMetrics(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  losses?: { sum: number; count: number },
  numLabels = 2,
): ClassificationMetrics {
  if (labels.length !== predictions.length) {
    throw new Error(`classificationMetrics: ${labels.length} labels but ${predictions.length} predictions`);
  }
  const k = numLabels;
  const matrix: number[][] = Array.from({ length: k }, () => new Array(k).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i], p = predictions[i];
    if (!Number.isInteger(y) || !Number.isInteger(p) || y < 0 || p < 0 || y >= k || p >= k) {
      throw new Error(
        `classificationMetrics: expected ids in 0..${k - 1} at index ${i}, got label ${y}, prediction ${p}`,
      );
    }
    matrix[y][p]++;
    if (y === p) correct++;
  }
  const n = labels.length;
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  const perClass = matrix.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((s, v) => s + v, 0);
    const predicted = matrix.reduce((s, r) => s + r[c], 0);
    // sklearn: F1 = 2tp / (2tp + fp + fn) = 2tp / (predicted + support), 0 when that denominator is 0.
    return {
      precision: ratio(tp, predicted),
      recall: ratio(tp, support),
      f1: ratio(2 * tp, predicted + support),
      support,
    };
  });
  const mean = (key: "precision" | "recall" | "f1") => perClass.reduce((s, c) => s + c[key], 0) / k;
  const weighted = (key: "precision" | "recall" | "f1") =>
    ratio(perClass.reduce((s, c) => s + c[key] * c.support, 0), n);
  const out: ClassificationMetrics = {
    eval_accuracy: ratio(correct, n),
    ...(k === 2
      ? {
        eval_precision: perClass[1].precision,
        eval_recall: perClass[1].recall,
        eval_f1: perClass[1].f1,
      }
      : {}),
    eval_macro_precision: mean("precision"),
    eval_macro_recall: mean("recall"),
    eval_macro_f1: mean("f1"),
    eval_weighted_precision: weighted("precision"),
    eval_weighted_recall: weighted("recall"),
    eval_weighted_f1: weighted("f1"),
    eval_confusion_matrix: matrix,
    eval_samples: n,
  };
  if (losses) {
    return { eval_loss: losses.count > 0 ? losses.sum / losses.count : NaN, ...out };
  }
  return out;
}

/** P(class 1) = softmax([logit0, logit1])[1] = sigmoid(logit1 - logit0), without overflow for any inputs. */
export function softmax2(logit0: number, logit1: number): number {
  const d = logit1 - logit0;
  if (Number.isNaN(d)) return NaN;
  if (d >= 0) return 1 / (1 + Math.exp(-d));
  const e = Math.exp(d);
  return e / (1 + e);
}

/** softmax(logits), in float64, stable for any inputs (the largest logit is subtracted first). */
export function softmax(logits: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
