/** Shared plumbing for `tasks/*.ts`: flag parsing and one-line errors. Tasks only parse flags and call mod.ts. */
import { parseArgs, type ParseArgsConfig } from "node:util";
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

/** `node:util` parseArgs in strict mode, with its errors (unknown flag, missing value) turned into UserErrors. */
export function parseFlags<T extends ParseArgsConfig["options"]>(
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      throw new UserError((err as Error).message.split("\n")[0]);
    }
    throw err;
  }
}

/** Parses a numeric flag; `what` says which flag, for the error. */
export function numberFlag(
  value: string | undefined,
  flag: string,
  opts: { integer?: boolean; positive?: boolean; min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new UserError(`${flag}: "${value}" is not a number`);
  if (opts.integer && !Number.isInteger(n)) throw new UserError(`${flag}: "${value}" is not an integer`);
  if (opts.positive && n <= 0) throw new UserError(`${flag}: must be positive, got ${value}`);
  if (opts.min !== undefined && n < opts.min) {
    throw new UserError(`${flag}: must be at least ${opts.min}, got ${value}`);
  }
  return n;
}
