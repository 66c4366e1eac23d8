/**
 * Running tasks as a user does: `deno run tasks/<task>.ts` as a subprocess, and the checks of the rule for bad
 * input (one `error:` line, non-zero exit, no stack trace). Also a small tmpfs for disk-full and read-only
 * cases where the machine allows mounting one (root on Linux).
 */
import assert from "node:assert/strict";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;
export const SAMPLE = join(ROOT, "assets/imdb-sample/plain_text");
export const SAMPLE_TRAIN = join(SAMPLE, "train-00000-of-00001.parquet");
export const SAMPLE_TEST = join(SAMPLE, "test-00000-of-00001.parquet");

/** A few fast steps of the tiny preset on the bundled sample (data given, so no hub lookups). */
export const TINY = [
  "--preset",
  "tiny",
  "--data",
  SAMPLE_TRAIN,
  "--eval-data",
  SAMPLE_TEST,
  "--train-samples",
  "16",
  "--eval-samples",
  "8",
  "--max-length",
  "16",
  "--batch-size",
  "8",
];

/** A command line written as one string, split at white space: `words("--preset tiny --max-length 16")`. */
export const words = (line: string): string[] => line.trim().split(/\s+/);

/** `args` with some flags' values replaced (each flag must be in `args`). */
export function withFlags(args: string[], values: Record<string, string>): string[] {
  const out = [...args];
  for (const [flag, value] of Object.entries(values)) {
    const i = out.indexOf(flag);
    if (i < 0) throw new Error(`withFlags: ${flag} is not in the arguments`);
    out[i + 1] = value;
  }
  return out;
}

/** Two steps with a checkpoint after each, all kept: checkpoint-1 and checkpoint-2. */
export const TWO_CHECKPOINTS = ["--max-steps", "2", "--save-steps", "1", "--save-total-limit", "0"];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(
  task: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, `tasks/${task}.ts`), ...args],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { HF_HUB_OFFLINE: "1", NO_COLOR: "1", ...opts.env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/** Runs a task that must succeed (exit 0, else the assertion shows its stderr); returns its stdout. */
export async function cliOutput(task: string, args: string[]): Promise<string> {
  const r = await cli(task, args);
  assert.equal(r.code, 0, `${task} failed: ${r.stderr}`);
  return r.stdout;
}

/** The rule for bad input: exit non-zero, exactly one `error:` line matching `pattern`, no stack trace. */
export function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `exit 0:\n${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(r.stderr, /Uncaught|panicked/, "no stack trace");
}

/** The task ran clean: exit 0, no error line, no stack trace. */
export function assertClean(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^error:|^\s+at |Uncaught|panicked|WebGPU error/m, `${what}:\n${r.stderr}`);
}

export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Mounts a tmpfs of `kib` KiB (read-only when asked) for `fn`, or returns false without calling it where
 * mounting is not allowed (not root, not Linux): the caller's test then says it skipped.
 */
export async function withTmpfs(
  kib: number,
  opts: { readOnly?: boolean },
  fn: (dir: string) => Promise<void>,
): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  const dir = await Deno.makeTempDir({ prefix: "tmpfs_" });
  const options = `size=${kib}k${opts.readOnly ? ",ro" : ""}`;
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().then((o) => o.success, () => false);
  if (!mounted) {
    await Deno.remove(dir);
    return false;
  }
  try {
    await fn(dir);
  } finally {
    await new Deno.Command("umount", { args: [dir], stdout: "null", stderr: "null" }).output();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return true;
}

/** Every entry under `dir` (relative paths, sorted), for "nothing else changed" checks. */
export async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    out.push(e.isDirectory ? `${rel}/` : rel);
    if (e.isDirectory) out.push(...await listTree(join(dir, e.name), `${rel}/`));
  }
  return out.sort();
}

export const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
