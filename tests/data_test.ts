import assert from "node:assert/strict";
import { labelCounts, readImdbParquet, selectRows } from "../data/imdb.ts";
import { bundledImdbSample, findSplitInData, resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { type ParquetColumn, writeParquet } from "../data/parquet_writer.ts";
import { loadTokenizedSplit, sequenceAt } from "../data/token_cache.ts";
import { bundledVocabPath, loadTokenizer } from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir } from "../util/fs.ts";
import { cli } from "./cli.ts";

const shared = sharedDir();
const SAMPLE_TRAIN = bundledImdbSample("train")!;
const SAMPLE_TEST = bundledImdbSample("test")!;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "data_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const text = (values: (string | null)[]): ParquetColumn => ({
  name: "text",
  type: "BYTE_ARRAY",
  optional: true,
  values,
});
const label = (values: (number | null)[]): ParquetColumn => ({
  name: "label",
  type: "INT64",
  optional: true,
  values,
});

/** Asserts `promise` rejects with a one-line UserError matching `pattern`. */
async function rejectsOneLine(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return true;
  });
}

Deno.test("imdb: the bundled sample is class-balanced in the hub's schema", async () => {
  const train = await readImdbParquet(SAMPLE_TRAIN);
  assert.equal(train.texts.length, 2000);
  assert.deepEqual(labelCounts(train.labels), new Map([[0, 1000], [1, 1000]]));
  assert.ok(train.labelled);
  const test = await readImdbParquet(SAMPLE_TEST);
  assert.equal(test.texts.length, 1000);
  assert.deepEqual(labelCounts(test.labels), new Map([[0, 500], [1, 500]]));
  assert.ok(test.texts.every((t) => typeof t === "string" && t.length > 0));
});

Deno.test("imdb: the full train split from ../shared", { ignore: shared === null }, async () => {
  const train = await readImdbParquet(`${shared}data/imdb/plain_text/train-00000-of-00001.parquet`);
  assert.equal(train.texts.length, 25000);
  assert.deepEqual(labelCounts(train.labels), new Map([[0, 12500], [1, 12500]]));
  assert.ok(train.texts[12500].startsWith("Bromwell High is a cartoon comedy."));
});

Deno.test("imdb: selectRows is seeded and class-balanced, or the first N rows in file order", () => {
  const labels = new Int32Array(25000);
  labels.fill(1, 12500);
  const a = selectRows(labels, 4000, { seed: 42 });
  assert.equal(a.length, 4000);
  assert.equal(new Set(a).size, 4000);
  assert.deepEqual(labelCounts(labels, a), new Map([[0, 2000], [1, 2000]]));
  assert.deepEqual(a, selectRows(labels, 4000, { seed: 42 }), "same seed, same rows and order");
  assert.notDeepEqual(a, selectRows(labels, 4000, { seed: 43 }));
  assert.ok(a.slice(0, 20).some((r) => r >= 12500) && a.slice(0, 20).some((r) => r < 12500), "classes mixed");
  assert.deepEqual(selectRows(labels, 5, { shuffle: false }), Int32Array.from([0, 1, 2, 3, 4]));
  assert.equal(selectRows(labels).length, 25000);
  // A class short of its share is topped up from the other.
  const skewed = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1]);
  assert.deepEqual(labelCounts(skewed, selectRows(skewed, 6, { seed: 1 })), new Map([[0, 4], [1, 2]]));
  assert.deepEqual(labelCounts(skewed, selectRows(skewed, 5, { seed: 1 })), new Map([[0, 3], [1, 2]]));
  assert.throws(() => selectRows(skewed, 10), UserError);
});

Deno.test("imdb: empty, null and very long reviews are read; unlabelled splits allow -1", async () => {
  await withTempDir(async (dir) => {
    const long = "great movie ".repeat(20000);
    await Deno.writeFile(`${dir}/ok.parquet`, writeParquet([text(["", null, long]), label([0, 1, 1])]));
    const ok = await readImdbParquet(`${dir}/ok.parquet`);
    assert.deepEqual(ok.texts, ["", "", long]);
    assert.deepEqual(Array.from(ok.labels), [0, 1, 1]);
    await Deno.writeFile(
      `${dir}/unsupervised-00000-of-00001.parquet`,
      writeParquet([text(["a"]), label([-1])]),
    );
    const unsup = await readImdbParquet(`${dir}/unsupervised-00000-of-00001.parquet`);
    assert.equal(unsup.labelled, false);
    assert.equal(unsup.labels[0], -1);
  });
});

