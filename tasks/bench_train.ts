/**
 * `deno task bench train`: train-step and eval throughput of the presets on random full-length batches, beside
 * the PyTorch peers, and the padding efficiency of IMDB batches (the measuring is bench/train.ts's).
 */
import { gpu, initGpu, isCpuAdapter } from "../autograd/mod.ts";
import { presetConfig } from "../model/config.ts";
import {
  benchCells,
  compareWithPeer,
  measureCells,
  paddingEfficiencies,
  type PaddingEfficiency,
  parseCells,
  pytorchPeers,
} from "../bench/train.ts";
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { UserError } from "../util/errors.ts";
import { writeJsonFile } from "../util/fs.ts";

const HELP = `deno task bench train [--presets tiny,small,base] [--seqs 128,256,512] [--batch 8] [--steps 3]
                      [--cells base:512:16] [--json FILE] [--fp16] [--no-peer] [--no-padding]
  --presets, --seqs   the grid (default: all three presets at 128, 256, 512; on a CPU adapter tiny,small at
                      128,256, since base at 512 takes minutes per step there)
  --batch             sequences per step (default 8)
  --cells             extra cells preset:seq:batch, comma-separated, after the grid (default base:512:16, the
                      Hugging Face defaults' shape; none on a CPU adapter, where one such step takes minutes:
                      pass --cells base:512:16 --steps 1 to run it there)
  --steps             timed steps per cell, after one warm-up step (default 3)
  --json              also write the results as JSON
  --fp16              mixed precision (as train --fp16); the PyTorch peer on CUDA then runs autocast + GradScaler,
                      on the CPU it stays f32 (CPU autocast is bfloat16, another format)
  --no-peer           skip the PyTorch peers (bench/pytorch_ref.py in every torch found: the reference venv's,
                      with transformers' model beside ours, and Debian's; skipped when torch is missing)
  --no-padding        skip the IMDB padding-efficiency report`;

/** Prints the padding report; returns it as the JSON records it. */
function printPadding(p: { path: string; rows: PaddingEfficiency[] }, batch: number): Record<string, number> {
  const lines = [`padding efficiency (real / computed tokens), ${p.path}:`];
  const report: Record<string, number> = {};
  for (const { maxLength, random, bucketed } of p.rows) {
    report[`max_length_${maxLength}_random`] = random;
    report[`max_length_${maxLength}_bucketed`] = bucketed;
    lines.push(
      `  max_length ${maxLength}, batch ${batch}: random ${(100 * random).toFixed(1)}%, bucketed ${
        (100 * bucketed).toFixed(1)
      }%`,
    );
  }
  console.log(lines.join("\n"));
  return report;
}

