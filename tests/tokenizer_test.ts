import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { BertTokenizer } from "../data/tokenizer.ts";
import { padBatch } from "../data/token_batch.ts";
import { isWhitespace } from "../data/tokenizer_chars.ts";
import {
  bundledVocabPath,
  loadTokenizer,
  tokenizerConfigJson,
  tokenizerJson,
} from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { sharedDir } from "../util/fs.ts";
import { cli } from "./cli.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const EDGE_FIXTURE = `${ROOT}tests/fixtures/tokenizer/edge-cases.jsonl`;
const shared = sharedDir();
const tokenizer = (await loadTokenizer(bundledVocabPath())).tokenizer;

interface GoldenCase {
  text: string;
  ids: number[];
  row?: number;
}

async function readGolden(path: string): Promise<GoldenCase[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function assertGolden(cases: GoldenCase[], what: string) {
  let failures = 0;
  const shown: string[] = [];
  for (const [i, c] of cases.entries()) {
    const got = Array.from(tokenizer.encode(c.text));
    if (got.length === c.ids.length && got.every((id, k) => id === c.ids[k])) continue;
    failures++;
    if (shown.length < 3) {
      shown.push(
        `#${c.row ?? i} ${JSON.stringify(c.text.slice(0, 60))}: got ${got.slice(0, 20)} want ${
          c.ids.slice(0, 20)
        }`,
      );
    }
  }
  assert.equal(failures, 0, `${what}: ${failures}/${cases.length} differ\n${shown.join("\n")}`);
}

Deno.test("tokenizer: bundled edge cases match the independent golden ids exactly", async () => {
  const cases = await readGolden(EDGE_FIXTURE);
  assert.equal(cases.length, 44);
  assertGolden(cases, "edge-cases");
});

Deno.test({
  name: "tokenizer: ../shared golden files (edge cases, 500 IMDB train reviews) match exactly",
  ignore: shared === null,
  fn: async () => {
    const edge = await readGolden(`${shared}golden/tokenizer/edge-cases.jsonl`);
    assert.deepEqual(edge, await readGolden(EDGE_FIXTURE), "bundled fixture differs from ../shared");
    const imdb = await readGolden(`${shared}golden/tokenizer/imdb-train-500.jsonl`);
    assert.equal(imdb.length, 500);
    assertGolden(imdb, "imdb-train-500");
  },
});
if (shared === null) console.log("skipping ../shared golden tokenizer files: ../shared is not present");

Deno.test("tokenizer: bundled vocab matches ../shared copy", { ignore: shared === null }, async () => {
  const mine = await Deno.readTextFile(bundledVocabPath());
  assert.equal(mine, await Deno.readTextFile(`${shared}models/distilbert-base-uncased/vocab.txt`));
});

Deno.test("tokenizer: truncation keeps the first max_length-2 pieces, then [SEP]", () => {
  const text = "word ".repeat(1000) + "end";
  const ids = tokenizer.encode(text);
  assert.equal(ids.length, 512);
  assert.equal(ids[0], tokenizer.clsId);
  assert.equal(ids[511], tokenizer.sepId);
  assert.ok(ids.subarray(1, 511).every((id) => id === tokenizer.vocab.get("word")));
  const short = tokenizer.encode("hello world again", { maxLength: 4 });
  assert.deepEqual(Array.from(short), [101, 7592, 2088, 102]);
  assert.deepEqual(Array.from(tokenizer.encode("", { maxLength: 2 })), [101, 102]);
  // A word split into pieces may be cut in the middle, as Hugging Face does.
  const pieces = tokenizer.encode("supercalifragilisticexpialidocious", { maxLength: 5 });
  assert.deepEqual(Array.from(pieces), [101, 3565, 9289, 10128, 102]);
  assert.deepEqual(Array.from(tokenizer.encode("Hello", { addSpecialTokens: false })), [7592]);
});

Deno.test("tokenizer: encodeBatch pads to the longest or a fixed length, with attention masks", () => {
  const batch = tokenizer.encodeBatch(["hello world", "hi", ""]);
  assert.equal(batch.batchSize, 3);
  assert.equal(batch.seqLength, 4);
  assert.deepEqual(Array.from(batch.inputIds), [101, 7592, 2088, 102, 101, 7632, 102, 0, 101, 102, 0, 0]);
  assert.deepEqual(Array.from(batch.attentionMask), [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0]);
  const fixed = tokenizer.encodeBatch(["hello world"], { padTo: 6 });
  assert.deepEqual(Array.from(fixed.inputIds), [101, 7592, 2088, 102, 0, 0]);
  assert.deepEqual(Array.from(fixed.attentionMask), [1, 1, 1, 1, 0, 0]);
  const truncated = tokenizer.encodeBatch(["a b c d e f", "a"], { maxLength: 4, padTo: 4 });
  assert.deepEqual(Array.from(truncated.inputIds), [101, 1037, 1038, 102, 101, 1037, 102, 0]);
  assert.throws(() => padBatch([[1, 2, 3]], { padTo: 2 }), RangeError);
});

Deno.test("tokenizer: decode joins ## pieces and can skip special tokens", () => {
  const ids = tokenizer.encode("Supercalifragilistic, isn't it? Yes!");
  assert.equal(tokenizer.decode(ids), "supercalifragilistic, isn't it? yes!");
  assert.equal(
    tokenizer.decode(ids, { skipSpecialTokens: false, cleanUpSpaces: false }),
    "[CLS] supercalifragilistic , isn ' t it ? yes ! [SEP]",
  );
  assert.deepEqual(tokenizer.tokenize("Unaffable"), ["una", "##ffa", "##ble"]);
});

Deno.test("tokenizer: a vocab without [UNK]/[CLS]/[SEP]/[PAD] is a one-line error naming the file", () => {
  assert.throws(
    () => BertTokenizer.fromVocabText("[PAD]\n[CLS]\nhello\n", "my/vocab.txt"),
    (e) =>
      e instanceof UserError &&
      /^my\/vocab\.txt: not a BERT vocab: missing \[UNK\], \[SEP\]$/.test(e.message),
  );
});

Deno.test("tokenizer: handles surrogate pairs, long words and special tokens inside words", () => {
  assert.deepEqual(Array.from(tokenizer.encode("𝒳 a")), [101, 100, 1037, 102]);
  assert.deepEqual(tokenizer.tokenize("x".repeat(101)), ["[UNK]"]);
  assert.deepEqual(tokenizer.tokenize("[cls]"), ["[", "cl", "##s", "]"]);
  assert.deepEqual(tokenizer.tokenize("a[MASK]b"), ["a", "[MASK]", "b"]);
  // The word cache must not mix up chunks that share a hash bucket: same result twice, in any order.
  const texts = ["movie.", "Movie.", "MOVIE", "movies", "movie."];
  const first = texts.map((t) => tokenizer.tokenize(t).join(" "));
  assert.deepEqual(texts.map((t) => tokenizer.tokenize(t).join(" ")), first);
  assert.deepEqual(first, ["movie .", "movie .", "movie", "movies", "movie ."]);
});

Deno.test("tokenizer: Greek final sigma, unassigned code points and CJK Extension E as tokenizers does", () => {
  // tokenizers lowercases per code point: Σ → σ even at a word's end (JavaScript's toLowerCase gives ς).
  assert.deepEqual(tokenizer.tokenize("ΟΔΟΣ"), ["ο", "##δ", "##ο", "##σ"]);
  // An unassigned code point (U+0378) is kept, so the word it is in becomes [UNK] (it was dropped here).
  assert.deepEqual(tokenizer.tokenize("a\u0378 b"), ["[UNK]", "b"]);
  // Format characters are removed (a zero-width space joins what is around it), U+FFFD and NUL too.
  assert.deepEqual(tokenizer.tokenize("movie\u200bs a\ufffd\u0000b"), ["movies", "ab"]);
  // BERT's CJK ranges skip U+2B820..U+2B91F (no spaces around those), unlike the rest of Extension E.
  assert.deepEqual(tokenizer.tokenize("a\u{2b820}b"), ["[UNK]"]);
  assert.deepEqual(tokenizer.tokenize("a\u{2b920}b"), ["a", "[UNK]", "b"]);
});

Deno.test("tokenizer: the chunk splitter's whitespace is Unicode White_Space, \\v \\f U+0085 joined by clean_text", () => {
  for (let cp = 0; cp < 0x10000; cp++) {
    assert.equal(
      isWhitespace(cp, true),
      /\p{White_Space}/u.test(String.fromCharCode(cp)),
      `U+${cp.toString(16)}`,
    );
  }
  assert.deepEqual(tokenizer.tokenize("a\vb a\fb a\u0085b"), ["ab", "ab", "ab"]);
});

Deno.test("tokenizer files: tokenizer.json is read first; tokenizer_config.json's options apply", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const custom = BertTokenizer.fromVocabText("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nHello\n##s\n", "v");
    await Deno.writeTextFile(`${dir}/tokenizer.json`, tokenizerJson(custom));
    // A vocab.txt beside it that says otherwise is not used (transformers reads tokenizer.json first).
    await Deno.writeTextFile(`${dir}/vocab.txt`, await Deno.readTextFile(bundledVocabPath()));
    let loaded = await loadTokenizer(dir);
    assert.equal(loaded.vocabFile, `${dir}/tokenizer.json`);
    assert.equal(loaded.tokenizer.vocabSize, 7);
    assert.deepEqual(Array.from(loaded.tokenizer.encode("Hellos")), [2, 4, 6, 3]);
    await Deno.writeTextFile(
      `${dir}/tokenizer_config.json`,
      JSON.stringify({ do_lower_case: false, model_max_length: 64 }),
    );
    loaded = await loadTokenizer(dir);
    assert.deepEqual(Array.from(loaded.tokenizer.encode("Hellos")), [2, 5, 6, 3]);
    assert.equal(loaded.tokenizer.modelMaxLength, 64);
    assert.match(loaded.notes.join("\n"), /tokenizer\.json: lowercase differ from .*tokenizer_config\.json/);
    assert.deepEqual(JSON.parse(tokenizerConfigJson(loaded.tokenizer)).do_lower_case, false);
    // Only vocab.txt: read with tokenizer_config.json's options.
    await Deno.remove(`${dir}/tokenizer.json`);
    loaded = await loadTokenizer(dir);
    assert.equal(loaded.vocabFile, `${dir}/vocab.txt`);
    assert.equal(loaded.tokenizer.vocabSize, 30522);
    assert.deepEqual(loaded.tokenizer.tokenize("Hello"), ["[UNK]"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- the tokenize task's inspection modes -------------------------------------------------------------------

const runTokenize = (args: string[]) => cli("tokenize", args);

Deno.test("tokenize task: --text prints tokens and ids; --jsonl maps lines in order", async () => {
  const r = await runTokenize(["--text", "Hello, World!"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\[CLS\] hello , world ! \[SEP\]/);
  assert.match(r.stdout, /ids: 101 7592 1010 2088 999 102/);

  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/in.jsonl`,
      '{"text": "Hello, World!"}\n{"text": ""}\n{"text": "a b c d"}\n',
    );
    const ok = await runTokenize([
      "--jsonl",
      `${dir}/in.jsonl`,
      "--out",
      `${dir}/out.jsonl`,
      "--max-length",
      "4",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      await Deno.readTextFile(`${dir}/out.jsonl`),
      '{"ids":[101,7592,1010,102]}\n{"ids":[101,102]}\n{"ids":[101,1037,1038,102]}\n',
    );

    await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"text": "fine"}\n{"text": oops}\n');
    const bad = await runTokenize(["--jsonl", `${dir}/bad.jsonl`, "--out", `${dir}/bad-out.jsonl`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: .*bad\.jsonl:2: bad JSON/);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.equal(await exists(`${dir}/bad-out.jsonl`), false, "nothing written on a bad line");

    await Deno.writeTextFile(`${dir}/vocab.txt`, "[PAD]\n[CLS]\n[SEP]\nhello\n");
    const vocab = await runTokenize(["--text", "hi", "--vocab", `${dir}/vocab.txt`]);
    assert.equal(vocab.code, 1);
    assert.match(vocab.stderr, /^error: .*vocab\.txt: not a BERT vocab: missing \[UNK\]$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
