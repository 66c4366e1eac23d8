/**
 * More than two labels against the real Hugging Face stack: a 3-class classifier that transformers saved
 * (named labels) loads with its id2label, and our logits, loss and every gradient equal
 * DistilBertForSequenceClassification's; a 3-class model we train from a JSONL with string labels exports to
 * a directory that AutoModelForSequenceClassification and pipeline() load with the right id2label, our
 * logits and probabilities.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadClassifierCheckpoint } from "../model/checkpoint.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { cliOutput } from "./cli.ts";
import { assertMatchesHf, hf, predictBothSides, runHf, TIGHT, withTempDir } from "./hf_reference.ts";

const TEXTS = [
  "I am furious about this.",
  "What a happy, happy day!",
  "It left me sad and empty.",
  "ΟΔΟΣ café 電影 😀 <br /> “quotes” and a longer tail of words to pad the others out",
];

Deno.test({
  name: "hf: a 3-class classifier saved by transformers: its id2label, our logits, loss and every gradient",
  ignore: !hf,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "texts.json"), JSON.stringify(TEXTS));
      const summary = JSON.parse(
        await runHf("three_class.py", [bundledVocabPath(), join(dir, "texts.json"), join(dir, "out")]),
      );
      const cls3 = join(dir, "out", "cls3");
      const loaded = await loadClassifierCheckpoint(cls3, { strict: true });
      assert.equal(loaded.config.num_labels, 3);
      assert.deepEqual(loaded.config.id2label, summary.id2label);
      assert.deepEqual(loaded.config.id2label, { 0: "anger", 1: "joy", 2: "sadness" });
      const inputs = (await readSafetensors(join(dir, "out", "inputs.safetensors"))).tensors;
      const expected = (await readSafetensors(join(dir, "out", "expected.safetensors"))).tensors;
      assert.deepEqual(expected.get("logits")!.shape, [TEXTS.length, 3]);
      const worst = await assertMatchesHf(cls3, inputs, expected, TIGHT);
      console.log(
        `  3 classes vs transformers: ${JSON.stringify(worst)}; HF f32 vs f64 ${summary.f32_vs_f64}`,
      );
    });
  },
});

Deno.test({
  name:
    "hf: a 3-class model trained on string labels exports with its id2label; transformers and pipeline agree",
  ignore: !hf,
  fn: async () => {
    await withTempDir(async (dir) => {
      const words = { anger: "furious angry rage", joy: "happy glad delighted", sadness: "sad gloomy tears" };
      const rows = Array.from({ length: 30 }, (_, i) => {
        const label = (["sadness", "anger", "joy"] as const)[i % 3];
        return JSON.stringify({ text: `${words[label]} number ${i}`, label });
      });
      await Deno.writeTextFile(join(dir, "emotions.jsonl"), rows.join("\n") + "\n");
      const run = join(dir, "run"), exported = join(dir, "export");
      await cliOutput("train", [
        ...["--preset", "tiny", "--data", join(dir, "emotions.jsonl"), "--max-length", "16"],
        ...["--batch-size", "8", "--max-steps", "3", "--output", run],
      ]);
      await cliOutput("export", [run, "--output", exported]);
      const config = JSON.parse(await Deno.readTextFile(join(exported, "config.json")));
      assert.deepEqual(config.id2label, { 0: "anger", 1: "joy", 2: "sadness" });
      assert.deepEqual(config.label2id, { anger: 0, joy: 1, sadness: 2 });
      const { ours, theirs } = await predictBothSides(exported, TEXTS, dir);
      let worst = 0;
      ours.forEach((o, i) => {
        assert.equal(o.logits.length, 3);
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(o.logits[c] - theirs.logits[i][c]));
        // pipeline() names every class by transformers' reading of our id2label.
        const scores = theirs.pipeline[i] as Record<string, number>;
        assert.deepEqual(Object.keys(scores).sort(), ["anger", "joy", "sadness"]);
        for (const name of Object.keys(scores)) {
          assert.ok(Math.abs(o.probabilities[name] - scores[name]) <= 1e-5, `P(${name}) of text ${i}`);
        }
        const best = Object.entries(scores).sort((a, b) => b[1] - a[1])[0][0];
        assert.equal(o.label, best, `label of text ${i}`);
      });
      assert.ok(worst <= 1e-5, `logits differ by ${worst}`);
      // transformers writes back the same config (id2label, label2id, num_labels it derives).
      const resaved = JSON.parse(await Deno.readTextFile(join(dir, "resaved", "config.json")));
      assert.deepEqual(config, resaved);
      console.log(`  3-class export vs transformers: logits max |diff| ${worst.toExponential(2)}`);
    });
  },
});
