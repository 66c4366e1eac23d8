/**
 * Differentiable ops. Each op dispatches its forward kernel and records a backward closure that builds
 * its inputs' gradients from other ops and kernels. Shapes are checked on the host: a mismatch is an
 * error naming both shapes.
 */
import { f32, gpu, grid, isCpuAdapter, type Uniform } from "./runtime.ts";
import { fill, fmtShape, Tensor } from "./tensor.ts";
import { record } from "./tape.ts";
import { ROW_PER_THREAD_WG, WG } from "../kernels/common.ts";
import {
  activationBackwardKernel,
  biasActivationKernel,
  binaryKernel,
  type BinaryOp,
  castToF16Kernel,
  castToF32Kernel,
  dropoutKernel,
  unaryKernel,
  type UnaryOp,
} from "../kernels/elementwise.ts";
import { SUM_ROWS_CHUNK, sumRowsKernel } from "../kernels/reduce.ts";
import {
  softmaxBackwardKernel,
  softmaxBackwardRowPerThreadKernel,
  softmaxKernel,
  softmaxRowPerThreadKernel,
} from "../kernels/softmax.ts";
import {
  layerNormBackwardKernel,
  layerNormBackwardRowPerThreadKernel,
  layerNormGammaTermsKernel,
  layerNormKernel,
  layerNormRowPerThreadKernel,
} from "../kernels/layernorm.ts";
import { embeddingBackwardKernel, embeddingKernel } from "../kernels/embedding.ts";
import { permuteKernel, sliceKernel } from "../kernels/layout.ts";
import { crossEntropyBackwardKernel, crossEntropyKernel } from "../kernels/loss.ts";
import { MATMUL_VARIANTS, type MatmulShape, matmulUniforms, type MatmulVariant } from "../kernels/matmul.ts";
import {
  ATTENTION_WG,
  attentionBackwardKeyKernel,
  attentionBackwardQueryKernel,
  attentionBackwardRowsKernel,
  attentionForwardKernel,
  type AttentionKernelConfig,
  attentionWorkgroups,
} from "../kernels/attention.ts";

function run(
  wgsl: string,
  buffers: Tensor[],
  uniforms: Uniform[],
  workgroups: [number, number?, number?],
  label: string,
) {
  gpu().dispatch({
    wgsl,
    buffers: buffers.map((t) => t.binding),
    uniforms,
    workgroups,
    label,
    detail: () => buffers.map((t) => fmtShape(t.shape)).join(" "),
  });
}

/** Dispatch for one thread per element of an n-element output. */
const linear = (n: number) => grid(Math.ceil(n / WG));

