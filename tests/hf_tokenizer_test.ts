/**
 * Our tokenizer against Hugging Face's (`tokenizers` through transformers' BertTokenizerFast and AutoTokenizer):
 * identical ids on all 25,000 IMDB test reviews and on hard text at max_length 128 and 512, with every
 * normalizer option; every Unicode code point treated alike; tokenizer files as transformers writes them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BertTokenizer } from "../data/tokenizer.ts";
import {
  bundledVocabPath,
  loadTokenizer,
  tokenizerConfigJson,
  tokenizerJson,
  vocabText,
} from "../data/tokenizer_files.ts";
import { readImdbParquet } from "../data/imdb.ts";
import { bundledImdbSample } from "../data/imdb_source.ts";
import { makeBertCharRules, NO_UNICODE_EXCEPTIONS } from "../data/bert_unicode.ts";
import { BERT_CHAR_RULES } from "../data/bert_unicode.ts";
import { sharedDir } from "../util/fs.ts";
import { compareCodePoints, hfCodePointDump } from "../scripts/hf_unicode_tables.ts";
import { hf, readIdRows, ROOT, runHf, withTempDir } from "./hf_reference.ts";

const shared = sharedDir();
const BUNDLED_DIR = `${ROOT}assets/distilbert-base-uncased`;
const MAX_LENGTHS = [128, 512];

/** Text that has broken tokenizers: one per line of the list, and then some. */
function hardTexts(): string[] {
  const review = "This movie was a <b>masterpiece</b>... “Don’t miss it,” she said — 10/10!<br /><br />";
  return [
    // accents and combining marks; NFD vs NFC
    "Café crème brûlée, naïve résumé, Ångström, Dvořák, São Paulo, Zoë, façade",
    "Crème Brûlée".normalize("NFD"),
    "Crème Brûlée".normalize("NFC"),
    "e\u0301 a\u0300 o\u0302\u0323 n\u0303 u\u0308",
    "Z̷̢̧̛a̸͖͝l̵̡g̶̢͝o̷͓ t̸̢̛e̵̢x̷t̶ s̵o̴u̸p",
    "\u212b \u2126 \u00c5 \u1e9e ß İstanbul ı Ǆ ǅ ǆ ǰ ﬁ ﬀ",
    // Greek: final sigma is lowercased per code point (σ, not ς), as tokenizers does
    "ΟΔΟΣ ΣΊΣΥΦΟΣ Όσος ΌΣΟΣ σς Σ ΑΣ.",
    // CJK, Korean, Thai, Arabic, Hebrew, Devanagari, Vietnamese, Cyrillic
    "我爱这部电影！日本語のテキスト「映画」、。한국어 영화 리뷰",
    "㐀 豈 𠀀𠀁 𪜀 𫝀 𫠠 𬺰 \u{2b820}\u{2b91f}\u{2b920} 〇 々",
    "ภาษาไทยดีมาก หนังเรื่องนี้สนุก",
    "الفيلم رائع جدا مَرْحَبًا بِكُمْ ١٢٣",
    "שָׁלוֹם עוֹלָם",
    "हिन्दी फ़िल्म बहुत अच्छी है",
    "Tiếng Việt có dấu: phim này hay quá",
    "Фильм отличный, ЁЖИК в тумане",
    // emoji, ZWJ sequences, modifiers, flags, keycaps
    "😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 1️⃣ 🇺🇸🇫🇷 🤦🏼‍♂️ great!!!",
    // zero-width, bidi and control characters
    "zero\u200bwidth \u200c\u200d joiners \ufeffBOM soft\u00adhyphen word\u2060joiner",
    "a\u0000b a\u0001b a\u0007b a\u001fb a\u007fb a\u0085b a\u009fb",
    "tab\tsep \u000bvt \u000cff line\u2028sep para\u2029sep",
    "\u202eRTL override\u202c \u2066isolate\u2069 \u200e\u200f marks",
    "\ufffd replacement \u0378 unassigned \u0378\u0379a \ue000 private \u{f0000} \u{10fffd}",
    // \r, non-breaking and other spaces
    "Windows\r\nline endings\r\n\r\nand a lone\rCR",
    "non\u00a0breaking narrow\u202fnbsp ideographic\u3000space en\u2000quad thin\u2009space",
    // words over 100 characters
    "a".repeat(100),
    "a".repeat(101),
    "é".repeat(101),
    "e\u0301".repeat(60),
    "x".repeat(99) + "!!",
    "https://example.com/" + "path/".repeat(30),
    "😀".repeat(101),
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    // HTML, quotes, dashes, symbols, numbers
    "Great movie!<br />Loved it.<br /><br />10/10 &amp; &lt;3 <i>italic</i>",
    "“curly” ‘single’ „low“ «guillemets» ‹single› don’t it's – — ‐ … ′ ″",
    "3.14 1,000,000 $5 £3 €4 ¥5 50% #1 @user a_b a-b ∑ ∫ √ ≤ ≥ ± × ÷ x² H₂O ½ Ⅻ ①",
    "ＡＢＣ１２３！ｶﾀｶﾅ",
    "HELLO World hElLo ÀÉÎÕÜ",
    // characters where tokenizers' Unicode tables are older or newer than JavaScript's
    "a\u061db a\u07fdb a\u0898b \ua7ce\ua7cf a\u0890b a\u1734b a\u{11938}b a\u166db",
    // special tokens in the text
    "[CLS] hello [SEP] [MASK] [cls] a[UNK]b [PAD][PAD] [[CLS]] [SEP",
    // empty and whitespace-only
    "",
    " ",
    "\t\n\r ",
    "\u00a0\u3000\u2028",
    "\u0001\u0002\u200b",
    // very long texts
    review.repeat(40),
    "word ".repeat(2000),
    ("Lorem ipsum dolor sit amet, 電影 très bien. ").repeat(2500),
  ];
}

