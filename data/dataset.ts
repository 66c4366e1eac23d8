/**
 * A labelled text dataset from the user's own files: Parquet (a Hugging Face dataset's shards included), CSV,
 * TSV or JSONL, with the text and label columns chosen by name. The format comes from the extension unless
 * given. Labels are integers (class ids) or strings (class names); which ids the names get, and how many
 * classes there are, is decided by `resolveLabelSpace`. Bad input is a one-line UserError naming the file.
 */
import { parquetMetadata, parquetRead, parquetSchema } from "hyparquet";
import { UserError } from "../util/errors.ts";
import { parseDelimited } from "./csv.ts";
import { DEFAULT_ID2LABEL } from "../model/config.ts";
import { checkTextColumn, decodeText, describeType, InvalidUtf8 } from "./imdb.ts";

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

/**
 * A label column as read: integers (class ids, any value yet) or strings (class names; `codes` index into
 * `names`, which are in id order, see `sortLabelNames`).
 */
export type LabelColumn =
  | { kind: "int"; values: Int32Array }
  | { kind: "string"; names: string[]; codes: Int32Array };

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
  const bytes = await readBytes(path);
  if (format === "parquet") return await readParquetDataset(path, bytes, opts);
  const { text, invalid } = decodeFile(bytes);
  const table = format === "jsonl"
    ? jsonlTable(text, path)
    : csvTable(text, format === "tsv" ? "\t" : ",", path);
  const ds = fromTable(path, format, table, opts);
  // A file that is not valid UTF-8 counts once per row holding a replacement character.
  if (invalid) ds.invalidUtf8 = ds.texts.filter((t) => t.includes("\uFFFD")).length;
  return ds;
}

// --- text formats ------------------------------------------------------------------------------------------

/** Rows of cells by column; `where(i)` names row i in errors ("line 7"). */
interface Table {
  columns: string[];
  rows: number;
  cell: (column: string, row: number) => unknown;
  where: (row: number) => string;
  /** CSV/TSV cells are all text: integer-looking labels are names there (see resolveLabelSpace). */
  untyped: boolean;
}

function csvTable(text: string, separator: "," | "\t", path: string): Table {
  const t = parseDelimited(text, separator, path);
  const index = new Map(t.header.map((h, i) => [h, i]));
  return {
    columns: t.header,
    rows: t.records.length,
    cell: (column, row) => {
      const v = t.records[row][index.get(column)!];
      return v === "" ? null : v;
    },
    where: (row) => `line ${t.lines[row]}`,
    untyped: true,
  };
}

function jsonlTable(text: string, path: string): Table {
  const objects: Record<string, unknown>[] = [];
  const lineOf: number[] = [];
  const columns: string[] = [];
  const seen = new Set<string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new UserError(
        `${path}: line ${i + 1}: not JSON (${String((err as Error).message).split("\n")[0]})`,
      );
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new UserError(`${path}: line ${i + 1}: not a JSON object`);
    }
    for (const k of Object.keys(obj)) if (!seen.has(k)) seen.add(k), columns.push(k);
    objects.push(obj as Record<string, unknown>);
    lineOf.push(i + 1);
  }
  return {
    columns,
    rows: objects.length,
    cell: (column, row) => objects[row][column] ?? null,
    where: (row) => `line ${lineOf[row]}`,
    untyped: false,
  };
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

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Label values → a LabelColumn. Nulls, floats, booleans and a mix of integers and strings are errors.
 * `untyped` (CSV/TSV): every value is text, read as a class name; a column of numbers that are not all
 * integers is still a float column.
 */
export function labelColumnFrom(
  raw: unknown[],
  untyped: boolean,
  where: (row: number) => string,
  what: string,
): LabelColumn {
  let firstInt = -1, firstString = -1;
  for (let r = 0; r < raw.length; r++) {
    const v = raw[r];
    if (v === null || v === undefined) {
      throw new UserError(`${what}: ${where(r)} has no label (null or empty)`);
    }
    if (typeof v === "bigint") {
      if (v > 2147483647n || v < -2147483648n) {
        throw new UserError(`${what}: ${where(r)}: label ${v} is too large`);
      }
      if (firstInt < 0) firstInt = r;
    } else if (typeof v === "number") {
      if (!Number.isInteger(v)) {
        throw new UserError(`${what}: ${where(r)} holds the float ${v}; labels must be integers or strings`);
      }
      if (Math.abs(v) > 2147483647) throw new UserError(`${what}: ${where(r)}: label ${v} is too large`);
      if (firstInt < 0) firstInt = r;
    } else if (typeof v === "string") {
      if (firstString < 0) firstString = r;
    } else {
      throw new UserError(
        `${what}: ${where(r)} holds ${JSON.stringify(v)}; labels must be integers or strings`,
      );
    }
  }
  if (firstInt >= 0 && firstString >= 0) {
    throw new UserError(
      `${what}: mixed label types: ${where(firstInt)} holds the integer ${raw[firstInt]}, ${
        where(firstString)
      } the string ${JSON.stringify(raw[firstString])}`,
    );
  }
  if (firstString < 0) return { kind: "int", values: Int32Array.from(raw as (number | bigint)[], Number) };
  const strings = raw as string[];
  if (untyped && strings.every((s) => NUMBER.test(s.trim()))) {
    const r = strings.findIndex((s) => !INTEGER.test(s.trim()));
    if (r >= 0) {
      throw new UserError(
        `${what}: ${where(r)} holds the float ${strings[r]}; labels must be integers or names`,
      );
    }
  }
  const names = sortLabelNames([...new Set(strings)]);
  const id = new Map(names.map((n, i) => [n, i]));
  return { kind: "string", names, codes: Int32Array.from(strings, (s) => id.get(s)!) };
}

