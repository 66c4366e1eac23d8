/**
 * What self-attention holds in GPU memory at DistilBERT-base's shape (batch 16 × 12 heads, 512 tokens, head
 * size 64), fused (`ops.attention`) against the unfused reference (scores, masked softmax, dropout, product),
 * with and without attention dropout: the buffer pool's peak above the inputs during the forward (what the
 * backward keeps) and over forward and backward (the backward's q, k and v gradients, 72 MiB, included).
 * Recorded as a dry run (allocations and dispatches, nothing submitted), so the unfused path's 192 MiB scores
 * need no adapter that can bind them.
 *
 *     deno run -A scripts/attention_memory.ts [--batch 16] [--seq 512]
 */
import { parseArgs } from "node:util";
import * as op from "../autograd/ops.ts";
import { initGpu, sum, Tensor, tidy } from "../autograd/mod.ts";

const { values } = parseArgs({
  options: { batch: { type: "string", default: "16" }, seq: { type: "string", default: "512" } },
});
const rt = await initGpu({
  limits: "adapter",
  skipLimitChecks: true,
  loseDeviceAfter: null,
  attention: "auto",
  dryRun: true,
});
const [B, H, S, D] = [Number(values.batch), 12, Number(values.seq), 64];
const n = B * H * S * D, shape = [B * H, S, D];
const input = () => Tensor.fromArray(new Float32Array(n).fill(0.01), shape, { requiresGrad: true });
const q = input(), k = input(), v = input();
const mask = Tensor.fromArray(new Float32Array(B * S).fill(1), [B, S]);
const w = Tensor.fromArray(new Float32Array(n).fill(0.01), shape);
const scale = 1 / Math.sqrt(D);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
console.log(`attention at ${B} × ${H} heads × ${S} tokens × ${D}: pool peak above the inputs`);
for (const path of ["unfused", "fused"]) {
  for (const dropout of [false, true]) {
    rt.pool.trim();
    const base = rt.pool.liveBytes;
    rt.pool.resetPeak();
    let forward = 0;
    const y = tidy(() => {
      const drop = dropout ? { p: 0.1, seed: 1 } : undefined;
      let y: Tensor;
      if (path === "fused") y = op.attention(q, k, v, mask, { heads: H, scale, dropout: drop });
      else {
        const p = op.softmax(op.matmul(q, k, { transB: true }), { scale, mask });
        y = op.matmul(drop ? op.dropout(p, drop.p, drop.seed) : p, v);
      }
      forward = rt.pool.peakBytes - base;
      sum(op.mul(y, w)).backward();
      return y;
    });
    y.dispose();
    for (const t of [q, k, v]) {
      t.grad?.dispose();
      t.grad = null;
    }
    console.log(
      `  ${(path + (dropout ? " + dropout" : "")).padEnd(17)} forward ${mib(forward).padStart(9)}, ` +
        `forward + backward ${mib(rt.pool.peakBytes - base).padStart(9)}`,
    );
  }
}