Deno.test("imdb: bad files are one-line errors naming the file and column", async () => {
  await withTempDir(async (dir) => {
    const write = (name: string, cols: ParquetColumn[]) =>
      Deno.writeFile(`${dir}/${name}`, writeParquet(cols));
    await rejectsOneLine(readImdbParquet(`${dir}/missing.parquet`), /missing\.parquet: file not found$/);
    await Deno.writeTextFile(`${dir}/notes.parquet`, "text,label\nhello,1\n");
    await rejectsOneLine(readImdbParquet(`${dir}/notes.parquet`), /notes\.parquet: not a Parquet file/);
    await write("nolabel.parquet", [text(["a"])]);
    await rejectsOneLine(readImdbParquet(`${dir}/nolabel.parquet`), /nolabel\.parquet: no column "label"/);
    await write("notext.parquet", [{ name: "review", type: "BYTE_ARRAY", values: ["a"] }, label([1])]);
    await rejectsOneLine(
      readImdbParquet(`${dir}/notext.parquet`),
      /notext\.parquet: no column "text" \(columns: review, label\)/,
    );
    await write("strlabel.parquet", [text(["a"]), { name: "label", type: "BYTE_ARRAY", values: ["pos"] }]);
    await rejectsOneLine(
      readImdbParquet(`${dir}/strlabel.parquet`),
      /strlabel\.parquet: column "label" has type BYTE_ARRAY UTF8, expected int64$/,
    );
    await write("inttext.parquet", [{ name: "text", type: "INT32", values: [3] }, label([1])]);
    await rejectsOneLine(
      readImdbParquet(`${dir}/inttext.parquet`),
      /inttext\.parquet: column "text" has type INT32/,
    );
    await write("label2.parquet", [text(["a", "b"]), label([1, 2])]);
    await rejectsOneLine(
      readImdbParquet(`${dir}/label2.parquet`),
      /label2\.parquet: column "label": row 1 has label 2, expected 0 or 1$/,
    );
    await write("nulllabel.parquet", [text(["a"]), label([null])]);
    await rejectsOneLine(readImdbParquet(`${dir}/nulllabel.parquet`), /column "label": row 0 has label null/);
    const truncated = (await Deno.readFile(SAMPLE_TEST)).slice(0, 5000);
    truncated.set([0x50, 0x41, 0x52, 0x31], truncated.length - 4);
    await Deno.writeFile(`${dir}/truncated.parquet`, truncated);
    await rejectsOneLine(readImdbParquet(`${dir}/truncated.parquet`), /truncated\.parquet: /);
  });
});

