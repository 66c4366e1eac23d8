/**
 * The training job end to end on the bundled sample: exact resume, the run's outputs, and bad input
 * (one-line errors, non-zero exit, nothing overwritten).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { evalJob, parseTrainArgs, runTrainJob } from "../mod.ts";
import { readSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { hfConfigJson, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { gpuReady } from "./helpers.ts";
import { hfReference, torchPython } from "../util/python.ts";
import { assertOneLineError, cli } from "./cli.ts";

/** A few fast steps: the tiny preset on 64 short reviews. */
const SMALL = [
  "--preset",
  "tiny",
  "--train-samples",
  "64",
  "--eval-samples",
  "32",
  "--max-length",
  "32",
  "--batch-size",
  "8",
];

async function train(args: string[]) {
  const { cfg, given } = parseTrainArgs(args);
  return await runTrainJob(cfg, given);
}

async function readLog(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("resume continues exactly: 6 steps = 3 steps + resume for 3 more (losses and weights)", async () => {
  await gpuReady;
  const dir = await Deno.makeTempDir();
  const full = join(dir, "full"), resumed = join(dir, "resumed");
  await train([
    ...SMALL,
    "--max-steps",
    "6",
    "--save-steps",
    "3",
    "--save-total-limit",
    "0",
    "--output",
    full,
  ]);
  await train(["--resume", join(full, "checkpoint-3"), "--output", resumed]);
  const a = await readLog(join(full, "log.jsonl")), b = await readLog(join(resumed, "log.jsonl"));
  assert.equal(a.length, 6);
  assert.deepEqual(b.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) assert.equal(b[i].loss, a[i].loss, `step ${i + 1} loss`);
  const wa = (await readSafetensors(join(full, "checkpoint-6", "model.safetensors"))).tensors;
  const wb = (await readSafetensors(join(resumed, "checkpoint-6", "model.safetensors"))).tensors;
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, name);
  // the run's outputs
  const metrics = JSON.parse(await Deno.readTextFile(join(full, "metrics.json")));
  assert.equal(metrics.init, "scratch");
  for (const k of ["eval_loss", "eval_accuracy", "eval_precision", "eval_recall", "eval_f1"]) {
    assert.equal(typeof metrics[k], "number");
  }
  const html = await Deno.readTextFile(join(full, "report.html"));
  assert.match(html, /<svg/);
  // `eval` on the run reproduces the run's own final evaluation (same rows, its max_length), beside it.
  const evaluated = await evalJob({ model: full, split: "test", samples: 32, batchSize: 8, seed: 42 });
  assert.equal(evaluated.max_length, 32);
  assert.equal(evaluated.eval_accuracy, metrics.eval_accuracy);
  assert.ok(Math.abs((evaluated.eval_loss as number) - metrics.eval_loss) < 1e-6);
  assert.equal(evaluated.metrics_file, join(full, "eval_results.json"));
  assert.equal(JSON.parse(await Deno.readTextFile(join(full, "metrics.json"))).init, "scratch");
  // A mismatched resume (another max_length would change every batch) is refused before anything is written.
  const mismatched = join(dir, "mismatched");
  assertOneLineError(
    await cli("train", [
      "--resume",
      join(full, "checkpoint-3"),
      "--max-length",
      "64",
      "--output",
      mismatched,
    ]),
    /--resume .*checkpoint-3: the checkpoint was trained with maxLength = 32, this run has 64/,
  );
  assert.equal(await Deno.stat(mismatched).then(() => true, () => false), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "fp16 training: logs the loss scale, and 6 steps = 3 steps + resume for 3 more",
  ignore: !(await gpuReady).summary.shaderF16,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const full = join(dir, "full"), resumed = join(dir, "resumed");
    const steps = ["--max-steps", "6", "--save-steps", "3", "--save-total-limit", "0"];
    await train([...SMALL, "--fp16", ...steps, "--output", full]);
    await train(["--resume", join(full, "checkpoint-3"), "--output", resumed]);
    const a = await readLog(join(full, "log.jsonl")), b = await readLog(join(resumed, "log.jsonl"));
    assert.equal(a.length, 6);
    for (let i = 0; i < 6; i++) {
      assert.equal(a[i].loss_scale, 65536, `step ${i + 1} loss scale`);
      assert.equal(b[i].loss, a[i].loss, `step ${i + 1} loss`);
    }
    const state = JSON.parse(await Deno.readTextFile(join(full, "checkpoint-3", "trainer_state.json")));
    assert.deepEqual(state.lossScale, { scale: 65536, growthTracker: 3 });
    assert.equal(state.optimizerStep, 3);
    const wa = (await readSafetensors(join(full, "checkpoint-6", "model.safetensors"))).tensors;
    const wb = (await readSafetensors(join(resumed, "checkpoint-6", "model.safetensors"))).tensors;
    for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, name);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("bad input: one-line errors, non-zero exit, and the output directory untouched", async () => {
  const dir = await Deno.makeTempDir();
  const out = join(dir, "out");
  await Deno.mkdir(out);
  await Deno.writeTextFile(join(out, "keep.txt"), "x");
  // A folder that is not a run of ours is refused before anything else is looked at.
  assertOneLineError(
    await cli("train", ["--preset", "tiny", "--output", out]),
    /--output .*out: not empty and not a training run \(it holds keep\.txt\)/,
  );
  const fresh = join(dir, "fresh");
  const o = ["--output", fresh];
  assertOneLineError(await cli("train", ["--bogus", ...o]), /unknown flag --bogus/);
  assertOneLineError(await cli("train", ["--batch-size", "0", ...o]), /--batch-size: must be positive/);
  assertOneLineError(await cli("train", ["--lr", "-1", ...o]), /--lr: must be positive/);
  assertOneLineError(await cli("train", ["--lr", "abc", ...o]), /--lr: "abc" is not a number/);
  const empty = join(dir, "empty-model");
  await Deno.mkdir(empty);
  assertOneLineError(await cli("train", ["--model", empty, ...o]), /no model\.safetensors/);
  const corrupt = join(dir, "checkpoint-3");
  await Deno.mkdir(corrupt);
  await Deno.writeTextFile(join(corrupt, "training_args.json"), "{not json");
  assertOneLineError(await cli("train", ["--resume", corrupt, ...o]), /--resume .*corrupt/);
  assertOneLineError(await cli("eval", ["--model", empty]), /no model\.safetensors/);
  assertOneLineError(await cli("predict", []), /--model is required/);
  assertOneLineError(await cli("export", [empty, "--output", join(dir, "x")]), /no model\.safetensors/);
  const entries = [...Deno.readDirSync(out)].map((e) => e.name);
  assert.deepEqual(entries, ["keep.txt"]);
  assert.equal(await Deno.stat(fresh).then(() => true, () => false), false, "a failed run leaves no folder");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("default model from the HF cache: a base (masked-LM) checkpoint gets a fresh head, then trains", async () => {
  await gpuReady;
  const home = await Deno.makeTempDir();
  const commit = "12040accade4e8a0f71eabdb258fecc2e7e948be";
  const repo = join(home, "hub", "models--distilbert-base-uncased");
  const snap = join(repo, "snapshots", commit);
  await Deno.mkdir(snap, { recursive: true });
  await Deno.mkdir(join(repo, "refs"));
  await Deno.writeTextFile(join(repo, "refs", "main"), commit);
  const config = { ...presetConfig("tiny"), n_layers: 1 };
  const json = { ...hfConfigJson(config), architectures: ["DistilBertForMaskedLM"] };
  await Deno.writeTextFile(join(snap, "config.json"), JSON.stringify(json));
  const weights = initHostParams(config, 5);
  for (
    const head of ["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"]
  ) {
    weights.delete(head);
  }
  const d = config.dim;
  weights.set("vocab_transform.weight", { dtype: "F32", shape: [d, d], data: new Float32Array(d * d) });
  weights.set("vocab_projector.bias", {
    dtype: "F32",
    shape: [config.vocab_size],
    data: new Float32Array(config.vocab_size),
  });
  await writeSafetensors(join(snap, "model.safetensors"), weights);
  for (const f of ["vocab.txt", "tokenizer_config.json"]) {
    await Deno.copyFile(new URL(`../assets/distilbert-base-uncased/${f}`, import.meta.url), join(snap, f));
  }
  const saved = { home: Deno.env.get("HF_HOME"), offline: Deno.env.get("HF_HUB_OFFLINE") };
  Deno.env.set("HF_HOME", home);
  Deno.env.set("HF_HUB_OFFLINE", "1");
  try {
    const out = join(home, "run");
    const result = await train([
      "--train-samples",
      "16",
      "--eval-samples",
      "16",
      "--max-length",
      "32",
      "--batch-size",
      "8",
      "--epochs",
      "1",
      "--output",
      out,
    ]);
    assert.equal(result.metrics?.init, "pretrained");
    const settings = JSON.parse(await Deno.readTextFile(join(out, "run_config.json")));
    assert.equal(settings.lr, 2e-5);
    assert.equal(settings.model, "distilbert-base-uncased");
    const exported = (await readSafetensors(join(out, "model.safetensors"))).tensors;
    assert.ok(exported.has("classifier.weight") && !exported.has("vocab_transform.weight"));
  } finally {
    for (const [k, v] of [["HF_HOME", saved.home], ["HF_HUB_OFFLINE", saved.offline]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await Deno.remove(home, { recursive: true });
  }
});

// The fallback without the Hugging Face reference (tests/hf_export_test.ts checks the export in transformers).
const reference = await hfReference();
const python = reference ? null : await torchPython();
if (!python && !reference) {
  console.log("skipping the PyTorch export check: no python3 with torch (apt-get install python3-torch)");
}

Deno.test({
  name: "a trained model's export gives our logits in PyTorch (bench/hf_check.py, HF's math)",
  ignore: !python,
  fn: async () => {
    await gpuReady;
    const dir = await Deno.makeTempDir();
    const run = join(dir, "run");
    await train([...SMALL, "--max-steps", "2", "--output", run]);
    const reviews = join(dir, "reviews.txt");
    // The last review is longer than the run's max_length (32): both sides must truncate it alike.
    const long = "The plot wanders, the acting is uneven, and yet some scenes are lovely. ".repeat(8);
    await Deno.writeTextFile(reviews, `A wonderful film.\nTerrible, boring, far too long!\n${long}\n`);
    const predicted = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tasks/predict.ts", "--model", run, "--json", "--file", reviews],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.ok(predicted.success);
    const ours = join(dir, "ours.jsonl");
    await Deno.writeFile(ours, predicted.stdout);
    const check = await new Deno.Command(python!, {
      args: ["bench/hf_check.py", run, ours, "--backend", "reference"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = new TextDecoder().decode(check.stdout) + new TextDecoder().decode(check.stderr);
    assert.ok(check.success, report);
    assert.match(report, /reference: 3\/3 match/);
    await Deno.remove(dir, { recursive: true });
  },
});
