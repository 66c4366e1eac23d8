/**
 * IMDB reviews from Hugging Face `stanfordnlp/imdb` Parquet files (`text` string, `label` int64), with schema
 * and label checks, and seeded class-balanced subsampling.
 */
import { parquetSchema } from "hyparquet";
import { UserError } from "../util/errors.ts";
import { mulberry32, shuffleInPlace } from "../util/random.ts";
import { checkTextColumn, describeType, openParquetFile, readTextAndLabels } from "./read_columns.ts";
import type { ParquetMetadata } from "./read_columns.ts";

export const IMDB_SPLITS = ["train", "test", "unsupervised"] as const;

export type ImdbSplitName = typeof IMDB_SPLITS[number];

export interface ImdbData {
  path: string;
  texts: string[];
  /** 0 = negative, 1 = positive; -1 = unlabelled (the `unsupervised` split only). */
  labels: Int32Array;
  labelled: boolean;
  /** Rows whose text is null, empty or only whitespace (they train as `[CLS] [SEP]`). */
  emptyTexts: number;
  /** Rows whose text is not valid UTF-8 (decoded with U+FFFD in place of the bad bytes). */
  invalidUtf8: number;
}

/** One warning line per problem that does not stop a run but skews it: empty and undecodable reviews. */
export function textWarnings(
  path: string,
  counts: { emptyTexts: number; invalidUtf8: number; rows: number },
) {
  const out: string[] = [];
  if (counts.emptyTexts > 0) {
    out.push(
      `warning: ${path}: ${counts.emptyTexts} of ${counts.rows} reviews are null or empty (read as empty text)`,
    );
  }
  if (counts.invalidUtf8 > 0) {
    out.push(
      `warning: ${path}: ${counts.invalidUtf8} of ${counts.rows} reviews are not valid UTF-8 (bad bytes read as U+FFFD)`,
    );
  }
  return out;
}

export interface ReadImdbOptions {
  /** Whether every label must be 0 or 1. Default: true unless the file name starts with "unsupervised". */
  labelled?: boolean;
}

export function isImdbSplit(name: string): name is ImdbSplitName {
  return (IMDB_SPLITS as readonly string[]).includes(name);
}

/** Reads a whole IMDB Parquet file. Bad input (missing, not Parquet, wrong schema or labels) is a UserError. */
export async function readImdbParquet(path: string, opts: ReadImdbOptions = {}): Promise<ImdbData> {
  const { buffer, metadata } = await openParquetFile(path);
  checkImdbSchema(metadata, path);
  const { texts, rawLabels, emptyTexts, invalidUtf8 } = await readTextAndLabels(
    path,
    buffer,
    metadata,
    "text",
    "label",
  );
  const rowCount = texts.length;
  const labelled = opts.labelled ?? !basename(path).startsWith("unsupervised");
  const labels = new Int32Array(rowCount);
  for (let i = 0; i < rowCount; i++) {
    const v = rawLabels[i];
    const label = typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : NaN;
    const ok = labelled ? label === 0 || label === 1 : label === -1 || label === 0 || label === 1;
    if (!ok) {
      const shown = v === undefined || v === null ? "null" : String(v);
      const allowed = labelled ? "0 or 1" : "-1, 0 or 1";
      throw new UserError(`${path}: column "label": row ${i} has label ${shown}, expected ${allowed}`);
    }
    labels[i] = label;
  }
  return { path, texts, labels, labelled, emptyTexts, invalidUtf8 };
}

/** `text` must be a top-level BYTE_ARRAY (string) column and `label` a top-level integer column. */
export function checkImdbSchema(metadata: ParquetMetadata, path: string): void {
  const columns = new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c]));
  const text = columns.get("text");
  const label = columns.get("label");
  const have = [...columns.keys()].join(", ");
  if (!text) throw new UserError(`${path}: no column "text" (columns: ${have})`);
  if (!label) throw new UserError(`${path}: no column "label" (columns: ${have})`);
  checkTextColumn(text, "text", path);
  const l = label.element;
  if (
    (l.type !== "INT64" && l.type !== "INT32") || l.repetition_type === "REPEATED" ||
    label.children.length > 0
  ) {
    throw new UserError(`${path}: column "label" has type ${describeType(l)}, expected int64`);
  }
}

export interface SelectRowsOptions {
  /** Seeded class-balanced random pick (default true); false takes the first n rows in file order. */
  shuffle?: boolean;
  seed?: number;
}

/**
 * Row indices to train or evaluate on. With shuffle (default): `n` rows split as evenly as the classes allow
 * (a class short of its share is topped up from the others), in a seeded random order. Without: rows 0..n-1.
 * `n` undefined means every row.
 */
export function selectRows(labels: Int32Array, n?: number, opts: SelectRowsOptions = {}): Int32Array {
  const total = labels.length;
  const count = n ?? total;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`selectRows: bad count ${n}`);
  if (count > total) throw new UserError(`asked for ${count} samples but the split has only ${total} rows`);
  if (opts.shuffle === false) return Int32Array.from({ length: count }, (_, i) => i);

  const random = mulberry32(opts.seed ?? 42);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < total; i++) {
    const rows = byClass.get(labels[i]);
    if (rows) rows.push(i);
    else byClass.set(labels[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((k) => byClass.get(k)!);
  for (const rows of classes) shuffleInPlace(rows, random);
  // Smallest classes first, so what a short class cannot give is spread over the larger ones.
  const order = classes.map((rows, i) => ({ rows, i })).sort((a, b) =>
    a.rows.length - b.rows.length || a.i - b.i
  );
  const picked: number[] = [];
  let remaining = count;
  for (let k = 0; k < order.length; k++) {
    const share = Math.ceil(remaining / (order.length - k));
    const take = Math.min(share, order[k].rows.length);
    for (let j = 0; j < take; j++) picked.push(order[k].rows[j]);
    remaining -= take;
  }
  shuffleInPlace(picked, random);
  return Int32Array.from(picked);
}

/** Counts per label, e.g. to warn that the first N rows of a label-sorted file are all one class. */
export function labelCounts(labels: ArrayLike<number>, rows?: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  const n = rows ? rows.length : labels.length;
  for (let i = 0; i < n; i++) {
    const label = labels[rows ? rows[i] : i];
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return counts;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
