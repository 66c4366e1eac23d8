/**
 * The job's data: which files (IMDB by default, or the user's Parquet, CSV, TSV or JSONL), tokenized through
 * the cache, the classes they hold, the evaluation set (a folder's test split, `--eval-data`, a seeded
 * stratified `--validation-split` of a single file, or none), subsampled as the settings say.
 */
import { dirname, join } from "node:path";
import { HubClient } from "../data/hub/client.ts";
import { resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { labelCounts, selectRows, textWarnings } from "../data/imdb.ts";
import type { ColumnOptions, DataFormat } from "../data/dataset.ts";
import {
  type LabelColumn,
  labelIds,
  type LabelSpace,
  resolveLabelSpace,
  sortLabelNames,
} from "../data/labels.ts";
import { findSplitFiles } from "../data/split_files.ts";
import { type LabelInfo, loadTokenizedSplit, type TokenizedSplit } from "../data/token_cache.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { mulberry32, shuffleInPlace } from "../util/random.ts";
import type { GivenSettings, TrainConfig } from "./config.ts";
import { BINARY_ONLY_METRICS } from "./train_flags.ts";
import type { TokenizedRows } from "./batches.ts";

export interface TrainingData {
  cfg: TrainConfig;
  train: TokenizedRows;
  /** null: no evaluation (`--eval-data none`, or one file with `--validation-split 0`). */
  eval: TokenizedRows | null;
  /** The classes, in id order (the model's id2label). */
  labels: LabelSpace;
  description: string;
}

/** The rows `selected` of a tokenized split, in that order. */
export function subsetRows(split: TokenizedRows, selected: ArrayLike<number>): TokenizedRows {
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
    rows[i] = split.rows ? split.rows[r] : r;
  }
  return { ids, offsets, labels, rows };
}

/** A split read from one or more files (shards), tokenized, with its labels as read (not yet class ids). */
export interface LoadedSplit {
  /** The files, joined with ", " (one, or the shards). */
  name: string;
  tokens: TokenizedSplit;
  column: LabelColumn;
  classNames: string[] | null;
  info: LabelInfo;
}

/**
 * Tokenizes (or loads from the cache) a split's files and joins them: rows are numbered across the shards
 * in order, string labels get one set of names. A split with no rows is an error naming `flag`; null, empty
 * and undecodable texts are one warning line each (per file).
 */
export async function loadSplit(
  paths: string[],
  tokenizer: BertTokenizer,
  opts: { maxLength: number; columns: ColumnOptions; flag: string },
): Promise<LoadedSplit> {
  const parts = [];
  for (const path of paths) {
    const split = await loadTokenizedSplit({
      parquetPath: path,
      tokenizer,
      maxLength: opts.maxLength,
      columns: opts.columns,
    });
    for (const line of textWarnings(path, { ...split, rows: split.labels.length })) console.error(line);
    parts.push({ path, split });
  }
  const name = paths.length === 1 ? paths[0] : `${dirname(paths[0])}/{${paths.map(base).join(",")}}`;
  const first = parts[0].split.labelInfo;
  for (const { path, split } of parts.slice(1)) {
    const info = split.labelInfo;
    if (info.kind !== first.kind) {
      throw new UserError(
        `${opts.flag} ${path}: its labels are ${info.kind === "int" ? "integers" : "strings"}, ${
          paths[0]
        }'s ` +
          `are ${first.kind === "int" ? "integers" : "strings"}`,
      );
    }
    if (JSON.stringify(info.classNames) !== JSON.stringify(first.classNames)) {
      throw new UserError(`${opts.flag} ${path}: its ClassLabel names differ from ${paths[0]}'s`);
    }
  }
  const n = parts.reduce((s, p) => s + p.split.labels.length, 0);
  if (n === 0) throw new UserError(`${opts.flag} ${name}: has no rows`);
  const idCount = parts.reduce((s, p) => s + p.split.ids.length, 0);
  const ids = new Int32Array(idCount), offsets = new Int32Array(n + 1);
  const labels = new Int32Array(n), rows = new Int32Array(n);
  const names = first.kind === "string"
    ? sortLabelNames([...new Set(parts.flatMap((p) => p.split.labelInfo.names!))])
    : null;
  let row = 0, at = 0;
  for (const { split } of parts) {
    const m = split.labels.length;
    ids.set(split.ids, at);
    for (let i = 0; i < m; i++) offsets[row + i + 1] = split.offsets[i + 1] + at;
    if (names) {
      const id = new Map(names.map((nm, i) => [nm, i]));
      const map = split.labelInfo.names!.map((nm) => id.get(nm)!);
      for (let i = 0; i < m; i++) labels[row + i] = map[split.labels[i]];
    } else labels.set(split.labels, row);
    for (let i = 0; i < m; i++) rows[row + i] = row + split.rows[i];
    row += m;
    at += split.ids.length;
  }
  const info: LabelInfo = { ...first, names };
  const tokens: TokenizedSplit = { ids, offsets, labels, rows };
  const column: LabelColumn = names
    ? { kind: "string", names, codes: labels }
    : { kind: "int", values: labels };
  return { name, tokens, column, classNames: first.classNames, info };
}

