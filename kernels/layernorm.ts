/**
 * Layer norm over the last axis (biased variance, as PyTorch). Each kernel is written once and generated in
 * both row layouts (`RowLayout`: a workgroup per row, the reference for GPUs, or a thread per row, its tuned
 * twin for CPU drivers); the op table proves the two equal. Each kernel optionally normalises X + R (a
 * residual connection) without storing the sum.
 */
import {
  type Access,
  kernel,
  type KernelSpec,
  perElementKernel,
  ROW_WALKS,
  type RowLayout,
  type RowWalk,
} from "./common.ts";

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

/**
 * Two means over the row in turn, each visible to every thread of the row: `let first[0] = mean(first[1])`,
 * then `let second[0] = mean(second[1])`, whose expression may use the first (`c` is the column).
 */
const twoRowMeans = (w: RowWalk, first: [string, string], second: [string, string]) => `
  let n = f32(p.cols);
  var acc = 0.0;
  ${w.cols} { acc += ${first[1]}; }
  ${w.reduce("add")}
  let ${first[0]} = total / n;
  acc = 0.0;
  ${w.cols} { acc += ${second[1]}; }
  ${w.reduce("add")}
  let ${second[0]} = total / n;`;

/** Y = (X - mean) * rstd * gamma + beta; STATS[row] = (mean, rstd) for the backward pass. */
export function layerNormKernel(residual = false, layout: RowLayout = "workgroup"): KernelSpec {
  const w = ROW_WALKS[layout];
  return forwardKernel(
    residual,
    `${w.head}${
      twoRowMeans(w, ["mean", "xv(base + c)"], ["variance", "(xv(base + c) - mean) * (xv(base + c) - mean)"])
    }
  let rstd = inverseSqrt(variance + p.eps);
  ${w.cols} { Y[base + c] = (xv(base + c) - mean) * rstd * GAMMA[c] + BETA[c]; }
  if (${w.leader}) { STATS[2u * row] = mean; STATS[2u * row + 1u] = rstd; }
}`,
  );
}

/** dx = rstd * (g*gamma - mean(g*gamma) - xhat * mean(g*gamma*xhat)). */
export function layerNormBackwardKernel(residual = false, layout: RowLayout = "workgroup"): KernelSpec {
  const w = ROW_WALKS[layout];
  return backwardKernel(
    residual,
    `${w.head}
  let mean = STATS[2u * row];
  let rstd = STATS[2u * row + 1u];${
      twoRowMeans(w, ["a", "G[base + c] * GAMMA[c]"], [
        "b",
        "G[base + c] * GAMMA[c] * (xv(base + c) - mean) * rstd",
      ])
    }
  ${w.cols} {
    let xhat = (xv(base + c) - mean) * rstd;
    DX[base + c] = rstd * (G[base + c] * GAMMA[c] - a - xhat * b);
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