function sameShape(a: Tensor, b: Tensor, op: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not match`);
  }
}

// ---- creation ------------------------------------------------------------------------------------------

export const zeros = (shape: readonly number[]) => fill(shape, 0);

// ---- precision -----------------------------------------------------------------------------------------

/** x converted to `dtype` (f32 ↔ f16, rounding to nearest), without the tape. */
export function castRaw(x: Tensor, dtype: "f32" | "f16"): Tensor {
  if (x.dtype === dtype) return x.view(x.shape);
  if (x.dtype === "i32") throw new Error(`cast: cannot convert an i32 tensor ${fmtShape(x.shape)}`);
  const y = new Tensor(x.shape, dtype);
  if (dtype === "f16") run(castToF16Kernel(), [x, y], [x.size], linear(Math.ceil(x.size / 2)), "cast_f16");
  else run(castToF32Kernel(), [x, y], [x.size], linear(x.size), "cast_f32");
  return y;
}

/**
 * x converted to `dtype`. Gradients are f32 whatever a tensor's storage (an f16 operand's gradient is f32),
 * so the backward passes the gradient through unchanged: mixed precision's master weights stay f32 and get
 * f32 gradients.
 */
export function cast(x: Tensor, dtype: "f32" | "f16"): Tensor {
  return record(castRaw(x, dtype), [x], (g) => [g.view(x.shape)]);
}

// ---- element-wise --------------------------------------------------------------------------------------

function unary(op: UnaryOp, x: Tensor, s = 0): Tensor {
  const y = new Tensor(x.shape);
  run(unaryKernel(op), [x, y], [x.size, f32(s)], linear(x.size), op);
  return y;
}

export function scale(x: Tensor, s: number): Tensor {
  return record(unary("scale", x, s), [x], (g) => [scale(g, s)]);
}

export function neg(x: Tensor): Tensor {
  return scale(x, -1);
}

function activation(op: "relu" | "gelu", x: Tensor): Tensor {
  return record(unary(op, x), [x], (g) => {
    const dx = new Tensor(x.shape);
    run(activationBackwardKernel(op), [x, g, dx], [x.size], linear(x.size), `${op}_backward`);
    return [dx];
  }, [x]);
}

/**
 * f(x + bias) in one pass, bias a row over x's leading axes: Linear's bias fused into its activation (one
 * read and one write of the activations instead of two of each).
 */
export function biasActivation(op: "relu" | "gelu", x: Tensor, bias: Tensor): Tensor {
  const cols = x.shape.at(-1)!;
  if (bias.shape.length !== 1 || bias.size !== cols) {
    throw new Error(
      `${op}(x + bias): shapes ${fmtShape(x.shape)} and ${fmtShape(bias.shape)} do not broadcast`,
    );
  }
  const y = new Tensor(x.shape);
  const u = [x.size, cols];
  run(biasActivationKernel(op), [x, bias, y], u, linear(x.size), `bias_${op}`);
  return record(y, [x, bias], (g) => {
    const dx = new Tensor(x.shape);
    run(activationBackwardKernel(op, true), [x, bias, g, dx], u, linear(x.size), `bias_${op}_backward`);
    let dBias: Tensor | null = null;
    if (bias.requiresGrad) {
      const rows = dx.view([x.size / cols, cols]);
      dBias = sumRowsRaw(rows).view(bias.shape);
      rows.dispose();
    }
    if (x.requiresGrad) return [dx, dBias];
    dx.dispose();
    return [null, dBias];
  }, [x, bias]);
}

export const relu = (x: Tensor) => activation("relu", x);
/** GELU in the exact erf form, as HF's `gelu`. */
export const gelu = (x: Tensor) => activation("gelu", x);

/**
 * Shape check for `a op b`: b equals a, or b (its leading 1s aside) matches a's trailing axes (a bias row,
 * repeated over a's leading axes), or b is a scalar. Decided by shapes, never by element counts alone: a
 * [1, n] activation and an [n] bias row broadcast (a batch of one), a [2, 3] and a [3, 2] do not.
 */
function broadcastRows(a: Tensor, b: Tensor, op: string): void {
  if (b.size === 1) return;
  let lead = 0;
  while (lead < b.shape.length - 1 && b.shape[lead] === 1) lead++;
  const row = b.shape.slice(lead);
  const tail = a.shape.slice(a.shape.length - row.length);
  if (row.length > a.shape.length || tail.some((d, i) => d !== row[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not broadcast`);
  }
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const c = new Tensor(a.shape);
  run(binaryKernel(op), [a, b, c], [a.size, b.size], linear(a.size), op);
  return c;
}

