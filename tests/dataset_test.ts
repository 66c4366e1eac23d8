/**
 * The user's own data: CSV/TSV (RFC 4180), JSONL and Parquet (ClassLabel metadata, shards in the HF layout),
 * the text and label columns, integer and string labels, the classes, and every bad input as one line.
 * Files are made in the test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDelimited } from "../data/csv.ts";
import { dataFormat, readDataset } from "../data/dataset.ts";
import { labelIds, resolveLabelSpace, sortLabelNames } from "../data/labels.ts";
import { findSplitFiles } from "../data/split_files.ts";
import { type ParquetColumn, writeParquet } from "../data/parquet_writer.ts";
import { loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { stratifiedSplit } from "../train/data_source.ts";
import { UserError } from "../util/errors.ts";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "dataset_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A UserError whose message is one line matching `pattern`. */
async function rejectsOneLine(p: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UserError, `not a UserError: ${err}`);
    assert.ok(!err.message.includes("\n"), `two lines: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

function throwsOneLine(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `not a UserError: ${err}`);
    assert.ok(!err.message.includes("\n"), `two lines: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("csv: RFC 4180 quoting, doubled quotes, embedded separators and line breaks, CRLF, no final break", () => {
  const text = 'id,body,stars\r\n1,"Great, really great",5\r\n2,"He said ""meh""",2\r\n' +
    '3,"line one\r\nline two\nline three",4\r\n4,,1\r\n5,plain text,3';
  const t = parseDelimited(text, ",", "r.csv");
  assert.deepEqual(t.header, ["id", "body", "stars"]);
  assert.deepEqual(t.records, [
    ["1", "Great, really great", "5"],
    ["2", 'He said "meh"', "2"],
    ["3", "line one\r\nline two\nline three", "4"],
    ["4", "", "1"],
    ["5", "plain text", "3"],
  ]);
  // Records start on lines 2, 3, 4, 7 and 8: the quoted field spans lines 4-6.
  assert.deepEqual(t.lines, [2, 3, 4, 7, 8]);
  // A byte-order mark, LF endings, a final line break, blank lines, an empty quoted field, TSV.
  const bom = parseDelimited('\uFEFFa,b\n"",x\n\n"q"\n'.replace('"q"\n', '"q",y\n'), ",", "b.csv");
  assert.deepEqual([bom.header, bom.records], [["a", "b"], [["", "x"], ["q", "y"]]]);
  const tsv = parseDelimited('text\tlabel\n"tab\there"\tpos\nno, comma split\tneg\n', "\t", "t.tsv");
  assert.deepEqual(tsv.records, [["tab\there", "pos"], ["no, comma split", "neg"]]);
});

Deno.test("csv: a wrong field count names its line; unclosed quotes and stray quotes are one line", () => {
  throwsOneLine(
    () => parseDelimited('text,label\n"a\nb",1\nc,1,extra\n', ",", "bad.csv"),
    /^bad\.csv: line 4: 3 fields, but the header has 2 \("text", "label"\)$/,
  );
  throwsOneLine(
    () => parseDelimited('text,label\nok,1\n"never closed,1\n', ",", "q.csv"),
    /q\.csv: line 3: a quoted field is never closed/,
  );
  throwsOneLine(
    () => parseDelimited('text,label\nsay "hi",1\n', ",", "s.csv"),
    /s\.csv: line 2: a quote inside an unquoted field/,
  );
  throwsOneLine(
    () => parseDelimited('text,label\n"a"b,1\n', ",", "c.csv"),
    /c\.csv: line 2: unexpected text after a closing quote/,
  );
  throwsOneLine(() => parseDelimited("", ",", "e.csv"), /e\.csv: empty file/);
});

Deno.test("formats: by extension, --format overrides, an unknown extension asks for --format", () => {
  assert.equal(dataFormat("a/b.CSV"), "csv");
  assert.equal(dataFormat("b.tsv"), "tsv");
  assert.equal(dataFormat("b.jsonl"), "jsonl");
  assert.equal(dataFormat("b.parquet"), "parquet");
  assert.equal(dataFormat("b.data", "csv"), "csv");
  throwsOneLine(() => dataFormat("b.data"), /b\.data: cannot tell the format .* pass --format/);
  throwsOneLine(
    () => dataFormat("b.csv", "xls"),
    /--format: must be one of parquet, csv, tsv, jsonl, got xls/,
  );
});

Deno.test("csv and jsonl datasets: columns by name or default, string labels in sorted order", async () => {
  await withTempDir(async (dir) => {
    const csv = join(dir, "reviews.csv");
    await Deno.writeTextFile(
      csv,
      'body,stars,id\n"Loved it, 10/10",5,a\n"Meh.\nNot great",2,b\nfine,3,c\nawful,1,d\n"ok ""I guess""",3,e\n',
    );
    const ds = await readDataset(csv, { textColumn: "body", labelColumn: "stars" });
    assert.deepEqual(ds.texts, ["Loved it, 10/10", "Meh.\nNot great", "fine", "awful", 'ok "I guess"']);
    // CSV cells are text: star ratings are names, sorted by value.
    assert.deepEqual(ds.labels, {
      kind: "string",
      names: ["1", "2", "3", "5"],
      codes: Int32Array.from([3, 1, 2, 0, 2]),
    });
    await rejectsOneLine(
      readDataset(csv),
      /reviews\.csv: no text column \(looked for text, sentence, review; columns: body, stars, id\); pass --text-column/,
    );
    await rejectsOneLine(
      readDataset(csv, { textColumn: "body", labelColumn: "rating" }),
      /reviews\.csv: no column "rating" \(--label-column; columns: body, stars, id\)/,
    );

    const jsonl = join(dir, "tickets.jsonl");
    await Deno.writeTextFile(
      jsonl,
      ['{"sentence": "refund please", "label": "billing"}', "", '{"sentence": "app crashes", "label": "bug"}']
        .join(
          "\n",
        ) + '\n{"sentence": null, "label": "billing", "extra": 1}\n',
    );
    const j = await readDataset(jsonl);
    assert.equal(j.textColumn, "sentence");
    assert.deepEqual(j.texts, ["refund please", "app crashes", ""]);
    assert.equal(j.emptyTexts, 1);
    assert.deepEqual(j.labels, {
      kind: "string",
      names: ["billing", "bug"],
      codes: Int32Array.from([0, 1, 0]),
    });
    // JSONL integers are class ids.
    await Deno.writeTextFile(join(dir, "ints.jsonl"), '{"text":"a","labels":2}\n{"text":"b","labels":0}\n');
    const ints = await readDataset(join(dir, "ints.jsonl"));
    assert.equal(ints.labelColumn, "labels");
    assert.deepEqual(ints.labels, { kind: "int", values: Int32Array.from([2, 0]) });
    // A TSV under another extension, with --format.
    await Deno.writeTextFile(join(dir, "data.txt.gz.raw"), "review\tlabel\ngood\tpos\n");
    const tsv = await readDataset(join(dir, "data.txt.gz.raw"), { format: "tsv" });
    assert.deepEqual([tsv.textColumn, tsv.texts], ["review", ["good"]]);
  });
});

Deno.test("bad labels: nulls, floats, mixed types, booleans, empty files: one line naming the file and row", async () => {
  await withTempDir(async (dir) => {
    const write = (name: string, text: string) => Deno.writeTextFile(join(dir, name), text);
    const cases: [string, string, RegExp][] = [
      ["null.csv", "text,label\na,pos\nb,\n", /null\.csv: column "label": line 3 has no label/],
      [
        "float.csv",
        "text,label\na,1\nb,0.5\n",
        /float\.csv: column "label": line 3 holds the float 0\.5; labels must be integers or names/,
      ],
      [
        "mixed.jsonl",
        '{"text":"a","label":1}\n{"text":"b","label":"pos"}\n',
        /mixed\.jsonl: column "label": mixed label types: line 1 holds the integer 1, line 2 the string "pos"/,
      ],
      ["float.jsonl", '{"text":"a","label":1.5}\n', /line 1 holds the float 1\.5/],
      [
        "nulls.jsonl",
        '{"text":"a","label":1}\n{"text":"b"}\n',
        /nulls\.jsonl: column "label": line 2 has no label/,
      ],
      ["bool.jsonl", '{"text":"a","label":true}\n', /holds true; labels must be integers or strings/],
      ["notjson.jsonl", '{"text":"a","label":1}\n{oops\n', /notjson\.jsonl: line 2: not JSON/],
      ["numtext.jsonl", '{"text":5,"label":1}\n', /column "text": line 1 holds 5, not a string/],
      ["empty.csv", "", /empty\.csv: empty file/],
      ["empty.jsonl", "\n\n", /empty\.jsonl: empty file/],
    ];
    for (const [name, text, pattern] of cases) {
      await write(name, text);
      await rejectsOneLine(readDataset(join(dir, name)), pattern);
    }
    await Deno.writeFile(join(dir, "empty.parquet"), new Uint8Array());
    await rejectsOneLine(readDataset(join(dir, "empty.parquet")), /empty\.parquet: empty file/);
    await Deno.writeFile(
      join(dir, "nulls.parquet"),
      writeParquet([
        { name: "text", type: "BYTE_ARRAY", values: ["a", "b"] },
        { name: "label", type: "INT64", optional: true, values: [1, null] },
      ]),
    );
    await rejectsOneLine(
      readDataset(join(dir, "nulls.parquet")),
      /nulls\.parquet: column "label": row 1 has no label/,
    );
    await rejectsOneLine(readDataset(join(dir, "missing.csv")), /missing\.csv: file not found/);
  });
});

function classLabelParquet(texts: string[], labels: number[], names: string[] | null): Uint8Array {
  const columns: ParquetColumn[] = [
    { name: "text", type: "BYTE_ARRAY", values: texts },
    { name: "label", type: "INT64", values: labels },
  ];
  const features = {
    text: { dtype: "string", _type: "Value" },
    label: names ? { names, _type: "ClassLabel" } : { dtype: "int64", _type: "Value" },
  };
  return writeParquet(columns, { keyValueMetadata: { huggingface: JSON.stringify({ info: { features } }) } });
}

const SST5 = ["very negative", "negative", "neutral", "positive", "very positive"];

Deno.test("parquet: a 5-class file with ClassLabel metadata names its classes; string labels; the token cache keeps them", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "train-00000-of-00001.parquet");
    const texts = Array.from({ length: 10 }, (_, i) => `review ${i}`);
    const labels = texts.map((_, i) => i % 5);
    await Deno.writeFile(path, classLabelParquet(texts, labels, SST5));
    const ds = await readDataset(path);
    assert.deepEqual(ds.classNames, SST5);
    const space = resolveLabelSpace(ds.labels, ds.classNames, null, path);
    assert.deepEqual(space, { names: SST5, named: true });
    assert.deepEqual(labelIds(ds.labels, space, path), Int32Array.from(labels));
    throwsOneLine(
      () => resolveLabelSpace(ds.labels, ds.classNames, 3, path),
      /--num-labels 3: .* names 5 classes in its metadata/,
    );
    // Without metadata: ids 0..max, HF's LABEL_i names (NEGATIVE/POSITIVE for two).
    assert.deepEqual(
      resolveLabelSpace({ kind: "int", values: Int32Array.from([0, 2, 1]) }, null, null, "x"),
      {
        names: ["LABEL_0", "LABEL_1", "LABEL_2"],
        named: false,
      },
    );
    assert.deepEqual(
      resolveLabelSpace({ kind: "int", values: Int32Array.from([1, 0]) }, null, null, "x").names,
      [
        "NEGATIVE",
        "POSITIVE",
      ],
    );
    // A label id at or past num_labels.
    throwsOneLine(
      () => resolveLabelSpace({ kind: "int", values: Int32Array.from([0, 1, 3]) }, null, 3, "f.jsonl"),
      /^f\.jsonl: row 2 has label 3, but label ids are 0\.\.2 \(--num-labels 3\)$/,
    );
    throwsOneLine(
      () => resolveLabelSpace({ kind: "int", values: Int32Array.from([0, 5]) }, SST5, null, "m.parquet"),
      /row 1 has label 5, but label ids are 0\.\.4 \(its metadata names 5 classes\)/,
    );
    // Strings mapped through a model's names; an unknown name is an error.
    const strings = {
      kind: "string" as const,
      names: ["neutral", "positive"],
      codes: Int32Array.from([1, 0]),
    };
    assert.deepEqual(labelIds(strings, space, "e"), Int32Array.from([3, 2]));
    throwsOneLine(
      () => labelIds({ kind: "string", names: ["meh"], codes: Int32Array.from([0]) }, space, "e.csv"),
      /e\.csv: label "meh" is not one of the model's labels \("very negative", "negative", /,
    );

    // String labels in Parquet; the token cache records the names and the columns.
    const strPath = join(dir, "emotions.parquet");
    await Deno.writeFile(
      strPath,
      writeParquet([
        { name: "review", type: "BYTE_ARRAY", values: ["so happy", "so sad", "angry!", "glad"] },
        { name: "emotion", type: "BYTE_ARRAY", values: ["joy", "sadness", "anger", "joy"] },
      ]),
    );
    const cacheDir = join(dir, "cache");
    const opts = {
      parquetPath: strPath,
      vocabPath: bundledVocabPath(),
      maxLength: 16,
      cacheDir,
      columns: { labelColumn: "emotion" },
    };
    const built = await loadTokenizedSplit(opts);
    const cached = await loadTokenizedSplit(opts);
    assert.equal(cached.fromCache, true);
    for (const t of [built, cached]) {
      assert.deepEqual(t.labelInfo, {
        textColumn: "review",
        labelColumn: "emotion",
        kind: "string",
        names: ["anger", "joy", "sadness"],
        classNames: null,
      });
      assert.deepEqual(t.labels, Int32Array.from([1, 2, 0, 1]));
    }
    // Other columns are another cache entry.
    const other = await loadTokenizedSplit({
      ...opts,
      columns: { labelColumn: "review", textColumn: "emotion" },
    });
    assert.equal(other.fromCache, false);
    assert.deepEqual(other.labelInfo.names, ["angry!", "glad", "so happy", "so sad"]);
    assert.deepEqual(sortLabelNames(["10", "9", "1"]), ["1", "9", "10"]);
    assert.deepEqual(sortLabelNames(["b", "B", "a"]), ["B", "a", "b"]);
  });
});

