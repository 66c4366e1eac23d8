/**
 * `deno task bench train`: train-step and eval throughput (tokens/s, sequences/s, achieved GFLOP/s) of the
 * presets on random full-length batches. FLOPs count matmuls only: training 6·N·T + 12·layers·S²·dim·B
 * (N = transformer-block parameters, T = B·S tokens); inference a third of that.
 */
import { gpu, initGpu, isCpuAdapter, noGrad, tidy } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { type DistilBertConfig, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { Trainer } from "../train/trainer.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir, writeJsonFile } from "../util/fs.ts";
import { torchPythons } from "../util/python.ts";
import { join } from "node:path";
import { bucketByLength, epochOrder, paddingEfficiency, splitBatch } from "../train/batches.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { bundledImdbSample } from "../data/imdb_source.ts";

export function blockParams(c: DistilBertConfig): number {
  return c.n_layers *
    (4 * (c.dim * c.dim + c.dim) + 2 * c.dim * c.hidden_dim + c.hidden_dim + c.dim + 4 * c.dim);
}

export function trainFlops(c: DistilBertConfig, batch: number, seq: number): number {
  return 6 * blockParams(c) * batch * seq + 12 * c.n_layers * seq * seq * c.dim * batch;
}

interface PeerResult {
  /** "ours": bench/pytorch_ref.py's hand-written model; "hf": transformers' DistilBertForSequenceClassification. */
  model: "ours" | "hf";
  preset: string;
  seq: number;
  batch: number;
  train_tokens_per_s: number;
  eval_tokens_per_s: number;
  /** CUDA: torch.cuda.max_memory_allocated over the train steps; CPU: the peak RSS over them, less the RSS
   * before any model was built (glibc may keep memory freed by earlier cells: an upper bound). */
  train_peak_bytes?: number;
}

interface Peer {
  python: string;
  torch: string;
  transformers: string | null;
  device: string;
  amp: boolean;
  threads: number;
  /** Max |logit difference| between the two PyTorch models with the same weights, per preset. */
  agreement: Record<string, number>;
  results: PeerResult[];
}

/**
 * Runs bench/pytorch_ref.py with the same cells in every PyTorch found (the reference venv's
 * torch 2.13 with transformers, Debian's 1.13 with OpenBLAS); an empty list (with a message) when none.
 */
async function pytorchPeers(cells: Cell[], steps: number, device: string, amp: boolean): Promise<Peer[]> {
  const pythons = await torchPythons();
  if (!pythons.length) {
    console.log(
      "PyTorch peer skipped: `import torch` fails (scripts/hf_reference.sh; Debian: apt-get install python3-torch libopenblas0-pthread)",
    );
    return [];
  }
  const peers: Peer[] = [];
  const script = new URL("../bench/pytorch_ref.py", import.meta.url).pathname;
  for (const python of pythons) {
    const out = await new Deno.Command(python, {
      args: [
        script,
        ...[
          "--cells",
          cells.map((c) => `${c.preset}:${c.seq}:${c.batch}`).join(","),
          "--steps",
          String(steps),
        ],
        ...["--device", device],
        ...(amp ? ["--amp"] : []),
      ],
      stderr: "inherit",
    }).output();
    if (!out.success) {
      console.log(`PyTorch peer ${python} failed (see above)`);
      continue;
    }
    peers.push({ python, ...JSON.parse(new TextDecoder().decode(out.stdout)) });
  }
  return peers;
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

interface Row {
  preset: string;
  seq: number;
  batch: number;
  train_tokens_per_s: number;
  train_seqs_per_s: number;
  train_gflops: number;
  eval_tokens_per_s: number;
  eval_gflops: number;
  /** The buffer pool's peak over the cell's train steps (pool emptied before): what the GPU held. */
  train_peak_bytes: number;
  peer_train_tokens_per_s?: number;
  peer_eval_tokens_per_s?: number;
  /** The PyTorch peer's peak over the same train steps (CUDA: max_memory_allocated; CPU: peak RSS growth). */
  peer_train_peak_bytes?: number;
  train_ratio?: number;
  eval_ratio?: number;
  precision: "f32" | "fp16";
}

/** One benchmark cell: a preset trained and evaluated on random full-length batches of `batch` × `seq`. */
export interface Cell {
  preset: string;
  seq: number;
  batch: number;
}

/** The cells: every preset × seq at `--batch`, then the extra cells (`--cells preset:seq:batch,...`). */
export function benchCells(presets: string[], seqs: number[], batch: number, extra: Cell[]): Cell[] {
  const cells = presets.flatMap((preset) => seqs.map((seq) => ({ preset, seq, batch })));
  for (const c of extra) {
    if (!cells.some((x) => x.preset === c.preset && x.seq === c.seq && x.batch === c.batch)) cells.push(c);
  }
  return cells;
}

/** `--cells base:512:16,small:256:32` → cells; a one-line error naming the bad entry. */
export function parseCells(text: string): Cell[] {
  return text.split(",").filter((x) => x).map((entry) => {
    const m = /^([a-z0-9_-]+):(\d+):(\d+)$/i.exec(entry.trim());
    if (!m) throw new UserError(`--cells: "${entry}" is not preset:seq:batch (e.g. base:512:16)`);
    presetConfig(m[1]);
    const seq = Number(m[2]), batch = Number(m[3]);
    if (seq < 2 || seq > 512) throw new UserError(`--cells ${entry}: seq must be 2 to 512`);
    if (batch < 1) throw new UserError(`--cells ${entry}: batch must be at least 1`);
    return { preset: m[1], seq, batch };
  });
}

/**
 * Trains and evaluates each cell on random full-length batches; prints and returns one row per cell, with
 * the GPU memory the train steps held at their peak (the buffer pool's live and cached buffers, from a pool
 * emptied before the cell: weights, gradients, AdamW moments and activations, as the pool rounds them).
 */
async function measure(cells: Cell[], steps: number, fp16: boolean): Promise<Row[]> {
  console.log(
    "preset  seq  batch   train tok/s  train seq/s  train GFLOP/s   eval tok/s  eval GFLOP/s  train peak MiB",
  );
  const results: Row[] = [];
  const pool = gpu().pool;
  for (const preset of [...new Set(cells.map((c) => c.preset))]) {
    const config = presetConfig(preset);
    const model = DistilBertClassifier.fromHost(config, initHostParams(config, 1));
    const mine = cells.filter((c) => c.preset === preset);
    await autotuneAttention(mine.map((c) => model.attentionShape(c.batch, c.seq, fp16)));
    await autotuneMatmul(mine.flatMap((c) => model.matmulShapes(c.batch, c.seq, fp16)));
    for (const { seq, batch } of mine) {
      const n = batch * (steps + 1);
      const ids = new Int32Array(n * seq), offsets = Int32Array.from({ length: n + 1 }, (_, i) => i * seq);
      for (let i = 0; i < ids.length; i++) ids[i] = i % seq === 0 ? 101 : 1000 + ((i * 7919) % 20000);
      const rows = { ids, offsets, labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
      pool.trim();
      pool.resetPeak();
      const trainer = new Trainer(model, rows, {
        ...PRETRAINED_DEFAULTS,
        batchSize: batch,
        maxSteps: steps + 1,
        lr: 1e-4,
        fp16,
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
      const trainPeak = pool.peakBytes;
      // Evaluation in as many passes as the adapter's bindings need, as `predictRows` does.
      const evalPass = async (k: number) => {
        for (const piece of splitBatch(batchOf(k), model.maxRowsPerPass(seq))) {
          const out = noGrad(() => tidy(() => model.forward(piece, { training: false, fp16 })));
          await out.toArray();
          out.dispose();
        }
      };
      await evalPass(0); // warm-up: the eval graph has its own pipelines
      const e0 = performance.now();
      for (let s = 0; s < steps; s++) await evalPass(s);
      const evalSec = (performance.now() - e0) / 1000 / steps;
      trainer.optimizer.dispose();
      const tokens = batch * seq, flops = trainFlops(config, batch, seq);
      const r: Row = {
        preset,
        seq,
        batch,
        train_tokens_per_s: tokens / trainSec,
        train_seqs_per_s: batch / trainSec,
        train_gflops: flops / trainSec / 1e9,
        eval_tokens_per_s: tokens / evalSec,
        eval_gflops: flops / 3 / evalSec / 1e9,
        train_peak_bytes: trainPeak,
        precision: fp16 ? "fp16" : "f32",
      };
      results.push(r);
      console.log(
        `${preset.padEnd(6)} ${String(seq).padStart(4)} ${String(batch).padStart(6)} ${
          r.train_tokens_per_s.toFixed(0).padStart(13)
        } ${r.train_seqs_per_s.toFixed(2).padStart(12)} ${r.train_gflops.toFixed(2).padStart(14)} ${
          r.eval_tokens_per_s.toFixed(0).padStart(12)
        } ${r.eval_gflops.toFixed(2).padStart(13)} ${(trainPeak / 2 ** 20).toFixed(0).padStart(15)}`,
      );
    }
    model.dispose();
    pool.trim(); // the next preset's peak then counts its own buffers, not ones cached from this one
  }
  return results;
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
  const results = await measure(cells, steps, fp16);
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

  const peers = values["no-peer"] ? [] : await pytorchPeers(cells, steps, cpu ? "cpu" : "cuda", fp16);
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
    for (const r of results) {
      const same = peer.results.filter((x) =>
        x.preset === r.preset && x.seq === r.seq && x.batch === r.batch
      );
      for (const p of same) {
        const trainRatio = r.train_tokens_per_s / p.train_tokens_per_s;
        const evalRatio = r.eval_tokens_per_s / p.eval_tokens_per_s;
        // The first peer's hand-written model is the row's headline ratio (as before there were several).
        if (i === 0 && (p.model ?? "ours") === "ours") {
          r.peer_train_tokens_per_s = p.train_tokens_per_s;
          r.peer_eval_tokens_per_s = p.eval_tokens_per_s;
          r.train_ratio = trainRatio;
          r.eval_ratio = evalRatio;
        }
        // Memory beside transformers' model where the first peer has it (the real stack), else ours.
        const memoryPeer = same.find((x) => x.model === "hf") ?? same[0];
        if (i === 0 && p === memoryPeer && p.train_peak_bytes !== undefined) {
          r.peer_train_peak_bytes = p.train_peak_bytes;
        }
        const mib = (b: number | undefined) => b === undefined ? "-" : (b / 2 ** 20).toFixed(0);
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
  }
  const padding = values["no-padding"] ? null : await paddingReport(batch);
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
