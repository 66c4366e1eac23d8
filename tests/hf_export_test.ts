/**
 * Our export as a Hugging Face user loads it: a trained run → `deno task export` → transformers'
 * AutoModelForSequenceClassification (no missing or unexpected keys), AutoTokenizer (our ids),
 * pipeline("sentiment-analysis") (our labels and probabilities), logits equal to `deno task predict --json`;
 * and transformers' save_pretrained of what it loaded writes the same files back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXPORT_MANIFEST, parseTrainArgs, runTrainJob } from "../mod.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { loadTokenizerDir } from "../data/tokenizer_files.ts";
import { cliOutput } from "./cli.ts";
import { gpuReady } from "./helpers.ts";
import { hf, predictBothSides, withTempDir } from "./hf_reference.ts";

const REVIEWS = [
  "A wonderful film: moving, funny and beautifully shot.",
  "Terrible, boring, far too long!",
  "Café crème, ΟΔΟΣ, 電影 and 😀 — “curly quotes” <br /> and all.",
  "I did not expect to like it. I loved it.",
  // Past 512 tokens: both sides truncate at the tokenizer's model_max_length (512).
  "The plot wanders, the acting is uneven, and yet some scenes are lovely. ".repeat(50),
  "Meh.",
];

Deno.test({
  name:
    "hf: our export loads in AutoModelForSequenceClassification, AutoTokenizer and pipeline, with our logits",
  ignore: !hf,
  fn: async () => {
    await gpuReady;
    await withTempDir(async (dir) => {
      const run = join(dir, "run"), exported = join(dir, "export");
      const args = [
        "--preset",
        "tiny",
        "--train-samples",
        "32",
        "--eval-samples",
        "16",
        "--max-length",
        "32",
      ];
      const { cfg, given } = parseTrainArgs([
        ...args,
        "--batch-size",
        "8",
        "--max-steps",
        "2",
        "--output",
        run,
      ]);
      await runTrainJob(cfg, given);
      await cliOutput("export", [run, "--output", exported]);
      // The HF files, and our manifest of them (how a later export knows the folder is ours).
      assert.deepEqual([...Deno.readDirSync(exported)].map((e) => e.name).sort(), [
        "config.json",
        EXPORT_MANIFEST,
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
      ]);
      const { ours, theirs } = await predictBothSides(exported, REVIEWS, dir);
      assert.equal(ours.length, REVIEWS.length);
      assert.equal(theirs.model_class, "DistilBertForSequenceClassification");
      assert.equal(theirs.model_max_length, 512);
      const tok = (await loadTokenizerDir(exported)).tokenizer;
      REVIEWS.forEach((text, i) => {
        assert.deepEqual(
          Array.from(tok.encode(text, { maxLength: 512 })),
          theirs.ids[i],
          `ids of review ${i}`,
        );
      });
      assert.equal(theirs.ids[4].length, 512);
      let worst = 0;
      ours.forEach((o, i) => {
        for (let c = 0; c < 2; c++) worst = Math.max(worst, Math.abs(o.logits[c] - theirs.logits[i][c]));
        const scores = theirs.pipeline[i];
        assert.equal(
          o.label,
          scores.POSITIVE > scores.NEGATIVE ? "POSITIVE" : "NEGATIVE",
          `label of review ${i}`,
        );
        assert.ok(
          Math.abs(o.prob_positive - scores.POSITIVE) <= 1e-5,
          `P(positive) ${o.prob_positive} vs ${scores.POSITIVE}`,
        );
        assert.ok(Math.abs(1 - o.prob_positive - scores.NEGATIVE) <= 1e-5, `P(negative) of review ${i}`);
      });
      assert.ok(worst <= 1e-5, `logits differ by ${worst}`);
      console.log(
        `  logits vs transformers: max |diff| ${worst.toExponential(2)} over ${REVIEWS.length} reviews`,
      );

      // What transformers writes for the model it loaded: the same config.json, tokenizer files and weights.
      const read = async (d: string, f: string) => await Deno.readTextFile(join(d, f));
      assert.deepEqual(
        JSON.parse(await read(exported, "config.json")),
        JSON.parse(await read(join(dir, "resaved"), "config.json")),
      );
      assert.equal(
        await read(exported, "tokenizer.json"),
        await read(join(dir, "resaved"), "tokenizer.json"),
      );
      const resavedTok = JSON.parse(await read(join(dir, "resaved"), "tokenizer_config.json"));
      delete resavedTok.is_local; // describes that one load (a local path), not the tokenizer
      delete resavedTok.local_files_only;
      assert.deepEqual(JSON.parse(await read(exported, "tokenizer_config.json")), resavedTok);
      const a = (await readSafetensors(join(exported, "model.safetensors"))).tensors;
      const b = (await readSafetensors(join(dir, "resaved", "model.safetensors"))).tensors;
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
    });
  },
});
