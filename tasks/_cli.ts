/** Shared plumbing for `tasks/*.ts`: one-line errors, the parent check, and the bench/tokenize flags. */
import {
  type FlagTable,
  type NumberRules,
  parseFlags as parseTableFlags,
  parseNumber,
} from "../train/flags.ts";
import { DeviceError, UserError } from "../util/errors.ts";
import { unwritableReason } from "../util/fs.ts";
import { useDiskAutotuneCache } from "../autograd/autotune_disk.ts";

/**
 * Runs a task's main: user errors (and a disk that is full, read-only or forbidden, wherever the write was) and
 * device errors (the GPU failed or refused the work) become one line on stderr and exit 1, with no stack trace.
 * Started by `deno task`, the task also dies with it (`exitWithParentTask`).
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  exitWithParentTask();
  useDiskAutotuneCache(); // tuned kernel choices persist between runs
  try {
    await main();
  } catch (err) {
    const code = (err as { code?: string })?.code;
    const unwritable = ["ENOSPC", "EDQUOT", "EROFS"].includes(code ?? "") ? unwritableReason(err) : null;
    if (err instanceof UserError || unwritable !== null) {
      console.error(
        `error: ${err instanceof UserError ? err.message : String((err as Error).message).split("\n")[0]}`,
      );
      Deno.exit(1);
    }
    if (err instanceof DeviceError) {
      console.error(`error: WebGPU: ${err.message}`);
      Deno.exit(1);
    }
    throw err;
  }
}

/**
 * `deno task` runs a task as its child process. When `deno task` itself is killed with SIGKILL (which it
 * cannot forward, unlike SIGINT and SIGTERM), the child would be re-parented and keep training as an
 * orphan; Deno has no parent-death signal (prctl), so the child checks its parent PID twice a second and
 * exits when the `deno task` that started it is gone. Only under `deno task`: a task run directly (`deno run`,
 * nohup) must outlive its shell.
 */
export function exitWithParentTask(): void {
  const parent = Deno.ppid;
  if (!startedByDenoTask(parent)) return;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    try {
      console.error("error: deno task, which started this task, was killed; stopping");
    } catch { /* stderr may be gone with it */ }
    Deno.exit(143);
  }, 500);
  Deno.unrefTimer(timer);
}

function startedByDenoTask(parent: number): boolean {
  try {
    // Linux: the parent's command line, e.g. ["deno", "task", "train", ...].
    const argv = Deno.readTextFileSync(`/proc/${parent}/cmdline`).split("\0");
    return /(^|\/)deno(\.exe)?$/.test(argv[0]) && argv[1] === "task";
  } catch {
    // Elsewhere: deno task sets INIT_CWD for the processes it starts.
    try {
      return Deno.env.get("INIT_CWD") !== undefined && parent > 1;
    } catch {
      return false;
    }
  }
}

/** A flag as tasks/bench_*.ts and tasks/tokenize.ts declare it (node:util parseArgs' option shape). */
interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  default?: string;
}

type OptionValues<T extends Record<string, OptionSpec>> = {
  -readonly [K in keyof T]: T[K] extends { type: "boolean" } ? boolean | undefined
    : T[K] extends { default: string } ? string
    : string | undefined;
};

/**
 * The bench and tokenize tasks' flags, declared in parseArgs' shape (their move to flag tables is the data
 * part of this redesign), read by the one flag parser (train/flags.ts): strings stay strings for
 * `numberFlag`.
 */
export function parseFlags<T extends Record<string, OptionSpec>>(
  args: string[],
  options: T,
  allowPositionals = false,
): { values: OptionValues<T>; positionals: string[] } {
  const table: FlagTable = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { kind: o.type, short: o.short, help: "" }]),
  );
  const parsed = parseTableFlags(args, table, { positionals: allowPositionals });
  const values: Record<string, unknown> = parsed.values;
  for (const [name, o] of Object.entries(options)) if (o.default !== undefined) values[name] ??= o.default;
  return { values: values as OptionValues<T>, positionals: parsed.positionals };
}

/** A numeric flag's value checked against `rules` (see parseNumber); `flag` names it in the error. */
export function numberFlag(
  value: string | undefined,
  flag: string,
  rules: NumberRules = {},
): number | undefined {
  return value === undefined ? undefined : parseNumber(flag, value, rules);
}
