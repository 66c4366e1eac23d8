/**
 * `deno task bench train`: train-step and eval throughput (tokens/s, sequences/s, achieved GFLOP/s) of the
 * presets on random full-length batches. FLOPs count matmuls only: training 6·N·T + 12·layers·S²·dim·B
 * (N = transformer-block parameters, T = B·S tokens); inference a third of that.
 */
import { gpu, initGpu, noGrad, tidy } from "../autograd/mod.ts";
import { autotuneMatmul, matmulShapesFor } from "../autograd/autotune.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { type DistilBertConfig, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { Trainer } from "../train/trainer.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { numberFlag, parseFlags } from "./_cli.ts";
import { exists, sharedDir, writeFileAtomic } from "../util/fs.ts";
import { join } from "node:path";
import { bucketByLength, epochOrder, paddingEfficiency } from "../train/batches.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer.ts";
import { bundledImdbSample } from "../data/imdb_source.ts";

export function blockParams(c: DistilBertConfig): number {
  return c.n_layers *
    (4 * (c.dim * c.dim + c.dim) + 2 * c.dim * c.hidden_dim + c.hidden_dim + c.dim + 4 * c.dim);
}

export function trainFlops(c: DistilBertConfig, batch: number, seq: number): number {
  return 6 * blockParams(c) * batch * seq + 12 * c.n_layers * seq * seq * c.dim * batch;
}

interface PeerResult {
  preset: string;
  seq: number;
  train_tokens_per_s: number;
  eval_tokens_per_s: number;
}

