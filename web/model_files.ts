/**
 * Where a page's model directory comes from: a URL (`deno task serve` puts it at `model/`) or the files the
 * user picked, read as bytes by name.
 */
import { UserError } from "../util/errors.ts";

/** How a page gets a model directory's files: bytes, or null when the file is absent. */
export interface ModelSource {
  /** What to call the directory in messages (a URL, a folder's name). */
  label: string;
  read(name: string): Promise<Uint8Array | null>;
}

/**
 * A model directory served over HTTP (`deno task serve` puts it at `model/`): 404 means absent. `present`,
 * when the server lists its files, spares the requests for files it does not have.
 */
export function urlSource(
  base: string,
  opts: { label?: string; present?: string[]; fetch?: typeof fetch } = {},
): ModelSource {
  const root = base.endsWith("/") ? base : `${base}/`;
  const fetchFn = opts.fetch ?? fetch;
  return {
    label: opts.label ?? root,
    async read(name) {
      if (opts.present && !opts.present.includes(name)) return null;
      let response: Response;
      try {
        response = await fetchFn(root + name);
      } catch (err) {
        throw new UserError(`${root}${name}: could not be fetched (${(err as Error).message})`);
      }
      if (response.status === 404) return null;
      if (!response.ok) throw new UserError(`${root}${name}: HTTP ${response.status} ${response.statusText}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

/**
 * Files the user picked (an `<input type="file" webkitdirectory>` folder, or the files themselves): the
 * files at the folder's top level, by name.
 */
export function filesSource(files: Iterable<File>, label?: string): ModelSource {
  const byName = new Map<string, File>();
  let folder = "";
  for (const file of files) {
    // webkitRelativePath is "folder/name" for a picked folder ("" for picked files); deeper files are not ours.
    const parts = (file.webkitRelativePath || file.name).split("/");
    if (parts.length > 2) continue;
    if (parts.length === 2) folder = parts[0];
    byName.set(parts.at(-1)!, file);
  }
  return {
    label: label ?? (folder || "the picked files"),
    async read(name) {
      const file = byName.get(name);
      return file ? new Uint8Array(await file.arrayBuffer()) : null;
    },
  };
}

/** What a page needs from a model directory; one of the tokenizer files is enough. */
export const REQUIRED_FILES = ["config.json", "model.safetensors"] as const;
