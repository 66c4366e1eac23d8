/**
 * Softmax over the last axis with a scale and an optional key mask: masked scores become the f32 minimum
 * before the softmax, as HF DistilBERT's masked_fill(finfo.min) does. Two layouts: one workgroup per row
 * (the reference, for GPUs), and one thread per row (`rowPerThread`, for CPU drivers, where each of the
 * workgroup version's barriers is a coroutine switch); tests prove them equal.
 */
import {
  F32_MIN,
  kernel,
  type KernelSpec,
  ROW_KERNEL_HEAD,
  ROW_PER_THREAD_HEAD,
  ROW_THREADS,
  rowReduce,
} from "./common.ts";

const T = ROW_THREADS;
const HEAD = `${ROW_KERNEL_HEAD}
  let mbase = (row / p.rows_per_mask) * p.cols;`;

const UNIFORMS = { rows: "u32", cols: "u32", rows_per_mask: "u32", scale: "f32" } as const;

/** A forward kernel: scores X, the mask M when masked, the output Y. */
const forwardKernel = (masked: boolean, body: string) =>
  kernel(
    masked ? [["X", "read"], ["M", "read"], ["Y", "read_write"]] : [["X", "read"], ["Y", "read_write"]],
    UNIFORMS,
    body,
  );

/** A backward kernel: the softmax output, its gradient, the input gradient. */
const backwardKernel = (body: string) =>
  kernel([["Yv", "read"], ["G", "read"], ["DX", "read_write"]], UNIFORMS, body);

/** Column c's scaled score, the f32 minimum where the key is masked. */
const scoreOf = (masked: boolean) =>
  masked ? `select(${F32_MIN}, X[base + c] * p.scale, M[mbase + c] > 0.5)` : `X[base + c] * p.scale`;

/** Scores [rows, cols]; mask [rows / rows_per_mask, cols] with 1 = keep, 0 = masked. */
export function softmaxKernel(masked: boolean): KernelSpec {
  const score = scoreOf(masked);
  return forwardKernel(
    masked,
    `${HEAD}
  var acc = ${F32_MIN};
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc = max(acc, ${score}); }
  ${rowReduce("max")}
  let m = total;
  acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += exp(${score} - m); }
  ${rowReduce("add")}
  let inv = 1.0 / total;
  for (var c = lid.x; c < p.cols; c += ${T}u) { Y[base + c] = exp(${score} - m) * inv; }
}`,
  );
}

/** dx = scale * y * (g - sum(g * y)); masked entries have y = 0 and so get no gradient. */
export function softmaxBackwardKernel(): KernelSpec {
  return backwardKernel(`${HEAD}
  _ = mbase;
  var acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += G[base + c] * Yv[base + c]; }
  ${rowReduce("add")}
  for (var c = lid.x; c < p.cols; c += ${T}u) { DX[base + c] = p.scale * Yv[base + c] * (G[base + c] - total); }
}`);
}

const PER_THREAD_HEAD = `${ROW_PER_THREAD_HEAD}
  let mbase = (row / p.rows_per_mask) * p.cols;`;

/**
 * `softmaxKernel` with one thread per row, no workgroup memory, no barriers: its tuned twin for CPU drivers
 * (the reference is the workgroup version), proven equal: the op table runs every row-kernel row in both
 * layouts (tests/op_table.ts).
 */
export function softmaxRowPerThreadKernel(masked: boolean): KernelSpec {
  const score = scoreOf(masked);
  return forwardKernel(
    masked,
    `${PER_THREAD_HEAD}
  var m = ${F32_MIN};
  for (var c = 0u; c < p.cols; c++) { m = max(m, ${score}); }
  var total = 0.0;
  for (var c = 0u; c < p.cols; c++) { total += exp(${score} - m); }
  let inv = 1.0 / total;
  for (var c = 0u; c < p.cols; c++) { Y[base + c] = exp(${score} - m) * inv; }
}`,
  );
}

/** `softmaxBackwardKernel` with one thread per row: its tuned twin, proven equal as the forward pair is. */
export function softmaxBackwardRowPerThreadKernel(): KernelSpec {
  return backwardKernel(`${PER_THREAD_HEAD}
  _ = mbase;
  var total = 0.0;
  for (var c = 0u; c < p.cols; c++) { total += G[base + c] * Yv[base + c]; }
  for (var c = 0u; c < p.cols; c++) { DX[base + c] = p.scale * Yv[base + c] * (G[base + c] - total); }
}`);
}