/** Runs bench/pytorch_ref.py with the same presets and shapes; null (with a message) when torch is missing. */
async function pytorchPeer(presets: string, seqs: string, batch: number, steps: number) {
  const python = (await exists("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
  const probe = await new Deno.Command(python, {
    args: ["-c", "import torch"],
    stderr: "null",
    stdout: "null",
  })
    .output().catch(() => null);
  if (!probe?.success) {
    console.log(
      "PyTorch peer skipped: `import torch` fails (Debian: apt-get install python3-torch libopenblas0-pthread)",
    );
    return null;
  }
  const script = new URL("../bench/pytorch_ref.py", import.meta.url).pathname;
  const out = await new Deno.Command(python, {
    args: [script, "--presets", presets, "--seqs", seqs, "--batch", String(batch), "--steps", String(steps)],
    stderr: "inherit",
  }).output();
  if (!out.success) {
    console.log("PyTorch peer failed (see above)");
    return null;
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    torch: string;
    threads: number;
    results: PeerResult[];
  };
}

/** Real / computed tokens of IMDB batches, random and length-bucketed (the bundled sample, or ../shared). */
async function paddingReport(batch: number) {
  const shared = sharedDir();
  const path = shared
    ? join(shared, "data/imdb/plain_text/train-00000-of-00001.parquet")
    : bundledImdbSample("train")!;
  const lines = [`padding efficiency (real / computed tokens), ${path}:`];
  const report: Record<string, number> = {};
  for (const maxLength of [256, 512]) {
    const split = await loadTokenizedSplit({ parquetPath: path, vocabPath: bundledVocabPath(), maxLength });
    const n = split.labels.length;
    const length = (r: number) => split.offsets[r + 1] - split.offsets[r];
    const order = epochOrder(n, 42, 0, true);
    const before = paddingEfficiency(order, length, batch);
    const after = paddingEfficiency(bucketByLength(order, length, batch, 42), length, batch);
    report[`max_length_${maxLength}_random`] = before;
    report[`max_length_${maxLength}_bucketed`] = after;
    lines.push(
      `  max_length ${maxLength}, batch ${batch}: random ${(100 * before).toFixed(1)}%, bucketed ${
        (100 * after).toFixed(1)
      }%`,
    );
  }
  console.log(lines.join("\n"));
  return report;
}

export async function benchTrain(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    presets: { type: "string", default: "tiny,small" },
    seqs: { type: "string", default: "128,256" },
    batch: { type: "string", default: "8" },
    steps: { type: "string", default: "3" },
    json: { type: "string" },
    "no-peer": { type: "boolean" },
    help: { type: "boolean" },
  });
  if (values.help) {
    console.log(
      "deno task bench train [--presets tiny,small,base] [--seqs 128,256,512] [--batch 8] [--steps 3] [--json F]",
    );
    return;
  }
  const rt = await initGpu();
  const batch = numberFlag(values.batch, "--batch", { integer: true, positive: true })!;
  const steps = numberFlag(values.steps, "--steps", { integer: true, positive: true })!;
  console.log(`adapter: ${rt.summary.description}`);
  console.log("preset  seq  batch   train tok/s  train seq/s  train GFLOP/s   eval tok/s  eval GFLOP/s");
  const results: (Record<string, number> & { preset: string; seq: number })[] = [];
  for (const preset of values.presets!.split(",")) {
    const config = presetConfig(preset);
    const model = DistilBertClassifier.fromHost(config, initHostParams(config, 1));
    const shapes = values.seqs!.split(",").flatMap((seq) =>
      matmulShapesFor({
        batch,
        seq: Number(seq),
        dim: config.dim,
        hidden: config.hidden_dim,
        heads: config.n_heads,
      })
    );
    await autotuneMatmul(shapes);
    for (const seq of values.seqs!.split(",").map(Number)) {
      const n = batch * (steps + 1);
      const ids = new Int32Array(n * seq), offsets = Int32Array.from({ length: n + 1 }, (_, i) => i * seq);
      for (let i = 0; i < ids.length; i++) ids[i] = i % seq === 0 ? 101 : 1000 + ((i * 7919) % 20000);
      const rows = { ids, offsets, labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
      const trainer = new Trainer(model, rows, {
        ...PRETRAINED_DEFAULTS,
        batchSize: batch,
        maxSteps: steps + 1,
        lr: 1e-4,
      });
      const batchOf = (k: number) => ({
        ids: ids.subarray(k * batch * seq, (k + 1) * batch * seq),
        mask: new Float32Array(batch * seq).fill(1),
        labels: rows.labels.subarray(k * batch, (k + 1) * batch),
        batch,
        seq,
      });
      await trainer.trainStep([batchOf(0)]); // warm-up: pipelines, pool
      const t0 = performance.now();
      for (let s = 1; s <= steps; s++) await trainer.trainStep([batchOf(s)]);
      const trainSec = (performance.now() - t0) / 1000 / steps;
      const e0 = performance.now();
      for (let s = 0; s < steps; s++) {
        const out = noGrad(() => tidy(() => model.forward(batchOf(s), { training: false })));
        await out.toArray();
        out.dispose();
      }
      const evalSec = (performance.now() - e0) / 1000 / steps;
      trainer.optimizer.dispose();
      const tokens = batch * seq, flops = trainFlops(config, batch, seq);
      const r = {
        preset,
        seq,
        batch,
        train_tokens_per_s: tokens / trainSec,
        train_seqs_per_s: batch / trainSec,
        train_gflops: flops / trainSec / 1e9,
        eval_tokens_per_s: tokens / evalSec,
        eval_gflops: flops / 3 / evalSec / 1e9,
      };
      results.push(r as typeof r & Record<string, number>);
      console.log(
        `${preset.padEnd(6)} ${String(seq).padStart(4)} ${String(batch).padStart(6)} ${
          r.train_tokens_per_s.toFixed(0).padStart(13)
        } ${r.train_seqs_per_s.toFixed(2).padStart(12)} ${r.train_gflops.toFixed(2).padStart(14)} ${
          r.eval_tokens_per_s.toFixed(0).padStart(12)
        } ${r.eval_gflops.toFixed(2).padStart(13)}`,
      );
    }
    model.dispose();
  }
  console.log(
    `buffer pool: ${gpu().pool.hits} hits, ${gpu().pool.misses} misses, peak ${
      (gpu().pool.peakBytes / 2 ** 20).toFixed(0)
    } MiB`,
  );
  if (values.json) {
    await writeFileAtomic(
      values.json,
      JSON.stringify({ adapter: rt.summary.description, results }, null, 2) + "\n",
    );
  }
}

if (import.meta.main) await benchTrain(Deno.args);
