/**
 * `deno task tokenize`: tokenize an IMDB split once and cache the ids for train/eval; or, for people inspecting
 * the tokenizer, `--text "..."` (tokens and ids) and `--jsonl IN --out OUT` (`{"text"}` lines → `{"ids"}` lines).
 */
import { runMain } from "./_cli.ts";
import { type FlagTable, HELP_ROW, parseOrHelp } from "../train/flags.ts";
import { UserError } from "../util/errors.ts";
import { checkOutputDir, checkOutputFile } from "../util/output_check.ts";
import { imdbSplitFlag, tokenizeJsonl, tokenizeSplit, tokenizeText } from "../data/tokenize_job.ts";
import { defaultTokenCacheDir } from "../data/token_cache.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";

const USAGE = `deno task tokenize [flags]

Tokenizes an IMDB split once and caches the ids, so train and eval never re-tokenize.
`;

export const TOKENIZE_FLAGS = {
  data: {
    kind: "string",
    metavar: "DIR|FILE",
    help: "a .parquet, .csv, .tsv or .jsonl file, or a folder with plain_text/<split>-*.parquet\n" +
      "(default: the Hugging Face cache, else download, else the bundled sample)",
  },
  "text-column": {
    kind: "string",
    metavar: "NAME",
    help: "(default text, then sentence, review); --label-column NAME (default label, then labels)",
  },
  "label-column": { kind: "string", metavar: "NAME", hidden: true, help: "(default label, then labels)" },
  format: { kind: "string", metavar: "FORMAT", help: "parquet | csv | tsv | jsonl (default: the extension)" },
  split: { kind: "string", metavar: "NAME", help: "train | test | unsupervised (default train)" },
  "max-length": {
    kind: "int",
    metavar: "N",
    min: 2,
    help: "ids per review including [CLS] and [SEP] (default 512)",
  },
  vocab: {
    kind: "string",
    metavar: "PATH",
    help: `vocab.txt, tokenizer.json, or a model directory (default ${bundledVocabPath()})`,
  },
  "cache-dir": {
    kind: "string",
    metavar: "DIR",
    help: `where tokenized splits are kept (default ${defaultTokenCacheDir()})`,
  },
  text: { kind: "string", metavar: '"..."', help: "print the tokens and ids of one text instead" },
  jsonl: {
    kind: "string",
    metavar: "IN",
    help: 'tokenize lines {"text": ...} of IN into lines {"ids": [...]} instead',
  },
  out: { kind: "string", metavar: "OUT", help: "where --jsonl writes (default stdout)" },
  ...HELP_ROW,
} as const satisfies FlagTable;

export async function tokenizeMain(args: string[]): Promise<void> {
  const values = parseOrHelp(args, USAGE, TOKENIZE_FLAGS, 20)?.values;
  if (!values) return; // --help
  const maxLength = values["max-length"] ?? 512;
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

  const split = imdbSplitFlag(values.split ?? "train");
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
