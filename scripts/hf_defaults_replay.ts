/**
 * The Hugging Face defaults' shape, end to end, against transformers.Trainer: DistilBERT-base's width
 * (768 dim, 12 heads, FFN 3072; 6 layers unless --layers), transformers' own initialisation, 32 IMDB reviews
 * that are all at least 512 tokens long (every batch 16 × 512, nothing padded), 2 steps (--steps) with
 * dropout off and the sequential order, then an evaluation of 32 long test reviews (32 × 512).
 * `deno task train` and `deno task eval`, run as a user runs them, against tests/hf/trainer_replay.py:
 * per-step loss and gradient norm (1e-4 relative) and the evaluation's logits (1e-4 of the largest).
 *
 *     deno run -A scripts/hf_defaults_replay.ts [--layers 6] [--steps 2] [--keep DIR]
 *
 * Needs the HF reference venv (scripts/hf_reference.sh) and ../shared's IMDB; on lavapipe it takes about
 * 20 minutes at 6 layers (the tests do the same at 2 layers: tests/hf_real_shapes_test.ts). Prints one
 * summary line per check and exits 1 if any is off.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeParquet } from "../data/parquet_writer.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { readImdbParquet } from "../data/imdb.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { sharedDir } from "../util/fs.ts";
import { hf, ROOT, runHf } from "../tests/hf_reference.ts";

const { values } = parseArgs({
  options: {
    layers: { type: "string", default: "6" },
    steps: { type: "string", default: "2" },
    keep: { type: "string" },
  },
});
const layers = Number(values.layers), steps = Number(values.steps);
const BATCH = 16, ROWS = 32, LENGTH = 512;
const shared = sharedDir();
if (!hf) throw new Error("no HF reference venv: run scripts/hf_reference.sh");
if (!shared) throw new Error("needs ../shared (the full IMDB set)");

/** `count` reviews of at least LENGTH tokens, negative and positive alternating. */
async function longRows(split: string, count: number) {
  const path = join(shared!, `data/imdb/plain_text/${split}-00000-of-00001.parquet`);
  const tokens = await loadTokenizedSplit({
    parquetPath: path,
    vocabPath: bundledVocabPath(),
    maxLength: LENGTH,
  });
  const data = await readImdbParquet(path);
  const long = (label: number) =>
    Array.from({ length: data.labels.length }, (_, r) => r).filter((r) =>
      data.labels[r] === label && tokens.offsets[r + 1] - tokens.offsets[r] === LENGTH
    );
  const neg = long(0), pos = long(1);
  const picked = Array.from({ length: count }, (_, i) => (i % 2 ? pos : neg)[i >> 1]);
  return { texts: picked.map((r) => data.texts[r]), labels: picked.map((r) => data.labels[r]) };
}

async function writeSplit(path: string, rows: { texts: string[]; labels: number[] }) {
  await Deno.writeFile(
    path,
    writeParquet([
      { name: "text", type: "BYTE_ARRAY", optional: true, values: rows.texts },
      { name: "label", type: "INT64", optional: true, values: rows.labels },
    ]),
  );
}

async function deno(args: string[]): Promise<string> {
  console.error(`$ deno ${args.join(" ")}`);
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  console.error(text.trimEnd());
  if (!out.success) throw new Error(`deno ${args.join(" ")} failed (exit ${out.code})`);
  if (/WebGPU error/i.test(text)) throw new Error(`deno task ${args[1]}: a WebGPU error was printed`);
  return text;
}

const dir = values.keep ?? await Deno.makeTempDir({ prefix: "hf-defaults-" });
await Deno.mkdir(join(dir, "data/plain_text"), { recursive: true });
const train = await longRows("train", ROWS), test = await longRows("test", ROWS);
await writeSplit(join(dir, "data/plain_text/train-00000-of-00001.parquet"), train);
await writeSplit(join(dir, "data/plain_text/test-00000-of-00001.parquet"), test);
const jsonl = (rows: { texts: string[]; labels: number[] }) =>
  rows.texts.map((text, i) => JSON.stringify({ text, label: rows.labels[i] })).join("\n") + "\n";
await Deno.writeTextFile(join(dir, "rows.jsonl"), jsonl(train));
await Deno.writeTextFile(join(dir, "eval_rows.jsonl"), jsonl(test));
const settings = {
  rows: ROWS,
  batch_size: BATCH,
  max_steps: steps,
  max_length: LENGTH,
  lr: 5e-5,
  weight_decay: 0.01,
  warmup_steps: 0,
  max_grad_norm: 1.0,
  seed: 42,
  model: { dim: 768, n_layers: layers, n_heads: 12, hidden_dim: 3072, max_position_embeddings: 512 },
  eval_rows: join(dir, "eval_rows.jsonl"),
};
await Deno.writeTextFile(join(dir, "settings.json"), JSON.stringify(settings));
const init = join(dir, "init");
let t0 = performance.now();
const theirs = JSON.parse(
  (await runHf("trainer_replay.py", [
    bundledVocabPath(),
    join(dir, "rows.jsonl"),
    join(dir, "settings.json"),
    init,
    dir,
  ]))
    .trim().split("\n").at(-1)!,
);
const hfSeconds = (performance.now() - t0) / 1000;

