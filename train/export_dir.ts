/**
 * Where `deno task export` may write: a new or empty folder, or a previous export of ours (recognised by the
 * manifest every export writes, listing its files); anything else is refused unless `--overwrite`, and even
 * then only the files the export writes are replaced: nothing else in the folder is touched. Exporting into
 * the checkpoint itself or into a folder that holds it (its run directory) is always refused, so an export
 * can never delete a checkpoint's optimizer state or a run.
 *
 * The export is built complete in a sibling folder first; a new, empty or wholly-ours destination is then
 * swapped in with renames, so a crash leaves either the old folder or the new one.
 */
import { basename, dirname, join, relative, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { writeError, writeFileAtomic } from "../util/fs.ts";
import { checkOutputDir } from "../util/output_check.ts";
import { pidAlive } from "../util/pid.ts";

/** The manifest an export writes beside its files: how a later export recognises the folder as ours. */
export const EXPORT_MANIFEST = "export_manifest.json";
const FORMAT = "distilbert-webgpu export";

interface Manifest {
  format: string;
  files: string[];
  source?: string;
}

type Destination =
  | { kind: "new" }
  | { kind: "empty" }
  /** A previous export of ours, nothing else in it. */
  | { kind: "ours"; files: string[] }
  /** A previous export of ours with other files beside it, or a folder that is not an export of ours. */
  | { kind: "other"; ours: string[]; others: string[] };

async function readManifest(dir: string): Promise<Manifest | null> {
  try {
    const m = JSON.parse(await Deno.readTextFile(join(dir, EXPORT_MANIFEST)));
    if (
      m?.format === FORMAT && Array.isArray(m.files) && m.files.every((f: unknown) => typeof f === "string")
    ) {
      return m;
    }
  } catch { /* absent or not ours */ }
  return null;
}

async function classify(dir: string): Promise<Destination> {
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "new" };
    throw err;
  }
  if (names.length === 0) return { kind: "empty" };
  const manifest = await readManifest(dir);
  const listed = new Set([...(manifest?.files ?? []), ...(manifest ? [EXPORT_MANIFEST] : [])]);
  const ours = names.filter((n) => listed.has(n));
  const others = names.filter((n) => !listed.has(n)).sort();
  if (manifest && others.length === 0) return { kind: "ours", files: ours };
  return { kind: "other", ours, others };
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
}

/**
 * Checks `output` before anything is loaded: refused when it is (or holds) the checkpoint, is a file, cannot
 * be written, or is a non-empty folder that is not an export of ours (unless `overwrite`).
 */
export async function checkExportDestination(
  source: string,
  output: string,
  overwrite: boolean,
): Promise<void> {
  const src = await Deno.realPath(source).catch(() => resolve(source));
  const dest = await Deno.realPath(output).catch(() => resolve(output));
  if (isInside(src, dest)) {
    const what = src === dest
      ? "is the checkpoint being exported"
      : `holds the checkpoint being exported (${src})`;
    throw new UserError(`--output ${output}: ${what}; export into a new folder`);
  }
  await checkOutputDir(output, "--output");
  const d = await classify(dest);
  if (d.kind === "other" && !overwrite) {
    const shown = d.others.slice(0, 4).join(", ") +
      (d.others.length > 4 ? `, ... (${d.others.length} entries)` : "");
    throw new UserError(
      `--output ${output}: not empty and not an export of ours (it holds ${shown}); ` +
        "pass a new or empty folder, or --overwrite to replace the exported files in it (nothing else is touched)",
    );
  }
}

/**
 * Writes an export into `output`: `fill(tmp)` writes the files into a fresh sibling folder, this adds the
 * manifest and moves them into place as `checkExportDestination` allows.
 */
export async function writeExport(
  output: string,
  source: string,
  overwrite: boolean,
  fill: (tmpDir: string) => Promise<void>,
): Promise<void> {
  await checkExportDestination(source, output, overwrite);
  const dest = resolve(output);
  const prefix = `.${basename(dest)}.export-`;
  const staging = join(dirname(dest), `${prefix}${Deno.pid}`);
  // Leftovers of exports that were killed (their PID is gone) go first.
  const parentDir = dirname(dest);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(parentDir)) if (e.name.startsWith(prefix)) names.push(e.name);
  } catch { /* no parent yet */ }
  for (const name of names) {
    const pid = Number(/^(\d+)(\.old)?$/.exec(name.slice(prefix.length))?.[1]);
    if (pid === Deno.pid || (Number.isInteger(pid) && !pidAlive(pid))) {
      await Deno.remove(join(parentDir, name), { recursive: true }).catch(() => {});
    }
  }
  try {
    await fill(staging);
    const files: string[] = [];
    for await (const e of Deno.readDir(staging)) files.push(e.name);
    files.sort();
    const manifest: Manifest = { format: FORMAT, files, source: resolve(source) };
    await writeFileAtomic(join(staging, EXPORT_MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
    const d = await classify(dest);
    if (d.kind === "new" || d.kind === "empty") {
      // rename(2) replaces an empty folder atomically.
      await Deno.mkdir(dirname(dest), { recursive: true });
      await Deno.rename(staging, dest);
    } else if (d.kind === "ours") {
      const old = `${staging}.old`;
      await Deno.rename(dest, old);
      await Deno.rename(staging, dest);
      await Deno.remove(old, { recursive: true });
    } else {
      // --overwrite over a folder with files that are not ours: replace ours one by one, keep the rest.
      const previous = (await readManifest(dest))?.files ?? [];
      for (const name of files) await Deno.rename(join(staging, name), join(dest, name));
      for (const name of previous) {
        if (!files.includes(name)) await Deno.remove(join(dest, name), { recursive: true }).catch(() => {});
      }
      await Deno.rename(join(staging, EXPORT_MANIFEST), join(dest, EXPORT_MANIFEST));
      await Deno.remove(staging, { recursive: true });
    }
  } catch (err) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw writeError(err, output);
  }
}
