/**
 * Reading a data file, shared by the IMDB reader and the user-data reader: the file's bytes with one-line
 * errors, UTF-8 decoded strictly (invalid bytes read as U+FFFD and counted), and a Parquet file's text and
 * label columns after its magic bytes and footer are checked.
 */
import { parquetMetadata, parquetRead } from "hyparquet";
import { firstLine, UserError } from "../util/errors.ts";

/** A text that was not valid UTF-8, as decoded with replacement characters (marks the row for counting). */
export class InvalidUtf8 {
  constructor(readonly text: string) {}
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

const lenientUtf8 = new TextDecoder("utf-8");

/** hyparquet's string parser, strict: invalid UTF-8 is decoded leniently but marked. */
export function decodeText(bytes: Uint8Array | undefined): string | InvalidUtf8 | undefined {
  if (bytes === undefined || bytes === null) return bytes;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return new InvalidUtf8(lenientUtf8.decode(bytes));
  }
}

/** A whole text file, strictly decoded; `invalid` when it was not valid UTF-8 (decoded with U+FFFD). */
export function decodeTextFile(bytes: Uint8Array): { text: string; invalid: boolean } {
  try {
    return { text: strictUtf8.decode(bytes), invalid: false };
  } catch {
    return { text: lenientUtf8.decode(bytes), invalid: true };
  }
}

export type ParquetMetadata = ReturnType<typeof parquetMetadata>;

/** A text column must be a top-level BYTE_ARRAY (string) column. */
export function checkTextColumn(
  column: {
    element: { type?: string; converted_type?: string; repetition_type?: string };
    children: unknown[];
  },
  name: string,
  path: string,
): void {
  const t = column.element;
  if (t.type !== "BYTE_ARRAY" || t.repetition_type === "REPEATED" || column.children.length > 0) {
    throw new UserError(
      `${path}: column "${name}" has type ${describeType(t)}, expected string (BYTE_ARRAY UTF8)`,
    );
  }
}

export function describeType(
  e: { type?: string; converted_type?: string; repetition_type?: string },
): string {
  const base = e.type ?? "group";
  const annotated = e.converted_type ? `${base} ${e.converted_type}` : base;
  return e.repetition_type === "REPEATED" ? `repeated ${annotated}` : annotated;
}

/** The file's bytes; a missing file, a folder or no permission is a UserError (`kind`: "a Parquet file"...). */
export async function readFileBytes(path: string, kind: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: file not found`);
    if (err instanceof Deno.errors.IsADirectory) {
      throw new UserError(`${path}: is a directory, not ${kind}`);
    }
    if (err instanceof Deno.errors.PermissionDenied) throw new UserError(`${path}: permission denied`);
    throw err;
  }
}

/** The bytes as a Parquet file's buffer, after checking Parquet's `PAR1` magic at both ends. */
export function parquetBuffer(path: string, bytes: Uint8Array): ArrayBuffer {
  const magic = (at: number) =>
    bytes[at] === 0x50 && bytes[at + 1] === 0x41 && bytes[at + 2] === 0x52 && bytes[at + 3] === 0x31;
  if (bytes.length < 12 || !magic(0) || !magic(bytes.length - 4)) {
    throw new UserError(`${path}: not a Parquet file (no PAR1 magic bytes)`);
  }
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** The Parquet footer; one that does not parse is a UserError. */
export function readParquetMetadata(path: string, buffer: ArrayBuffer): ParquetMetadata {
  try {
    return parquetMetadata(buffer);
  } catch (err) {
    throw new UserError(`${path}: not a readable Parquet file (${firstLine(err)})`);
  }
}

/** A Parquet file's buffer and footer: `readFileBytes`, `parquetBuffer` and `readParquetMetadata` in one. */
export async function openParquetFile(
  path: string,
): Promise<{ buffer: ArrayBuffer; metadata: ParquetMetadata }> {
  const buffer = parquetBuffer(path, await readFileBytes(path, "a Parquet file"));
  return { buffer, metadata: readParquetMetadata(path, buffer) };
}

/** A text column and a label column as read: texts (null read as ""), raw label values, and the counts. */
export interface TextAndLabels {
  texts: string[];
  rawLabels: unknown[];
  /** Rows whose text is null, empty or only whitespace. */
  emptyTexts: number;
  /** Rows whose text is not valid UTF-8. */
  invalidUtf8: number;
}

/** Reads the two columns of every row; corrupt column data is a UserError. */
export async function readTextAndLabels(
  path: string,
  buffer: ArrayBuffer,
  metadata: ParquetMetadata,
  textColumn: string,
  labelColumn: string,
): Promise<TextAndLabels> {
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
  return { texts, rawLabels, emptyTexts, invalidUtf8 };
}
