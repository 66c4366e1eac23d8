/** File helpers shared by every writer: nothing is ever half-written under its final name. */
import { UserError } from "./errors.ts";

/** errno codes that mean "this place cannot be written" (the user's disk or folder, not our bug). */
const UNWRITABLE = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ENOENT", "ENOTDIR", "EISDIR"]);

/**
 * The reason in an OS error that says a path cannot be written (disk full, read-only, no permission, no such
 * folder), e.g. "No space left on device"; null for any other error.
 */
export function unwritableReason(err: unknown): string | null {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string" || !UNWRITABLE.has(code)) return null;
  return String((err as Error).message ?? code).split("\n")[0].replace(/ \(os error \d+\).*$/, "");
}

/** A path that could not be written, and the OS's reason: a UserError (the user's disk, not our bug). */
export class UnwritableError extends UserError {
  constructor(readonly path: string, readonly reason: string, readonly full: boolean) {
    super(`${path}: cannot write (${reason})${full ? "; what was there before is intact" : ""}`);
  }
}

/** An UnwritableError naming `path` for an OS error that says it cannot be written; other errors unchanged. */
export function writeError(err: unknown, path: string): unknown {
  if (err instanceof UnwritableError) return err;
  if (err instanceof UserError) return err;
  const reason = unwritableReason(err);
  if (reason === null) return err;
  const code = (err as { code?: string }).code;
  return new UnwritableError(path, reason, code === "ENOSPC" || code === "EDQUOT");
}

/**
 * A temporary name beside `path`, unique to this process and call (a random 64-bit number after the pid), so
 * concurrent writers never share one. Digits only: run_dir.ts recognises `<name>.incomplete-<pid>-<n>`.
 */
export function tempPathFor(path: string): string {
  return `${path}.incomplete-${Deno.pid}-${crypto.getRandomValues(new BigUint64Array(1))[0]}`;
}

/**
 * Writes `data` to `path` through a uniquely named temporary file and a rename, so readers never see a
 * partial file and two processes writing the same path (the same token cache entry) never collide. A disk
 * that is full, read-only or forbidden is a UserError naming `path`; the previous file stays as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw writeError(err, path);
  }
}

/**
 * Builds a directory's files in a temporary sibling, then swaps it in under `dir`. `fill` gets the temporary
 * path. On failure the temporary directory is removed and an existing `dir` is left untouched.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const clean = dir.replace(/\/+$/, "");
  const tmp = `${clean}.incomplete-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  try {
    await Deno.mkdir(tmp, { recursive: true });
    await fill(tmp);
    const old = `${clean}.old-${Deno.pid}`;
    const existed = await exists(clean);
    if (existed) await Deno.rename(clean, old);
    await Deno.rename(tmp, clean);
    if (existed) await Deno.remove(old, { recursive: true });
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    // A file of the temporary folder that could not be written is `dir` that could not be; a missing file
    // inside `fill` is a missing source (a vocab to copy), not an unwritable `dir`.
    if (err instanceof UnwritableError) throw new UnwritableError(dir, err.reason, err.full);
    throw (err as { code?: string })?.code === "ENOENT" ? err : writeError(err, dir);
  }
}

/**
 * Reads an input file the user named with `read` (Deno.readFile, Deno.readTextFile): a missing file or one
 * that cannot be read is a one-line UserError naming it.
 */
export async function readInputFile<T>(path: string, read: (path: string) => Promise<T>): Promise<T> {
  try {
    return await read(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: no such file`);
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.IsADirectory) {
      throw new UserError(`${path}: cannot read (${err.message.replace(/\s*[\r\n]+\s*/g, " ")})`);
    }
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Where `../shared` lives (beside the checkout), or null when this clone has none (a user's clone). */
export function sharedDir(): string | null {
  const url = new URL("../../shared/", import.meta.url);
  try {
    Deno.statSync(url);
    return url.pathname;
  } catch {
    return null;
  }
}

/** Writes `value` as indented JSON through `writeFileAtomic`, creating the parent folder first. */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
