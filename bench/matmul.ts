/**
 * Matmul throughput (`deno task bench matmul`): GFLOP/s of each plan (a variant, or `T+variant`: B transposed
 * first) on a shape, timed as several runs batched in one submission, the best of a few rounds counting.
 */
import { flopsOf, timePlan } from "../autograd/autotune.ts";
import { planFromName } from "../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../kernels/matmul.ts";
import type { DistilBertConfig } from "../model/config.ts";

/** Every variant, then every variant after the reference on B transposed first. */
export const PLAN_NAMES = [
  ...MATMUL_VARIANTS.map((v) => v.name),
  ...MATMUL_VARIANTS.slice(1).map((v) => `T+${v.name}`),
];

export interface MatmulBenchRow {
  label: string;
  shape: MatmulShape;
}

/** An n × n × n product for each size. */
export function squareRows(sizes: number[]): MatmulBenchRow[] {
  return sizes.map((n) => ({
    label: `${n}³ NN`,
    shape: { batch: 1, m: n, n, k: n, transA: false, transB: false },
  }));
}

/** The matmuls of one training step of `config` at batch × seq: the linears' three products, and attention's. */
export function distilbertRows(config: DistilBertConfig, batch: number, seq: number): MatmulBenchRow[] {
  const t = batch * seq, d = config.dim, h = config.hidden_dim, bh = batch * config.n_heads;
  const dh = config.dim / config.n_heads;
  const s = (m: number, n: number, k: number, transA: boolean, transB: boolean, b = 1): MatmulShape => ({
    batch: b,
    m,
    n,
    k,
    transA,
    transB,
  });
  return [
    { label: `x·Wᵀ ${t}x${d}·(${d}x${d})ᵀ`, shape: s(t, d, d, false, true) },
    { label: `x·Wᵀ ${t}x${d}·(${h}x${d})ᵀ`, shape: s(t, h, d, false, true) },
    { label: `dY·W ${t}x${d}·${d}x${d}`, shape: s(t, d, d, false, false) },
    { label: `dY·W ${t}x${h}·${h}x${d}`, shape: s(t, d, h, false, false) },
    { label: `dYᵀ·X (${t}x${d})ᵀ·${t}x${d}`, shape: s(d, d, t, true, false) },
    { label: `dYᵀ·X (${t}x${h})ᵀ·${t}x${d}`, shape: s(h, d, t, true, false) },
    { label: `QKᵀ ${bh}x[${seq}x${dh}]·[${seq}x${dh}]ᵀ`, shape: s(seq, seq, dh, false, true, bh) },
    { label: `P·V ${bh}x[${seq}x${seq}]·[${seq}x${dh}]`, shape: s(seq, dh, seq, false, false, bh) },
  ];
}

/** Compiles every plan's pipelines on tiny shapes (the same WGSL as the big ones), so no cell pays for it. */
export async function compilePlans(rows: MatmulBenchRow[], plans: string[]): Promise<void> {
  for (const r of rows) {
    const tiny = { ...r.shape, batch: 1, m: 16, n: 16, k: 16 };
    for (const name of plans) {
      const plan = planFromName(name, r.shape);
      if (plan) await timePlan(plan, tiny, { budgetMs: 0, reps: 1 });
    }
  }
}

/** GFLOP/s of each plan on `shape` (null where the plan does not apply), about `cellMs` of timing each. */
export async function measurePlans(
  shape: MatmulShape,
  plans: string[],
  cellMs: number,
): Promise<Record<string, number | null>> {
  const gflops: Record<string, number | null> = {};
  for (const name of plans) {
    const plan = planFromName(name, shape);
    if (!plan) {
      gflops[name] = null;
      continue;
    }
    // One run first, to size the batch of runs so a cell takes about cellMs.
    const single = await timePlan(plan, shape, { budgetMs: 0, reps: 1 });
    const reps = Math.max(1, Math.min(16, Math.floor(cellMs / 2 / single)));
    const ms = single * reps * 2 > cellMs * 4
      ? single
      : Math.min(single, await timePlan(plan, shape, { budgetMs: cellMs, reps }));
    gflops[name] = flopsOf(shape) / ms / 1e6;
  }
  return gflops;
}