/** Sums a gradient of a's shape down to b's (broadcast) shape. */
function reduceTo(g: Tensor, b: Tensor): Tensor {
  if (g.size === b.size) return g.view(b.shape);
  const summed = sumRows(g.view([g.size / b.size, b.size]));
  return summed.view(b.shape);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  broadcastRows(a, b, op);
  const c = binaryRaw(op, a, b);
  return record(c, [a, b], (g) => {
    switch (op) {
      case "add":
        return [g.view(a.shape), b.requiresGrad ? reduceTo(g, b) : null];
      case "sub":
        return [g.view(a.shape), b.requiresGrad ? reduceTo(scale(g, -1), b) : null];
      case "mul":
        return [
          a.requiresGrad ? binaryRaw("mul", g, b) : null,
          b.requiresGrad ? reduceTo(binaryRaw("mul", g, a), b) : null,
        ];
      case "div": {
        // d/db (a / b) = -a / b² = -c / b
        const db = b.requiresGrad
          ? reduceTo(scale(binaryRaw("div", binaryRaw("mul", g, c), b), -1), b)
          : null;
        return [a.requiresGrad ? binaryRaw("div", g, b) : null, db];
      }
    }
  }, op === "mul" ? [a, b] : op === "div" ? [b, c] : []);
}

export const add = (a: Tensor, b: Tensor) => binary("add", a, b);
export const sub = (a: Tensor, b: Tensor) => binary("sub", a, b);
export const mul = (a: Tensor, b: Tensor) => binary("mul", a, b);
export const div = (a: Tensor, b: Tensor) => binary("div", a, b);

// ---- reductions ----------------------------------------------------------------------------------------

function sumRowsRaw(x: Tensor): Tensor {
  let [rows, cols] = x.shape as [number, number];
  let cur = x;
  while (true) {
    const chunks = Math.ceil(rows / SUM_ROWS_CHUNK);
    const next = new Tensor(chunks === 1 ? [cols] : [chunks, cols]);
    run(sumRowsKernel(), [cur, next], [rows, cols, chunks], linear(chunks * cols), "sum_rows");
    if (cur !== x) cur.dispose();
    cur = next;
    rows = chunks;
    if (chunks === 1) return cur;
  }
}

/** [rows, cols] -> [cols]: the sum over rows. */
export function sumRows(x: Tensor): Tensor {
  if (x.shape.length !== 2) throw new Error(`sumRows: needs a matrix, got ${fmtShape(x.shape)}`);
  const [rows, cols] = x.shape;
  return record(sumRowsRaw(x), [x], (g) => [broadcastRowsTo(g, [rows, cols])]);
}

/** Repeats a [cols] tensor over rows. */
function broadcastRowsTo(g: Tensor, shape: readonly number[]): Tensor {
  const z = zeros(shape);
  const y = binaryRaw("add", z, g);
  z.dispose();
  return y;
}

/** The sum of every element, as a [1] tensor. */
export function sum(x: Tensor): Tensor {
  const shape = x.shape;
  return record(sumRowsRaw(x.view([x.size, 1])), [x], (g) => [broadcastRowsTo(g, shape)]);
}

export function mean(x: Tensor): Tensor {
  return scale(sum(x), 1 / x.size);
}

// ---- matmul --------------------------------------------------------------------------------------------

/**
 * How one matmul runs: a kernel variant, and whether B is first transposed into a temporary so that an
 * A·Bᵀ product runs as A·B. On CPU drivers, elements contiguous along k load one scalar at a time while
 * B's rows load as vec4: one pass over B's k·n elements can pay for itself in the m·n·k inner loop.
 * Plans are named `variant` or `T+variant` (the autotuner's table and `setMatmulVariant` use the names).
 */
export interface MatmulPlan {
  variant: MatmulVariant;
  transposeB: boolean;
}

export const planName = (p: MatmulPlan) => `${p.transposeB ? "T+" : ""}${p.variant.name}`;

/** The plan a name stands for on shape `s`, or null when the name is unknown or does not support `s`. */
export function planFromName(name: string, s: MatmulShape): MatmulPlan | null {
  const transposeB = name.startsWith("T+");
  if (transposeB && !(s.transB && !s.transA)) return null;
  const variant = MATMUL_VARIANTS.find((v) => v.name === (transposeB ? name.slice(2) : name));
  if (!variant || !variant.supports(transposeB ? { ...s, transB: false } : s)) return null;
  return { variant, transposeB };
}

