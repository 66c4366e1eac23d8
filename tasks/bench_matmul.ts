/**
 * `deno task bench matmul`: GFLOP/s (2·M·N·K·batch / time) of every matmul variant on square sizes and on
 * DistilBERT's training shapes, plus the variant the autotuner picks. Each cell times several runs batched
 * in one submission, then `await gpu().sync()`; the best of a few rounds counts. Also runnable directly:
 * `deno run -A tasks/bench_matmul.ts`.
 */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { gpu, initGpu, isCpuAdapter } from "../autograd/runtime.ts";
import { autotuneMatmul, flopsOf, timePlan } from "../autograd/autotune.ts";
import { planFromName } from "../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../kernels/matmul.ts";
import { UserError } from "../util/errors.ts";
import { writeJsonFile } from "../util/fs.ts";

/** Every variant, then every variant after the reference on B transposed first. */
const PLAN_NAMES = [
  ...MATMUL_VARIANTS.map((v) => v.name),
  ...MATMUL_VARIANTS.slice(1).map((v) => `T+${v.name}`),
];

const HELP = `deno task bench matmul [--json FILE] [--variants a,b] [--sizes 256,512,...] [--no-distilbert]
                        [--batch 8] [--seq 256] [--cell-ms 400] [--fp16]

Prints a table of GFLOP/s: matmul plan × shape, and the plan autotune picks for each shape. A plan is a
variant, or T+variant: B transposed into a temporary first, so an A·Bᵀ product runs as A·B (time included).
  --json        also write the results as JSON
  --variants    only these plans (default: all; ${PLAN_NAMES.join(", ")})
  --sizes       square sizes, NN (default 256,512,1024,2048)
  --no-distilbert  skip DistilBERT's shapes (batch·seq tokens, dim 768, hidden 3072, 12 heads)
  --cell-ms     timing budget per cell (a cell whose single run is longer is timed once)
  --fp16        f16 operands (mixed precision: f32 accumulation, f32 result); needs shader-f16`;

interface Row {
  label: string;
  shape: MatmulShape;
}

function distilbertRows(batch: number, seq: number): Row[] {
  const t = batch * seq, d = 768, h = 3072, bh = batch * 12, dh = 64;
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

export async function benchMatmul(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    json: { type: "string" },
    variants: { type: "string" },
    sizes: { type: "string" },
    "no-distilbert": { type: "boolean" },
    batch: { type: "string" },
    seq: { type: "string" },
    "cell-ms": { type: "string" },
    fp16: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return console.log(HELP);
  const batch = numberFlag(values.batch, "--batch", { integer: true, positive: true }) ?? 8;
  const seq = numberFlag(values.seq, "--seq", { integer: true, positive: true }) ?? 256;
  const cellMs = numberFlag(values["cell-ms"], "--cell-ms", { positive: true }) ?? 400;
  const sizes = (values.sizes ?? "256,512,1024,2048").split(",").filter((x) => x).map((x) =>
    numberFlag(x, "--sizes", { integer: true, positive: true })!
  );
  const allPlans = values.variants === undefined;
  let plans = PLAN_NAMES;
  if (values.variants) {
    plans = values.variants.split(",").filter((n) => n);
    for (const n of plans) {
      if (!PLAN_NAMES.includes(n)) {
        throw new UserError(`--variants: unknown plan "${n}" (known: ${PLAN_NAMES.join(", ")})`);
      }
    }
  }

  const rt = await initGpu();
  const summary = rt.summary;
  const f16 = values.fp16 ?? false;
  if (f16) rt.requireShaderF16("--fp16", "run the benchmark without --fp16");
  // The workgroup-memory kernel is ~10x slower on CPU drivers: its transposed-B plan is not worth a column.
  if (allPlans && isCpuAdapter()) plans = plans.filter((n) => n !== "T+tiled64");
  console.log(
    `adapter: ${summary.description} (${summary.vendor || "?"}, ${summary.architecture || "?"})` +
      `${isCpuAdapter() ? " [CPU driver]" : ""}; operands ${f16 ? "f16 (f32 accumulation)" : "f32"}`,
  );
  const rows: Row[] = [
    ...sizes.map((n) => ({
      label: `${n}³ NN`,
      shape: { batch: 1, m: n, n, k: n, transA: false, transB: false },
    })),
    ...(values["no-distilbert"] ? [] : distilbertRows(batch, seq)),
  ].map((r) => (f16 ? { ...r, shape: { ...r.shape, f16: true } } : r));

  const picks = await autotuneMatmul(rows.map((r) => r.shape), { force: true });
  const pickOf = (s: MatmulShape) => picks.find((p) => p.shape === s)?.choice ?? "?";

  // Compile every pipeline up front on tiny shapes (same WGSL as the big ones), so no cell pays for it.
  for (const r of rows) {
    const tiny = { ...r.shape, batch: 1, m: 16, n: 16, k: 16 };
    for (const name of plans) {
      const plan = planFromName(name, r.shape);
      if (plan) await timePlan(plan, tiny, { budgetMs: 0, reps: 1 });
    }
  }

  const results: {
    label: string;
    shape: MatmulShape;
    gflops: Record<string, number | null>;
    autotune: string;
  }[] = [];
  const width = Math.max(...rows.map((r) => r.label.length)) + 2;
  const colW = Math.max(9, ...plans.map((n) => n.length + 2));
  console.log("shape".padEnd(width) + plans.map((n) => n.padStart(colW)).join("") + "   autotune");
  for (const r of rows) {
    const gflops: Record<string, number | null> = {};
    for (const name of plans) {
      const plan = planFromName(name, r.shape);
      if (!plan) {
        gflops[name] = null;
        continue;
      }
      // One run first, to size the batch of runs so a cell takes about cellMs.
      const single = await timePlan(plan, r.shape, { budgetMs: 0, reps: 1 });
      const reps = Math.max(1, Math.min(16, Math.floor(cellMs / 2 / single)));
      const ms = single * reps * 2 > cellMs * 4
        ? single
        : Math.min(single, await timePlan(plan, r.shape, { budgetMs: cellMs, reps }));
      gflops[name] = flopsOf(r.shape) / ms / 1e6;
    }
    const pick = pickOf(r.shape);
    results.push({ label: r.label, shape: r.shape, gflops, autotune: pick });
    const cells = plans.map((n) => {
      const g = gflops[n];
      return (g === null ? "-" : g.toFixed(1)).padStart(colW);
    });
    console.log(r.label.padEnd(width) + cells.join("") + `   ${pick}`);
  }
  if (gpu().takeErrors().length) throw new Error("WebGPU errors during the benchmark");
  if (values.json) {
    const out = {
      adapter: summary,
      date: new Date().toISOString(),
      unit: "GFLOP/s",
      operands: f16 ? "f16" : "f32",
      results,
    };
    await writeJsonFile(values.json, out);
    console.log(`wrote ${values.json}`);
  }
}

if (import.meta.main) runMain(() => benchMatmul(Deno.args));
