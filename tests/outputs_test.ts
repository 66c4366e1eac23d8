/**
 * Outputs never destroy what users have, and bad ones are found before the work starts: unwritable paths,
 * a full disk, two writers at once, exports over other folders, runs over exported models, the run folder's
 * lock, --overwrite-output-dir, --save-total-limit and the leftovers of killed writes. CLI cases run the
 * task as a subprocess.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hfConfigJson, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { parseTrainArgs } from "../train/train_flags.ts";
import { openRunDir, pruneCheckpoints } from "../train/run_dir.ts";
import { EXPORT_MANIFEST } from "../train/export_dir.ts";
import {
  assertClean,
  assertOneLineError,
  cli,
  exists,
  listTree,
  SAMPLE_TEST,
  TINY,
  TWO_CHECKPOINTS,
  withTempDir,
  withTmpfs,
} from "./cli.ts";

/** A classifier directory (tiny preset, random weights) shaped like a checkpoint, without training one. */
async function fakeCheckpoint(dir: string): Promise<void> {
  const config = { ...presetConfig("tiny"), n_layers: 1 };
  await Deno.mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, "model.safetensors"), initHostParams(config, 3));
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(hfConfigJson(config), null, 2));
  await Deno.copyFile(bundledVocabPath(), join(dir, "vocab.txt"));
  await Deno.writeTextFile(join(dir, "optimizer.safetensors"), "moments");
  await Deno.writeTextFile(join(dir, "trainer_state.json"), "{}");
  await Deno.writeTextFile(join(dir, "training_args.json"), JSON.stringify({ maxLength: 16, batchSize: 8 }));
}

const deadPid = async () => {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
};

Deno.test("bad output paths: one line each, before any work, nothing created", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    const missing = join(dir, "no", "such");
    const jsonl = join(dir, "in.jsonl");
    await Deno.writeTextFile(jsonl, '{"text": "hi"}\n');
    const ckpt = join(dir, "ckpt");
    await fakeCheckpoint(ckpt);
    const before = await listTree(dir);
    const cases: [string, string[], RegExp][] = [
      ["train", [...TINY, "--output", file], /--output .*a-file: is a file, not a folder$/],
      ["train", [...TINY, "--output", join(file, "run")], /--output .*: .*a-file is a file, not a folder$/],
      [
        "train",
        [...TINY, "--output", join(dir, "r1"), "--log", join(missing, "log.jsonl")],
        /--log .*log\.jsonl: the folder .*no\/such does not exist$/,
      ],
      [
        "train",
        [...TINY, "--output", join(dir, "r2"), "--log", dir],
        /--log .*: is a directory; pass a file name$/,
      ],
      [
        "eval",
        ["--model", ckpt, "--output", join(missing, "m.json")],
        /--output .*m\.json: the folder .* does not exist$/,
      ],
      [
        "eval",
        ["--model", ckpt, "--predictions", join(missing, "p.jsonl")],
        /--predictions .*p\.jsonl: the folder .* does not exist$/,
      ],
      [
        "tokenize",
        ["--jsonl", jsonl, "--out", join(missing, "o.jsonl")],
        /--out .*o\.jsonl: the folder .* does not exist$/,
      ],
      ["tokenize", ["--jsonl", jsonl, "--out", dir], /--out .*: is a directory; pass a file name$/],
      ["export", [ckpt, "--output", "."], /--output \.: not empty and not an export of ours \(it holds /],
    ];
    const results = await Promise.all(cases.map(([task, args]) => cli(task, args)));
    results.forEach((r, i) => assertOneLineError(r, cases[i][2]));
    assert.deepEqual(await listTree(dir), before, "nothing created or changed");
  });
});

