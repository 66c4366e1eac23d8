/**
 * CSV and TSV as RFC 4180 writes them: a header row, fields separated by `,` (or a tab), fields in double
 * quotes may hold the separator, line breaks and doubled quotes (`""` is one `"`), records end with CRLF or
 * LF, the last one with or without a line break. A leading UTF-8 byte-order mark is skipped; blank lines
 * between records are skipped (spreadsheets write them). Every record must have the header's field count: a
 * record that does not is a UserError naming the line it starts on.
 *
 * Our own parser, not an npm one: it is small, and the errors must name the file and the line.
 */
import { UserError } from "../util/errors.ts";

export interface DelimitedTable {
  header: string[];
  /** One array per record, each with header.length fields. */
  records: string[][];
  /** The 1-based line each record starts on (a quoted field may span several lines). */
  lines: number[];
}

/** Parses `text`; `path` names the file in errors. */
export function parseDelimited(text: string, separator: "," | "\t", path: string): DelimitedTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: string[][] = [];
  const lines: number[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Skip blank lines between records.
    if (text[i] === "\n") {
      line++, i++;
      continue;
    }
    if (text[i] === "\r" && text[i + 1] === "\n") {
      line++, i += 2;
      continue;
    }
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field: string;
      if (text[i] === '"') {
        const quoteLine = line;
        let out = "";
        let j = i + 1;
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) {
            throw new UserError(`${path}: line ${quoteLine}: a quoted field is never closed`);
          }
          const chunk = text.slice(j, q);
          for (let k = 0; k < chunk.length; k++) if (chunk[k] === "\n") line++;
          out += chunk;
          if (text[q + 1] === '"') {
            out += '"';
            j = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        field = out;
        const c = text[i];
        if (i < n && c !== separator && c !== "\n" && !(c === "\r" && text[i + 1] === "\n")) {
          throw new UserError(
            `${path}: line ${line}: unexpected text after a closing quote (a quote inside a field is written "")`,
          );
        }
      } else {
        let j = i;
        while (j < n) {
          const c = text[j];
          if (c === separator || c === "\n" || (c === "\r" && text[j + 1] === "\n")) break;
          if (c === '"') {
            throw new UserError(
              `${path}: line ${line}: a quote inside an unquoted field (quote the field and write "" for ")`,
            );
          }
          j++;
        }
        field = text.slice(i, j);
        i = j;
      }
      fields.push(field);
      if (i < n && text[i] === separator) {
        i++;
        continue;
      }
      // End of record: a line break or the end of the text.
      if (text[i] === "\r") i++;
      if (text[i] === "\n") i++, line++;
      break;
    }
    records.push(fields);
    lines.push(startLine);
  }
  if (records.length === 0) throw new UserError(`${path}: empty file (no header row)`);
  const header = records.shift()!;
  lines.shift();
  const width = header.length;
  for (let r = 0; r < records.length; r++) {
    if (records[r].length !== width) {
      throw new UserError(
        `${path}: line ${lines[r]}: ${records[r].length} fields, but the header has ${width} (${
          header.map((h) => JSON.stringify(h)).join(", ")
        })`,
      );
    }
  }
  return { header, records, lines };
}
