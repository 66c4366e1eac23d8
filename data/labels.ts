/**
 * Labels: a label column as read (integer class ids or string class names), the classes a model learns
 * (`LabelSpace`: from the names, ClassLabel metadata, `--num-labels` or the largest id), and row labels as ids.
 */
import { UserError } from "../util/errors.ts";
import { DEFAULT_ID2LABEL } from "../model/config.ts";

/**
 * A label column as read: integers (class ids, any value yet) or strings (class names; `codes` index into
 * `names`, which are in id order, see `sortLabelNames`).
 */
export type LabelColumn =
  | { kind: "int"; values: Int32Array }
  | { kind: "string"; names: string[]; codes: Int32Array };

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
