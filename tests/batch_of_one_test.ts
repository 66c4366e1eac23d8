/**
 * A batch of one, everywhere users meet it (the CLI, as a subprocess): one text to predict, a --file of 1 or
 * 33 lines (a batch of 32, then 1), eval --batch-size 1, a training set of 9 rows in batches of 8, a final
 * 1-row micro-batch under --grad-accum 3, and an evaluation whose last batch has one row.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClean, cli, SAMPLE_TEST, SAMPLE_TRAIN, withTempDir, words } from "./cli.ts";

/**
 * `deno task train` of the tiny preset at 16 tokens on the bundled sample, with `flags`, into `dir`/run: it
 * must exit cleanly and write the final model. Returns the run directory.
 */
async function trainTiny(flags: string, dir: string): Promise<string> {
  const run = join(dir, "run");
  const r = await cli("train", [
    ...words(`--preset tiny --max-length 16 ${flags}`),
    ...["--data", SAMPLE_TRAIN, "--eval-data", SAMPLE_TEST, "--output", run],
  ]);
  assertClean(r, `train ${flags}`);
  assert.ok(await Deno.stat(join(run, "model.safetensors")), "the final model was written");
  return run;
}

Deno.test("batch of one: train 9 rows in batches of 8, then predict one text, --file of 1 and 33 lines, eval --batch-size 1", async () => {
  await withTempDir(async (dir) => {
    const run = await trainTiny("--train-samples 9 --eval-samples 5 --batch-size 8 --eval-batch-size 4", dir);

    const one = join(dir, "one.txt"), many = join(dir, "many.txt");
    await Deno.writeTextFile(one, "A single review.\n");
    await Deno.writeTextFile(
      many,
      Array.from({ length: 33 }, (_, i) => `review number ${i}`).join("\n") + "\n",
    );
    const [text, file1, file33, evalOne] = await Promise.all([
      cli("predict", ["--model", run, "A wonderful, moving film."]),
      cli("predict", ["--model", run, "--file", one, "--json"]),
      cli("predict", ["--model", run, "--file", many, "--json"]),
      cli("eval", ["--model", run, "--data", SAMPLE_TEST, "--samples", "3", "--batch-size", "1"]),
    ]);
    assertClean(text, "predict one text");
    assert.match(text.stdout, /^(POSITIVE|NEGATIVE)\s+0\.\d{4}\s+A wonderful, moving film\.$/m);
    assertClean(file1, "predict --file (1 line)");
    assert.equal(file1.stdout.trim().split("\n").length, 1);
    assertClean(file33, "predict --file (33 lines)");
    const lines = file33.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.text), Array.from({ length: 33 }, (_, i) => `review number ${i}`));
    assertClean(evalOne, "eval --batch-size 1");
    assert.equal(JSON.parse(evalOne.stdout).eval_samples, 3);
  });
});

Deno.test("batch of one: a final 1-row micro-batch under --grad-accum 3, and an eval whose last batch has 1 row", async () => {
  await withTempDir(async (dir) => {
    // 9 rows in micro-batches of 4: 4 + 4 + 1, one optimizer step; 10 eval rows in batches of 3: 3+3+3+1
    // (the same last batch as --eval-batch-size 3 on 1,000 rows, at a hundredth of the cost).
    const run = await trainTiny(
      "--train-samples 9 --batch-size 4 --grad-accum 3 --eval-samples 10 --eval-batch-size 3",
      dir,
    );
    const metrics = JSON.parse(await Deno.readTextFile(join(run, "metrics.json")));
    assert.equal(metrics.step, 1);
    assert.equal(metrics.eval_samples, 10);
  });
});