async function writeJsonl(path: string, texts: string[]): Promise<void> {
  await Deno.writeTextFile(path, texts.map((text) => JSON.stringify({ text })).join("\n") + "\n");
}

/** Asserts our ids equal HF's for every text; reports the count that differ and the first few. */
function assertSameIds(
  tok: BertTokenizer | Int32Array[],
  texts: string[],
  hfRows: Int32Array[],
  maxLength: number,
  what: string,
) {
  assert.equal(hfRows.length, texts.length, `${what}: row count`);
  let differ = 0;
  const shown: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const ours = Array.isArray(tok) ? tok[i] : tok.encode(texts[i], { maxLength });
    const theirs = hfRows[i];
    if (ours.length === theirs.length && ours.every((id, k) => id === theirs[k])) continue;
    differ++;
    if (shown.length < 3) {
      shown.push(
        `#${i} ${JSON.stringify(texts[i].slice(0, 60))}: ours ${ours.slice(0, 16)} HF ${theirs.slice(0, 16)}`,
      );
    }
  }
  assert.equal(
    differ,
    0,
    `${what} at max_length ${maxLength}: ${differ}/${texts.length} differ\n${shown.join("\n")}`,
  );
}

Deno.test({
  name: "hf: tokenizer ids equal BertTokenizerFast and AutoTokenizer on the IMDB test reviews and hard text",
  ignore: !hf,
  fn: async () => {
    const imdbPath = shared
      ? `${shared}data/imdb/plain_text/test-00000-of-00001.parquet`
      : bundledImdbSample("test")!;
    if (!shared) {
      console.log(`  no ../shared: the bundled sample's ${imdbPath} instead of all 25,000 reviews`);
    }
    const reviews = (await readImdbParquet(imdbPath)).texts;
    if (shared) assert.equal(reviews.length, 25_000);
    // The transformers.js golden texts too (the fallback without this venv): HF is their reference here.
    const golden = [`${ROOT}tests/fixtures/tokenizer/edge-cases.jsonl`];
    if (shared) golden.push(`${shared}golden/tokenizer/imdb-train-500.jsonl`);
    const goldenTexts: string[] = [];
    for (const path of golden) {
      for (const line of (await Deno.readTextFile(path)).split("\n")) {
        if (line.trim()) goldenTexts.push(JSON.parse(line).text);
      }
    }
    const hard = [...hardTexts(), ...goldenTexts];
    const texts = [...hard, ...reviews];
    await withTempDir(async (dir) => {
      await writeJsonl(`${dir}/texts.jsonl`, texts);
      const spec = {
        texts: `${dir}/texts.jsonl`,
        max_lengths: MAX_LENGTHS,
        out: dir,
        tokenizers: [
          {
            name: "fast",
            vocab: bundledVocabPath(),
            save: `${dir}/saved`,
            expect_size: 30522,
            agree_limit: hard.length + 2000,
          },
          { name: "bundled", dir: BUNDLED_DIR, limit: hard.length + 2000 },
        ],
      };
      await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(spec));
      const pending = runHf("encode_texts.py", [`${dir}/spec.json`]);
      // Ours meanwhile (HF's tokenizer runs on the other core), from vocab.txt; the one read from HF's
      // tokenizer.json below is the same tokenizer (same serialization).
      const fromVocab = (await loadTokenizer(BUNDLED_DIR)).tokenizer;
      const ours = new Map(
        MAX_LENGTHS.map((L) => [L, texts.map((t) => fromVocab.encode(t, { maxLength: L }))]),
      );
      const report = JSON.parse(await pending);
      console.log(`  HF: ${JSON.stringify(report)}`);
      // The saved directory holds only what 5.x writes: tokenizer.json and tokenizer_config.json.
      assert.deepEqual([...Deno.readDirSync(`${dir}/saved`)].map((e) => e.name).sort(), [
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      const fromJson = (await loadTokenizer(`${dir}/saved`)).tokenizer;
      assert.equal(fromJson.vocabSize, 30522);
      assert.equal(
        tokenizerJson(fromVocab),
        tokenizerJson(fromJson),
        "vocab.txt and tokenizer.json: one tokenizer",
      );
      for (const maxLength of MAX_LENGTHS) {
        const rows = await readIdRows(`${dir}/fast.${maxLength}.bin`);
        assertSameIds(
          ours.get(maxLength)!,
          texts,
          rows,
          maxLength,
          "ours vs BertTokenizerFast / AutoTokenizer",
        );
        const bundled = await readIdRows(`${dir}/bundled.${maxLength}.bin`);
        assertSameIds(
          ours.get(maxLength)!,
          texts.slice(0, bundled.length),
          bundled,
          maxLength,
          "vocab.txt dir",
        );
      }
      console.log(
        `  ${texts.length} texts (${hardTexts().length} hard, ${goldenTexts.length} golden, ${reviews.length} reviews): ` +
          "identical ids at max_length 128 and 512",
      );
    });
  },
});

Deno.test({
  name: "hf: tokenizer options and added tokens give AutoTokenizer's ids (cased, accents, CJK, single_word)",
  ignore: !hf,
  fn: async () => {
    const sample = (await readImdbParquet(bundledImdbSample("test")!)).texts.slice(0, 300);
    const texts = [...hardTexts(), ...sample, "zzq azzq zzq_ -zzq- Qhello xQHELLO qhéllo <x> a<x>b"];
    const variants: Record<string, unknown> = {
      cased: { do_lower_case: false },
      cased_stripped: { do_lower_case: false, strip_accents: true },
      lower_keep_accents: { do_lower_case: true, strip_accents: false },
      no_cjk: { tokenize_chinese_chars: false },
    };
    const added = [
      { content: "zzq", single_word: true, normalized: false },
      { content: "Qhello", normalized: true },
      { content: "<x>", special: true, normalized: false },
    ];
    await withTempDir(async (dir) => {
      await writeJsonl(`${dir}/texts.jsonl`, texts);
      const tokenizers = [
        ...Object.entries(variants).map(([name, kwargs]) => ({
          name,
          vocab: bundledVocabPath(),
          kwargs,
          save: `${dir}/${name}`,
        })),
        { name: "added", vocab: bundledVocabPath(), save: `${dir}/added`, added_tokens: added },
      ];
      const spec = { texts: `${dir}/texts.jsonl`, max_lengths: MAX_LENGTHS, out: dir, tokenizers };
      await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(spec));
      await runHf("encode_texts.py", [`${dir}/spec.json`]);
      for (const { name } of tokenizers) {
        const tok = (await loadTokenizer(`${dir}/${name}`)).tokenizer;
        for (const maxLength of MAX_LENGTHS) {
          assertSameIds(tok, texts, await readIdRows(`${dir}/${name}.${maxLength}.bin`), maxLength, name);
        }
      }
      const withAdded = (await loadTokenizer(`${dir}/added`)).tokenizer;
      assert.equal(withAdded.vocabSize, 30525);
      assert.deepEqual(withAdded.tokenize("azzq zzq"), ["az", "##z", "##q", "zzq"]);
    });
  },
});

