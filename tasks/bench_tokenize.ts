/**
 * `deno task bench tokenize`: single-threaded tokenizer throughput over a whole IMDB split (default: the
 * 25,000-review train split), with the Parquet read timed separately. A benchmark, not a test.
 */
import { runMain } from "./_cli.ts";
import { type FlagTable, HELP_ROW, parseOrHelp } from "../train/flags.ts";
import { TOKENIZE_FLAGS } from "./tokenize.ts";
import { readBenchTexts, type TokenizerPass, tokenizerPass } from "../bench/tokenizer.ts";
import { resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { imdbSplitFlag } from "../data/tokenize_job.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { sharedDir, writeJsonFile } from "../util/fs.ts";

const USAGE = "deno task bench tokenize [flags]\n";

const FLAGS = {
  data: {
    kind: "string",
    metavar: "DIR|FILE",
    help: "Parquet file or folder (default: ../shared/data/imdb if present, else the HF cache/download,\n" +
      "else the bundled sample)",
  },
  split: TOKENIZE_FLAGS.split,
  "max-length": TOKENIZE_FLAGS["max-length"],
  vocab: { kind: "string", metavar: "FILE", help: "default the bundled distilbert-base-uncased vocab" },
  repeat: {
    kind: "int",
    metavar: "N",
    positive: true,
    help: "timed passes, each with a fresh tokenizer (cold word cache); default 3",
  },
  json: { kind: "string", metavar: "FILE", help: "also write the results as JSON" },
  ...HELP_ROW,
} as const satisfies FlagTable;

export async function benchTokenize(args: string[]): Promise<void> {
  const values = parseOrHelp(args, USAGE, FLAGS, 18)?.values;
  if (!values) return; // --help
  const maxLength = values["max-length"] ?? 512;
  const repeat = values.repeat ?? 3;
  const split = imdbSplitFlag(values.split ?? "train");
  const shared = sharedDir();
  const data = values.data ?? (shared ? `${shared}data/imdb` : undefined);
  // Without --data or ../shared: the HF cache or hub, else (offline) the bundled 2,000-review sample.
  const { path } = await resolveImdbSplitOrSample(split, { data });
  const vocabText = await Deno.readTextFile(values.vocab ?? bundledVocabPath());

  const { texts, readSeconds, chars } = await readBenchTexts(path);
  console.log(`tokenize bench: ${texts.length} reviews (${(chars / 1e6).toFixed(1)} M chars) from ${path}`);
  console.log(`parquet read: ${readSeconds.toFixed(2)} s`);

  const passes: TokenizerPass[] = [];
  for (let pass = 1; pass <= repeat; pass++) {
    const result = tokenizerPass(vocabText, texts, maxLength);
    passes.push(result);
    const { seconds, tokens } = result;
    console.log(
      `pass ${pass}: ${seconds.toFixed(2)} s, ${(texts.length / seconds).toFixed(0)} reviews/s, ${
        (tokens / seconds / 1e6).toFixed(2)
      } M tokens/s (${tokens} tokens, max_length ${maxLength}, single-threaded)`,
    );
  }
  if (values.json) {
    await writeJsonFile(values.json, {
      date: new Date().toISOString(),
      file: path,
      reviews: texts.length,
      max_length: maxLength,
      parquet_read_seconds: readSeconds,
      single_threaded: true,
      passes,
    });
    console.log(`wrote ${values.json}`);
  }
}

if (import.meta.main) runMain(() => benchTokenize(Deno.args));
