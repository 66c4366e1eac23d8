/** A split's files in a Hugging Face dataset folder: `<split>.<ext>` or its shards, in the folder or a config folder. */
import { UserError } from "../util/errors.ts";

const SPLIT_EXTENSIONS = ["parquet", "csv", "tsv", "jsonl"];

/** Whether `name` is a file of `split`: `<split>.<ext>` or `<split>-*.<ext>` (shards: `-00000-of-00002`). */
function isSplitFile(name: string, split: string): boolean {
  const dot = name.lastIndexOf(".");
  if (dot < 0 || !SPLIT_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase())) return false;
  const stem = name.slice(0, dot);
  return stem === split || stem.startsWith(`${split}-`);
}

async function listDir(dir: string): Promise<Deno.DirEntry[] | null> {
  try {
    const out: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
}

/**
 * The files of `split` under `data` (`flag` names it in errors): `data` itself if it is a file; in a folder,
 * `<split>.<ext>` or its shards `<split>-*.<ext>`, in the folder or in one config folder under it
 * (`plain_text/` first, as IMDB has it; several other configs with that split are an error). Shards come
 * sorted by name. null when a folder has no such split.
 */
export async function findSplitFiles(data: string, split: string, flag: string): Promise<string[] | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(data);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${flag} ${data}: no such file or folder`);
    throw err;
  }
  if (info.isFile) return [data];
  const dir = data.replace(/\/+$/, "") || "/";
  const inFolder = async (folder: string) =>
    ((await listDir(folder)) ?? []).filter((e) => !e.isDirectory && isSplitFile(e.name, split))
      .map((e) => `${folder}/${e.name}`);
  const here = await inFolder(dir);
  if (here.length) return here;
  const plain = await inFolder(`${dir}/plain_text`);
  if (plain.length) return plain;
  const configs: [string, string[]][] = [];
  for (const e of (await listDir(dir)) ?? []) {
    if (!e.isDirectory || e.name === "plain_text") continue;
    const files = await inFolder(`${dir}/${e.name}`);
    if (files.length) configs.push([e.name, files]);
  }
  if (configs.length === 1) return configs[0][1];
  if (configs.length > 1) {
    throw new UserError(
      `${flag} ${data}: ${configs.length} config folders have a ${split} split (${
        configs.map(([c]) => c).join(", ")
      }); pass one of them`,
    );
  }
  return null;
}