Deno.test("read-only and forbidden outputs: one line naming the path, before any work", async () => {
  const mounted = await withTmpfs(64, { readOnly: true }, async (ro) => {
    const [train, evalOut, tok] = await Promise.all([
      cli("train", [...TINY, "--output", join(ro, "run")]),
      cli("eval", ["--model", "x", "--output", join(ro, "m.json")]),
      cli("tokenize", ["--data", SAMPLE_TEST, "--cache-dir", join(ro, "cache")]),
    ]);
    assertOneLineError(train, /--output .*run: cannot write in .* \(Read-only file system\)$/);
    assertOneLineError(evalOut, /--output .*m\.json: cannot write in .* \(Read-only file system\)$/);
    assertOneLineError(tok, /--cache-dir .*cache: cannot write in .* \(Read-only file system\)$/);
  });
  if (!mounted) console.log("skipping the read-only case: cannot mount a tmpfs here (needs root on Linux)");
  if (Deno.uid() === 0) {
    console.log("skipping the no-permission case: root may write anywhere (the read-only mount covers it)");
    return;
  }
  await withTempDir(async (dir) => {
    const locked = join(dir, "locked");
    await Deno.mkdir(locked, { mode: 0o555 });
    assertOneLineError(
      await cli("train", [...TINY, "--output", join(locked, "run")]),
      /--output .*run: cannot write in .*locked \(Permission denied\)$/,
    );
    await Deno.chmod(locked, 0o755);
  });
});

Deno.test("disk full (ENOSPC): one line naming the file, what was there is intact, no temporary left", async () => {
  const mounted = await withTmpfs(64, {}, async (small) => {
    await Deno.writeTextFile(join(small, "old.txt"), "kept");
    const r = await cli("tokenize", ["--data", SAMPLE_TEST, "--max-length", "64", "--cache-dir", small]);
    assertOneLineError(
      r,
      /\.bin: cannot write \(No space left on device\); what was there before is intact$/,
    );
    assert.deepEqual(await listTree(small), ["old.txt"]);
    assert.equal(await Deno.readTextFile(join(small, "old.txt")), "kept");
  });
  if (!mounted) console.log("skipping the disk-full case: cannot mount a tmpfs here (needs root on Linux)");
});

Deno.test("disk full while training: one line naming the checkpoint, the earlier checkpoint intact", async () => {
  // The tiny preset's checkpoint is about 53 MB: the first fits in 60 MB, the second does not.
  const mounted = await withTmpfs(60 * 1024, {}, async (small) => {
    const out = join(small, "run");
    const r = await cli("train", [
      ...TINY,
      ...TWO_CHECKPOINTS,
      "--output",
      out,
    ]);
    assertOneLineError(
      r,
      /run\/checkpoint-2: cannot write \(No space left on device\); what was there before is intact$/,
    );
    const tree = await listTree(out);
    assert.ok(
      tree.includes("checkpoint-1/model.safetensors") && tree.includes("checkpoint-1/optimizer.safetensors"),
    );
    assert.ok(!tree.some((n) => n.includes("incomplete") || n.includes(".train.lock")), tree.join(" "));
  });
  if (!mounted) {
    console.log("skipping the disk-full training case: cannot mount a tmpfs here (needs root on Linux)");
  }
});

Deno.test("two first tokenizations at once: both succeed, one cache file, no temporary left", async () => {
  await withTempDir(async (dir) => {
    const opts = { parquetPath: SAMPLE_TEST, vocabPath: bundledVocabPath(), maxLength: 24, cacheDir: dir };
    const [a, b] = await Promise.all([loadTokenizedSplit(opts), loadTokenizedSplit(opts)]);
    assert.deepEqual(a.ids, b.ids);
    assert.deepEqual(await listTree(dir), [a.cachePath.slice(dir.length + 1)]);
    // Two processes, a fresh cache.
    const cache2 = join(dir, "c2");
    const runs = await Promise.all(
      [0, 1].map(() => cli("tokenize", ["--data", SAMPLE_TEST, "--max-length", "24", "--cache-dir", cache2])),
    );
    runs.forEach((r, i) => assertClean(r, `tokenize ${i}`));
    assert.deepEqual((await listTree(cache2)).length, 1);
  });
});

