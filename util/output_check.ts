/**
 * Output paths are checked before any work starts: a task that would fail to write its results after an hour
 * of training instead stops at once with one line naming the flag and the path. "Writable" is tested by
 * creating (and removing) a probe file, so read-only mounts, permissions and full disks all count, for root
 * as for anyone.
 */
import { dirname, resolve } from "node:path";
import { UserError } from "./errors.ts";
import { unwritableReason } from "./fs.ts";

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
}

/** Creates and removes a probe file in `dir`; the OS's reason when that fails, else null. */
async function probe(dir: string): Promise<string | null> {
  const path = `${dir}/.write-probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const f = await Deno.open(path, { write: true, createNew: true });
    f.close();
    await Deno.remove(path);
    return null;
  } catch (err) {
    return unwritableReason(err) ?? String((err as Error).message ?? err).split("\n")[0];
  }
}

/**
 * A file the task will write (`--log`, `--predictions`, `--out`): not a directory, its folder exists and
 * can be written in.
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  const where = flag ? `${flag} ${path}` : path;
  const info = await statOrNull(path);
  if (info?.isDirectory) throw new UserError(`${where}: is a directory; pass a file name`);
  const parent = dirname(resolve(path));
  const p = await statOrNull(parent);
  if (!p) throw new UserError(`${where}: the folder ${parent} does not exist`);
  if (!p.isDirectory) throw new UserError(`${where}: ${parent} is not a folder`);
  const reason = await probe(parent);
  if (reason) throw new UserError(`${where}: cannot write in ${parent} (${reason})`);
}

/**
 * A folder the task will create or write into (`--output`): not a file, and either writable itself or, when
 * it does not exist yet, creatable under its nearest existing parent.
 */
export async function checkOutputDir(path: string, flag: string): Promise<void> {
  const where = `${flag} ${path}`;
  let dir = resolve(path);
  let info = await statOrNull(dir);
  if (info && !info.isDirectory) throw new UserError(`${where}: is a file, not a folder`);
  while (!info) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
    info = await statOrNull(dir);
    if (info && !info.isDirectory) throw new UserError(`${where}: ${dir} is a file, not a folder`);
  }
  const reason = await probe(dir);
  if (reason) throw new UserError(`${where}: cannot write in ${dir} (${reason})`);
}
