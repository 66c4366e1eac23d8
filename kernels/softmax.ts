/**
 * Softmax over the last axis, one workgroup per row, with a scale and an optional key mask: masked scores
 * become the f32 minimum before the softmax, as HF DistilBERT's masked_fill(finfo.min) does.
 */
import { bindings, F32_MIN } from "./common.ts";

const T = 64;

const REDUCE = (op: string) => `
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = ${op}(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  total = red[0];
  workgroupBarrier();`;

const HEAD = `
var<workgroup> red: array<f32, ${T}>;
fn add(a: f32, b: f32) -> f32 { return a + b; }
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var total: f32;
  let mbase = (row / p.rows_per_mask) * p.cols;`;

/** Scores [rows, cols]; mask [rows / rows_per_mask, cols] with 1 = keep, 0 = masked. */
export function softmaxKernel(masked: boolean): string {
  const buffers: [string, "read" | "read_write"][] = masked
    ? [["X", "read"], ["M", "read"], ["Y", "read_write"]]
    : [["X", "read"], ["Y", "read_write"]];
  const score = masked
    ? `select(${F32_MIN}, X[base + c] * p.scale, M[mbase + c] > 0.5)`
    : `X[base + c] * p.scale`;
  return `${bindings(buffers, "rows: u32, cols: u32, rows_per_mask: u32, scale: f32")}
${HEAD}
  var acc = ${F32_MIN};
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc = max(acc, ${score}); }
  ${REDUCE("max")}
  let m = total;
  acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += exp(${score} - m); }
  ${REDUCE("add")}
  let inv = 1.0 / total;
  for (var c = lid.x; c < p.cols; c += ${T}u) { Y[base + c] = exp(${score} - m) * inv; }
}`;
}

/** dx = scale * y * (g - sum(g * y)); masked entries have y = 0 and so get no gradient. */
export function softmaxBackwardKernel(): string {
  return `${
    bindings(
      [["Yv", "read"], ["G", "read"], ["DX", "read_write"]],
      "rows: u32, cols: u32, rows_per_mask: u32, scale: f32",
    )
  }
${HEAD}
  _ = mbase;
  var acc = 0.0;
  for (var c = lid.x; c < p.cols; c += ${T}u) { acc += G[base + c] * Yv[base + c]; }
  ${REDUCE("add")}
  for (var c = lid.x; c < p.cols; c += ${T}u) { DX[base + c] = p.scale * Yv[base + c] * (G[base + c] - total); }
}`;
}
