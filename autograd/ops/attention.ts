/** Fused self-attention (FlashAttention-style): forward and backward without the S × S scores. */
import { gpu } from "../runtime.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import {
  attentionBackwardKeyKernel,
  attentionBackwardQueryKernel,
  attentionBackwardRowsKernel,
  attentionForwardKernel,
  type AttentionKernelConfig,
  attentionWorkgroups,
} from "../../kernels/attention.ts";
import { dropoutUniforms } from "./elementwise.ts";
import { launchOp } from "./launch.ts";

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
  const drop = opts.dropout && opts.dropout.p > 0 ? opts.dropout : null;
  const [threshold, dropScale] = drop ? dropoutUniforms(drop.p) : [0, 1];
  const cfg: AttentionKernelConfig = {
    headDim: dh,
    rows: ATTENTION_ROWS,
    dropout: !!drop,
    f16: q.dtype === "f16",
  };
  const u = {
    bh,
    seq,
    heads: opts.heads,
    scale: opts.scale,
    seed: (drop?.seed ?? 0) >>> 0,
    threshold,
    drop_scale: dropScale,
  };
  const maxGrid = gpu().limits.maxComputeWorkgroupsPerDimension;
  const groups = { workgroups: attentionWorkgroups(bh, seq, ATTENTION_ROWS, maxGrid) };
  const o = new Tensor([bh, seq, dh]);
  const stats = new Tensor([bh * seq, 2]);
  const inputs = { Q: q, K: k, V: v, MASK: mask };
  launchOp(attentionForwardKernel(cfg), "attention", { ...inputs, O: o, STATS: stats }, u, groups);
  return record(o, [q, k, v], (g) => {
    const rows = new Tensor([bh * seq, 4]);
    const rowsKernel = attentionBackwardRowsKernel(cfg);
    launchOp(rowsKernel, "attention_rows", { STATS: stats, O: o, DO: g, ROWS: rows }, { rows: bh * seq }, {
      threads: bh * seq,
    });
    const dq = new Tensor(q.shape), dk = new Tensor(k.shape), dv = new Tensor(v.shape);
    const grads = { ...inputs, ROWS: rows, DO: g };
    launchOp(attentionBackwardQueryKernel(cfg), "attention_dq", { ...grads, DQ: dq }, u, groups);
    launchOp(attentionBackwardKeyKernel(cfg), "attention_dkv", { ...grads, DK: dk, DV: dv }, u, groups);
    return [dq, dk, dv];
  }, [q, k, v, mask, o, stats]);
}