Deno.test("HF layout: <config>/<split>-*.parquet shards, sorted; several configs is an error", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "ds", "default"), { recursive: true });
    for (
      const name of [
        "train-00001-of-00002.parquet",
        "train-00000-of-00002.parquet",
        "test-00000-of-00001.parquet",
      ]
    ) {
      await Deno.writeTextFile(join(dir, "ds", "default", name), "x");
    }
    assert.deepEqual(await findSplitFiles(join(dir, "ds"), "train", "--data"), [
      join(dir, "ds", "default", "train-00000-of-00002.parquet"),
      join(dir, "ds", "default", "train-00001-of-00002.parquet"),
    ]);
    assert.equal(await findSplitFiles(join(dir, "ds"), "validation", "--data"), null);
    await Deno.mkdir(join(dir, "ds", "other"));
    await Deno.writeTextFile(join(dir, "ds", "other", "train.csv"), "x");
    await rejectsOneLine(
      findSplitFiles(join(dir, "ds"), "train", "--data"),
      /--data .*ds: 2 config folders have a train split \(default, other\); pass one of them/,
    );
    await Deno.writeTextFile(join(dir, "train.jsonl"), "x");
    assert.deepEqual(await findSplitFiles(dir, "train", "--data"), [join(dir, "train.jsonl")]);
    await rejectsOneLine(
      findSplitFiles(join(dir, "nope"), "train", "--eval-data"),
      /--eval-data .*nope: no such file or folder/,
    );
  });
});

Deno.test("validation split: seeded, stratified, ceil(fraction * n) rows", () => {
  const labels = Int32Array.from({ length: 103 }, (_, i) => (i < 60 ? 0 : i < 90 ? 1 : 2));
  const a = stratifiedSplit(labels, 0.1, 42);
  assert.equal(a.held.length, 11);
  assert.equal(a.train.length + a.held.length, 103);
  const count = (rows: Int32Array, c: number) => rows.filter((r) => labels[r] === c).length;
  // 60/30/13 rows: shares 6.4/3.2/1.39 → 6, 3, 1 plus the remainder to the largest fraction (class 0).
  assert.deepEqual([0, 1, 2].map((c) => count(a.held, c)), [7, 3, 1]);
  assert.deepEqual(stratifiedSplit(labels, 0.1, 42), a, "seeded");
  assert.notDeepEqual(stratifiedSplit(labels, 0.1, 7).held, a.held);
  assert.equal(new Set([...a.train, ...a.held]).size, 103, "disjoint and complete");
});