Deno.test({
  name: "hf: every Unicode code point is cleaned, split, stripped and lowercased as tokenizers does",
  ignore: !hf,
  fn: async () => {
    const dump = await hfCodePointDump(hf!.python);
    assert.equal(dump.length, 0x110000 - 0x800);
    const diffs = compareCodePoints(dump, BERT_CHAR_RULES);
    const summary = [...diffs].map(([f, l]) => `${f}: ${l.length} (first U+${l[0].cp.toString(16)})`);
    assert.equal(diffs.size, 0, `differ from tokenizers: ${summary.join(", ")}`);
    // Without the tables (JavaScript's Unicode data alone) the two disagree: the tables are needed.
    const plain = compareCodePoints(dump, makeBertCharRules(NO_UNICODE_EXCEPTIONS));
    const counts = Object.fromEntries([...plain].map(([f, l]) => [f, l.length]));
    console.log(
      `  ${dump.length} code points identical; JavaScript's Unicode data alone would differ in ${
        JSON.stringify(counts)
      }`,
    );
    assert.ok(plain.size > 0);
  },
});

Deno.test({
  name: "hf: tokenizer.json and tokenizer_config.json are written as transformers writes them",
  ignore: !hf,
  fn: async () => {
    await withTempDir(async (dir) => {
      // transformers' own files for the bundled vocabulary: built from vocab=, and re-saved from our bundled dir.
      await runHf("save_tokenizer.py", [bundledVocabPath(), `${dir}/built`, BUNDLED_DIR, `${dir}/resaved`]);
      const ours = (await loadTokenizer(BUNDLED_DIR)).tokenizer;
      const built = await Deno.readTextFile(`${dir}/built/tokenizer.json`);
      assert.equal(tokenizerJson(ours), built, "tokenizer.json, byte for byte");
      const theirsConfig = JSON.parse(await Deno.readTextFile(`${dir}/resaved/tokenizer_config.json`));
      // Describing that one load (the local path), not the tokenizer:
      delete theirsConfig.is_local;
      delete theirsConfig.local_files_only;
      assert.deepEqual(JSON.parse(tokenizerConfigJson(ours)), theirsConfig);
      assert.equal(await Deno.readTextFile(`${dir}/resaved/tokenizer.json`), built);
      assert.equal(vocabText(ours), await Deno.readTextFile(bundledVocabPath()), "vocab.txt, byte for byte");
      const builtConfig = await Deno.readTextFile(`${dir}/built/tokenizer_config.json`);
      assert.ok(builtConfig.endsWith("}\n"));
      assert.deepEqual(
        Object.keys(JSON.parse(builtConfig)),
        Object.keys(JSON.parse(tokenizerConfigJson(ours))),
      );
    });
  },
});

Deno.test("tokenizer files: a directory without tokenizer.json and vocab.txt is a one-line error", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "tokenizer_config.json"), "{}");
    await assert.rejects(
      loadTokenizer(dir),
      (e: Error) =>
        /no tokenizer \(neither tokenizer\.json nor vocab\.txt\)/.test(e.message) &&
        !e.message.includes("\n"),
    );
  });
});