/**
 * Class names in id order: sorted, as Hugging Face datasets' class_encode_column sorts them, except that
 * names which are all integers ("1".."10", e.g. star ratings in a CSV) sort by value, not as text.
 */
export function sortLabelNames(names: string[]): string[] {
  if (names.every((n) => INTEGER.test(n.trim()))) {
    return [...names].sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  }
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// --- Parquet ----------------------------------------------------------------------------------------------

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");

function decodeFile(bytes: Uint8Array): { text: string; invalid: boolean } {
  try {
    return { text: strictUtf8.decode(bytes), invalid: false };
  } catch {
    return { text: lenientUtf8.decode(bytes), invalid: true };
  }
}

type ParquetMetadata = ReturnType<typeof parquetMetadata>;

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
  const magic = (at: number) =>
    bytes[at] === 0x50 && bytes[at + 1] === 0x41 && bytes[at + 2] === 0x52 && bytes[at + 3] === 0x31;
  if (bytes.length < 12 || !magic(0) || !magic(bytes.length - 4)) {
    if (bytes.length === 0) throw new UserError(`${path}: empty file`);
    throw new UserError(`${path}: not a Parquet file (no PAR1 magic bytes)`);
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let metadata: ParquetMetadata;
  try {
    metadata = parquetMetadata(buffer);
  } catch (err) {
    throw new UserError(`${path}: not a readable Parquet file (${firstLine(err)})`);
  }
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
  const rowCount = Number(metadata.num_rows);
  const texts: string[] = new Array(rowCount);
  const rawLabels: unknown[] = new Array(rowCount);
  let invalidUtf8 = 0;
  try {
    await parquetRead({
      file: buffer,
      metadata,
      columns: [textColumn, labelColumn],
      // Text is decoded here, strictly, whether or not the column carries a UTF8 annotation.
      utf8: false,
      parsers: { stringFromBytes: decodeText as (bytes: Uint8Array) => string },
      onChunk: ({ columnName, columnData, rowStart }) => {
        for (let i = 0; i < columnData.length; i++) {
          let v = columnData[i] as unknown;
          if (v instanceof Uint8Array) v = decodeText(v);
          if (columnName === textColumn) {
            if (v instanceof InvalidUtf8) invalidUtf8++, v = v.text;
            texts[rowStart + i] = (v ?? "") as string;
          } else rawLabels[rowStart + i] = v instanceof InvalidUtf8 ? v.text : v;
        }
      },
    });
  } catch (err) {
    throw new UserError(`${path}: corrupt Parquet data (${firstLine(err)})`);
  }
  let emptyTexts = 0;
  for (let i = 0; i < rowCount; i++) {
    texts[i] ??= "";
    if (texts[i].trim() === "") emptyTexts++;
  }
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

/** The classes a model learns: `names[id]` is id's label (config.json's id2label). */
export interface LabelSpace {
  names: string[];
  /** Whether the names came from the data (string labels, ClassLabel metadata) rather than defaults. */
  named: boolean;
}

/** HF's names for unnamed classes: LABEL_0, LABEL_1, ...; this project's NEGATIVE/POSITIVE for two. */
export function defaultLabelNames(n: number): string[] {
  if (n === 2) return [DEFAULT_ID2LABEL["0"], DEFAULT_ID2LABEL["1"]];
  return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
}

/**
 * The classes of a training set: string labels are names with ids in sorted order; integer labels are ids
 * 0..N-1 with N from the ClassLabel names, `numLabels` (`--num-labels`), or the largest id + 1. A label id
 * outside 0..N-1, or names and `numLabels` that disagree, is an error naming `what`.
 */
export function resolveLabelSpace(
  labels: LabelColumn,
  classNames: string[] | null,
  numLabels: number | null,
  what: string,
): LabelSpace {
  if (labels.kind === "string") {
    if (numLabels !== null && numLabels !== labels.names.length) {
      throw new UserError(
        `--num-labels ${numLabels}: ${what} has ${labels.names.length} label names (${
          preview(labels.names)
        })`,
      );
    }
    return { names: labels.names, named: true };
  }
  if (classNames && numLabels !== null && numLabels !== classNames.length) {
    throw new UserError(
      `--num-labels ${numLabels}: ${what} names ${classNames.length} classes in its metadata (${
        preview(classNames)
      })`,
    );
  }
  let max = -1;
  for (const v of labels.values) max = Math.max(max, v);
  const n = classNames?.length ?? numLabels ?? max + 1;
  checkIds(
    labels.values,
    n,
    what,
    numLabels !== null && !classNames ? "--num-labels" : classNames ? "metadata" : null,
  );
  if (classNames) return { names: classNames, named: true };
  return { names: defaultLabelNames(n), named: false };
}

function checkIds(values: Int32Array, n: number, what: string, source: "--num-labels" | "metadata" | null) {
  for (let r = 0; r < values.length; r++) {
    const v = values[r];
    if (v < 0 || v >= n) {
      const from = source === "--num-labels"
        ? ` (--num-labels ${n})`
        : source === "metadata"
        ? ` (its metadata names ${n} classes)`
        : "";
      throw new UserError(`${what}: row ${r} has label ${v}, but label ids are 0..${n - 1}${from}`);
    }
  }
}

/**
 * Row labels as ids of `space` (a model's or a training set's classes): names are looked up, integer ids
 * must be below the class count. `what` names the data in errors.
 */
export function labelIds(labels: LabelColumn, space: LabelSpace, what: string): Int32Array {
  if (labels.kind === "int") {
    checkIds(labels.values, space.names.length, what, null);
    return labels.values;
  }
  const id = new Map(space.names.map((n, i) => [n, i]));
  const map = labels.names.map((name) => {
    const i = id.get(name);
    if (i === undefined) {
      throw new UserError(
        `${what}: label ${JSON.stringify(name)} is not one of the model's labels (${preview(space.names)})`,
      );
    }
    return i;
  });
  return Int32Array.from(labels.codes, (c) => map[c]);
}

function preview(names: string[]): string {
  const shown = names.slice(0, 8).map((n) => JSON.stringify(n)).join(", ");
  return names.length > 8 ? `${shown}, ...` : shown;
}

// --- files ------------------------------------------------------------------------------------------------

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: file not found`);
    if (err instanceof Deno.errors.IsADirectory) {
      throw new UserError(`${path}: is a directory, not a data file`);
    }
    if (err instanceof Deno.errors.PermissionDenied) throw new UserError(`${path}: permission denied`);
    throw err;
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0];
}

// --- the Hugging Face folder layout -----------------------------------------------------------------------

const SPLIT_EXTENSIONS = ["parquet", "csv", "tsv", "jsonl"];

/** Whether `name` is a file of `split`: `<split>.<ext>` or `<split>-*.<ext>` (shards: `-00000-of-00002`). */
function isSplitFile(name: string, split: string): boolean {
  const dot = name.lastIndexOf(".");
  if (dot < 0 || !SPLIT_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase())) return false;
  const stem = name.slice(0, dot);
  return stem === split || stem.startsWith(`${split}-`);
}

async function listDir(dir: string): Promise<Deno.DirEntry[] | null> {
  try {
    const out: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
}

/**
 * The files of `split` under `data` (`flag` names it in errors): `data` itself if it is a file; in a folder,
 * `<split>.<ext>` or its shards `<split>-*.<ext>`, in the folder or in one config folder under it
 * (`plain_text/` first, as IMDB has it; several other configs with that split are an error). Shards come
 * sorted by name. null when a folder has no such split.
 */
export async function findSplitFiles(data: string, split: string, flag: string): Promise<string[] | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(data);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${flag} ${data}: no such file or folder`);
    throw err;
  }
  if (info.isFile) return [data];
  const dir = data.replace(/\/+$/, "") || "/";
  const inFolder = async (folder: string) =>
    ((await listDir(folder)) ?? []).filter((e) => !e.isDirectory && isSplitFile(e.name, split))
      .map((e) => `${folder}/${e.name}`);
  const here = await inFolder(dir);
  if (here.length) return here;
  const plain = await inFolder(`${dir}/plain_text`);
  if (plain.length) return plain;
  const configs: [string, string[]][] = [];
  for (const e of (await listDir(dir)) ?? []) {
    if (!e.isDirectory || e.name === "plain_text") continue;
    const files = await inFolder(`${dir}/${e.name}`);
    if (files.length) configs.push([e.name, files]);
  }
  if (configs.length === 1) return configs[0][1];
  if (configs.length > 1) {
    throw new UserError(
      `${flag} ${data}: ${configs.length} config folders have a ${split} split (${
        configs.map(([c]) => c).join(", ")
      }); pass one of them`,
    );
  }
  return null;
}
