/**
 * The matmul shapes of a DistilBERT step, for the autotuner: the model knows its shapes, the engine does not.
 */
import type { MatmulShape } from "../kernels/matmul.ts";
import { uniqueShapes } from "../autograd/matmul_plan.ts";

export interface TrainShapeConfig {
  batch: number;
  seq: number;
  dim: number;
  hidden: number;
  heads: number;
  /** Not needed for the shapes (every layer has the same ones); kept so a model config can be passed. */
  layers?: number;
  /** Mixed precision: the operands are f16. */
  f16?: boolean;
  /** Whether attention runs unfused (its score products are matmuls); default true. */
  unfusedAttention?: boolean;
  /** Inference (eval, predict): the forward products only, no gradient shapes. */
  forwardOnly?: boolean;
}

/** Forward and backward matmul shapes of one DistilBERT train step (Linear: x [rows, in] · Wᵀ, W [out, in]). */
export function matmulShapesFor(c: TrainShapeConfig): MatmulShape[] {
  const tokens = c.batch * c.seq, bh = c.batch * c.heads, dh = c.dim / c.heads;
  const out: MatmulShape[] = [];
  const linearLayer = (rows: number, inF: number, outF: number) => {
    out.push({ batch: 1, m: rows, n: outF, k: inF, transA: false, transB: true }); // y = x·Wᵀ
    if (c.forwardOnly) return;
    out.push({ batch: 1, m: rows, n: inF, k: outF, transA: false, transB: false }); // dx = dy·W
    out.push({ batch: 1, m: outF, n: inF, k: rows, transA: true, transB: false }); // dW = dyᵀ·x
  };
  linearLayer(tokens, c.dim, c.dim); // q, k, v, out_lin
  linearLayer(tokens, c.dim, c.hidden); // ffn.lin1
  linearLayer(tokens, c.hidden, c.dim); // ffn.lin2
  linearLayer(c.batch, c.dim, c.dim); // pre_classifier
  if (c.unfusedAttention ?? true) {
    // scores = q·kᵀ; d(q) = g·k; d(k) = gᵀ·q
    out.push({ batch: bh, m: c.seq, n: c.seq, k: dh, transA: false, transB: true });
    out.push({ batch: bh, m: c.seq, n: dh, k: c.seq, transA: false, transB: false });
    if (!c.forwardOnly) out.push({ batch: bh, m: c.seq, n: dh, k: c.seq, transA: true, transB: false });
    // ctx = p·v; d(p) = g·vᵀ; d(v) = pᵀ·g  (the same shapes as above)
  }
  return uniqueShapes(c.f16 ? out.map((s) => ({ ...s, f16: true })) : out);
}
