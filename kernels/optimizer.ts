/** Optimizer kernels: squared-norm partial sums for clipping, and the AdamW update. */
import { type Access, kernel, type KernelSpec, perElementKernel, type UniformType } from "./common.ts";

/** Elements each thread of `sumSquaresKernel` covers. */
export const SQ_CHUNK = 256;

/**
 * OUT[offset + i] = Σ X[j]² over the i-th chunk of SQ_CHUNK elements (fixed order: reproducible). Every
 * parameter's gradient writes its chunks into one shared OUT, so the global norm is one sum at the end.
 */
export function sumSquaresKernel(): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["OUT", "read_write"]],
    { n: "u32", chunks: "u32", offset: "u32" },
    `  let j1 = min(p.n, (i + 1u) * ${SQ_CHUNK}u);
  var s = 0.0;
  for (var j = i * ${SQ_CHUNK}u; j < j1; j++) { let v = X[j]; s += v * v; }
  OUT[p.offset + i] = s;`,
    { guard: "i >= p.chunks" },
  );
}

/**
 * torch.optim.AdamW (amsgrad off) after clip_grad_norm_: g is scaled by min(1, max_norm / (‖g‖ + 1e-6))
 * read from NORMSQ on the GPU (no readback); weight decay is decoupled (p *= 1 - lr·wd) and applies to the
 * elements before `decay_end` only: one parameter (decay_end = n or 0), or a flat buffer of many, laid out
 * with every decayed parameter before every undecayed one (biases, LayerNorm weights). A non-finite norm
 * leaves every parameter as it was.
 *
 * `scaled` (mixed precision): the gradients carry the loss scale (SCALE[0]) and are unscaled before
 * clipping, as GradScaler.unscale_ does; the step count lives on the GPU (STATE[1], steps applied so far)
 * and the bias corrections come from it, because a step whose gradients overflowed is skipped there, by the
 * GPU, without the host waiting to learn it (GradScaler.step skips optimizer.step() the same way; the scale
 * update that follows halves the scale). Unscaled, the host passes the bias corrections as uniforms.
 */
export function adamwKernel(scaled = false): KernelSpec {
  const storage: [string, Access][] = [
    ["PARAM", "read_write"],
    ["G", "read"],
    ["M", "read_write"],
    ["V", "read_write"],
    ["NORMSQ", "read"],
    ...(scaled ? [["SCALE", "read"], ["STATE", "read"]] as [string, "read"][] : []),
  ];
  const uniforms: Record<string, UniformType> = {
    n: "u32",
    lr: "f32",
    wd: "f32",
    decay_end: "u32",
    beta1: "f32",
    beta2: "f32",
    eps: "f32",
    max_norm: "f32",
    ...(scaled ? {} : { bc1: "f32", bc2_sqrt: "f32" } as const),
  };
  const prologue = scaled
    ? `let inv_scale = 1.0 / SCALE[0];
  let t = STATE[1] + 1.0;
  let bc1 = 1.0 - pow(p.beta1, t);
  let bc2_sqrt = sqrt(1.0 - pow(p.beta2, t));`
    : `let inv_scale = 1.0;
  let bc1 = p.bc1;
  let bc2_sqrt = p.bc2_sqrt;`;
  return perElementKernel(
    storage,
    uniforms,
    `  if ((bitcast<u32>(NORMSQ[0]) & 0x7f800000u) == 0x7f800000u) { return; }
  ${prologue}
  var clip = 1.0;
  if (p.max_norm > 0.0) { clip = min(1.0, p.max_norm / (sqrt(NORMSQ[0]) * inv_scale + 1e-6)); }
  let g = G[i] * inv_scale * clip;
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  let decayed = PARAM[i] * (1.0 - p.lr * select(p.wd, 0.0, i >= p.decay_end));
  let denom = sqrt(v) / bc2_sqrt + p.eps;
  PARAM[i] = decayed - (p.lr / bc1) * m / denom;`,
  );
}

/**
 * After a mixed-precision step (one thread): OUT[0] = the unscaled gradient norm² (non-finite when the step
 * overflowed and was skipped), then PyTorch's `_amp_update_scale_`: an overflow multiplies the scale by
 * `backoff` and resets the growth tracker (STATE[0]); `interval` clean steps in a row multiply it by
 * `growth`. STATE[1] counts the steps applied.
 */
export function lossScaleUpdateKernel(): KernelSpec {
  return kernel(
    [["NORMSQ", "read"], ["SCALE", "read_write"], ["STATE", "read_write"], ["OUT", "read_write"]],
    { growth: "f32", backoff: "f32", interval: "f32" },
    `@compute @workgroup_size(1)
fn main() {
  let s = SCALE[0];
  OUT[0] = NORMSQ[0] / (s * s);
  if ((bitcast<u32>(NORMSQ[0]) & 0x7f800000u) == 0x7f800000u) {
    SCALE[0] = s * p.backoff;
    STATE[0] = 0.0;
    return;
  }
  STATE[1] += 1.0;
  let clean = STATE[0] + 1.0;
  if (clean >= p.interval) {
    SCALE[0] = s * p.growth;
    STATE[0] = 0.0;
  } else {
    STATE[0] = clean;
  }
}`,
  );
}
