/**
 * Binary classification metrics with scikit-learn semantics (positive class = 1): precision, recall and F1
 * are 0 when their denominator is 0 (sklearn's `zero_division=0`).
 */

/** `[[tn, fp], [fn, tp]]`: rows are the actual class, columns the predicted class. */
export type ConfusionMatrix = [[number, number], [number, number]];

export interface ClassificationMetrics {
  /** Mean loss over `losses.count` samples; present only when `losses` was given. */
  eval_loss?: number;
  eval_accuracy: number;
  eval_precision: number;
  eval_recall: number;
  eval_f1: number;
  eval_confusion_matrix: ConfusionMatrix;
  eval_samples: number;
}

/**
 * Accuracy, precision, recall, F1 and the confusion matrix of `predictions` against `labels` (both 0/1).
 * `losses` (a sum of per-sample losses and how many) adds `eval_loss` = sum / count.
 */
export function classificationMetrics(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  losses?: { sum: number; count: number },
): ClassificationMetrics {
  if (labels.length !== predictions.length) {
    throw new Error(`classificationMetrics: ${labels.length} labels but ${predictions.length} predictions`);
  }
  let tn = 0, fp = 0, fn = 0, tp = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i], p = predictions[i];
    if ((y !== 0 && y !== 1) || (p !== 0 && p !== 1)) {
      throw new Error(`classificationMetrics: expected 0/1 at index ${i}, got label ${y}, prediction ${p}`);
    }
    if (y === 1) {
      if (p === 1) tp++;
      else fn++;
    } else if (p === 1) fp++;
    else tn++;
  }
  const n = labels.length;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  // sklearn: F1 = 2tp / (2tp + fp + fn), 0 when that denominator is 0.
  const f1 = 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
  const out: ClassificationMetrics = {
    eval_accuracy: n > 0 ? (tp + tn) / n : 0,
    eval_precision: precision,
    eval_recall: recall,
    eval_f1: f1,
    eval_confusion_matrix: [[tn, fp], [fn, tp]],
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
