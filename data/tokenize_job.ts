/**
 * What `deno task tokenize` does: a split tokenized once into the token cache (with what the run should
 * know about it), one text's tokens and ids, or a JSONL file of texts into a JSONL file of ids.
 */
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { type ColumnOptions, dataFormat } from "./dataset.ts";
import { IMDB_SPLITS, type ImdbSplitName, isImdbSplit, textWarnings } from "./imdb.ts";
import { type ResolvedImdbSplit, resolveImdbSplitOrSample } from "./imdb_source.ts";
import { loadTokenizedSplit, type TokenizedSplitInfo } from "./token_cache.ts";
import { jsonLines } from "./text_tables.ts";
import { loadTokenizer } from "./tokenizer_files.ts";

/** `--split`: one of the IMDB splits, else a one-line error. */
export function imdbSplitFlag(split: string): ImdbSplitName {
  if (!isImdbSplit(split)) throw new UserError(`--split: "${split}" is not one of ${IMDB_SPLITS.join(", ")}`);
  return split;
}

/** One text's word pieces and ids, `[CLS]` and `[SEP]` included, truncated to `maxLength`. */
export async function tokenizeText(
  vocabPath: string,
  text: string,
  maxLength: number,
): Promise<{ tokens: string[]; ids: Int32Array }> {
  const tokenizer = (await loadTokenizer(vocabPath)).tokenizer;
  const ids = tokenizer.encode(text, { maxLength });
  return { tokens: Array.from(ids, (id) => tokenizer.idToToken[id]), ids };
}

/**
 * Lines `{"text": ...}` of `inPath` → lines `{"ids": [...]}` in `outPath` (stdout when undefined). Reads every
 * line first, so a bad line stops the run before anything is written.
 */
export async function tokenizeJsonl(
  inPath: string,
  outPath: string | undefined,
  vocabPath: string,
  maxLength: number,
): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(inPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`--jsonl ${inPath}: file not found`);
    throw err;
  }
  const tokenizer = (await loadTokenizer(vocabPath)).tokenizer;
  const out: string[] = [];
  for (const { line, value: record, error } of jsonLines(text)) {
    if (error !== undefined) throw new UserError(`${inPath}:${line}: bad JSON (${error})`);
    const value = (record as { text?: unknown } | null)?.text;
    if (typeof value !== "string") {
      throw new UserError(`${inPath}:${line}: expected an object with a string "text"`);
    }
    out.push(JSON.stringify({ ids: Array.from(tokenizer.encode(value, { maxLength })) }));
  }
  const body = out.length > 0 ? out.join("\n") + "\n" : "";
  if (outPath === undefined) await Deno.stdout.write(new TextEncoder().encode(body));
  else await writeFileAtomic(outPath, body);
}

export interface TokenizeSplitOptions {
  split: ImdbSplitName;
  /** `--data`; undefined: the HF cache, else a download, else the bundled sample. */
  data?: string;
  /** `--text-column`, `--label-column` (the format is `format`'s). */
  columns: Omit<ColumnOptions, "format">;
  /** `--format`; undefined: from the data file's extension. */
  format?: string;
  vocabPath: string;
  maxLength: number;
  cacheDir: string;
}

export interface TokenizedSplitReport {
  source: ResolvedImdbSplit;
  split: TokenizedSplitInfo;
  /** Warnings about the texts (empty or undecodable reviews), one line each. */
  warnings: string[];
  /** Building (or loading) the cache entry. */
  seconds: number;
  /** Reviews cut at `maxLength`. */
  atMaxLength: number;
  meanTokens: number;
}

/** Tokenizes a split into the token cache (or loads it from there), timed. */
export async function tokenizeSplit(o: TokenizeSplitOptions): Promise<TokenizedSplitReport> {
  const source = await resolveImdbSplitOrSample(o.split, { data: o.data });
  const started = performance.now();
  const split = await loadTokenizedSplit({
    parquetPath: source.path,
    columns: {
      ...o.columns,
      ...(o.format !== undefined ? { format: dataFormat(source.path, o.format) } : {}),
    },
    vocabPath: o.vocabPath,
    maxLength: o.maxLength,
    cacheDir: o.cacheDir,
  });
  const warnings = textWarnings(source.path, { ...split, rows: split.labels.length });
  const seconds = (performance.now() - started) / 1000;
  const n = split.labels.length;
  let atMaxLength = 0;
  for (let i = 0; i < n; i++) if (split.offsets[i + 1] - split.offsets[i] === o.maxLength) atMaxLength++;
  return { source, split, warnings, seconds, atMaxLength, meanTokens: n > 0 ? split.ids.length / n : 0 };
}
