/** Self-attention autotuning: fused or unfused, per shape bucket, beside the matmul plans. */
import { gpu } from "../runtime.ts";
import { fill, Tensor } from "../tensor.ts";
import { tidy } from "../tape.ts";
import { cast, castRaw, mul } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import { matmul } from "../ops/matmul.ts";
import { softmax } from "../ops/softmax.ts";
import { attention } from "../ops/attention.ts";
import { pow2 } from "../matmul_plan.ts";
import { adapterKey, autotuneDisabled, readCache, storeChoices, TUNE_PASSES } from "./cache.ts";
import type { AutotuneOptions } from "./matmul.ts";
import { timeRuns } from "./timing.ts";

/** One self-attention pass: batch·heads rows of seq tokens, head_dim wide. */
export interface AttentionShape {
  batchHeads: number;
  seq: number;
  headDim: number;
  f16?: boolean;
}

const attentionBucket = (a: AttentionShape) =>
  `attention bh${pow2(a.batchHeads)} s${pow2(a.seq)} d${a.headDim}${a.f16 ? " f16" : ""}`;

/** The tuned attention path for a shape's bucket, or null when it was not tuned. */
export function tunedAttention(a: AttentionShape): "fused" | "unfused" | null {
  const name = gpu().tuned.get(attentionBucket(a));
  return name === "fused" || name === "unfused" ? name : null;
}

/**
 * Milliseconds of one forward and backward of attention on `a` by one path (inputs random, all keys kept);
 * the best of rounds until `budgetMs` is spent, after a warm-up that compiles the pipelines.
 */
async function timeAttention(
  path: "fused" | "unfused",
  a: AttentionShape,
  budgetMs = 50,
): Promise<number> {
  const rt = gpu();
  const shape = [a.batchHeads, a.seq, a.headDim];
  const n = a.batchHeads * a.seq * a.headDim;
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const [q, k, v] = [0, 1, 2].map(() => Tensor.fromArray(data, shape, { requiresGrad: true }));
  const mask = fill([1, a.seq], 1), weights = fill(shape, 1e-3);
  const scale = 1 / Math.sqrt(a.headDim);
  // Mixed precision rounds the probabilities to f16 for their product with v, as the model's autocast does.
  const half = (t: Tensor) => a.f16 ? cast(t, "f16") : t;
  const once = () => {
    tidy(() => {
      const [qo, ko, vo] = a.f16 ? [q, k, v].map((t) => castRaw(t, "f16")) : [q, k, v];
      if (a.f16) [qo, ko, vo].forEach((t) => (t.requiresGrad = true));
      const y = path === "fused"
        ? attention(qo, ko, vo, mask, { heads: a.batchHeads, scale })
        : matmul(half(softmax(matmul(qo, ko, { transB: true }), { scale, mask })), vo);
      sum(mul(y, weights)).backward();
      for (const t of [q, k, v, qo, ko, vo]) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
  };
  try {
    once();
    await rt.sync();
    let best = Infinity, spent = 0;
    do {
      const t0 = performance.now();
      const ms = await timeRuns(once);
      spent += performance.now() - t0;
      best = Math.min(best, ms);
    } while (spent < budgetMs);
    return best;
  } finally {
    [q, k, v, mask, weights].forEach((t) => t.dispose());
  }
}

/**
 * Times fused against unfused attention for each shape whose unfused scores fit one binding (where they do
 * not, the fused path is the only one) and records the choice beside the matmul plans: the fused path unless
 * the unfused one is clearly (10%) faster, since it also needs far less memory. Cached like the matmul plans;
 * the shapes are proxies (fewer batch·heads rows) on CPU adapters.
 */
export async function autotuneAttention(shapes: AttentionShape[], opts: AutotuneOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  if (autotuneDisabled()) return;
  const rt = gpu(), table = rt.tuned, key = adapterKey();
  const cache = await readCache();
  const cached = cache.adapters[key] ?? {};
  const l = rt.limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  let changed = false;
  for (const a of shapes) {
    const bucket = attentionBucket(a);
    if (table.has(bucket)) continue;
    const hit = opts.force ? undefined : cached[bucket];
    if (hit === "fused" || hit === "unfused") {
      table.set(bucket, hit);
      continue;
    }
    // A proxy of a few heads: the choice depends on seq and head_dim, the time on batch·heads linearly.
    const proxy = { ...a, batchHeads: Math.min(a.batchHeads, rt.isCpu ? 4 : 64) };
    if (proxy.batchHeads * a.seq * a.seq * 4 > maxBytes) continue; // only fused fits
    const budget = (opts.budgetMs ?? 50) / TUNE_PASSES;
    const times = { fused: Infinity, unfused: Infinity };
    for (let pass = 0; pass < TUNE_PASSES; pass++) {
      for (const path of ["fused", "unfused"] as const) {
        times[path] = Math.min(times[path], await timeAttention(path, proxy, budget));
      }
    }
    const choice = times.unfused * 1.1 < times.fused ? "unfused" : "fused";
    table.set(bucket, choice);
    cached[bucket] = choice;
    changed = true;
    log(
      `autotune ${bucket}: ${choice} (fused ${times.fused.toFixed(1)} ms, unfused ${
        times.unfused.toFixed(1)
      } ms on ${proxy.batchHeads} heads)`,
    );
  }
  if (changed) await storeChoices(key, cached);
}
