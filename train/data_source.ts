/** The job's data: which Parquet files, tokenized through the cache, subsampled as the settings say. */
import { dirname, join } from "node:path";
import { findSplitInData, resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { labelCounts, selectRows, textWarnings } from "../data/imdb.ts";
import { loadTokenizedSplit, type TokenizedSplit } from "../data/token_cache.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { TrainConfig } from "./config.ts";
import type { TokenizedRows } from "./batches.ts";

export interface TrainingData {
  cfg: TrainConfig;
  train: TokenizedRows;
  eval: TokenizedRows;
  description: string;
}

/** The rows `selected` of a tokenized split, in that order. */
export function subsetRows(split: TokenizedSplit, selected: ArrayLike<number>): TokenizedRows {
  let total = 0;
  for (let i = 0; i < selected.length; i++) {
    total += split.offsets[selected[i] + 1] - split.offsets[selected[i]];
  }
  const ids = new Int32Array(total), offsets = new Int32Array(selected.length + 1);
  const labels = new Int32Array(selected.length), rows = new Int32Array(selected.length);
  for (let i = 0, at = 0; i < selected.length; i++) {
    const r = selected[i], start = split.offsets[r], end = split.offsets[r + 1];
    ids.set(split.ids.subarray(start, end), at);
    at += end - start;
    offsets[i + 1] = at;
    labels[i] = split.labels[r];
    rows[i] = split.rows[r];
  }
  return { ids, offsets, labels, rows };
}

/**
 * Tokenizes (or loads from the cache) one Parquet file and picks `samples` rows (0 = all). A file with no
 * rows is an error naming `dataFlag`; null, empty and undecodable reviews are one warning line each.
 */
export async function loadRows(
  path: string,
  tokenizer: BertTokenizer,
  opts: {
    maxLength: number;
    samples: number;
    seed: number;
    shuffle: boolean;
    flag: string;
    strict: boolean;
    dataFlag?: string;
  },
): Promise<TokenizedRows> {
  const split = await loadTokenizedSplit({ parquetPath: path, tokenizer, maxLength: opts.maxLength });
  const n = split.labels.length;
  if (n === 0) throw new UserError(`${opts.dataFlag ? `${opts.dataFlag} ` : ""}${path}: has no rows`);
  for (const line of textWarnings(path, { ...split, rows: n })) console.error(line);
  let count = opts.samples > 0 ? opts.samples : n;
  if (count > n) {
    if (opts.strict) throw new UserError(`${opts.flag} ${opts.samples}: ${path} has only ${n} rows`);
    count = n;
  }
  for (const label of split.labels) {
    if (label !== 0 && label !== 1) {
      throw new UserError(`${path}: column label holds ${label}, expected 0 or 1`);
    }
  }
  return subsetRows(split, selectRows(split.labels, count, { shuffle: opts.shuffle, seed: opts.seed }));
}

export async function loadTrainingData(
  cfg: TrainConfig,
  explicit: Set<string>,
  tokenizer: BertTokenizer,
): Promise<TrainingData> {
  let trainPath: string, evalPath: string, description: string;
  if (cfg.data !== null) {
    trainPath = await findSplitInData(cfg.data, "train");
    if (cfg.evalData !== null) evalPath = await findSplitInData(cfg.evalData, "test");
    else if (trainPath === cfg.data) {
      // A single Parquet file: its test split, if it sits beside it under the hub's names.
      evalPath = await findSplitInData(dirname(cfg.data), "test").catch(() => {
        throw new UserError(`--data ${cfg.data}: a single file needs --eval-data for evaluation`);
      });
    } else evalPath = await findSplitInData(cfg.data, "test");
    description = `${trainPath} / ${evalPath}`;
  } else {
    const train = await resolveImdbSplitOrSample("train");
    const test = cfg.evalData !== null
      ? { path: await findSplitInData(cfg.evalData, "test"), source: "data" }
      : await resolveImdbSplitOrSample("test");
    trainPath = train.path;
    evalPath = test.path;
    description = `IMDB ${train.source === "sample" ? "bundled sample" : `(${train.source})`}: ${trainPath}`;
  }
  const common = { maxLength: cfg.maxLength, seed: cfg.seed, shuffle: cfg.shuffle };
  const train = await loadRows(trainPath, tokenizer, {
    ...common,
    samples: cfg.trainSamples,
    flag: "--train-samples",
    strict: explicit.has("trainSamples"),
    dataFlag: "--data",
  });
  // Evaluation always takes a class-balanced sample when asked for fewer rows than the split has.
  const evalRows = await loadRows(evalPath, tokenizer, {
    ...common,
    shuffle: true,
    samples: cfg.evalSamples,
    flag: "--eval-samples",
    strict: explicit.has("evalSamples"),
    dataFlag: cfg.evalData !== null ? "--eval-data" : "the evaluation data",
  });
  for (const line of await dataWarnings(trainPath, evalPath, train)) console.error(line);
  return { cfg, train, eval: evalRows, description };
}

/** Runs that will mislead without failing: evaluating on the training file, or one label to learn. */
async function dataWarnings(trainPath: string, evalPath: string, train: TokenizedRows): Promise<string[]> {
  const out: string[] = [];
  const real = (p: string) => Deno.realPath(p).catch(() => p);
  if ((await real(trainPath)) === (await real(evalPath))) {
    out.push(
      `warning: the training and evaluation data are the same file (${trainPath}): ` +
        "the eval metrics measure rows the model trained on",
    );
  }
  const labels = labelCounts(train.labels);
  if (labels.size === 1) {
    const [label] = labels.keys();
    out.push(
      `warning: ${trainPath}: all ${train.labels.length} training rows have label ${label}; ` +
        "the model can only learn to predict that class",
    );
  }
  return out;
}

export const bundledTokenizerDir = () =>
  join(dirname(new URL(import.meta.url).pathname), "..", "assets", "distilbert-base-uncased");
