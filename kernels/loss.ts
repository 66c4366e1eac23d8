/** Cross-entropy from logits with a stable log-softmax, one thread per row. */
import { type KernelSpec, perElementKernel } from "./common.ts";

/** L[b] = logsumexp(X[b, :]) - X[b, label[b]]. */
export function crossEntropyKernel(): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["LABELS", "read", "i32"], ["L", "read_write"]],
    { rows: "u32", classes: "u32" },
    `  let base = i * p.classes;
  var m = X[base];
  for (var c = 1u; c < p.classes; c++) { m = max(m, X[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) { s += exp(X[base + c] - m); }
  L[i] = log(s) + m - X[base + u32(LABELS[i])];`,
    { guard: "i >= p.rows" },
  );
}

/** dX[b, c] = G[b] * (softmax(X[b])[c] - [c == label[b]]). */
export function crossEntropyBackwardKernel(): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["LABELS", "read", "i32"], ["G", "read"], ["DX", "read_write"]],
    { rows: "u32", classes: "u32" },
    `  let b = i / p.classes;
  let base = b * p.classes;
  var m = X[base];
  for (var c = 1u; c < p.classes; c++) { m = max(m, X[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) { s += exp(X[base + c] - m); }
  let onehot = select(0.0, 1.0, i - base == u32(LABELS[b]));
  DX[i] = G[b] * (exp(X[i] - m) / s - onehot);`,
    { guard: "i >= p.rows * p.classes" },
  );
}
