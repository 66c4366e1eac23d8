/**
 * A labelled text dataset from the user's own files: Parquet (a Hugging Face dataset's shards included), CSV,
 * TSV or JSONL, with the text and label columns chosen by name. The format comes from the extension unless
 * given. Labels are integers (class ids) or strings (class names); which ids the names get, and how many
 * classes there are, is decided by `resolveLabelSpace`. Bad input is a one-line UserError naming the file.
 */
import { parquetSchema } from "hyparquet";
import { UserError } from "../util/errors.ts";
import { type LabelColumn, labelColumnFrom } from "./labels.ts";
import {
  checkTextColumn,
  decodeTextFile,
  describeType,
  parquetBuffer,
  type ParquetMetadata,
  readFileBytes,
  readParquetMetadata,
  readTextAndLabels,
} from "./read_columns.ts";
import { csvTable, jsonlTable, type Table } from "./text_tables.ts";

export const DATA_FORMATS = ["parquet", "csv", "tsv", "jsonl"] as const;

export type DataFormat = typeof DATA_FORMATS[number];

/** Tried in this order when no column is named (Hugging Face datasets' usual names). */
export const DEFAULT_TEXT_COLUMNS = ["text", "sentence", "review"];

export const DEFAULT_LABEL_COLUMNS = ["label", "labels"];

export interface ColumnOptions {
  /** `--text-column`; undefined tries DEFAULT_TEXT_COLUMNS. */
  textColumn?: string;
  /** `--label-column`; undefined tries DEFAULT_LABEL_COLUMNS. */
  labelColumn?: string;
  /** `--format`; undefined: from the extension. */
  format?: DataFormat;
}

export interface Dataset {
  path: string;
  format: DataFormat;
  textColumn: string;
  labelColumn: string;
  texts: string[];
  labels: LabelColumn;
  /** A Hugging Face Parquet file's ClassLabel names for the label column (its "huggingface" metadata). */
  classNames: string[] | null;
  /** Rows whose text is null, empty or only whitespace (they train as `[CLS] [SEP]`). */
  emptyTexts: number;
  /** Rows whose text is not valid UTF-8 (decoded with U+FFFD in place of the bad bytes). */
  invalidUtf8: number;
}

/** The format for `path`: `--format` if given, else its extension. */
export function dataFormat(path: string, format?: string): DataFormat {
  if (format !== undefined) {
    if ((DATA_FORMATS as readonly string[]).includes(format)) return format as DataFormat;
    throw new UserError(`--format: must be one of ${DATA_FORMATS.join(", ")}, got ${format}`);
  }
  const ext = path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (ext === "parquet" || ext === "csv" || ext === "tsv" || ext === "jsonl") return ext;
  if (ext === "ndjson") return "jsonl";
  if (ext === "txt" || ext === "tab") return "tsv";
  throw new UserError(
    `${path}: cannot tell the format from its name (.parquet, .csv, .tsv, .jsonl); pass --format`,
  );
}

/** Reads a whole data file. */
export async function readDataset(path: string, opts: ColumnOptions = {}): Promise<Dataset> {
  const format = dataFormat(path, opts.format);
  const bytes = await readFileBytes(path, "a data file");
  if (format === "parquet") return await readParquetDataset(path, bytes, opts);
  const { text, invalid } = decodeTextFile(bytes);
  const table = format === "jsonl"
    ? jsonlTable(text, path)
    : csvTable(text, format === "tsv" ? "\t" : ",", path);
  const ds = fromTable(path, format, table, opts);
  // A file that is not valid UTF-8 counts once per row holding a replacement character.
  if (invalid) ds.invalidUtf8 = ds.texts.filter((t) => t.includes("\uFFFD")).length;
  return ds;
}

function pickColumn(
  columns: string[],
  asked: string | undefined,
  defaults: string[],
  what: "text" | "label",
  path: string,
): string {
  const have = columns.length ? columns.join(", ") : "none";
  if (asked !== undefined) {
    if (columns.includes(asked)) return asked;
    throw new UserError(`${path}: no column "${asked}" (--${what}-column; columns: ${have})`);
  }
  const found = defaults.find((c) => columns.includes(c));
  if (found) return found;
  throw new UserError(
    `${path}: no ${what} column (looked for ${defaults.join(", ")}; columns: ${have}); pass --${what}-column`,
  );
}