Deno.test("export: new, empty or ours; refuses other folders (--overwrite touches only its files), the checkpoint and its run", async () => {
  await withTempDir(async (dir) => {
    const run = join(dir, "run");
    const ckpt = join(run, "checkpoint-3");
    await fakeCheckpoint(ckpt);
    await Deno.writeTextFile(join(run, "log.jsonl"), "{}\n");
    const HF = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"];

    const fresh = join(dir, "fresh");
    assertClean(await cli("export", [ckpt, "--output", fresh]), "export into a new folder");
    assert.deepEqual(await listTree(fresh), [EXPORT_MANIFEST, ...HF].sort());
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(fresh, EXPORT_MANIFEST))).files, HF);
    assertClean(await cli("export", [ckpt, "--output", fresh]), "export again over our own export");
    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    assertClean(await cli("export", [ckpt, "--output", empty]), "export into an empty folder");

    const user = join(dir, "user");
    await Deno.mkdir(join(user, "notes"), { recursive: true });
    await Deno.writeTextFile(join(user, "keep.txt"), "mine");
    await Deno.writeTextFile(join(user, "config.json"), "my own config");
    const runBefore = await listTree(run);
    const [other, inPlace, intoRun] = await Promise.all([
      cli("export", [ckpt, "--output", user]),
      cli("export", [ckpt, "--output", ckpt, "--overwrite"]),
      cli("export", [ckpt, "--output", run, "--overwrite"]),
    ]);
    assertOneLineError(
      other,
      /--output .*user: not empty and not an export of ours \(it holds config\.json, keep\.txt, notes\).*--overwrite/,
    );
    assertOneLineError(
      inPlace,
      /--output .*checkpoint-3: is the checkpoint being exported; export into a new folder$/,
    );
    assertOneLineError(intoRun, /--output .*run: holds the checkpoint being exported/);
    assert.deepEqual(await listTree(run), runBefore, "the checkpoint and its run are untouched");
    assert.equal(await Deno.readTextFile(join(ckpt, "optimizer.safetensors")), "moments");
    assert.equal(await Deno.readTextFile(join(user, "config.json")), "my own config");

    assertClean(await cli("export", [ckpt, "--output", user, "--overwrite"]), "export --overwrite");
    assert.deepEqual(await listTree(user), [EXPORT_MANIFEST, ...HF, "keep.txt", "notes/"].sort());
    assert.equal(await Deno.readTextFile(join(user, "keep.txt")), "mine");
    assert.notEqual(await Deno.readTextFile(join(user, "config.json")), "my own config");
  });
});

Deno.test("train --output over an exported model or a user's folder refuses, --overwrite-output-dir too", async () => {
  await withTempDir(async (dir) => {
    const ckpt = join(dir, "ckpt");
    await fakeCheckpoint(ckpt);
    const exported = join(dir, "exported");
    assertClean(await cli("export", [ckpt, "--output", exported]), "export");
    const before = await listTree(exported);
    // One after the other: two at once on one folder would meet its lock first.
    const plain = await cli("train", [...TINY, "--output", exported]);
    const overwrite = await cli("train", [...TINY, "--output", exported, "--overwrite-output-dir"]);
    for (const r of [plain, overwrite]) {
      assertOneLineError(
        r,
        /--output .*exported: not empty and not a training run \(it holds config\.json, /,
      );
    }
    assert.deepEqual(await listTree(exported), before);
  });
});

Deno.test("--overwrite-output-dir: the old run's checkpoints go, the user's files stay; leftovers of killed writes are cleaned", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "run");
    const first = await cli("train", [
      ...TINY,
      "--max-steps",
      "3",
      "--output",
      out,
    ]);
    assertClean(first, "first run");
    assert.ok(await exists(join(out, "checkpoint-3")));
    await Deno.writeTextFile(join(out, "notes.txt"), "mine");
    assertOneLineError(
      await cli("train", [...TINY, "--max-steps", "1", "--output", out]),
      /--output .*run: already holds a training run; pass --resume .*--overwrite-output-dir/,
    );
    const dead = await deadPid();
    const killed = join(out, `checkpoint-6.incomplete-${dead}`);
    await Deno.mkdir(killed);
    const alive = join(out, `checkpoint-7.incomplete-${Deno.pid}`);
    await Deno.mkdir(alive);
    const second = await cli("train", [
      ...TINY,
      "--max-steps",
      "1",
      "--overwrite-output-dir",
      "--output",
      out,
    ]);
    assertClean(second, "--overwrite-output-dir");
    const names = (await listTree(out)).filter((n) =>
      !n.includes("/") || n.endsWith("/") && n.split("/").length === 2
    );
    assert.ok(names.includes("checkpoint-1/"), names.join(" "));
    assert.ok(!names.includes("checkpoint-3/"), "the old run's checkpoint is gone");
    assert.ok(names.includes("notes.txt"), "the user's file stays");
    assert.ok(!(await exists(killed)), "a dead writer's leftover is removed");
    assert.ok(await exists(alive), "a live writer's is not");
    assert.match(second.stderr, new RegExp(`note: removed .*checkpoint-6\\.incomplete-${dead}`));
    assert.equal((await Deno.readTextFile(join(out, "log.jsonl"))).trim().split("\n").length, 1);
  });
});

