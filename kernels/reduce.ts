/** Deterministic reductions: each output is summed in a fixed order (no float atomics). */
import { type KernelSpec, perElementKernel } from "./common.ts";

/** Rows summed per thread in one pass of `columnSumsKernel`. */
export const COLUMN_SUMS_CHUNK = 64;

/** [rows, cols] -> [ceil(rows / CHUNK), cols]: thread (chunk, col) sums its chunk of column col, in order. */
export function columnSumsKernel(): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["Y", "read_write"]],
    { rows: "u32", cols: "u32", chunks: "u32" },
    `  let c = i % p.cols;
  let chunk = i / p.cols;
  let r0 = chunk * ${COLUMN_SUMS_CHUNK}u;
  let r1 = min(p.rows, r0 + ${COLUMN_SUMS_CHUNK}u);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += X[r * p.cols + c]; }
  Y[i] = s;`,
    { guard: "i >= p.chunks * p.cols" },
  );
}
