/** Optimizer kernels: squared-norm partial sums for clipping, and the AdamW update. */
import { bindings, LINEAR_I, LINEAR_INDEX, WG } from "./common.ts";

/** Elements each thread of `sumSquaresKernel` covers. */
export const SQ_CHUNK = 256;

/**
 * OUT[offset + i] = Σ X[j]² over the i-th chunk of SQ_CHUNK elements (fixed order: reproducible). Every
 * parameter's gradient writes its chunks into one shared OUT, so the global norm is one sum at the end.
 */
export function sumSquaresKernel(): string {
  return `${bindings([["X", "read"], ["OUT", "read_write"]], "n: u32, chunks: u32, offset: u32")}
@compute @workgroup_size(${WG})
fn main(${LINEAR_INDEX}) {
  ${LINEAR_I}
  if (i >= p.chunks) { return; }
  let j1 = min(p.n, (i + 1u) * ${SQ_CHUNK}u);
  var s = 0.0;
  for (var j = i * ${SQ_CHUNK}u; j < j1; j++) { let v = X[j]; s += v * v; }
  OUT[p.offset + i] = s;
}`;
}

/**
 * torch.optim.AdamW (amsgrad off) after clip_grad_norm_: g is scaled by min(1, max_norm / (‖g‖ + 1e-6))
 * read from NORMSQ on the GPU (no readback); weight decay is decoupled (p *= 1 - lr·wd) and skipped with
 * wd = 0 for biases and LayerNorm weights.
 */
export function adamwKernel(): string {
  return `${
    bindings(
      [["PARAM", "read_write"], ["G", "read"], ["M", "read_write"], ["V", "read_write"], ["NORMSQ", "read"]],
      "n: u32, lr: f32, wd: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2_sqrt: f32, max_norm: f32",
    )
  }
@compute @workgroup_size(${WG})
fn main(${LINEAR_INDEX}) {
  ${LINEAR_I}
  if (i >= p.n) { return; }
  // A non-finite gradient norm leaves every parameter as it was; the host sees the norm and stops the run.
  if ((bitcast<u32>(NORMSQ[0]) & 0x7f800000u) == 0x7f800000u) { return; }
  var clip = 1.0;
  if (p.max_norm > 0.0) { clip = min(1.0, p.max_norm / (sqrt(NORMSQ[0]) + 1e-6)); }
  let g = G[i] * clip;
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  let decayed = PARAM[i] * (1.0 - p.lr * p.wd);
  let denom = sqrt(v) / p.bc2_sqrt + p.eps;
  PARAM[i] = decayed - (p.lr / p.bc1) * m / denom;
}`;
}
