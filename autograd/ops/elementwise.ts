/** Element-wise ops: zeros, casts, scale, the activations, binary ops, dropout. */
import { fill, fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import {
  type Activation,
  activationBackwardKernel,
  biasActivationKernel,
  binaryKernel,
  type BinaryOp,
  castToF16Kernel,
  castToF32Kernel,
  dropoutKernel,
  unaryKernel,
} from "../../kernels/elementwise.ts";
import { launchOp, perThread } from "./launch.ts";
import { columnSums, columnSumsRaw } from "./reduce.ts";

export const zeros = (shape: readonly number[]) => fill(shape, 0);

// ---- precision -----------------------------------------------------------------------------------------

/** x converted to `dtype` (f32 ↔ f16, rounding to nearest), without the tape. */
export function castRaw(x: Tensor, dtype: "f32" | "f16"): Tensor {
  if (x.dtype === dtype) return x.view(x.shape);
  if (x.dtype === "i32") throw new Error(`cast: cannot convert an i32 tensor ${fmtShape(x.shape)}`);
  const y = new Tensor(x.shape, dtype);
  if (dtype === "f16") {
    launchOp(castToF16Kernel(), "cast_f16", { X: x, Y: y }, { n: x.size }, perThread(Math.ceil(x.size / 2)));
  } else launchOp(castToF32Kernel(), "cast_f32", { X: x, Y: y }, { n: x.size }, perThread(x.size));
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

function unary(op: "scale" | Activation, x: Tensor, s = 0): Tensor {
  const y = new Tensor(x.shape);
  launchOp(unaryKernel(op), op, { X: x, Y: y }, { n: x.size, s }, perThread(x.size));
  return y;
}

export function scale(x: Tensor, s: number): Tensor {
  return record(unary("scale", x, s), [x], (g) => [scale(g, s)]);
}

function activation(op: Activation, x: Tensor): Tensor {
  return record(unary(op, x), [x], (g) => {
    const dx = new Tensor(x.shape);
    launchOp(
      activationBackwardKernel(op),
      `${op}_backward`,
      { X: x, G: g, DX: dx },
      { n: x.size },
      perThread(x.size),
    );
    return [dx];
  }, [x]);
}

/**
 * f(x + bias) in one pass, bias a row over x's leading axes: Linear's bias fused into its activation (one
 * read and one write of the activations instead of two of each).
 */
export function biasActivation(op: Activation, x: Tensor, bias: Tensor): Tensor {
  const cols = x.shape.at(-1)!;
  if (bias.shape.length !== 1 || bias.size !== cols) {
    throw new Error(
      `${op}(x + bias): shapes ${fmtShape(x.shape)} and ${fmtShape(bias.shape)} do not broadcast`,
    );
  }
  const y = new Tensor(x.shape);
  const u = { n: x.size, nb: cols };
  launchOp(biasActivationKernel(op), `bias_${op}`, { X: x, B: bias, Y: y }, u, perThread(x.size));
  return record(y, [x, bias], (g) => {
    const dx = new Tensor(x.shape);
    const backward = activationBackwardKernel(op, true);
    launchOp(backward, `bias_${op}_backward`, { X: x, B: bias, G: g, DX: dx }, u, perThread(x.size));
    let dBias: Tensor | null = null;
    if (bias.requiresGrad) {
      const rows = dx.view([x.size / cols, cols]);
      dBias = columnSumsRaw(rows).view(bias.shape);
    }
    return [x.requiresGrad ? dx : null, dBias];
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
function checkBroadcast(a: Tensor, b: Tensor, op: string): void {
  if (b.size === 1) return;
  let lead = 0;
  while (lead < b.shape.length - 1 && b.shape[lead] === 1) lead++;
  const row = b.shape.slice(lead);
  const tail = a.shape.slice(a.shape.length - row.length);
  if (row.length > a.shape.length || tail.some((d, i) => d !== row[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not broadcast`);
  }
}

/** a op b without the tape (b broadcast over a's leading axes). */
export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const c = new Tensor(a.shape);
  launchOp(binaryKernel(op), op, { A: a, B: b, C: c }, { n: a.size, nb: b.size }, perThread(a.size));
  return c;
}

/** Sums a gradient of a's shape down to b's (broadcast) shape. */
function reduceTo(g: Tensor, b: Tensor): Tensor {
  if (g.size === b.size) return g.view(b.shape);
  const summed = columnSums(g.view([g.size / b.size, b.size]));
  return summed.view(b.shape);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkBroadcast(a, b, op);
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

/** dropout's uniforms: the keep threshold on 32 hash bits and the 1 / (1 - prob) scale. */
export function dropoutUniforms(prob: number): [number, number] {
  if (prob >= 1) throw new Error(`dropout: probability must be below 1, got ${prob}`);
  return [Math.min(0xffffffff, Math.round(prob * 2 ** 32)), 1 / (1 - prob)];
}

/**
 * Inverted dropout: zeroes each element with probability `prob` and scales the rest by 1/(1-prob). The mask
 * comes from a counter-based hash of (seed, index), so the backward pass and a rerun with the same seed
 * see the same mask.
 */
export function dropout(x: Tensor, prob: number, seed: number): Tensor {
  if (prob <= 0) return x;
  const [threshold, dropScale] = dropoutUniforms(prob);
  const u = { n: x.size, seed: seed >>> 0, threshold, scale: dropScale };
  const apply = (src: Tensor) => {
    const out = new Tensor(src.shape);
    launchOp(dropoutKernel(), "dropout", { x: src, y: out }, u, perThread(src.size));
    return out;
  };
  return record(apply(x), [x], (g) => [apply(g)]);
}
