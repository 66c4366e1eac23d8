/** File helpers shared by every writer: nothing is ever half-written under its final name. */

/** Writes `data` to `path` through `path.incomplete` and a rename, so readers never see a partial file. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.incomplete`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
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
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    const old = `${clean}.old-${Deno.pid}`;
    const existed = await exists(clean);
    if (existed) await Deno.rename(clean, old);
    await Deno.rename(tmp, clean);
    if (existed) await Deno.remove(old, { recursive: true });
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
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