function fromTable(path: string, format: DataFormat, table: Table, opts: ColumnOptions): Dataset {
  if (table.rows === 0 && table.columns.length === 0) throw new UserError(`${path}: empty file`);
  const textColumn = pickColumn(table.columns, opts.textColumn, DEFAULT_TEXT_COLUMNS, "text", path);
  const labelColumn = pickColumn(table.columns, opts.labelColumn, DEFAULT_LABEL_COLUMNS, "label", path);
  if (textColumn === labelColumn) {
    throw new UserError(`${path}: column "${textColumn}" cannot be both the text and the label`);
  }
  const texts: string[] = new Array(table.rows);
  let emptyTexts = 0;
  for (let r = 0; r < table.rows; r++) {
    const v = table.cell(textColumn, r);
    if (v !== null && typeof v !== "string") {
      throw new UserError(
        `${path}: column "${textColumn}": ${table.where(r)} holds ${JSON.stringify(v)}, not a string`,
      );
    }
    texts[r] = v ?? "";
    if (texts[r].trim() === "") emptyTexts++;
  }
  const raw = Array.from({ length: table.rows }, (_, r) => table.cell(labelColumn, r));
  const labels = labelColumnFrom(
    raw,
    table.untyped,
    (r) => table.where(r),
    `${path}: column "${labelColumn}"`,
  );
  return {
    path,
    format,
    textColumn,
    labelColumn,
    texts,
    labels,
    classNames: null,
    emptyTexts,
    invalidUtf8: 0,
  };
}

/** The ClassLabel names of `column` in a Hugging Face Parquet file's "huggingface" metadata, else null. */
export function classLabelNames(metadata: ParquetMetadata, column: string): string[] | null {
  const entry = metadata.key_value_metadata?.find((kv) => kv.key === "huggingface");
  if (!entry?.value) return null;
  try {
    const json = JSON.parse(entry.value);
    const features = json?.info?.features ?? json?.features;
    const names = features?.[column]?.names;
    if (Array.isArray(names) && names.length > 0 && names.every((n) => typeof n === "string")) return names;
  } catch { /* not JSON: no names */ }
  return null;
}

async function readParquetDataset(path: string, bytes: Uint8Array, opts: ColumnOptions): Promise<Dataset> {
  if (bytes.length === 0) throw new UserError(`${path}: empty file`);
  const buffer = parquetBuffer(path, bytes);
  const metadata = readParquetMetadata(path, buffer);
  const schema = new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c]));
  const names = [...schema.keys()];
  const textColumn = pickColumn(names, opts.textColumn, DEFAULT_TEXT_COLUMNS, "text", path);
  const labelColumn = pickColumn(names, opts.labelColumn, DEFAULT_LABEL_COLUMNS, "label", path);
  if (textColumn === labelColumn) {
    throw new UserError(`${path}: column "${textColumn}" cannot be both the text and the label`);
  }
  const text = schema.get(textColumn)!, label = schema.get(labelColumn)!;
  checkTextColumn(text, textColumn, path);
  const l = label.element;
  if (
    !["INT32", "INT64", "BYTE_ARRAY"].includes(l.type ?? "") || l.repetition_type === "REPEATED" ||
    label.children.length > 0
  ) {
    const floats = l.type === "DOUBLE" || l.type === "FLOAT" ? " (floats)" : "";
    throw new UserError(
      `${path}: column "${labelColumn}" has type ${
        describeType(l)
      }${floats}; labels must be integers or strings`,
    );
  }
  const { texts, rawLabels, emptyTexts, invalidUtf8 } = await readTextAndLabels(
    path,
    buffer,
    metadata,
    textColumn,
    labelColumn,
  );
  const labels = labelColumnFrom(rawLabels, false, (r) => `row ${r}`, `${path}: column "${labelColumn}"`);
  const classNames = labels.kind === "int" ? classLabelNames(metadata, labelColumn) : null;
  return {
    path,
    format: "parquet",
    textColumn,
    labelColumn,
    texts,
    labels,
    classNames,
    emptyTexts,
    invalidUtf8,
  };
}

// --- labels -----------------------------------------------------------------------------------------------