export async function benchTrain(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    presets: { type: "string" },
    seqs: { type: "string" },
    batch: { type: "string", default: "8" },
    cells: { type: "string" },
    steps: { type: "string", default: "3" },
    json: { type: "string" },
    "no-peer": { type: "boolean" },
    fp16: { type: "boolean" },
    "no-padding": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return console.log(HELP);
  const batch = numberFlag(values.batch, "--batch", { integer: true, positive: true })!;
  const steps = numberFlag(values.steps, "--steps", { integer: true, positive: true })!;
  const rt = await initGpu();
  const cpu = isCpuAdapter();
  const presets = (values.presets ?? (cpu ? "tiny,small" : "tiny,small,base")).split(",").filter((p) => p);
  for (const p of presets) presetConfig(p); // unknown names fail before any work
  const extra = parseCells(values.cells ?? (cpu ? "" : "base:512:16"));
  const seqs = (values.seqs ?? (cpu ? "128,256" : "128,256,512")).split(",").filter((x) => x).map((x) =>
    numberFlag(x, "--seqs", { integer: true, positive: true })!
  );
  if (seqs.some((s) => s > 512)) throw new UserError("--seqs: DistilBERT has 512 positions at most");
  console.log(`adapter: ${rt.summary.description}${cpu ? " [CPU driver]" : ""}`);
  console.log(
    `FLOPs (matmuls only): train 6·N·T + 12·layers·S²·dim·B, N = block parameters, T = B·S; eval 1/3`,
  );

  const fp16 = values.fp16 ?? false;
  if (fp16) rt.requireShaderF16("--fp16", "run the benchmark without --fp16");
  console.log(`precision: ${fp16 ? "fp16 mixed (f16 matmul operands, f32 accumulation)" : "f32"}`);
  const cells = benchCells(presets, seqs, batch, extra);
  if (cpu && values.cells === undefined) {
    console.log("base at 512 × 16 (the HF defaults) skipped on a CPU adapter: --cells base:512:16 --steps 1");
  }
  console.log(
    "preset  seq  batch   train tok/s  train seq/s  train GFLOP/s   eval tok/s  eval GFLOP/s  train peak MiB",
  );
  const results = await measureCells(cells, steps, fp16, (r) =>
    console.log(
      `${r.preset.padEnd(6)} ${String(r.seq).padStart(4)} ${String(r.batch).padStart(6)} ${
        r.train_tokens_per_s.toFixed(0).padStart(13)
      } ${r.train_seqs_per_s.toFixed(2).padStart(12)} ${r.train_gflops.toFixed(2).padStart(14)} ${
        r.eval_tokens_per_s.toFixed(0).padStart(12)
      } ${r.eval_gflops.toFixed(2).padStart(13)} ${(r.train_peak_bytes / 2 ** 20).toFixed(0).padStart(15)}`,
    ));
  const pool = gpu().pool;
  const poolReport = {
    hits: pool.hits,
    misses: pool.misses,
    hit_rate: pool.hits / Math.max(1, pool.hits + pool.misses),
    peak_bytes: pool.peakBytes,
  };
  console.log(
    `buffer pool: ${pool.hits} hits, ${pool.misses} misses (hit rate ${
      (100 * poolReport.hit_rate).toFixed(1)
    }%), peak ${(pool.peakBytes / 2 ** 20).toFixed(0)} MiB`,
  );

  const peers = values["no-peer"]
    ? []
    : await pytorchPeers(cells, steps, cpu ? "cpu" : "cuda", fp16, (line) => console.log(line));
  for (const [i, peer] of peers.entries()) {
    const agreement = Object.entries(peer.agreement ?? {}).map(([k, v]) => `${k} ${v.toExponential(1)}`);
    console.log(
      `PyTorch ${peer.torch} (${peer.python}; ${peer.device}, ${
        peer.amp ? "autocast fp16" : "f32"
      }, ${peer.threads} threads)` +
        (peer.transformers
          ? `, our PyTorch model and transformers ${peer.transformers}' (same weights: logits within ${
            agreement.join(", ")
          })`
          : ", our PyTorch model (no transformers there)") +
        "; same cells, ours / PyTorch:",
    );
    console.log(
      "preset  seq  batch  model   torch train tok/s  ratio   torch eval tok/s  ratio  torch peak MiB  ours MiB",
    );
    const mib = (b: number | undefined) => b === undefined ? "-" : (b / 2 ** 20).toFixed(0);
    for (const { row: r, peer: p, trainRatio, evalRatio } of compareWithPeer(results, peer, i === 0)) {
      console.log(
        `${r.preset.padEnd(6)} ${String(r.seq).padStart(4)} ${String(r.batch).padStart(6)}  ${
          (p.model ?? "ours").padEnd(5)
        } ${p.train_tokens_per_s.toFixed(0).padStart(18)} ${trainRatio.toFixed(2).padStart(6)} ${
          p.eval_tokens_per_s.toFixed(0).padStart(18)
        } ${evalRatio.toFixed(2).padStart(6)} ${mib(p.train_peak_bytes).padStart(15)} ${
          mib(r.train_peak_bytes).padStart(9)
        }`,
      );
    }
  }
  const padding = values["no-padding"] ? null : printPadding(await paddingEfficiencies(batch), batch);
  if (values.json) {
    const out = {
      adapter: rt.summary,
      date: new Date().toISOString(),
      flops: "train 6*N*B*S + 12*layers*S^2*dim*B (matmuls only); eval a third",
      results,
      buffer_pool: poolReport,
      precision: fp16 ? "fp16" : "f32",
      pytorch: peers.length ? peers : null,
      padding_efficiency: padding,
    };
    await writeJsonFile(values.json, out);
    console.log(`wrote ${values.json}`);
  }
}

if (import.meta.main) runMain(() => benchTrain(Deno.args));