let variantOverride: string | null = null;
/**
 * Forces one plan by name (tests and benchmarks): a variant, or `T+variant` (applied to A·Bᵀ products,
 * the variant alone elsewhere); null restores the automatic choice.
 */
export function setMatmulVariant(name: string | null): void {
  variantOverride = name;
}

/** The automatic choice: the first variant after the reference that supports a shape, until autotuned. */
let matmulChooser = (s: MatmulShape): MatmulPlan => ({
  variant: MATMUL_VARIANTS.slice(1).find((v) => v.supports(s)) ?? MATMUL_VARIANTS[0],
  transposeB: false,
});

/** Picks the plan for a shape: an override (which wins over any installed chooser), else the chooser. */
export function chooseMatmulPlan(s: MatmulShape): MatmulPlan {
  if (variantOverride) {
    const plan = planFromName(variantOverride, s) ??
      (variantOverride.startsWith("T+") ? planFromName(variantOverride.slice(2), s) : null);
    if (!plan) throw new Error(`matmul variant ${variantOverride} is unknown or does not support the shape`);
    return plan;
  }
  return matmulChooser(s);
}
/** Lets the autotuner install its choice. */
export function setMatmulChooser(fn: (s: MatmulShape) => MatmulPlan): void {
  matmulChooser = fn;
}

/** The last two axes swapped (a plain copy, no tape). */
export function transposeLast2(x: Tensor): Tensor {
  return permuteRaw(x, x.shape.length === 2 ? [1, 0] : [0, 2, 1]);
}

/** Dispatches C = op(A)·op(B) into `out` following `plan`. */
export function dispatchMatmul(a: Tensor, b: Tensor, out: Tensor, s: MatmulShape, plan: MatmulPlan): void {
  const v = plan.variant, shared = b.shape.length === 2;
  const bIn = plan.transposeB ? transposeLast2(b) : b;
  const shape = plan.transposeB ? { ...s, transB: false } : s;
  run(
    v.wgsl(shape),
    [a, bIn, out],
    matmulUniforms(shape, shared),
    v.workgroups(shape),
    `matmul_${planName(plan)}`,
  );
  // The transposed copy's buffer may be reused by later dispatches of this submission, which run after this one.
  if (bIn !== b) bIn.dispose();
}

