/**
 * `deno task tokenize`: tokenize an IMDB split once and cache the ids for train/eval; or, for people inspecting
 * the tokenizer, `--text "..."` (tokens and ids) and `--jsonl IN --out OUT` (`{"text"}` lines → `{"ids"}` lines).
 */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { isImdbSplit, textWarnings } from "../data/imdb.ts";
import { checkOutputDir, checkOutputFile } from "../util/output_check.ts";
import { resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { dataFormat } from "../data/dataset.ts";
import { defaultTokenCacheDir, loadTokenizedSplit } from "../data/token_cache.ts";
import { bundledVocabPath, loadTokenizer } from "../data/tokenizer_files.ts";

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
    const tokenizer = (await loadTokenizer(vocabPath)).tokenizer;
    const ids = tokenizer.encode(values.text, { maxLength });
    console.log(`tokens (${ids.length}): ${Array.from(ids, (id) => tokenizer.idToToken[id]).join(" ")}`);
    console.log(`ids: ${Array.from(ids).join(" ")}`);
    return;
  }
  if (values.jsonl !== undefined) {
    await tokenizeJsonl(values.jsonl, values.out, vocabPath, maxLength);
    return;
  }

  const split = values.split;
  if (!isImdbSplit(split)) throw new UserError(`--split: "${split}" is not one of train, test, unsupervised`);
  const cacheDir = values["cache-dir"] ?? defaultTokenCacheDir();
  await checkOutputDir(cacheDir, values["cache-dir"] !== undefined ? "--cache-dir" : "the token cache");
  const source = await resolveImdbSplitOrSample(split, { data: values.data });
  const started = performance.now();
  const result = await loadTokenizedSplit({
    parquetPath: source.path,
    columns: {
      ...(values["text-column"] !== undefined ? { textColumn: values["text-column"] } : {}),
      ...(values["label-column"] !== undefined ? { labelColumn: values["label-column"] } : {}),
      ...(values.format !== undefined ? { format: dataFormat(source.path, values.format) } : {}),
    },
    vocabPath,
    maxLength,
    cacheDir,
  });
  for (const line of textWarnings(source.path, { ...result, rows: result.labels.length })) {
    console.error(line);
  }
  const seconds = (performance.now() - started) / 1000;
  const n = result.labels.length;
  let atMax = 0;
  for (let i = 0; i < n; i++) if (result.offsets[i + 1] - result.offsets[i] === maxLength) atMax++;
  const mean = n > 0 ? result.ids.length / n : 0;
  console.log(`${n} reviews from ${source.path} (${source.source})`);
  console.log(
    `${result.ids.length} tokens, mean ${mean.toFixed(1)} per review, ${atMax} at max length ${maxLength}`,
  );
  console.log(`${result.fromCache ? "loaded" : "built"} ${result.cachePath} in ${seconds.toFixed(2)} s`);
}

/** Reads every line first, so a bad line stops the run before anything is written. */
async function tokenizeJsonl(
  inPath: string,
  outPath: string | undefined,
  vocabPath: string,
  maxLength: number,
) {
  let text: string;
  try {
    text = await Deno.readTextFile(inPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`--jsonl ${inPath}: file not found`);
    throw err;
  }
  const tokenizer = (await loadTokenizer(vocabPath)).tokenizer;
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new UserError(`${inPath}:${i + 1}: bad JSON (${(err as Error).message.split("\n")[0]})`);
    }
    const value = (record as { text?: unknown } | null)?.text;
    if (typeof value !== "string") {
      throw new UserError(`${inPath}:${i + 1}: expected an object with a string "text"`);
    }
    out.push(JSON.stringify({ ids: Array.from(tokenizer.encode(value, { maxLength })) }));
  }
  const body = out.length > 0 ? out.join("\n") + "\n" : "";
  if (outPath === undefined) await Deno.stdout.write(new TextEncoder().encode(body));
  else await writeFileAtomic(outPath, body);
}

if (import.meta.main) runMain(() => tokenizeMain(Deno.args));
