/** Modules: the layers DistilBERT is built from, each a few ops over named parameters. */
import { add, addLayerNorm, biasActivation, cast, dropout, matmul, type Tensor } from "../autograd/mod.ts";

/** A name → parameter lookup; the model owns the tensors. */
export type Params = (name: string) => Tensor;

/** The matmul a forward pass uses: `matmul` itself, or one that autocasts its operands (`autocastMatmul`). */
export type Matmul = (a: Tensor, b: Tensor, opts?: { transA?: boolean; transB?: boolean }) => Tensor;

/** How a forward pass rounds the operands of its products: `operand` gives what a product reads. */
export interface Precision {
  matmul: Matmul;
  /** The tensor a product (a matmul, fused attention) reads: itself in f32, an f16 copy under autocast. */
  operand: (t: Tensor) => Tensor;
}

export const FULL_PRECISION: Precision = { matmul, operand: (t) => t };

/**
 * Mixed precision, as PyTorch's autocast does for matmuls: the operands are rounded to f16 (each tensor
 * once per pass, however many products read it: q, k and v share their input), the products accumulate
 * in f32 and the result is f32. Everything else (softmax, layer norm, GELU, the loss) stays f32.
 */
export function autocast(): Precision {
  const halves = new WeakMap<Tensor, Tensor>();
  const operand = (t: Tensor) => {
    let h = halves.get(t);
    if (!h || h.disposed) halves.set(t, h = cast(t, "f16"));
    return h;
  };
  return { matmul: (a, b, opts) => matmul(operand(a), operand(b), opts), operand };
}

/**
 * `step(x)`, with `x` freed at this, its last use: its storage goes now, or as soon as the backward nodes
 * that saved it have run (a view `step` made keeps it alive too). `x` stays when `step` passed it through.
 */
export function lastUse(x: Tensor, step: (x: Tensor) => Tensor): Tensor {
  const y = step(x);
  if (y !== x) x.dispose();
  return y;
}

/** Applies `steps` in turn, freeing each tensor at its last use (the next step), `x` included. */
export function through(x: Tensor, ...steps: ((t: Tensor) => Tensor)[]): Tensor {
  return steps.reduce(lastUse, x);
}

/** PyTorch's Linear: y = x · Wᵀ + b, W stored [out, in]; x is [rows, in]. The product before the bias is freed. */
export function linear(p: Params, prefix: string, x: Tensor, mm: Matmul = matmul): Tensor {
  return lastUse(mm(x, p(`${prefix}.weight`), { transB: true }), (y) => add(y, p(`${prefix}.bias`)));
}

/** act(Linear(x)), the bias added inside the activation's kernel. */
export function linearActivation(
  p: Params,
  prefix: string,
  x: Tensor,
  act: "relu" | "gelu",
  mm: Matmul = matmul,
): Tensor {
  const product = mm(x, p(`${prefix}.weight`), { transB: true });
  return lastUse(product, (y) => biasActivation(act, y, p(`${prefix}.bias`)));
}

/** LayerNorm(x + residual), the residual add fused into the norm's kernels. */
export function addLayerNormModule(
  p: Params,
  prefix: string,
  x: Tensor,
  residual: Tensor,
  eps: number,
): Tensor {
  return addLayerNorm(x, residual, p(`${prefix}.weight`), p(`${prefix}.bias`), eps);
}

/**
 * Dropout seeds for one forward pass: every call site gets its own stream, derived from the step's seed
 * and a counter, so a rerun with the same seed replays the same masks.
 */
export class DropoutStream {
  private calls = 0;
  constructor(private readonly seed: number, readonly training: boolean) {}

  apply(x: Tensor, p: number): Tensor {
    const seed = this.next(p);
    return seed === null ? x : dropout(x, p, seed);
  }

  /** The seed of the next dropout site (for a fused op that drops inside its kernel); null when off. */
  next(p: number): number | null {
    if (!this.training || p <= 0) return null;
    return mixSeed(this.seed, this.calls++);
  }
}

/** A 32-bit integer mix (splitmix-like) of two values. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b + 0x7f4a7c15) >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