function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2 || ra > 3 || rb > 3 || (rb === 3 && ra !== 3)) {
    throw new Error(`matmul: unsupported shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const batch = ra === 3 ? a.shape[0] : 1;
  if (rb === 3 && b.shape[0] !== batch) {
    throw new Error(`matmul: batch sizes of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`);
  }
  const [a0, a1] = a.shape.slice(-2), [b0, b1] = b.shape.slice(-2);
  const [m, ka] = transA ? [a1, a0] : [a0, a1];
  const [kb, n] = transB ? [b1, b0] : [b0, b1];
  if (ka !== kb) {
    throw new Error(
      `matmul: inner sizes differ: ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} and ${fmtShape(b.shape)}${
        transB ? "ᵀ" : ""
      }`,
    );
  }
  if (a.dtype !== b.dtype || a.dtype === "i32") {
    throw new Error(
      `matmul: operands ${fmtShape(a.shape)} ${a.dtype} and ${
        fmtShape(b.shape)
      } ${b.dtype} need one float dtype`,
    );
  }
  const s: MatmulShape = { batch, m, n, k: ka, transA, transB, ...(a.dtype === "f16" ? { f16: true } : {}) };
  const out = new Tensor(ra === 3 ? [batch, m, n] : [m, n]);
  dispatchMatmul(a, b, out, s, chooseMatmulPlan(s));
  return out;
}

/**
 * C = op(A) · op(B) with A [M, K] or [batch, M, K] and B [K, N] or [batch, K, N] (transposes swap the last
 * two axes). A 2-D B is shared by every batch; its gradient is then summed over the batch by folding the
 * batch into the rows. With f16 operands (mixed precision) C is f32; the backward rounds the incoming
 * gradient to f16 for its two products, whose results (the operands' gradients) are f32.
 */
export function matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const c = matmulRaw(a, b, transA, transB);
  return record(c, [a, b], (grad) => {
    const g = castRaw(grad, a.dtype as "f32" | "f16");
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      da = transA ? matmulRaw(b, g, transB, true) : matmulRaw(g, b, false, !transB);
    }
    if (b.requiresGrad) {
      if (b.shape.length === 2 && a.shape.length === 3) {
        if (transA) throw new Error("matmul: a shared B with transposed batched A has no gradient path");
        const a2 = a.view([a.shape[0] * a.shape[1], a.shape[2]]);
        const g2 = g.view([g.shape[0] * g.shape[1], g.shape[2]]);
        db = transB ? matmulRaw(g2, a2, true, false) : matmulRaw(a2, g2, true, false);
        a2.dispose();
        g2.dispose();
      } else {
        db = transB ? matmulRaw(g, a, true, transA) : matmulRaw(a, g, !transA, false);
      }
    }
    g.dispose();
    return [da, db];
  }, [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])]);
}

// ---- attention pieces, normalisation, dropout ----------------------------------------------------------

let rowLayoutOverride: "workgroup" | "thread" | null = null;
/**
 * How row kernels (softmax, layer norm) lay threads out: a workgroup per row with a tree reduction (GPUs), or
 * a thread per row with no barriers (CPU drivers, where a barrier is a coroutine switch). `set` forces one
 * (tests prove the two equal); null restores the adapter's choice.
 */
export function setRowKernelLayout(layout: "workgroup" | "thread" | null): void {
  rowLayoutOverride = layout;
}
export function rowKernelLayout(): "workgroup" | "thread" {
  return rowLayoutOverride ?? (isCpuAdapter() ? "thread" : "workgroup");
}

/**
 * Softmax over the last axis of `x * scale`. With `mask` ([batch, cols], 1 = keep), rows are grouped into
 * `x.size / cols / batch` rows per mask row, and masked columns are set to the f32 minimum first.
 */
export function softmax(x: Tensor, opts: { scale?: number; mask?: Tensor } = {}): Tensor {
  const cols = x.shape.at(-1)!;
  const rows = x.size / cols;
  const scaleBy = opts.scale ?? 1;
  let rowsPerMask = rows;
  if (opts.mask) {
    const m = opts.mask;
    if (m.shape.at(-1) !== cols || rows % (m.size / cols) !== 0) {
      throw new Error(`softmax: mask ${fmtShape(m.shape)} does not fit scores ${fmtShape(x.shape)}`);
    }
    rowsPerMask = rows / (m.size / cols);
  }
  const y = new Tensor(x.shape);
  const u = [rows, cols, rowsPerMask, f32(scaleBy)];
  const perThread = rowKernelLayout() === "thread";
  const groups = perThread ? grid(Math.ceil(rows / ROW_PER_THREAD_WG)) : grid(rows);
  const forward = perThread ? softmaxRowPerThreadKernel(!!opts.mask) : softmaxKernel(!!opts.mask);
  run(forward, opts.mask ? [x, opts.mask, y] : [x, y], u, groups, "softmax");
  return record(y, [x], (g) => {
    const dx = new Tensor(x.shape);
    const backward = perThread ? softmaxBackwardRowPerThreadKernel() : softmaxBackwardKernel();
    run(backward, [y, g, dx], u, groups, "softmax_backward");
    return [dx];
  }, [y]);
}

/** Layer norm over the last axis with affine gamma/beta (biased variance, as PyTorch). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  return layerNormOf([x], gamma, beta, eps);
}

/** layerNorm(x + residual), the sum never stored: a transformer block's residual connection, fused. */
export function addLayerNorm(x: Tensor, residual: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  sameShape(x, residual, "addLayerNorm");
  return layerNormOf([x, residual], gamma, beta, eps);
}

/** Layer norm of inputs[0] (+ inputs[1]); both inputs get the same gradient. */
function layerNormOf(inputs: Tensor[], gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const x = inputs[0], residual = inputs.length === 2;
  const cols = x.shape.at(-1)!;
  if (gamma.size !== cols || beta.size !== cols) {
    throw new Error(
      `layerNorm: gamma ${fmtShape(gamma.shape)} / beta ${fmtShape(beta.shape)} do not fit ${
        fmtShape(x.shape)
      }`,
    );
  }
  const rows = x.size / cols;
  const y = new Tensor(x.shape);
  const stats = new Tensor([rows, 2]);
  const perThread = rowKernelLayout() === "thread";
  const groups = perThread ? grid(Math.ceil(rows / ROW_PER_THREAD_WG)) : grid(rows);
  const forward = perThread ? layerNormRowPerThreadKernel(residual) : layerNormKernel(residual);
  run(forward, [...inputs, gamma, beta, y, stats], [rows, cols, f32(eps)], groups, "layer_norm");
  return record(y, [...inputs, gamma, beta], (g) => {
    let dx: Tensor | null = null, dGamma: Tensor | null = null, dBeta: Tensor | null = null;
    if (inputs.some((t) => t.requiresGrad)) {
      dx = new Tensor(x.shape);
      const backward = perThread
        ? layerNormBackwardRowPerThreadKernel(residual)
        : layerNormBackwardKernel(residual);
      run(backward, [...inputs, gamma, stats, g, dx], [rows, cols], groups, "layer_norm_backward");
    }
    if (gamma.requiresGrad) {
      const terms = new Tensor([rows, cols]);
      run(
        layerNormGammaTermsKernel(residual),
        [...inputs, stats, g, terms],
        [x.size, cols],
        linear(x.size),
        "layer_norm_gamma",
      );
      dGamma = sumRowsRaw(terms).view(gamma.shape);
      terms.dispose();
    }
    if (beta.requiresGrad) dBeta = sumRowsRaw(g.view([rows, cols])).view(beta.shape);
    // The residual's gradient is the same tensor as x's: a view (backward copies before accumulating into it).
    const inputGrads = residual ? [dx, dx ? dx.view(x.shape) : null] : [dx];
    return [...inputGrads, dGamma, dBeta];
  }, [...inputs, gamma, stats]);
}

export interface AttentionOptions {
  /** Heads per batch row: q's leading axis is batch × heads, the mask's is batch. */
  heads: number;
  /** Multiplies every score (HF: 1 / sqrt(head_dim)). */
  scale: number;
  /** Dropout on the attention probabilities (training): probability and seed. */
  dropout?: { p: number; seed: number };
}

/** Query (forward, dQ) or key (dK/dV) rows per thread of the fused attention kernels. */
const ATTENTION_ROWS = 4;

/** dropout's uniforms: the keep threshold on 32 hash bits and the 1 / (1 - p) scale. */
function dropoutUniforms(p: number): [number, number] {
  if (p >= 1) throw new Error(`dropout: probability must be below 1, got ${p}`);
  return [Math.min(0xffffffff, Math.round(p * 2 ** 32)), 1 / (1 - p)];
}

/**
 * softmax(scale · q·kᵀ with masked keys at the f32 minimum) · v, fused: the [batch·heads, S, S] scores are
 * never stored (FlashAttention; see kernels/attention.ts), so memory is O(batch·heads·S·head_dim). q, k, v are
 * [batch·heads, S, head_dim] (f32, or f16 operands under mixed precision); `mask` is [batch, S] with 1 = key
 * kept. Equal to `matmul` → `softmax` → `dropout` → `matmul` (the unfused reference, same dropout masks);
 * tests/attention_test.ts proves it.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, opts: AttentionOptions): Tensor {
  const [bh, seq, dh] = q.shape;
  const fits = q.shape.length === 3 && [k, v].every((t) => t.shape.join() === q.shape.join()) &&
    k.dtype === q.dtype && v.dtype === q.dtype && q.dtype !== "i32" && mask.dtype === "f32" &&
    mask.shape.length === 2 && mask.shape[1] === seq && mask.shape[0] * opts.heads === bh;
  if (!fits) {
    throw new Error(
      `attention: q ${fmtShape(q.shape)} ${q.dtype}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} and ` +
        `mask ${fmtShape(mask.shape)} do not fit ${opts.heads} heads`,
    );
  }
  const p = opts.dropout && opts.dropout.p > 0 ? opts.dropout : null;
  const [threshold, dropScale] = p ? dropoutUniforms(p.p) : [0, 1];
  const cfg: AttentionKernelConfig = {
    headDim: dh,
    rows: ATTENTION_ROWS,
    dropout: !!p,
    f16: q.dtype === "f16",
  };
  const u = [bh, seq, opts.heads, f32(opts.scale), (p?.seed ?? 0) >>> 0, threshold, f32(dropScale)];
  const maxGrid = gpu().limits.maxComputeWorkgroupsPerDimension;
  const groups = attentionWorkgroups(bh, seq, ATTENTION_ROWS, maxGrid);
  const o = new Tensor([bh, seq, dh]);
  const stats = new Tensor([bh * seq, 2]);
  run(attentionForwardKernel(cfg), [q, k, v, mask, o, stats], u, groups, "attention");
  return record(o, [q, k, v], (g) => {
    const rows = new Tensor([bh * seq, 4]);
    const rowGroups = grid(Math.ceil((bh * seq) / ATTENTION_WG));
    run(attentionBackwardRowsKernel(cfg), [stats, o, g, rows], [bh * seq], rowGroups, "attention_rows");
    const dq = new Tensor(q.shape), dk = new Tensor(k.shape), dv = new Tensor(v.shape);
    run(attentionBackwardQueryKernel(cfg), [q, k, v, mask, rows, g, dq], u, groups, "attention_dq");
    run(attentionBackwardKeyKernel(cfg), [q, k, v, mask, rows, g, dk, dv], u, groups, "attention_dkv");
    rows.dispose();
    return [dq, dk, dv];
  }, [q, k, v, mask, o, stats]);
}

/**
 * Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p). The mask
 * comes from a counter-based hash of (seed, index), so the backward pass and a rerun with the same seed
 * see the same mask.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  if (p <= 0) return x;
  const [threshold, dropScale] = dropoutUniforms(p);
  const u = [x.size, seed >>> 0, threshold, f32(dropScale)];
  const apply = (src: Tensor) => {
    const out = new Tensor(src.shape);
    run(dropoutKernel(), [src, out], u, linear(src.size), "dropout");
    return out;
  };
  return record(apply(x), [x], (g) => [apply(g)]);
}

// ---- embedding, layout, loss ---------------------------------------------------------------------------

/**
 * Rows of `table` ([vocab, dim]) for each id. `ids` stay on the host too, to build the backward pass's
 * deterministic grouping. The `paddingIdx` row gets no gradient (PyTorch's padding_idx).
 */
export function embedding(
  ids: Int32Array,
  idsShape: readonly number[],
  table: Tensor,
  paddingIdx?: number,
): Tensor {
  const [vocab, dim] = table.shape;
  for (const id of ids) {
    if (!(id >= 0 && id < vocab)) throw new Error(`embedding: id ${id} outside the table's ${vocab} rows`);
  }
  const idsT = Tensor.fromArray(ids, [ids.length], { dtype: "i32" });
  const y = new Tensor([...idsShape, dim]);
  run(embeddingKernel(), [idsT, table, y], [y.size, dim], linear(y.size), "embedding");
  idsT.dispose();
  return record(y, [table], (g) => {
    // Group positions by id on the host, in increasing position order.
    const order = Array.from(ids.keys()).filter((i) => ids[i] !== paddingIdx);
    order.sort((x, y) => ids[x] - ids[y] || x - y);
    const uniq: number[] = [], offs: number[] = [];
    order.forEach((pos, k) => {
      if (k === 0 || ids[pos] !== ids[order[k - 1]]) {
        uniq.push(ids[pos]);
        offs.push(k);
      }
    });
    offs.push(order.length);
    const dTable = zeros(table.shape);
    if (uniq.length > 0) {
      const tensors = [
        Tensor.fromArray(uniq, [uniq.length], { dtype: "i32" }),
        Tensor.fromArray(offs, [offs.length], { dtype: "i32" }),
        Tensor.fromArray(order, [order.length], { dtype: "i32" }),
      ];
      const n = uniq.length * dim;
      run(embeddingBackwardKernel(), [...tensors, g, dTable], [n, dim], linear(n), "embedding_backward");
      tensors.forEach((t) => t.dispose());
    }
    return [dTable];
  });
}