Deno.test("imdb source: --data takes a folder (plain_text/ or flat) or a file; offline falls back to the sample", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/hf/plain_text`, { recursive: true });
    await Deno.writeTextFile(`${dir}/hf/plain_text/test-00000-of-00001.parquet`, "x");
    await Deno.writeTextFile(`${dir}/train-00000-of-00001-abc.parquet`, "x");
    assert.equal(
      await findSplitInData(`${dir}/hf`, "test"),
      `${dir}/hf/plain_text/test-00000-of-00001.parquet`,
    );
    assert.equal(await findSplitInData(`${dir}/`, "train"), `${dir}/train-00000-of-00001-abc.parquet`);
    assert.equal(
      await findSplitInData(`${dir}/hf/plain_text/test-00000-of-00001.parquet`, "train"),
      `${dir}/hf/plain_text/test-00000-of-00001.parquet`,
    );
    await rejectsOneLine(findSplitInData(`${dir}/hf`, "train"), /--data .*: no train Parquet file/);
    await rejectsOneLine(findSplitInData(`${dir}/nope`, "train"), /--data .*nope: no such file or folder$/);

    const notices: string[] = [];
    const env = { HF_HOME: `${dir}/hf_home`, HF_HUB_OFFLINE: "1" };
    const fallback = await resolveImdbSplitOrSample("train", { env, onNotice: (l) => notices.push(l) });
    assert.deepEqual(fallback, { path: SAMPLE_TRAIN, source: "sample" });
    assert.equal(notices.length, 1);
    assert.match(notices[0], /^note: using the bundled IMDB sample for train \(offline/);
    // An explicit --data never silently becomes the sample.
    await rejectsOneLine(
      resolveImdbSplitOrSample("train", { data: `${dir}/nope`, env }),
      /no such file or folder/,
    );
    await rejectsOneLine(resolveImdbSplitOrSample("unsupervised", { env }), /offline/);
  });
});

Deno.test("token cache: builds once, loads after, rebuilds when max_length, vocab or the file changes", async () => {
  await withTempDir(async (dir) => {
    const parquetPath = `${dir}/test.parquet`;
    await Deno.copyFile(SAMPLE_TEST, parquetPath);
    const vocabPath = bundledVocabPath();
    const opts = { parquetPath, vocabPath, maxLength: 128, cacheDir: `${dir}/cache` };
    const built = await loadTokenizedSplit(opts);
    assert.equal(built.fromCache, false);
    assert.equal(built.offsets.length, 1001);
    assert.deepEqual(built.rows, Int32Array.from({ length: 1000 }, (_, i) => i));
    const data = await readImdbParquet(parquetPath);
    assert.deepEqual(built.labels, data.labels);
    const tokenizer = (await loadTokenizer(vocabPath)).tokenizer;
    for (const i of [0, 1, 500, 999]) {
      assert.deepEqual(sequenceAt(built, i), tokenizer.encode(data.texts[i], { maxLength: 128 }));
    }

    const loaded = await loadTokenizedSplit(opts);
    assert.equal(loaded.fromCache, true);
    assert.equal(loaded.cachePath, built.cachePath);
    assert.deepEqual([loaded.ids, loaded.offsets, loaded.labels, loaded.rows], [
      built.ids,
      built.offsets,
      built.labels,
      built.rows,
    ]);

    const longer = await loadTokenizedSplit({ ...opts, maxLength: 256 });
    assert.equal(longer.fromCache, false);
    assert.notEqual(longer.cachePath, built.cachePath);
    assert.ok(longer.ids.length > built.ids.length);

    const vocab2 = `${dir}/vocab.txt`;
    await Deno.writeTextFile(vocab2, (await Deno.readTextFile(vocabPath)) + "extratoken\n");
    assert.equal((await loadTokenizedSplit({ ...opts, vocabPath: vocab2 })).fromCache, false);

    await Deno.utime(parquetPath, new Date(), new Date(Date.now() + 5000));
    assert.equal((await loadTokenizedSplit(opts)).fromCache, false, "a touched Parquet file is re-tokenized");

    // A damaged cache file is rebuilt, not trusted.
    const again = await loadTokenizedSplit(opts);
    assert.equal(again.fromCache, true);
    await Deno.writeFile(again.cachePath, (await Deno.readFile(again.cachePath)).slice(0, 1000));
    const repaired = await loadTokenizedSplit(opts);
    assert.equal(repaired.fromCache, false);
    assert.deepEqual(repaired.ids, built.ids);
  });
});

// --- the tokenize task end to end: bad input exits 1 with one line and writes nothing ----------------------

const runTokenize = (args: string[]) => cli("tokenize", args);

Deno.test("tokenize task: tokenizes a split into the cache; bad input is one line, exit 1, nothing written", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/fake.parquet`, "this is not parquet");
    await Deno.writeFile(
      `${dir}/schema.parquet`,
      writeParquet([text(["a"]), { name: "label", type: "DOUBLE", values: [1] }]),
    );
    await Deno.writeTextFile(`${dir}/vocab.txt`, "[PAD]\n[CLS]\n[SEP]\nhello\n");
    const cache = `${dir}/cache`;
    const cases: [string[], RegExp][] = [
      [["--data", `${dir}/missing.parquet`], /--data .*missing\.parquet: no such file or folder$/],
      [["--data", `${dir}/fake.parquet`], /fake\.parquet: not a Parquet file/],
      [
        ["--data", `${dir}/schema.parquet`],
        /schema\.parquet: column "label" has type DOUBLE \(floats\); labels must be integers or strings$/,
      ],
      [
        ["--data", SAMPLE_TEST, "--vocab", `${dir}/vocab.txt`],
        /vocab\.txt: not a BERT vocab: missing \[UNK\]$/,
      ],
      [["--data", SAMPLE_TEST, "--max-length", "1"], /--max-length: must be at least 2/],
      [["--split", "dev"], /--split: "dev" is not one of/],
    ];
    const results = await Promise.all(cases.map(([args]) => runTokenize([...args, "--cache-dir", cache])));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 1, `${cases[i][0].join(" ")}: exit ${r.code}\n${r.stderr}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${cases[i][0].join(" ")}: stderr is not one line:\n${r.stderr}`);
      assert.match(lines[0], /^error: /);
      assert.match(lines[0], cases[i][1]);
    }
    assert.equal(await Deno.stat(cache).then(() => true, () => false), false, "no cache written on errors");

    const ok = await runTokenize(["--data", SAMPLE_TEST, "--max-length", "64", "--cache-dir", cache]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^1000 reviews from .*test-00000-of-00001\.parquet \(data\)$/m);
    assert.match(ok.stdout, /built .*\.bin/);
    assert.equal([...Deno.readDirSync(cache)].filter((e) => e.name.endsWith(".bin")).length, 1);
  });
});
