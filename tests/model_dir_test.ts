/**
 * What a model directory must carry, as a Hugging Face user expects: its own tokenizer (never the bundled one
 * in its place), a vocabulary of the config's size, a config.json; and what our runs write into theirs (every
 * checkpoint and the final model carry the tokenizer, also after a resume whose source checkpoint is pruned).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseTrainArgs, runTrainJob } from "../mod.ts";
import { hfConfigJson, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import {
  bundledVocabPath,
  loadTokenizerDir,
  TOKENIZER_FILES,
  tokenizerFiles,
  tokenizerJson,
} from "../data/tokenizer_files.ts";
import { resolveModelDir } from "../train/model_source.ts";
import { cli, ROOT, TWO_CHECKPOINTS } from "./cli.ts";
import { gpuReady } from "./helpers.ts";

const SMALL = ["--preset", "tiny", "--train-samples", "32", "--eval-samples", "16", "--max-length", "32"];

function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

/** A tiny classifier directory with random weights; `files` picks which tokenizer files go with it. */
async function modelDir(dir: string, files: { vocab?: string; config?: boolean }): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const config = { ...presetConfig("tiny"), n_layers: 1 };
  await writeSafetensors(join(dir, "model.safetensors"), initHostParams(config, 1));
  if (files.config !== false) {
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(hfConfigJson(config)));
  }
  if (files.vocab !== undefined) await Deno.writeTextFile(join(dir, "vocab.txt"), files.vocab);
}

Deno.test("model directory: no tokenizer, a vocab of the wrong size, no config.json: one-line errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bundled = await Deno.readTextFile(bundledVocabPath());
    // No tokenizer files: transformers' AutoTokenizer fails there too; the bundled vocab is not used instead.
    await modelDir(join(dir, "bare"), {});
    for (const task of ["predict", "eval"]) {
      assertOneLineError(
        await cli(task, ["--model", join(dir, "bare"), ...(task === "predict" ? ["a review"] : [])]),
        /bare: no tokenizer \(neither tokenizer\.json nor vocab\.txt\)/,
      );
    }
    assertOneLineError(
      await cli("train", ["--model", join(dir, "bare"), "--max-steps", "1", "--output", join(dir, "run")]),
      /bare: no tokenizer/,
    );
    assertOneLineError(
      await cli("export", [join(dir, "bare"), "--output", join(dir, "exported")]),
      /bare: no tokenizer/,
    );
    // One token more than the config's vocab_size: named, with both sizes.
    await modelDir(join(dir, "bigger"), { vocab: bundled + "extratoken\n" });
    assertOneLineError(
      await cli("predict", ["--model", join(dir, "bigger"), "a review"]),
      /bigger\/vocab\.txt: 30,523 tokens, but .*bigger\/config\.json has vocab_size 30,522/,
    );
    await modelDir(join(dir, "smaller"), { vocab: bundled.split("\n").slice(0, 30000).join("\n") + "\n" });
    assertOneLineError(
      await cli("train", [
        "--model",
        join(dir, "smaller"),
        "--max-steps",
        "1",
        "--output",
        join(dir, "run2"),
      ]),
      /smaller\/vocab\.txt: 30,000 tokens, but .*vocab_size 30,522/,
    );
    // No config.json: not the base config assumed (its shapes would not even match these weights).
    await modelDir(join(dir, "noconfig"), { vocab: bundled, config: false });
    assertOneLineError(
      await cli("predict", ["--model", join(dir, "noconfig"), "a review"]),
      /noconfig: no config\.json/,
    );
    assert.equal(
      await exists(join(dir, "run")) || await exists(join(dir, "exported")),
      false,
      "nothing written",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resume after the source checkpoint is pruned: every checkpoint and the final model carry the tokenizer", async () => {
  await gpuReady;
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "run");
    const train = async (args: string[]) => {
      const { cfg, given } = parseTrainArgs(args);
      return await runTrainJob(cfg, given);
    };
    await train([
      ...SMALL,
      "--batch-size",
      "8",
      ...TWO_CHECKPOINTS,
      "--output",
      out,
    ]);
    // Resumed into the same run, keeping one checkpoint: checkpoint-1, the source, is deleted after step 2.
    await train(["--resume", join(out, "checkpoint-1"), "--max-steps", "4", "--save-total-limit", "1"]);
    const checkpoints = [...Deno.readDirSync(out)].filter((e) => e.name.startsWith("checkpoint-")).map((e) =>
      e.name
    );
    assert.ok(!checkpoints.includes("checkpoint-1"), `the source was pruned: ${checkpoints}`);
    const expected = tokenizerFiles(
      (await loadTokenizerDir(join(ROOT, "assets", "distilbert-base-uncased"))).tokenizer,
    );
    for (const where of [...checkpoints, "."]) {
      for (const name of TOKENIZER_FILES) {
        assert.equal(await Deno.readTextFile(join(out, where, name)), expected.get(name), `${where}/${name}`);
      }
    }
    assert.ok(checkpoints.includes("checkpoint-4"), `${checkpoints}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hub model whose repo has tokenizer.json and no vocab.txt (what 5.x pushes) resolves and reads it", async () => {
  const home = await Deno.makeTempDir();
  const saved = { home: Deno.env.get("HF_HOME"), offline: Deno.env.get("HF_HUB_OFFLINE") };
  try {
    const commit = "0123456789abcdef0123456789abcdef01234567";
    const repo = join(home, "hub", "models--someone--tiny-imdb");
    const snap = join(repo, "snapshots", commit);
    await modelDir(snap, {});
    await Deno.mkdir(join(repo, "refs"));
    await Deno.writeTextFile(join(repo, "refs", "main"), commit);
    const tok = (await loadTokenizerDir(join(ROOT, "assets", "distilbert-base-uncased"))).tokenizer;
    for (const [name, text] of tokenizerFiles(tok)) {
      if (name !== "vocab.txt") await Deno.writeTextFile(join(snap, name), text);
    }
    Deno.env.set("HF_HOME", home);
    Deno.env.set("HF_HUB_OFFLINE", "1");
    const dir = await resolveModelDir("someone/tiny-imdb");
    assert.equal(dir, snap);
    const loaded = await loadTokenizerDir(dir);
    assert.equal(loaded.vocabFile, join(snap, "tokenizer.json"));
    assert.equal(tokenizerJson(loaded.tokenizer), tokenizerJson(tok));
  } finally {
    for (const [k, v] of [["HF_HOME", saved.home], ["HF_HUB_OFFLINE", saved.offline]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await Deno.remove(home, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
