/** Element-wise kernels: unary maps, binary ops with row broadcasting, in-place accumulation. */
import { type Access, type KernelSpec, perElementKernel } from "./common.ts";

/**
 * erf in f32 (Abramowitz & Stegun 7.1.26 has 1.5e-7 absolute error, WGSL has no erf). We use the
 * more accurate erfc from Numerical Recipes (fractional error < 1.2e-7 everywhere).
 */
const ERF_WGSL = `
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, x >= 0.0);
}`;

/**
 * The activations, one row each: y = forward(x) and dy/dx = derivative(x), as WGSL expressions of `x`, with
 * the helper functions they call. Each row generates the forward, bias-fused forward and backward kernels
 * below, the op (autograd/ops/elementwise.ts) and its row in the op test table (tests/op_table.ts).
 */
export const ACTIVATIONS = {
  relu: { forward: "max(x, 0.0)", derivative: "select(0.0, 1.0, x > 0.0)", helpers: "" },
  gelu: {
    forward: "0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752))",
    // d/dx [x Φ(x)] = Φ(x) + x φ(x)
    derivative:
      "0.5 * (1.0 + erf_approx(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x)",
    helpers: ERF_WGSL,
  },
} as const;
export type Activation = keyof typeof ACTIVATIONS;
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as Activation[];

/** y = x * s, or an activation of x (its `s` unused). */
export function unaryKernel(op: "scale" | Activation): KernelSpec {
  const forward = op === "scale" ? "x * p.s" : ACTIVATIONS[op].forward;
  return perElementKernel(
    [["X", "read"], ["Y", "read_write"]],
    { n: "u32", s: "f32" },
    `  let x = X[i];
  Y[i] = ${forward};`,
    { helpers: op === "scale" ? "" : ACTIVATIONS[op].helpers },
  );
}

/** Y = f(X + B), B a bias row of `nb` elements repeated along X's leading axes (Linear's bias, fused). */
export function biasActivationKernel(op: Activation): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["B", "read"], ["Y", "read_write"]],
    { n: "u32", nb: "u32" },
    `  let x = X[i] + B[i % p.nb];
  Y[i] = ${ACTIVATIONS[op].forward};`,
    { helpers: ACTIVATIONS[op].helpers },
  );
}

/**
 * dx = g * f'(x) for the activations; with `bias`, dx = g * f'(x + b), the backward of
 * `biasActivationKernel` (the bias's gradient is then dx's column sums).
 */
export function activationBackwardKernel(op: Activation, bias = false): KernelSpec {
  const storage: [string, Access][] = bias
    ? [["X", "read"], ["B", "read"], ["G", "read"], ["DX", "read_write"]]
    : [["X", "read"], ["G", "read"], ["DX", "read_write"]];
  return perElementKernel(
    storage,
    bias ? { n: "u32", nb: "u32" } : { n: "u32" },
    `  let x = X[i]${bias ? " + B[i % p.nb]" : ""};
  DX[i] = G[i] * (${ACTIVATIONS[op].derivative});`,
    { helpers: ACTIVATIONS[op].helpers },
  );
}

export type BinaryOp = "add" | "sub" | "mul" | "div";
const BINARY: Record<BinaryOp, string> = { add: "a + b", sub: "a - b", mul: "a * b", div: "a / b" };

/** c = a op b, where b has `nb` elements and repeats along a's leading axes (a bias row, or a scalar). */
export function binaryKernel(op: BinaryOp): KernelSpec {
  return perElementKernel(
    [["A", "read"], ["B", "read"], ["C", "read_write"]],
    { n: "u32", nb: "u32" },
    `  let a = A[i];
  let b = B[i % p.nb];
  C[i] = ${BINARY[op]};`,
  );
}

/** dst += src, in place (gradient accumulation). */
export function accumulateKernel(): KernelSpec {
  return perElementKernel(
    [["dst", "read_write"], ["src", "read"]],
    { n: "u32" },
    `  dst[i] = dst[i] + src[i];`,
  );
}

export function fillKernel(): KernelSpec {
  return perElementKernel([["y", "read_write"]], { n: "u32", v: "f32" }, `  y[i] = p.v;`);
}

/** y = x * keep / (1 - prob), keep drawn from a counter-based hash of (seed, index): backward replays it. */
export function dropoutKernel(): KernelSpec {
  return perElementKernel(
    [["x", "read"], ["y", "read_write"]],
    { n: "u32", seed: "u32", threshold: "u32", scale: "f32" },
    `  let keep = hash2(p.seed, i) >= p.threshold;
  y[i] = select(0.0, x[i] * p.scale, keep);`,
    { helpers: HASH_WGSL },
  );
}

/** A counter-based RNG (a PCG-style integer hash): the same (seed, index) always gives the same bits. */
export const HASH_WGSL = `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn hash2(seed: u32, i: u32) -> u32 { return pcg(pcg(seed) ^ pcg(i + 0x9e3779b9u)); }`;

/**
 * Y (f16 pairs packed in u32 words) = X (f32) rounded to f16. Values beyond f16's range become ±inf and NaN
 * stays NaN, explicitly (WGSL leaves an out-of-range conversion indeterminate): loss scaling finds
 * overflowed gradients by the inf they leave.
 */
export function castToF16Kernel(): KernelSpec {
  return perElementKernel(
    [["X", "read"], ["Y", "read_write", "u32"]],
    { n: "u32" },
    `  let v = vec2f(X[2u * i], X[min(2u * i + 1u, p.n - 1u)]);
  var bits = pack2x16float(clamp(v, vec2f(-65504.0), vec2f(65504.0)));
  // 65520 (0x477ff000) and beyond round to inf in round-to-nearest-even.
  let out = (bitcast<vec2u>(v) & vec2u(0x7fffffffu)) >= vec2u(0x477ff000u);
  if (out.x) { bits = (bits & 0xffff0000u) | special(v.x); }
  if (out.y) { bits = (bits & 0x0000ffffu) | (special(v.y) << 16u); }
  Y[i] = bits;`,
    {
      guard: "2u * i >= p.n",
      helpers:
        `// Bit tests, not float compares: compilers may assume no NaN. |x| as bits orders like |x|, NaN above inf.
fn special(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0x7e00u; }
  return ((b >> 16u) & 0x8000u) | 0x7c00u;
}`,
    },
  );
}

/** Y (f32) = X (f16), exact. */
export function castToF32Kernel(): KernelSpec {
  return perElementKernel([["X", "read", "f16"], ["Y", "read_write"]], { n: "u32" }, `  Y[i] = f32(X[i]);`);
}
