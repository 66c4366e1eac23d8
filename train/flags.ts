/**
 * The one flag parser of every task: a task declares its flags in a table (kind, help, validation), and
 * the same table parses the command line and prints `--help`. Flags are `--name value`, `--name=value` or,
 * for booleans, `--name`; a bad one is a UserError of one line that names it.
 */
import { UserError } from "../util/errors.ts";

export type FlagKind = "string" | "int" | "number" | "prob" | "boolean";

/** What a number must be; each rule has its own message. */
export interface NumberRules {
  integer?: boolean;
  /** > 0. */
  positive?: boolean;
  /** >= 0. */
  nonNegative?: boolean;
  min?: number;
  max?: number;
  /** In [0, 1). */
  probability?: boolean;
}

export interface FlagSpec extends Omit<NumberRules, "integer" | "probability"> {
  kind: FlagKind;
  /** One line, or several: the lines after the first continue under the help column. */
  help: string;
  /** The value's placeholder in `--help` (`--model DIR`). */
  metavar?: string;
  /** A one-letter alias (`-h`). */
  short?: string;
  /** Left out of the `--help` rows (the usage text describes it). */
  hidden?: boolean;
}

export type FlagTable = Record<string, FlagSpec>;

/** `--help` and `-h`, which the other tasks' usage texts do not list. */
export const HELP_FLAG = { help: { kind: "boolean", short: "h", hidden: true, help: "this text" } } as const;

/** `-h, --help`, listed as the last row of a task's help (the tokenize and bench tasks). */
export const HELP_ROW = { help: { kind: "boolean", short: "h", help: "this help" } } as const;

type ValueOf<S extends FlagSpec> = S["kind"] extends "boolean" ? boolean
  : S["kind"] extends "string" ? string
  : number;

/** The flags given, by name, as their kinds say (absent when not given). */
export type FlagValues<T extends FlagTable> = { -readonly [K in keyof T]?: ValueOf<T[K]> };

/** A number for `flag` (e.g. "--lr") from `raw`, checked against `rules`. */
export function parseNumber(flag: string, raw: string, rules: NumberRules): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new UserError(`${flag}: "${raw}" is not a number`);
  if (rules.integer && !Number.isInteger(n)) throw new UserError(`${flag}: "${raw}" is not an integer`);
  if (rules.probability && (n < 0 || n >= 1)) throw new UserError(`${flag}: must be in [0, 1), got ${raw}`);
  if (rules.positive && n <= 0) throw new UserError(`${flag}: must be positive, got ${raw}`);
  if (rules.nonNegative && n < 0) throw new UserError(`${flag}: must not be negative, got ${raw}`);
  if (rules.min !== undefined && n < rules.min) {
    throw new UserError(`${flag}: must be at least ${rules.min}, got ${raw}`);
  }
  if (rules.max !== undefined && n > rules.max) {
    throw new UserError(`${flag}: must be at most ${rules.max}, got ${raw}`);
  }
  return n;
}

function parseValue(name: string, spec: FlagSpec, raw: string): string | number {
  if (spec.kind === "string") return raw;
  return parseNumber(`--${name}`, raw, {
    ...spec,
    integer: spec.kind === "int",
    probability: spec.kind === "prob",
  });
}

/**
 * Parses `args` against `table`: the values by flag name, the same keyed as the options of the job they
 * configure (`--max-length` → `maxLength`), and, with `positionals`, the other arguments (and all after
 * `--`) in order; without it, every argument must be a flag.
 */
export function parseFlags<T extends FlagTable>(
  args: string[],
  table: T,
  opts: { positionals?: boolean } = {},
): { values: FlagValues<T>; options: FlagOptions<T>; positionals: string[] } {
  const values: Record<string, string | number | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(table).flatMap(([n, s]) => s.short ? [[`-${s.short}`, n]] : []));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (opts.positionals && arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    const short = byShort.get(arg);
    if (!arg.startsWith("--") && short === undefined) {
      if (opts.positionals && !arg.startsWith("-")) {
        positionals.push(arg);
        continue;
      }
      if (opts.positionals) throw new UserError(`unknown flag ${arg} (see --help)`);
      throw new UserError(`unexpected argument "${arg}" (flags start with --; see --help)`);
    }
    const eq = short === undefined ? arg.indexOf("=") : -1;
    const name = short ?? arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (!spec) throw new UserError(`unknown flag --${name} (see --help)`);
    if (spec.kind === "boolean") {
      if (eq >= 0) throw new UserError(`--${name} takes no value`);
      setLast(values, name, true);
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new UserError(`--${name} needs a value`);
    if (eq < 0 && raw.startsWith("--")) {
      throw new UserError(
        `--${name} needs a value, got the flag ${raw} (write --${name}=${raw} if that is the value)`,
      );
    }
    setLast(values, name, parseValue(name, spec, raw));
  }
  const options = Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name.replace(/-(\w)/g, (_, c) => c.toUpperCase()), value]),
  );
  return { values: values as FlagValues<T>, options: options as FlagOptions<T>, positionals };
}

/** A repeated flag counts where it was last given: the values keep the order of the last occurrences. */
function setLast(values: Record<string, unknown>, name: string, value: string | number | boolean) {
  delete values[name];
  values[name] = value;
}

/**
 * The `--help` rows of `table`: `--name METAVAR` padded to `width`, then the help; its further lines
 * start under the first. `describe` may add to a flag's help (train appends its defaults).
 */
export function flagRows(
  table: FlagTable,
  width: number,
  describe: (name: string, spec: FlagSpec) => string = (_, spec) => spec.help,
): string[] {
  const indent = " ".repeat(2 + width);
  return Object.entries(table).filter(([, spec]) => !spec.hidden).map(([name, spec]) => {
    const label = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.metavar ? ` ${spec.metavar}` : ""}`;
    return `  ${label.padEnd(width)}${describe(name, spec).split("\n").join(`\n${indent}`)}`;
  });
}

/** `--help`: the usage text, then the table's rows. */
export function helpText(usage: string, table: FlagTable, width: number): string {
  return [usage, ...flagRows(table, width)].join("\n");
}

/**
 * A task's flags parsed against `table` (which must have `help`), or null after printing `--help` (the
 * usage text, then the rows, labels padded to `width`) when it was asked for.
 */
export function parseOrHelp<T extends FlagTable>(
  args: string[],
  usage: string,
  table: T,
  width: number,
  opts: { positionals?: boolean } = {},
): ReturnType<typeof parseFlags<T>> | null {
  const parsed = parseFlags(args, table, opts);
  if (!parsed.values.help) return parsed;
  console.log(helpText(usage, table, width));
  return null;
}

/** `max-length` → `maxLength`. */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** The flags given, keyed as the options of the job they configure (`--max-length` → `maxLength`). */
export type FlagOptions<T extends FlagTable> = {
  -readonly [K in keyof T as CamelCase<K & string>]?: ValueOf<T[K]>;
};
