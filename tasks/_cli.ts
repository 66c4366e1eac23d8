/** Shared plumbing for `tasks/*.ts`: flag parsing and one-line errors. Tasks only parse flags and call mod.ts. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DeviceError, UserError } from "../util/errors.ts";

/**
 * Runs a task's main: user errors and device errors (the GPU failed or refused the work) become one line on
 * stderr and exit 1, with no stack trace.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof UserError) {
      console.error(`error: ${err.message}`);
      Deno.exit(1);
    }
    if (err instanceof DeviceError) {
      console.error(`error: WebGPU: ${err.message}`);
      Deno.exit(1);
    }
    throw err;
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
