/**
 * Train-step and eval throughput (`deno task bench train`): tokens/s, sequences/s and achieved GFLOP/s of the
 * presets on random full-length batches, the GPU memory the train steps held, the same cells in every PyTorch
 * found (bench/pytorch_ref.py), and the padding efficiency of IMDB batches. FLOPs count matmuls only: training
 * 6·N·T + 12·layers·S²·dim·B (N = transformer-block parameters, T = B·S tokens); inference a third of that.
 */
import { join } from "node:path";
import { gpu, noGrad, tidy } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { bundledImdbSample } from "../data/imdb_source.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { type DistilBertConfig, presetConfig } from "../model/config.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { initHostParams } from "../model/params.ts";
import { bucketByLength, epochOrder, paddingEfficiency, splitBatch } from "../train/batches.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { Trainer } from "../train/trainer.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir } from "../util/fs.ts";
import { torchPythons } from "../util/python.ts";

export function blockParams(c: DistilBertConfig): number {
  return c.n_layers *
    (4 * (c.dim * c.dim + c.dim) + 2 * c.dim * c.hidden_dim + c.hidden_dim + c.dim + 4 * c.dim);
}

export function trainFlops(c: DistilBertConfig, batch: number, seq: number): number {
  return 6 * blockParams(c) * batch * seq + 12 * c.n_layers * seq * seq * c.dim * batch;
}

export interface PeerResult {
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

export interface Peer {
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
 * torch 2.13 with transformers, Debian's 1.13 with OpenBLAS); an empty list (with a message to `log`) when none.
 */
export async function pytorchPeers(
  cells: Cell[],
  steps: number,
  device: string,
  amp: boolean,
  log: (line: string) => void,
): Promise<Peer[]> {
  const pythons = await torchPythons();
  if (!pythons.length) {
    log(
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
      log(`PyTorch peer ${python} failed (see above)`);
      continue;
    }
    peers.push({ python, ...JSON.parse(new TextDecoder().decode(out.stdout)) });
  }
  return peers;
}

/** Real / computed tokens of IMDB batches at one max_length, in random order and bucketed by length. */
export interface PaddingEfficiency {
  maxLength: number;
  random: number;
  bucketed: number;
}

/** Real / computed tokens of IMDB batches, random and length-bucketed (the bundled sample, or ../shared). */
export async function paddingEfficiencies(
  batch: number,
): Promise<{ path: string; rows: PaddingEfficiency[] }> {
  const shared = sharedDir();
  const path = shared
    ? join(shared, "data/imdb/plain_text/train-00000-of-00001.parquet")
    : bundledImdbSample("train")!;
  const rows: PaddingEfficiency[] = [];
  for (const maxLength of [256, 512]) {
    const split = await loadTokenizedSplit({ parquetPath: path, vocabPath: bundledVocabPath(), maxLength });
    const n = split.labels.length;
    const length = (r: number) => split.offsets[r + 1] - split.offsets[r];
    const order = epochOrder(n, 42, 0, true);
    const random = paddingEfficiency(order, length, batch);
    const bucketed = paddingEfficiency(bucketByLength(order, length, batch, 42), length, batch);
    rows.push({ maxLength, random, bucketed });
  }
  return { path, rows };
}

export interface Row {
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
 * Trains and evaluates each cell on random full-length batches; returns (and hands `onRow`) one row per cell, with
 * the GPU memory the train steps held at their peak (the buffer pool's live and cached buffers, from a pool
 * emptied before the cell: weights, gradients, AdamW moments and activations, as the pool rounds them).
 */
export async function measureCells(
  cells: Cell[],
  steps: number,
  fp16: boolean,
  onRow: (row: Row) => void,
): Promise<Row[]> {
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
      onRow(r);
    }
    model.dispose();
    pool.trim(); // the next preset's peak then counts its own buffers, not ones cached from this one
  }
  return results;
}

/** One cell beside one PyTorch peer's result for it: throughput ratios ours / PyTorch. */
export interface PeerCell {
  row: Row;
  peer: PeerResult;
  trainRatio: number;
  evalRatio: number;
}

/**
 * Each result beside `peer`'s results for the same cell. For the first peer (`first`), the rows also take the
 * headline numbers: the hand-written model's throughput and ratios, and the memory of transformers' model
 * where the peer has it (the real stack), else of ours.
 */
export function compareWithPeer(results: Row[], peer: Peer, first: boolean): PeerCell[] {
  const out: PeerCell[] = [];
  for (const r of results) {
    const same = peer.results.filter((x) => x.preset === r.preset && x.seq === r.seq && x.batch === r.batch);
    for (const p of same) {
      const trainRatio = r.train_tokens_per_s / p.train_tokens_per_s;
      const evalRatio = r.eval_tokens_per_s / p.eval_tokens_per_s;
      if (first && (p.model ?? "ours") === "ours") {
        r.peer_train_tokens_per_s = p.train_tokens_per_s;
        r.peer_eval_tokens_per_s = p.eval_tokens_per_s;
        r.train_ratio = trainRatio;
        r.eval_ratio = evalRatio;
      }
      const memoryPeer = same.find((x) => x.model === "hf") ?? same[0];
      if (first && p === memoryPeer && p.train_peak_bytes !== undefined) {
        r.peer_train_peak_bytes = p.train_peak_bytes;
      }
      out.push({ row: r, peer: p, trainRatio, evalRatio });
    }
  }
  return out;
}
