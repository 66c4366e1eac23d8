/**
 * Layer norm over the last axis (biased variance, as PyTorch): one workgroup per row (the reference, for
 * GPUs), or one thread per row (`RowPerThread`, for CPU drivers: no barriers); tests prove them equal. Each
 * kernel optionally normalises X + R (a residual connection) without storing the sum.
 */
import {
  type Access,
  kernel,
  type KernelSpec,
  perElementKernel,
  ROW_KERNEL_HEAD,
  ROW_PER_THREAD_HEAD,
  ROW_THREADS,
  rowReduce,
} from "./common.ts";

const T = ROW_THREADS;

/**
 * The normalised input: X, or X + R when `residual` (the residual add fused in: the sum is never stored,
 * each kernel re-reads both operands).
 */
const inputs = (residual: boolean): [string, Access][] =>
  residual ? [["X", "read"], ["R", "read"]] : [["X", "read"]];
const xValue = (residual: boolean) => `fn xv(i: u32) -> f32 { return ${residual ? "X[i] + R[i]" : "X[i]"}; }`;

const STATS_OUT: [string, Access] = ["STATS", "read_write"];

/** A forward kernel: input(s), gamma, beta, output, per-row mean and rstd; `xv`, then `body`. */
const forwardKernel = (residual: boolean, body: string) =>
  kernel(
    [...inputs(residual), ["GAMMA", "read"], ["BETA", "read"], ["Y", "read_write"], STATS_OUT],
    { rows: "u32", cols: "u32", eps: "f32" },
    `${xValue(residual)}
${body}`,
  );

/** An input-gradient kernel: input(s), gamma, stats, output gradient, input gradient; `xv`, then `body`. */
const backwardKernel = (residual: boolean, body: string) =>
  kernel(
    [...inputs(residual), ["GAMMA", "read"], ["STATS", "read"], ["G", "read"], ["DX", "read_write"]],
    { rows: "u32", cols: "u32" },
    `${xValue(residual)}
${body}`,
  );

const REDUCE = rowReduce("add");
const HEAD = `${ROW_KERNEL_HEAD}
  let n = f32(p.cols);`;

/** Y = (X - mean) * rstd * gamma + beta; STATS[row] = (mean, rstd) for the backward pass. */
export function layerNormKernel(residual = false): KernelSpec {
  return forwardKernel(
    residual,
    `${HEAD}
  var acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += xv(base + c); }
  ${REDUCE}
  let mean = total / n;
  acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { let d = xv(base + c) - mean; acc += d * d; }
  {
    ${REDUCE}
    let rstd = inverseSqrt(total / n + p.eps);
    for (var c = lid.x; c < p.cols; c += ${T}u) {
      Y[base + c] = (xv(base + c) - mean) * rstd * GAMMA[c] + BETA[c];
    }
    if (lid.x == 0u) { STATS[2u * row] = mean; STATS[2u * row + 1u] = rstd; }
  }
}`,
  );
}

/** dx = rstd * (g*gamma - mean(g*gamma) - xhat * mean(g*gamma*xhat)). */
export function layerNormBackwardKernel(residual = false): KernelSpec {
  return backwardKernel(
    residual,
    `${HEAD}
  let mean = STATS[2u * row];
  let rstd = STATS[2u * row + 1u];
  var acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += G[base + c] * GAMMA[c]; }
  ${REDUCE}
  let a = total / n;
  acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) {
    acc += G[base + c] * GAMMA[c] * (xv(base + c) - mean) * rstd;
  }
  {
    ${REDUCE}
    let b = total / n;
    for (var c = lid.x; c < p.cols; c += ${T}u) {
      let xhat = (xv(base + c) - mean) * rstd;
      DX[base + c] = rstd * (G[base + c] * GAMMA[c] - a - xhat * b);
    }
  }
}`,
  );
}

/** T = g * xhat, whose column sums are gamma's gradient. */
export function layerNormGammaTermsKernel(residual = false): KernelSpec {
  return perElementKernel(
    [...inputs(residual), ["STATS", "read"], ["G", "read"], ["T", "read_write"]],
    { n: "u32", cols: "u32" },
    `  let row = i / p.cols;
  T[i] = G[i] * (xv(i) - STATS[2u * row]) * STATS[2u * row + 1u];`,
    { helpers: xValue(residual) },
  );
}

const PER_THREAD_HEAD = `${ROW_PER_THREAD_HEAD}
  let n = f32(p.cols);`;

/**
 * `layerNormKernel` with one thread per row: its tuned twin for CPU drivers (the reference is the workgroup
 * version), proven equal: the op table runs every row-kernel row in both layouts (tests/op_table.ts).
 */
export function layerNormRowPerThreadKernel(residual = false): KernelSpec {
  return forwardKernel(
    residual,
    `${PER_THREAD_HEAD}
  var total = 0.0;
  for (var c = 0u; c < p.cols; c++) { total += xv(base + c); }
  let mean = total / n;
  total = 0.0;
  for (var c = 0u; c < p.cols; c++) { let d = xv(base + c) - mean; total += d * d; }
  let rstd = inverseSqrt(total / n + p.eps);
  for (var c = 0u; c < p.cols; c++) { Y[base + c] = (xv(base + c) - mean) * rstd * GAMMA[c] + BETA[c]; }
  STATS[2u * row] = mean;
  STATS[2u * row + 1u] = rstd;
}`,
  );
}

/** `layerNormBackwardKernel` with one thread per row: its tuned twin, proven equal as the forward pair is. */
export function layerNormBackwardRowPerThreadKernel(residual = false): KernelSpec {
  return backwardKernel(
    residual,
    `${PER_THREAD_HEAD}
  let mean = STATS[2u * row];
  let rstd = STATS[2u * row + 1u];
  var sa = 0.0;
  var sb = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let gg = G[base + c] * GAMMA[c];
    sa += gg;
    sb += gg * (xv(base + c) - mean) * rstd;
  }
  let a = sa / n;
  let b = sb / n;
  for (var c = 0u; c < p.cols; c++) {
    let xhat = (xv(base + c) - mean) * rstd;
    DX[base + c] = rstd * (G[base + c] * GAMMA[c] - a - xhat * b);
  }
}`,
  );
}
