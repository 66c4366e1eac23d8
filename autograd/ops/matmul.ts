/** Matmul: the op (forward and backward) and its dispatch under a plan (autograd/matmul_plan.ts). */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { type MatmulShape, matmulUniforms } from "../../kernels/matmul.ts";
import { chooseMatmulPlan, type MatmulPlan, planName } from "../matmul_plan.ts";
import { castRaw } from "./elementwise.ts";
import { launchOp } from "./launch.ts";
import { transposeLast2 } from "./layout.ts";

/** Dispatches C = op(A)·op(B) into `out` following `plan`. */
export function dispatchMatmul(a: Tensor, b: Tensor, out: Tensor, s: MatmulShape, plan: MatmulPlan): void {
  const v = plan.variant, shared = b.shape.length === 2;
  const bIn = plan.transposeB ? transposeLast2(b) : b;
  const shape = plan.transposeB ? { ...s, transB: false } : s;
  launchOp(
    v.spec(shape),
    `matmul_${planName(plan)}`,
    { A: a, B: bIn, C: out },
    matmulUniforms(shape, shared),
    {
      workgroups: v.workgroups(shape),
    },
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
      } else {
        db = transB ? matmulRaw(g, a, true, transA) : matmulRaw(a, g, !transA, false);
      }
    }
    return [da, db];
  }, [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])]);
}
