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
import { writeFileAtomic } from "../util/fs.ts";

export function blockParams(c: DistilBertConfig): number {
  return c.n_layers *
    (4 * (c.dim * c.dim + c.dim) + 2 * c.dim * c.hidden_dim + c.hidden_dim + c.dim + 4 * c.dim);
}

export function trainFlops(c: DistilBertConfig, batch: number, seq: number): number {
  return 6 * blockParams(c) * batch * seq + 12 * c.n_layers * seq * seq * c.dim * batch;
}

export async function benchTrain(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    presets: { type: "string", default: "tiny,small" },
    seqs: { type: "string", default: "128,256" },
    batch: { type: "string", default: "8" },
    steps: { type: "string", default: "3" },
    json: { type: "string" },
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
  const results = [];
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
      results.push(r);
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
