/** CSV, TSV and JSONL files as tables of cells by column, for the dataset reader. */
import { UserError } from "../util/errors.ts";
import { parseDelimited } from "./csv.ts";

/** Rows of cells by column; `where(i)` names row i in errors ("line 7"). */
export interface Table {
  columns: string[];
  rows: number;
  cell: (column: string, row: number) => unknown;
  where: (row: number) => string;
  /** CSV/TSV cells are all text: integer-looking labels are names there (see resolveLabelSpace). */
  untyped: boolean;
}

export function csvTable(text: string, separator: "," | "\t", path: string): Table {
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

/** The non-blank lines of a JSONL text, each parsed: its value, or the first line of the parse error. */
export function* jsonLines(text: string): Generator<{ line: number; value?: unknown; error?: string }> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    try {
      yield { line: i + 1, value: JSON.parse(line) };
    } catch (err) {
      yield { line: i + 1, error: String((err as Error).message).split("\n")[0] };
    }
  }
}

export function jsonlTable(text: string, path: string): Table {
  const objects: Record<string, unknown>[] = [];
  const lineOf: number[] = [];
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const { line, value: obj, error } of jsonLines(text)) {
    if (error !== undefined) throw new UserError(`${path}: line ${line}: not JSON (${error})`);
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new UserError(`${path}: line ${line}: not a JSON object`);
    }
    for (const k of Object.keys(obj)) if (!seen.has(k)) seen.add(k), columns.push(k);
    objects.push(obj as Record<string, unknown>);
    lineOf.push(line);
  }
  return {
    columns,
    rows: objects.length,
    cell: (column, row) => objects[row][column] ?? null,
    where: (row) => `line ${lineOf[row]}`,
    untyped: false,
  };
}