/**
 * `count` rows of `split` (all when 0): class-balanced and seeded with `shuffle`, else the first rows. More
 * than there are is an error naming `flag` when `strict` (the user asked for that many), else all rows.
 */
export function sampleRows(
  split: TokenizedRows,
  samples: number,
  opts: { seed: number; shuffle: boolean; flag: string; strict: boolean; name: string },
): TokenizedRows {
  const n = split.labels.length;
  let count = samples > 0 ? samples : n;
  if (count > n) {
    if (opts.strict) throw new UserError(`${opts.flag} ${samples}: ${opts.name} has only ${n} rows`);
    count = n;
  }
  return subsetRows(split, selectRows(split.labels, count, { shuffle: opts.shuffle, seed: opts.seed }));
}

/**
 * A seeded, stratified hold-out (as `train_test_split(stratify=...)`): ceil(fraction · n) rows, each class
 * contributing its share (largest remainders first), the rest for training. Both lists are in file order.
 */
export function stratifiedSplit(
  labels: Int32Array,
  fraction: number,
  seed: number,
): { train: Int32Array; held: Int32Array } {
  const n = labels.length;
  const target = Math.ceil(fraction * n);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const rows = byClass.get(labels[i]);
    if (rows) rows.push(i);
    else byClass.set(labels[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const random = mulberry32(seed);
  const shares = classes.map((c) => {
    const exact = (byClass.get(c)!.length * target) / n;
    return { c, take: Math.floor(exact), rest: exact - Math.floor(exact) };
  });
  let left = target - shares.reduce((s, x) => s + x.take, 0);
  for (const s of [...shares].sort((a, b) => b.rest - a.rest || a.c - b.c)) {
    if (left <= 0) break;
    if (s.take < byClass.get(s.c)!.length) s.take++, left--;
  }
  const held = new Uint8Array(n);
  for (const { c, take } of shares) {
    const rows = byClass.get(c)!;
    shuffleInPlace(rows, random);
    for (let j = 0; j < take; j++) held[rows[j]] = 1;
  }
  const train: number[] = [], out: number[] = [];
  for (let i = 0; i < n; i++) (held[i] ? out : train).push(i);
  return { train: Int32Array.from(train), held: Int32Array.from(out) };
}

/** The split names an evaluation set goes by in a Hugging Face folder, in the order they are looked for. */
const EVAL_SPLITS = ["validation", "test", "dev"];

export function columnOptions(cfg: TrainConfig): ColumnOptions {
  return {
    ...(cfg.textColumn !== null ? { textColumn: cfg.textColumn } : {}),
    ...(cfg.labelColumn !== null ? { labelColumn: cfg.labelColumn } : {}),
    ...(cfg.format !== null ? { format: cfg.format as DataFormat } : {}),
  };
}

/** A folder's evaluation split (validation, test or dev), or null when it has none. */
async function evalSplitFiles(data: string, flag: string): Promise<string[] | null> {
  for (const split of EVAL_SPLITS) {
    const files = await findSplitFiles(data, split, flag);
    if (files) return files;
  }
  return null;
}

/**
 * The training (and evaluation) rows for `cfg`. `trainedLabels`: the class names of a model whose head is
 * already trained (a fine-tuned checkpoint, a resumed run); string labels that are exactly those names get
 * the model's ids rather than sorted ones, so continuing to train never swaps its classes.
 */
export async function loadTrainingData(
  cfg: TrainConfig,
  given: GivenSettings,
  tokenizer: BertTokenizer,
  trainedLabels: string[] | null = null,
): Promise<TrainingData> {
  const noEval = cfg.evalData === "none";
  let trainFiles: string[];
  let evalFiles: string[] | null = null;
  let source = "";
  if (cfg.data !== null) {
    const files = await findSplitFiles(cfg.data, "train", "--data");
    if (!files) {
      throw new UserError(
        `--data ${cfg.data}: no train split (looked for train.<ext> and train-*.<ext> in it and in its config ` +
          "folders; .parquet, .csv, .tsv, .jsonl)",
      );
    }
    trainFiles = files;
    if (!noEval && cfg.evalData === null && files[0] !== cfg.data) {
      evalFiles = await evalSplitFiles(cfg.data, "--data");
    }
  } else {
    // One hub client for both splits: a hub that did not answer for train is not waited for again for test.
    const hub = new HubClient();
    const train = await resolveImdbSplitOrSample("train", { hub });
    trainFiles = [train.path];
    if (!noEval && cfg.evalData === null) {
      evalFiles = [(await resolveImdbSplitOrSample("test", { hub })).path];
    }
    source = `IMDB ${train.source === "sample" ? "bundled sample" : `(${train.source})`}: `;
  }
  if (!noEval && cfg.evalData !== null) {
    evalFiles = await evalSplitFiles(cfg.evalData, "--eval-data");
    if (!evalFiles) {
      throw new UserError(`--eval-data ${cfg.evalData}: no validation, test or dev split in this folder`);
    }
  }
  if (evalFiles !== null && given.validationSplit !== undefined && cfg.validationSplit > 0) {
    throw new UserError(
      `--validation-split ${cfg.validationSplit}: there is evaluation data already (${evalFiles[0]}); ` +
        "pass one or the other",
    );
  }
  // One training file (or a folder without an evaluation split) and no --eval-data: a validation split.
  const holdOut = !noEval && evalFiles === null && cfg.validationSplit > 0;
  if (!holdOut && evalFiles === null) {
    const why = noEval ? "--eval-data none" : "--validation-split 0";
    if (given.metricForBestModel !== undefined) {
      throw new UserError(`--metric-for-best-model: this run has no evaluation (${why})`);
    }
    if (cfg.earlyStoppingPatience > 0) {
      throw new UserError(`--early-stopping-patience: this run has no evaluation (${why})`);
    }
    if (cfg.evalEvery > 0) throw new UserError(`--eval-every: this run has no evaluation (${why})`);
  }

  const columns = columnOptions(cfg);
  const common = { maxLength: cfg.maxLength, columns };
  const train = await loadSplit(trainFiles, tokenizer, { ...common, flag: "--data" });
  const what = `${cfg.data !== null ? "--data " : ""}${train.name}`;
  let labels = resolveLabelSpace(train.column, train.classNames, cfg.numLabels || null, what);
  if (
    trainedLabels && train.column.kind === "string" && trainedLabels.length === labels.names.length &&
    labels.names.every((n) => trainedLabels.includes(n))
  ) labels = { names: trainedLabels, named: true };
  const k = labels.names.length;
  if (k < 2) {
    throw new UserError(
      `${what}: column "${train.info.labelColumn}" has one class (${
        JSON.stringify(labels.names[0])
      }); a classifier needs at least two`,
    );
  }
  if (k !== 2 && BINARY_ONLY_METRICS.includes(cfg.metricForBestModel)) {
    const name = cfg.metricForBestModel.slice(5);
    throw new UserError(
      `--metric-for-best-model ${name}: the positive class's ${name} exists for two labels; ` +
        `this data has ${k} (use macro_${name} or weighted_${name})`,
    );
  }
  const trainIds = labelIds(train.column, labels, what);
  let trainRows: TokenizedRows = { ...train.tokens, labels: trainIds };
  let evalRows: TokenizedRows | null = null;
  let evalName = "";
  if (holdOut) {
    const split = stratifiedSplit(trainIds, cfg.validationSplit, cfg.seed);
    if (split.train.length === 0 || split.held.length === 0) {
      throw new UserError(
        `--validation-split ${cfg.validationSplit}: ${what} has ${trainIds.length} rows, too few to hold some out`,
      );
    }
    evalRows = subsetRows(trainRows, split.held);
    trainRows = subsetRows(trainRows, split.train);
    evalName =
      `${split.held.length} rows of ${train.name} held out (--validation-split ${cfg.validationSplit})`;
  } else if (evalFiles) {
    const flag = cfg.evalData !== null ? "--eval-data" : cfg.data !== null ? "--data" : "the evaluation data";
    const ev = await loadSplit(evalFiles, tokenizer, { ...common, flag });
    evalRows = { ...ev.tokens, labels: labelIds(ev.column, labels, `${flag} ${ev.name}`) };
    evalName = ev.name;
  }

  const sampled = sampleRows(trainRows, cfg.trainSamples, {
    seed: cfg.seed,
    shuffle: cfg.shuffle,
    flag: "--train-samples",
    strict: given.trainSamples !== undefined,
    name: train.name,
  });
  checkEveryClass(sampled, labels, train, what);
  // Evaluation always takes a class-balanced sample when asked for fewer rows than the split has.
  const evalSampled = evalRows === null ? null : sampleRows(evalRows, cfg.evalSamples, {
    seed: cfg.seed,
    shuffle: true,
    flag: "--eval-samples",
    strict: given.evalSamples !== undefined,
    name: evalName,
  });
  if (evalFiles && !holdOut) {
    for (const line of await sameFileWarning(trainFiles, evalFiles)) console.error(line);
  }
  const description = `${source}${train.name} / ${evalSampled === null ? "no evaluation" : evalName}`;
  return { cfg, train: sampled, eval: evalSampled, labels, description };
}

/** Every class must have training rows: a class the model never sees cannot be learnt. */
function checkEveryClass(rows: TokenizedRows, labels: LabelSpace, split: LoadedSplit, what: string): void {
  const counts = labelCounts(rows.labels);
  const missing = labels.names.map((_, i) => i).filter((i) => !counts.has(i));
  if (missing.length === 0) return;
  const shown = missing.slice(0, 5).map((i) => `${i} (${JSON.stringify(labels.names[i])})`).join(", ");
  const hint = split.column.kind === "int" && !split.classNames && missing.includes(0)
    ? "; integer labels are class ids counted from 0 (write them as names, or renumber them)"
    : "";
  throw new UserError(
    `${what}: class${missing.length > 1 ? "es" : ""} ${shown}${missing.length > 5 ? ", ..." : ""} ` +
      `of ${labels.names.length} ${
        missing.length > 1 ? "have" : "has"
      } no rows in the training sample (${rows.labels.length} rows)${hint}`,
  );
}

/** Evaluating on the training file measures rows the model trained on: a warning. */
async function sameFileWarning(trainFiles: string[], evalFiles: string[]): Promise<string[]> {
  const real = (p: string) => Deno.realPath(p).catch(() => p);
  const train = new Set(await Promise.all(trainFiles.map(real)));
  for (const f of evalFiles) {
    if (train.has(await real(f))) {
      return [
        `warning: the training and evaluation data are the same file (${f}): ` +
        "the eval metrics measure rows the model trained on",
      ];
    }
  }
  return [];
}

function base(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export const bundledTokenizerDir = () =>
  join(dirname(new URL(import.meta.url).pathname), "..", "assets", "distilbert-base-uncased");