/** A differentiable reshape (a view of the same storage). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = [...shape];
  const infer = resolved.indexOf(-1);
  if (infer >= 0) resolved[infer] = x.size / -resolved.reduce((a, b) => a * b, 1);
  const y = x.view(resolved);
  return record(y, [x], (g) => [g.view(x.shape)]);
}

function permuteRaw(x: Tensor, perm: number[]): Tensor {
  const rank = x.shape.length;
  if (perm.length !== rank || [...perm].sort().some((p, i) => p !== i) || rank > 4) {
    throw new Error(`permute: [${perm}] is not a permutation of ${fmtShape(x.shape)}`);
  }
  const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((p) => x.shape[p]);
  const pad = 4 - rank;
  const o = [...Array(pad).fill(1), ...outShape];
  const s = [...Array(pad).fill(0), ...perm.map((p) => strides[p])];
  const f16 = x.dtype === "f16";
  const y = new Tensor(outShape, x.dtype);
  const threads = f16 ? Math.ceil(y.size / 2) : y.size;
  run(permuteKernel(f16), [x, y], [y.size, o[1], o[2], o[3], ...s], linear(threads), "permute");
  return y;
}

/** Reorders axes: output axis i is input axis perm[i]. */
export function permute(x: Tensor, perm: number[]): Tensor {
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(permuteRaw(x, perm), [x], (g) => [permuteRaw(g, inverse)]);
}

