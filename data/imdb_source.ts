/**
 * Where the IMDB Parquet files come from: `--data` if given, else the Hugging Face cache, else a download into
 * it. Falling back to the small bundled sample is a separate, explicit step (`resolveImdbSplitOrSample`).
 */
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";
import { checkedCachedHubFile, type HubEnv, type HubFileRef, isHubOffline } from "./hub/cache.ts";
import { HubClient } from "./hub/client.ts";
import type { ImdbSplitName } from "./imdb.ts";

export const IMDB_REPO_ID = "stanfordnlp/imdb";

export type ImdbSource = "data" | "cache" | "download" | "sample";

export interface ResolvedImdbSplit {
  path: string;
  source: ImdbSource;
}

export interface ResolveImdbOptions {
  /** `--data`: a Parquet file, or a folder holding `plain_text/<split>-*.parquet` or `<split>-*.parquet`. */
  data?: string;
  env?: HubEnv;
  /** Download progress on stderr (default true). */
  progress?: boolean;
  revision?: string;
  /**
   * The client to download with, shared by the splits of one run so that a hub that did not answer for the
   * first split is not waited for again (default: a new one from `env` and `progress`).
   */
  hub?: HubClient;
}

/** `plain_text/<split>-00000-of-00001.parquet`, the file name in the hub repo. */
export function imdbSplitFilename(split: ImdbSplitName): string {
  return `plain_text/${split}-00000-of-00001.parquet`;
}

export function imdbHubRef(split: ImdbSplitName, revision = "main"): HubFileRef {
  return { repoType: "dataset", repoId: IMDB_REPO_ID, revision, filename: imdbSplitFilename(split) };
}

/** The bundled 2,000/1,000-review sample in the same schema (train and test only), or null for other splits. */
export function bundledImdbSample(split: ImdbSplitName): string | null {
  if (split === "unsupervised") return null;
  return fileURLToPath(new URL(`../assets/imdb-sample/${imdbSplitFilename(split)}`, import.meta.url));
}

/** `--data`, else the HF cache, else a download. Every failure (offline, network, 404) is a UserError. */
export async function resolveImdbSplit(
  split: ImdbSplitName,
  opts: ResolveImdbOptions = {},
): Promise<ResolvedImdbSplit> {
  if (opts.data !== undefined) return { path: await findSplitInData(opts.data, split), source: "data" };
  const hub = opts.hub ?? new HubClient({ env: opts.env, progress: opts.progress });
  const env = hub.env;
  const ref = imdbHubRef(split, opts.revision);
  const cached = await checkedCachedHubFile(ref, env);
  if (cached) return { path: cached, source: "cache" };
  if (isHubOffline(env)) {
    throw new UserError(
      `offline (HF_HUB_OFFLINE=${env.HF_HUB_OFFLINE}) and IMDB ${split} split is not in the HF cache; pass --data DIR`,
    );
  }
  return { path: await hub.download(ref), source: "download" };
}

/**
 * `resolveImdbSplit`, but when the hub route fails (offline, no network, hub error) the bundled sample is used
 * instead, with a one-line notice through `onNotice` (default: stderr). An explicit `--data` never falls back:
 * a wrong path there is the user's to fix.
 */
export async function resolveImdbSplitOrSample(
  split: ImdbSplitName,
  opts: ResolveImdbOptions & { onNotice?: (line: string) => void } = {},
): Promise<ResolvedImdbSplit> {
  if (opts.data !== undefined) return await resolveImdbSplit(split, opts);
  try {
    return await resolveImdbSplit(split, opts);
  } catch (err) {
    const sample = bundledImdbSample(split);
    if (!(err instanceof UserError) || sample === null) throw err;
    const notice = opts.onNotice ?? ((line: string) => console.error(line));
    notice(`note: using the bundled IMDB sample for ${split} (${err.message})`);
    return { path: sample, source: "sample" };
  }
}

/** Finds a split's Parquet file under `--data`: the path itself if it is a file, else by the hub's file names. */
export async function findSplitInData(data: string, split: ImdbSplitName): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(data);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`--data ${data}: no such file or folder`);
    throw err;
  }
  if (info.isFile) return data;
  const dir = data.replace(/\/+$/, "") || "/";
  for (const folder of [`${dir}/plain_text`, dir]) {
    const exact = `${folder}/${split}-00000-of-00001.parquet`;
    if (await isFile(exact)) return exact;
    const matches: string[] = [];
    try {
      for await (const entry of Deno.readDir(folder)) {
        const name = entry.name;
        if (name === `${split}.parquet` || (name.startsWith(`${split}-`) && name.endsWith(".parquet"))) {
          matches.push(`${folder}/${name}`);
        }
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) continue;
      throw err;
    }
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new UserError(`--data ${data}: ${matches.length} ${split} files in ${folder}; pass one file`);
    }
  }
  throw new UserError(
    `--data ${data}: no ${split} Parquet file (looked for plain_text/${split}-*.parquet and ${split}-*.parquet)`,
  );
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
