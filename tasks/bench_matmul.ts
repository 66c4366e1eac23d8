/**
 * `deno task bench matmul`: GFLOP/s (2·M·N·K·batch / time) of every matmul variant on square sizes and on
 * DistilBERT's training shapes, plus the variant the autotuner picks. Each cell times several runs batched
 * in one submission, then `await gpu().sync()`; the best of a few rounds counts. Also runnable directly:
 * `deno run -A tasks/bench_matmul.ts`.
 */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { gpu, initGpu, isCpuAdapter } from "../autograd/runtime.ts";
import { autotuneMatmul } from "../autograd/autotune.ts";
import type { MatmulShape } from "../kernels/matmul.ts";
import { presetConfig } from "../model/config.ts";
import {
  compilePlans,
  distilbertRows,
  type MatmulBenchRow,
  measurePlans,
  PLAN_NAMES,
  squareRows,
} from "../bench/matmul.ts";
import { UserError } from "../util/errors.ts";
import { writeJsonFile } from "../util/fs.ts";

/** The model whose training shapes are timed: distilbert-base-uncased. */
const BASE = presetConfig("base");

const HELP = `deno task bench matmul [--json FILE] [--variants a,b] [--sizes 256,512,...] [--no-distilbert]
                        [--batch 8] [--seq 256] [--cell-ms 400] [--fp16] [--retune]

Prints a table of GFLOP/s: matmul plan × shape, and the plan autotune picks for each shape. A plan is a
variant, or T+variant: B transposed into a temporary first, so an A·Bᵀ product runs as A·B (time included).
  --json        also write the results as JSON
  --variants    only these plans (default: all; ${PLAN_NAMES.join(", ")})
  --sizes       square sizes, NN (default 256,512,1024,2048)
  --no-distilbert  skip DistilBERT's shapes (batch·seq tokens, dim ${BASE.dim}, hidden ${BASE.hidden_dim}, ${BASE.n_heads} heads)
  --cell-ms     timing budget per cell (a cell whose single run is longer is timed once)
  --fp16        f16 operands (mixed precision: f32 accumulation, f32 result); needs shader-f16
  --retune      time the autotune candidates again (default: reuse this adapter's cached choices, as training
                does, and time only shapes not seen yet)`;

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
    retune: { type: "boolean" },
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
  const rows: MatmulBenchRow[] = [
    ...squareRows(sizes),
    ...(values["no-distilbert"] ? [] : distilbertRows(BASE, batch, seq)),
  ].map((r) => (f16 ? { ...r, shape: { ...r.shape, f16: true } } : r));

  const picks = await autotuneMatmul(rows.map((r) => r.shape), {
    force: values.retune ?? false,
    log: (line) => console.log(line),
  });
  const fromCache = picks.filter((p) => p.source === "cache").length;
  console.log(
    `autotune: ${picks.length - fromCache} shapes timed or by heuristic, ${fromCache} from the cache` +
      (values.retune ? " (--retune)" : ""),
  );
  const pickOf = (s: MatmulShape) => picks.find((p) => p.shape === s)?.choice ?? "?";

  await compilePlans(rows, plans);

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
    const gflops = await measurePlans(r.shape, plans, cellMs);
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
