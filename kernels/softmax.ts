/**
 * Softmax over the last axis with a scale and an optional key mask: masked scores become the f32 minimum
 * before the softmax, as HF DistilBERT's masked_fill(finfo.min) does. Each kernel is written once and
 * generated in both row layouts (`RowLayout`: a workgroup per row, the reference for GPUs, or a thread per
 * row, its tuned twin for CPU drivers); the op table proves the two equal.
 */
import { F32_MIN, kernel, type KernelSpec, ROW_WALKS, type RowLayout } from "./common.ts";

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
export function softmaxKernel(masked: boolean, layout: RowLayout = "workgroup"): KernelSpec {
  const score = scoreOf(masked), w = ROW_WALKS[layout];
  return forwardKernel(
    masked,
    `${w.head}${masked ? "\n  let mbase = (row / p.rows_per_mask) * p.cols;" : ""}
  var acc = ${F32_MIN};
  ${w.cols} { acc = max(acc, ${score}); }
  ${w.reduce("max")}
  let m = total;
  acc = 0.0;
  ${w.cols} { acc += exp(${score} - m); }
  ${w.reduce("add")}
  let inv = 1.0 / total;
  ${w.cols} { Y[base + c] = exp(${score} - m) * inv; }
}`,
  );
}

/** dx = scale * y * (g - sum(g * y)); masked entries have y = 0 and so get no gradient. */
export function softmaxBackwardKernel(layout: RowLayout = "workgroup"): KernelSpec {
  const w = ROW_WALKS[layout];
  return backwardKernel(`${w.head}
  var acc = 0.0;
  ${w.cols} { acc += G[base + c] * Yv[base + c]; }
  ${w.reduce("add")}
  ${w.cols} { DX[base + c] = p.scale * Yv[base + c] * (G[base + c] - total); }
}`);
}