t0 = performance.now();
const run = join(dir, "run");
await deno([
  ...["task", "train", "--model", init, "--data", join(dir, "data"), "--train-samples", "0"],
  ...["--eval-samples", "0", "--max-length", String(LENGTH), "--batch-size", String(BATCH)],
  ...["--lr", String(settings.lr), "--weight-decay", String(settings.weight_decay), "--warmup-steps", "0"],
  ...["--max-grad-norm", "1", "--max-steps", String(steps), "--seed", "42", "--dropout", "0", "--no-shuffle"],
  ...["--output", run],
]);
const trainSeconds = (performance.now() - t0) / 1000;
t0 = performance.now();
const predictions = join(dir, "predictions.jsonl");
await deno([
  ...["task", "eval", "--model", run, "--data", join(dir, "data"), "--samples", "0"],
  ...["--max-length", String(LENGTH), "--predictions", predictions, "--output", join(dir, "eval.json")],
]);
const evalSeconds = (performance.now() - t0) / 1000;

const ours = (await Deno.readTextFile(join(run, "log.jsonl"))).trim().split("\n").map((l) => JSON.parse(l))
  .filter((l) => typeof l.loss === "number");
const failures: string[] = [];
const lines = [
  `DistilBERT-base width, ${layers} layers, ${steps} steps of ${BATCH} × ${LENGTH} (dropout 0):`,
];
ours.forEach((o, i) => {
  // Against the exact norm of Trainer's gradients: the one it logs has clip_grad_norm_'s float32 error.
  const exact = theirs.grad_norms_exact[i];
  const loss = Math.abs(o.loss / theirs.losses[i] - 1), norm = Math.abs(o.grad_norm / exact - 1);
  lines.push(
    `  step ${i + 1}: loss ${o.loss.toFixed(6)} (Trainer ${theirs.losses[i].toFixed(6)}, ${
      loss.toExponential(1)
    } relative), grad norm ${o.grad_norm.toFixed(6)} (Trainer's gradients ${exact.toFixed(6)}, ${
      norm.toExponential(1)
    }; Trainer logs ${theirs.grad_norms[i].toFixed(6)}, ${
      Math.abs(theirs.grad_norms[i] / exact - 1).toExponential(1)
    })`,
  );
  if (!(o.loss > 0 && o.grad_norm > 0)) failures.push(`step ${i + 1}: loss or grad norm is zero`);
  if (!(loss <= 1e-4 && norm <= 1e-4)) failures.push(`step ${i + 1}: off by more than 1e-4 relative`);
});
const final = (await readSafetensors(join(run, "model.safetensors"))).tensors;
const reference = (await readSafetensors(join(dir, "final.safetensors"))).tensors;
const start = (await readSafetensors(join(init, "model.safetensors"))).tensors;
let worstWeight = 0, moved = 0;
for (const [name, t] of final) {
  const b = reference.get(name)!.data, s0 = start.get(name)!.data;
  for (let i = 0; i < t.data.length; i++) {
    worstWeight = Math.max(worstWeight, Math.abs(t.data[i] - b[i]));
    moved = Math.max(moved, Math.abs(b[i] - s0[i]));
  }
}
lines.push(
  `  weights after ${steps} steps within ${worstWeight.toExponential(2)} (largest move ${
    moved.toExponential(2)
  })`,
);
if (!(worstWeight <= 1e-4 && moved > 10 * worstWeight)) failures.push(`final weights off by ${worstWeight}`);
if (ours.length !== steps) failures.push(`${ours.length} steps logged, expected ${steps}`);
const predicted = (await Deno.readTextFile(predictions)).trim().split("\n").map((l) => JSON.parse(l));
let worst = 0, largest = 0;
for (const p of predicted) {
  const ref: number[] = theirs.eval_logits[p.row];
  for (let k = 0; k < 2; k++) {
    worst = Math.max(worst, Math.abs(p.logits[k] - ref[k]));
    largest = Math.max(largest, Math.abs(ref[k]));
  }
}
lines.push(
  `  eval of ${predicted.length} × ${LENGTH}: logits within ${worst.toExponential(2)} of Trainer's model's ` +
    `(largest ${largest.toFixed(4)})`,
);
if (predicted.length !== ROWS) failures.push(`${predicted.length} predictions, expected ${ROWS}`);
if (!(worst <= 1e-4 * Math.max(1, largest))) failures.push(`eval logits off by ${worst}`);
lines.push(
  `  time: transformers ${hfSeconds.toFixed(0)} s (train and eval), deno task train ${
    trainSeconds.toFixed(0)
  } s, deno task eval ${evalSeconds.toFixed(0)} s`,
);
console.log(lines.join("\n"));
if (!values.keep) await Deno.remove(dir, { recursive: true });
if (failures.length) {
  console.log(`FAILED: ${failures.join("; ")}`);
  Deno.exit(1);
}