/** x[..., start:start+length, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const len = x.shape[axis];
  if (start < 0 || length < 1 || start + length > len) {
    throw new Error(`slice: [${start}, ${start + length}) outside axis ${axis} of ${fmtShape(x.shape)}`);
  }
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const u = (n: number) => [n, len, inner, start, length];
  const outShape = x.shape.map((d, i) => (i === axis ? length : d));
  const y = new Tensor(outShape);
  run(sliceKernel(false), [x, y], u(y.size), linear(y.size), "slice");
  return record(y, [x], (g) => {
    const dx = new Tensor(x.shape);
    run(sliceKernel(true), [g, dx], u(dx.size), linear(dx.size), "slice_backward");
    return [dx];
  });
}

/** Mean cross-entropy of logits [batch, classes] against integer labels [batch]. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const [rows, classes] = logits.shape;
  if (logits.shape.length !== 2 || labels.size !== rows || labels.dtype !== "i32") {
    throw new Error(
      `crossEntropy: logits ${fmtShape(logits.shape)} and labels ${fmtShape(labels.shape)} do not match`,
    );
  }
  const perRow = new Tensor([rows]);
  run(crossEntropyKernel(), [logits, labels, perRow], [rows, classes], linear(rows), "cross_entropy");
  const rowLoss = record(perRow, [logits], (g) => {
    const dx = new Tensor(logits.shape);
    run(
      crossEntropyBackwardKernel(),
      [logits, labels, g, dx],
      [rows, classes],
      linear(logits.size),
      "ce_backward",
    );
    return [dx];
  }, [logits, labels]);
  return mean(rowLoss);
}
