import assert from "node:assert/strict";
import { classificationMetrics, softmax2 } from "../train/metrics.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);
/** Each metric of `expected` (scikit-learn's values) in `m`, within 1e-12. */
const closeAll = (m: object, expected: Record<string, number>) => {
  for (const [key, value] of Object.entries(expected)) {
    const got = (m as Record<string, unknown>)[key];
    assert.equal(typeof got, "number", key);
    close(got as number, value);
  }
};

Deno.test("classificationMetrics: counts and sklearn values", () => {
  // labels:      1 1 1 1 0 0 0 0 0 1
  // predictions: 1 1 0 0 0 0 1 0 0 1  -> tp=3 fn=2 fp=1 tn=4
  const labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1];
  const preds = Int32Array.from([1, 1, 0, 0, 0, 0, 1, 0, 0, 1]);
  const m = classificationMetrics(labels, preds);
  assert.deepEqual(m.eval_confusion_matrix, [[4, 1], [2, 3]]);
  assert.equal(m.eval_samples, 10);
  close(m.eval_accuracy, 0.7);
  close(m.eval_precision!, 3 / 4);
  close(m.eval_recall!, 3 / 5);
  close(m.eval_f1!, 2 * (0.75 * 0.6) / (0.75 + 0.6));
  assert.equal("eval_loss" in m, false);
});

Deno.test("classificationMetrics: eval_loss is the mean", () => {
  const m = classificationMetrics([0, 1], [0, 1], { sum: 1.5, count: 3 });
  close(m.eval_loss!, 0.5);
  assert.equal(m.eval_accuracy, 1);
  assert.equal(m.eval_f1, 1);
});

Deno.test("classificationMetrics: zero division gives 0 like sklearn", () => {
  // No positive predictions: precision 0; recall 0; f1 0.
  const a = classificationMetrics([1, 0, 1], [0, 0, 0]);
  assert.equal(a.eval_precision, 0);
  assert.equal(a.eval_recall, 0);
  assert.equal(a.eval_f1, 0);
  close(a.eval_accuracy, 1 / 3);
  // No positive labels and no positive predictions: everything 0 except accuracy.
  const b = classificationMetrics([0, 0], [0, 0]);
  assert.deepEqual([b.eval_precision, b.eval_recall, b.eval_f1, b.eval_accuracy], [0, 0, 0, 1]);
  // No positive labels, some positive predictions: precision 0, recall 0.
  const c = classificationMetrics([0, 0], [1, 0]);
  assert.deepEqual([c.eval_precision, c.eval_recall, c.eval_f1], [0, 0, 0]);
  // Empty input.
  const d = classificationMetrics([], []);
  assert.equal(d.eval_samples, 0);
  assert.equal(d.eval_accuracy, 0);
  assert.deepEqual(d.eval_confusion_matrix, [[0, 0], [0, 0]]);
});

Deno.test("classificationMetrics: rejects mismatched lengths and non-binary values", () => {
  assert.throws(() => classificationMetrics([0, 1], [0]));
  assert.throws(() => classificationMetrics([0, 2], [0, 1]));
  assert.throws(() => classificationMetrics([0, 1], [0, -1]));
});

Deno.test("softmax2: matches the naive formula and is stable", () => {
  for (const [a, b] of [[0, 0], [1, 2], [-3, 4], [2.5, -1.25]]) {
    const naive = Math.exp(b) / (Math.exp(a) + Math.exp(b));
    close(softmax2(a, b), naive, 1e-15);
  }
  assert.equal(softmax2(0, 0), 0.5);
  assert.equal(softmax2(1000, -1000), 0);
  assert.equal(softmax2(-1000, 1000), 1);
  close(softmax2(1000, 1001), 1 / (1 + Math.exp(-1)), 1e-15);
  close(softmax2(-1e4, -1e4 + 2), 1 / (1 + Math.exp(-2)), 1e-15);
  assert.ok(Number.isFinite(softmax2(-800, -790)));
  close(softmax2(3, 1) + softmax2(1, 3), 1, 1e-15);
});

Deno.test("classificationMetrics: any number of classes, macro and weighted as sklearn 1.9 computes them", () => {
  // Reference: sklearn.metrics.precision_recall_fscore_support(y, q, average=..., zero_division=0).
  const y = [0, 1, 2, 2, 1, 0, 2, 1, 1, 0, 2, 2];
  const q = [0, 2, 2, 1, 1, 0, 2, 0, 1, 1, 2, 0];
  const m = classificationMetrics(y, q, undefined, 3);
  assert.deepEqual(m.eval_confusion_matrix, [[2, 1, 0], [1, 2, 1], [1, 1, 3]]);
  closeAll(m, {
    eval_accuracy: 0.5833333333333334,
    eval_macro_precision: 0.5833333333333334,
    eval_macro_recall: 0.5888888888888889,
    eval_macro_f1: 0.5793650793650794,
    eval_weighted_precision: 0.6041666666666666,
    eval_weighted_recall: 0.5833333333333334,
    eval_weighted_f1: 0.5873015873015873,
  });
  // The positive class's keys exist for two labels only.
  assert.equal("eval_f1" in m, false);
  assert.equal("eval_precision" in m, false);
  // A class never predicted (2) and one never present (3): zero_division=0, every class in the macro mean.
  const z = classificationMetrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 3], undefined, 4);
  closeAll(z, {
    eval_macro_precision: 0.29166666666666663,
    eval_macro_recall: 0.375,
    eval_macro_f1: 0.325,
    eval_weighted_precision: 0.38888888888888884,
    eval_weighted_recall: 0.5,
    eval_weighted_f1: 0.43333333333333335,
  });
  assert.throws(() => classificationMetrics([0, 4], [0, 1], undefined, 4));
  // Two labels: the binary keys and the averages side by side.
  const b = classificationMetrics([1, 1, 0, 0], [1, 0, 0, 0]);
  assert.equal(b.eval_f1, 2 / 3);
  close(b.eval_macro_f1, (2 / 3 + 0.8) / 2);
});
