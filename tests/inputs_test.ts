/**
 * Inputs that used to give silently wrong results: each is now an error (one line, non-zero exit) or, where
 * the run is still meaningful, a one-line warning. CLI cases run the task as a subprocess.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ParquetColumn, writeParquet } from "../data/parquet_writer.ts";
import { parseTrainArgs } from "../train/train_flags.ts";
import {
  assertClean,
  assertOneLineError,
  cli,
  SAMPLE_TEST,
  TINY,
  TWO_CHECKPOINTS,
  withFlags,
  withTempDir,
} from "./cli.ts";

const FAST = ["--train-samples", "16", "--eval-samples", "8", "--max-length", "16", "--batch-size", "8"];

function imdbFile(texts: (string | Uint8Array | null)[], labels: number[]): Uint8Array {
  const columns: ParquetColumn[] = [
    { name: "text", type: "BYTE_ARRAY", utf8: true, optional: true, values: texts },
    { name: "label", type: "INT64", values: labels },
  ];
  return writeParquet(columns);
}

Deno.test("flags: a misspelt --metric-for-best-model and a flag where a value belongs are one-line errors", async () => {
  assert.equal(parseTrainArgs(["--metric-for-best-model", "f1"]).cfg.metricForBestModel, "eval_f1");
  assert.equal(parseTrainArgs(["--metric-for-best-model", "eval_loss"]).cfg.metricForBestModel, "eval_loss");
  const [metric, value] = await Promise.all([
    cli("train", [...TINY, "--metric-for-best-model", "accurcy"]),
    cli("train", [...TINY, "--output", "--fp16"]),
  ]);
  assertOneLineError(
    metric,
    /--metric-for-best-model: "accurcy" is not a metric; use one of loss, accuracy, precision, recall, f1/,
  );
  assertOneLineError(value, /--output needs a value, got the flag --fp16 \(write --output=--fp16 if/);
});

Deno.test("data: an empty eval file is an error; the test file as --data and --eval-data warns that train and eval are the same", async () => {
  await withTempDir(async (dir) => {
    const empty = join(dir, "empty.parquet");
    await Deno.writeFile(empty, imdbFile([], []));
    const [trainEmpty, evalEmpty, same] = await Promise.all([
      cli("train", [...TINY, "--eval-data", empty, "--eval-samples", "0", "--output", join(dir, "a")]),
      cli("eval", ["--model", join(dir, "no-model"), "--data", empty]),
      cli("train", [
        "--preset",
        "tiny",
        "--data",
        SAMPLE_TEST,
        "--eval-data",
        SAMPLE_TEST,
        ...FAST,
        "--max-steps",
        "1",
        "--output",
        join(dir, "b"),
      ]),
    ]);
    assertOneLineError(trainEmpty, /--eval-data .*empty\.parquet: has no rows$/);
    // eval checks its model first: the empty file is reached with a model, below.
    assertOneLineError(evalEmpty, /--model .*no-model: no such directory|no model\.safetensors/);
    assertClean(same, "--data at the test file");
    assert.match(
      same.stderr,
      /^warning: the training and evaluation data are the same file \(.*test-00000-of-00001\.parquet\): the eval metrics measure rows the model trained on$/m,
    );
    assert.ok(!(await Deno.stat(join(dir, "a")).then(() => true, () => false)), "nothing written");
  });
});

Deno.test("data: null, empty and invalid UTF-8 reviews are one warning line each; a class with no training rows is an error", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "odd.parquet");
    const bad = new Uint8Array([0x67, 0x6f, 0x6f, 0x64, 0xff, 0xfe]); // "good" and two stray bytes
    const texts = [null, "", "   ", bad, ...Array.from({ length: 8 }, (_, i) => `a fine review ${i}`)];
    await Deno.writeFile(file, imdbFile(texts, texts.map((_, i) => i % 2)));
    const r = await cli("train", [
      ...withFlags(TINY, { "--data": file, "--train-samples": "0" }),
      "--output",
      join(dir, "run"),
    ]);
    assertClean(r, "train on odd rows");
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"));
    assert.deepEqual(warnings.map((w) => w.replace(/^warning: \S+: /, "")), [
      "3 of 12 reviews are null or empty (read as empty text)",
      "1 of 12 reviews are not valid UTF-8 (bad bytes read as U+FFFD)",
    ]);
    // Every row labelled 1: class 0 would never be seen (it used to be a warning; now nothing is written).
    const ones = join(dir, "ones.parquet");
    await Deno.writeFile(ones, imdbFile(texts, texts.map(() => 1)));
    const one = await cli("train", [
      ...TINY.slice(0, 2),
      "--data",
      ones,
      "--eval-data",
      SAMPLE_TEST,
      "--output",
      join(dir, "ones"),
    ]);
    assertOneLineError(
      one,
      /--data .*ones\.parquet: class 0 \("NEGATIVE"\) of 2 has no rows in the training sample \(12 rows\); integer labels are class ids counted from 0/,
    );
    assert.ok(!(await Deno.stat(join(dir, "ones")).then(() => true, () => false)), "nothing written");
    // The counts live in the token cache: a second tokenization, from the cache, warns the same.
    const cache = join(dir, "cache");
    const tok = ["--data", file, "--max-length", "16", "--cache-dir", cache];
    const [first, second] = [await cli("tokenize", tok), await cli("tokenize", tok)];
    assert.match(second.stdout, /loaded/);
    for (const t of [first, second]) {
      assertClean(t, "tokenize");
      assert.equal(t.stderr.split("\n").filter((l) => l.startsWith("warning:")).length, 2, t.stderr);
    }
  });
});

Deno.test("resume: another preset is refused, --max-steps at or below the checkpoint is an error; eval predictions in input order", async () => {
  await withTempDir(async (dir) => {
    const run = join(dir, "run");
    assertClean(
      await cli("train", [
        ...TINY,
        ...TWO_CHECKPOINTS,
        "--output",
        run,
      ]),
      "train",
    );
    const ck1 = join(run, "checkpoint-1"), ck2 = join(run, "checkpoint-2");
    const other = join(dir, "other");
    const [preset, below, done] = await Promise.all([
      cli("train", ["--resume", ck1, "--preset", "small", "--output", join(other, "a")]),
      cli("train", ["--resume", ck1, "--max-steps", "1", "--output", join(other, "b")]),
      cli("train", ["--resume", ck2, "--output", join(other, "c")]),
    ]);
    assertOneLineError(
      preset,
      /--resume .*checkpoint-1: the checkpoint trains tiny \(init scratch\), not small; drop --preset/,
    );
    assertOneLineError(
      below,
      /--max-steps 1: the checkpoint .*checkpoint-1 is already at step 1; pass a larger --max-steps/,
    );
    assertOneLineError(
      done,
      /--resume .*checkpoint-2: the checkpoint is at step 2 of the run's 2: nothing left to train/,
    );
    assert.ok(!(await Deno.stat(other).then(() => true, () => false)), "nothing written");
    const broken = join(dir, "checkpoint-9");
    await Deno.mkdir(broken);
    await Deno.copyFile(join(ck1, "training_args.json"), join(broken, "training_args.json"));
    await Deno.writeTextFile(join(broken, "trainer_state.json"), "");
    assertOneLineError(
      await cli("train", ["--resume", broken, "--output", join(other, "d")]),
      /--resume .*checkpoint-9: has a corrupt trainer_state\.json$/,
    );

    // Predictions come in the file's row order, whatever order evaluation sampled or batched them in.
    const rows = join(dir, "rows.parquet");
    const texts = Array.from({ length: 12 }, (_, i) => "word ".repeat(1 + ((i * 7) % 12)));
    await Deno.writeFile(rows, imdbFile(texts, texts.map((_, i) => i % 2)));
    const predictions = join(dir, "p.jsonl");
    const e = await cli("eval", [
      "--model",
      run,
      "--data",
      rows,
      "--batch-size",
      "5",
      "--predictions",
      predictions,
    ]);
    assertClean(e, "eval --predictions");
    const got = (await Deno.readTextFile(predictions)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(got.map((p) => p.row), Array.from({ length: 12 }, (_, i) => i));
    assert.deepEqual(got.map((p) => p.label), texts.map((_, i) => i % 2));

    const empty = join(dir, "empty.parquet");
    await Deno.writeFile(empty, imdbFile([], []));
    assertOneLineError(
      await cli("eval", ["--model", run, "--data", empty]),
      /--data .*empty\.parquet: has no rows$/,
    );
  });
});
