/**
 * `deno task tokenize`: tokenize an IMDB split once and cache the ids for train/eval; or, for people inspecting
 * the tokenizer, `--text "..."` (tokens and ids) and `--jsonl IN --out OUT` (`{"text"}` lines → `{"ids"}` lines).
 */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { UserError } from "../util/errors.ts";
import { checkOutputDir, checkOutputFile } from "../util/output_check.ts";
import { imdbSplitFlag, tokenizeJsonl, tokenizeSplit, tokenizeText } from "../data/tokenize_job.ts";
import { defaultTokenCacheDir } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";

const HELP = `deno task tokenize [flags]

Tokenizes an IMDB split once and caches the ids, so train and eval never re-tokenize.

  --data DIR|FILE     a .parquet, .csv, .tsv or .jsonl file, or a folder with plain_text/<split>-*.parquet
                      (default: the Hugging Face cache, else download, else the bundled sample)
  --text-column NAME  (default text, then sentence, review); --label-column NAME (default label, then labels)
  --format FORMAT     parquet | csv | tsv | jsonl (default: the extension)
  --split NAME        train | test | unsupervised (default train)
  --max-length N      ids per review including [CLS] and [SEP] (default 512)
  --vocab PATH        vocab.txt, tokenizer.json, or a model directory (default ${bundledVocabPath()})
  --cache-dir DIR     where tokenized splits are kept (default ${defaultTokenCacheDir()})
  --text "..."        print the tokens and ids of one text instead
  --jsonl IN          tokenize lines {"text": ...} of IN into lines {"ids": [...]} instead
  --out OUT           where --jsonl writes (default stdout)
  -h, --help          this help`;

export async function tokenizeMain(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    data: { type: "string" },
    "text-column": { type: "string" },
    "label-column": { type: "string" },
    format: { type: "string" },
    split: { type: "string", default: "train" },
    "max-length": { type: "string" },
    vocab: { type: "string" },
    "cache-dir": { type: "string" },
    text: { type: "string" },
    jsonl: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const maxLength = numberFlag(values["max-length"], "--max-length", { integer: true, min: 2 }) ?? 512;
  const vocabPath = values.vocab ?? bundledVocabPath();
  if (values.out !== undefined && values.jsonl === undefined) {
    throw new UserError("--out: only used with --jsonl");
  }
  if (values.out !== undefined) await checkOutputFile(values.out, "--out");

  if (values.text !== undefined) {
    const { tokens, ids } = await tokenizeText(vocabPath, values.text, maxLength);
    console.log(`tokens (${ids.length}): ${tokens.join(" ")}`);
    console.log(`ids: ${Array.from(ids).join(" ")}`);
    return;
  }
  if (values.jsonl !== undefined) {
    await tokenizeJsonl(values.jsonl, values.out, vocabPath, maxLength);
    return;
  }

  const split = imdbSplitFlag(values.split);
  const cacheDir = values["cache-dir"] ?? defaultTokenCacheDir();
  await checkOutputDir(cacheDir, values["cache-dir"] !== undefined ? "--cache-dir" : "the token cache");
  const report = await tokenizeSplit({
    split,
    data: values.data,
    columns: {
      ...(values["text-column"] !== undefined ? { textColumn: values["text-column"] } : {}),
      ...(values["label-column"] !== undefined ? { labelColumn: values["label-column"] } : {}),
    },
    format: values.format,
    vocabPath,
    maxLength,
    cacheDir,
  });
  for (const line of report.warnings) console.error(line);
  const { source, split: result } = report;
  console.log(`${result.labels.length} reviews from ${source.path} (${source.source})`);
  console.log(
    `${result.ids.length} tokens, mean ${
      report.meanTokens.toFixed(1)
    } per review, ${report.atMaxLength} at max length ${maxLength}`,
  );
  console.log(
    `${result.fromCache ? "loaded" : "built"} ${result.cachePath} in ${report.seconds.toFixed(2)} s`,
  );
}

if (import.meta.main) runMain(() => tokenizeMain(Deno.args));