Deno.test("--save-total-limit keeps the newest and the best (a limit of 1 keeps both, as HF does)", async () => {
  await withTempDir(async (dir) => {
    const kept = async (steps: number[], limit: number, best: number | null) => {
      await Deno.remove(join(dir, "r"), { recursive: true }).catch(() => {});
      for (const s of steps) await Deno.mkdir(join(dir, "r", `checkpoint-${s}`), { recursive: true });
      await pruneCheckpoints(join(dir, "r"), limit, best);
      return (await listTree(join(dir, "r"))).map((n) => Number(/checkpoint-(\d+)/.exec(n)![1]));
    };
    assert.deepEqual(await kept([2, 4, 6], 1, 2), [2, 6], "limit 1, best is old: best and newest");
    assert.deepEqual(await kept([2, 4, 6], 1, 6), [6]);
    assert.deepEqual(await kept([2, 4, 6], 1, null), [6]);
    assert.deepEqual(await kept([2, 4, 6], 2, 2), [2, 6]);
    assert.deepEqual(await kept([2, 4, 6, 8], 3, 2), [2, 6, 8]);
    assert.deepEqual(await kept([2, 4, 6], 2, 4), [4, 6]);
  });
});

Deno.test("two trainers on one --output: one runs, the other stops at once naming its PID; a dead PID's lock is taken over", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "run");
    const args = [...TINY, "--max-steps", "4", "--output", out];
    const [a, b] = await Promise.all([cli("train", args), cli("train", args)]);
    const ok = [a, b].filter((r) => r.code === 0), refused = [a, b].filter((r) => r.code !== 0);
    assert.equal(ok.length, 1, `${a.stderr}\n---\n${b.stderr}`);
    assertOneLineError(refused[0], /--output .*run: another training run \(PID \d+\) is writing there/);
    assert.ok(await exists(join(out, "model.safetensors")));
    assert.ok(!(await exists(join(out, ".train.lock"))), "the lock goes with the run");

    const stale = join(dir, "stale");
    await Deno.mkdir(stale);
    const dead = await deadPid();
    await Deno.writeTextFile(join(stale, ".train.lock"), JSON.stringify({ pid: dead }));
    const r = await cli("train", [...TINY, "--max-steps", "1", "--output", stale]);
    assertClean(r, "over a stale lock");
    assert.match(r.stderr, new RegExp(`took over the lock of PID ${dead}, which is no longer running`));
  });
});

Deno.test("two runs started in the same second without --output get two run folders", async () => {
  await withTempDir(async (dir) => {
    const { cfg, given } = parseTrainArgs([]);
    cfg.output = join(dir, "runs", "20260101-000000");
    const [a, b] = await Promise.all([openRunDir(cfg, given, null), openRunDir(cfg, given, null)]);
    assert.deepEqual([a.path, b.path].sort(), [cfg.output, `${cfg.output}-2`]);
    await a.release();
    await b.release();
    assert.deepEqual(await listTree(join(dir, "runs")), [], "released, unused folders go");
    // Through the CLI: two trainers with the default --output, in the same working directory.
    const runs = await Promise.all(
      [0, 1].map(() => cli("train", [...TINY, "--max-steps", "1"], { cwd: dir })),
    );
    runs.forEach((r, i) => assertClean(r, `default --output ${i}`));
    const made = (await listTree(join(dir, "runs"))).filter((n) => /^[^/]+\/$/.test(n));
    assert.equal(made.length, 2, made.join(" "));
    for (const m of made) assert.ok(await exists(join(dir, "runs", m, "model.safetensors")), m);
  });
});
