/** Cross-entropy from logits with a stable log-softmax, one thread per row. */
import { bindings, LINEAR_I, LINEAR_INDEX, WG } from "./common.ts";

/** L[b] = logsumexp(X[b, :]) - X[b, label[b]]. */
export function crossEntropyKernel(): string {
  return `${
    bindings([["X", "read"], ["LABELS", "read", "i32"], ["L", "read_write"]], "rows: u32, classes: u32")
  }
@compute @workgroup_size(${WG})
fn main(${LINEAR_INDEX}) {
  ${LINEAR_I}
  if (i >= p.rows) { return; }
  let base = i * p.classes;
  var m = X[base];
  for (var c = 1u; c < p.classes; c++) { m = max(m, X[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) { s += exp(X[base + c] - m); }
  L[i] = log(s) + m - X[base + u32(LABELS[i])];
}`;
}

/** dX[b, c] = G[b] * (softmax(X[b])[c] - [c == label[b]]). */
export function crossEntropyBackwardKernel(): string {
  return `${
    bindings(
      [["X", "read"], ["LABELS", "read", "i32"], ["G", "read"], ["DX", "read_write"]],
      "rows: u32, classes: u32",
    )
  }
@compute @workgroup_size(${WG})
fn main(${LINEAR_INDEX}) {
  ${LINEAR_I}
  if (i >= p.rows * p.classes) { return; }
  let b = i / p.classes;
  let base = b * p.classes;
  var m = X[base];
  for (var c = 1u; c < p.classes; c++) { m = max(m, X[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) { s += exp(X[base + c] - m); }
  let onehot = select(0.0, 1.0, i - base == u32(LABELS[b]));
  DX[i] = G[b] * (exp(X[i] - m) / s - onehot);
}`;
}
