/**
 * Where Hugging Face Hub files live: huggingface_hub's own cache layout, so that files Python already
 * downloaded are found, and files downloaded here are found by Python:
 *
 *   $HF_HUB_CACHE/<models|datasets>--<org>--<name>/
 *     refs/<revision>               the commit hash that revision resolved to
 *     blobs/<etag>                  file contents
 *     snapshots/<commit>/<filename> symlink to ../../blobs/<etag> (a copy where symlinks fail)
 *
 * and where they come from: `$HF_ENDPOINT/.../resolve/<revision>/<filename>`.
 */
import { UserError } from "../../util/errors.ts";
import { contentProblem } from "./content_check.ts";

export type RepoType = "model" | "dataset";

export interface HubFileRef {
  repoType: RepoType;
  /** e.g. "stanfordnlp/imdb" or "distilbert-base-uncased". */
  repoId: string;
  /** Branch, tag or commit hash (default "main"). */
  revision?: string;
  /** Path inside the repo, e.g. "plain_text/train-00000-of-00001.parquet". */
  filename: string;
}

/** The environment variables that steer the hub cache; pass them explicitly (tests) or from the process. */
export interface HubEnv {
  HF_HOME?: string;
  HF_HUB_CACHE?: string;
  HF_ENDPOINT?: string;
  HF_TOKEN?: string;
  HF_HUB_OFFLINE?: string;
  /** Seconds to wait for the answer to a HEAD (huggingface_hub's name; default 10). */
  HF_HUB_ETAG_TIMEOUT?: string;
  /** Seconds to wait for a GET's answer, and for each part of its body (huggingface_hub's name; default 10). */
  HF_HUB_DOWNLOAD_TIMEOUT?: string;
  /** Retries after a network error, timeout, stall, HTTP 429 or 5xx (default 5). */
  DISTILBERT_WEBGPU_HUB_RETRIES?: string;
  /** Seconds before the first retry, doubled each time up to 8 (default 1). */
  DISTILBERT_WEBGPU_HUB_RETRY_WAIT?: string;
  XDG_CACHE_HOME?: string;
  HOME?: string;
}

const HUB_ENV_KEYS: (keyof HubEnv)[] = [
  "HF_HOME",
  "HF_HUB_CACHE",
  "HF_ENDPOINT",
  "HF_TOKEN",
  "HF_HUB_OFFLINE",
  "HF_HUB_ETAG_TIMEOUT",
  "HF_HUB_DOWNLOAD_TIMEOUT",
  "DISTILBERT_WEBGPU_HUB_RETRIES",
  "DISTILBERT_WEBGPU_HUB_RETRY_WAIT",
  "XDG_CACHE_HOME",
  "HOME",
];

export const DEFAULT_ENDPOINT = "https://huggingface.co";

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** The hub variables of this process (needs --allow-env; variables it may not read count as unset). */
export function hubEnvFromProcess(): HubEnv {
  const env: HubEnv = {};
  for (const key of HUB_ENV_KEYS) {
    try {
      const value = Deno.env.get(key);
      if (value !== undefined && value !== "") env[key] = value;
    } catch {
      // Without env permission the defaults apply.
    }
  }
  return env;
}

/** `HF_HUB_CACHE`, else `$HF_HOME/hub`, with HF_HOME defaulting to `${XDG_CACHE_HOME:-~/.cache}/huggingface`. */
export function hubCacheDir(env: HubEnv): string {
  if (env.HF_HUB_CACHE) return expandHome(env.HF_HUB_CACHE, env);
  const home = env.HF_HOME
    ? expandHome(env.HF_HOME, env)
    : `${env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME, env) : `${homeDir(env)}/.cache`}/huggingface`;
  return `${home}/hub`;
}

/** As huggingface_hub: "1", "ON", "YES" or "TRUE" in any case. */
export function isHubOffline(env: HubEnv): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((env.HF_HUB_OFFLINE ?? "").trim().toUpperCase());
}

/** `<cache>/datasets--stanfordnlp--imdb` etc. */
export function repoCacheFolder(ref: HubFileRef, env: HubEnv): string {
  return `${hubCacheDir(env)}/${ref.repoType}s--${ref.repoId.replaceAll("/", "--")}`;
}

/** `$HF_ENDPOINT/datasets/<repo>/resolve/<rev>/<file>` (models have no prefix). */
export function hubFileUrl(ref: HubFileRef, env: HubEnv): string {
  const endpoint = (env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  let parsed: URL | null = null;
  try {
    parsed = new URL(endpoint);
  } catch { /* reported below */ }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new UserError(`HF_ENDPOINT: ${JSON.stringify(env.HF_ENDPOINT)} is not an http(s) URL`);
  }
  const prefix = ref.repoType === "dataset" ? "datasets/" : "";
  const file = ref.filename.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${prefix}${ref.repoId}/resolve/${encodeURIComponent(ref.revision ?? "main")}/${file}`;
}

/** The cached file for `ref`, or null. Reads `refs/<revision>` unless the revision is already a commit hash. */
export async function cachedHubFile(ref: HubFileRef, env: HubEnv): Promise<string | null> {
  const folder = repoCacheFolder(ref, env);
  const revision = ref.revision ?? "main";
  let commit = revision;
  if (!COMMIT_HASH.test(revision)) {
    try {
      commit = (await Deno.readTextFile(`${folder}/refs/${revision}`)).trim();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
      throw err;
    }
  }
  const path = `${folder}/snapshots/${commit}/${ref.filename}`;
  try {
    // stat follows the symlink, so a snapshot link whose blob is gone counts as missing.
    return (await Deno.stat(path)).isFile ? path : null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
}

/**
 * `cachedHubFile`, after the checks a download must pass (a Parquet, safetensors or JSON file must parse): a
 * damaged entry (a poisoned download of an older version, a disk error) is a UserError that names it and
 * says how to remove it, never a file handed on.
 */
export async function checkedCachedHubFile(ref: HubFileRef, env: HubEnv): Promise<string | null> {
  const path = await cachedHubFile(ref, env);
  if (path === null) return null;
  const bad = await contentProblem(path, ref.filename);
  if (bad === null) return path;
  const real = await Deno.realPath(path).catch(() => path);
  const files = real === path ? `'${path}'` : `'${path}' '${real}'`;
  throw new UserError(
    `${
      describeRef(ref)
    }: the cached file ${path} is damaged (${bad}); remove it with rm ${files} and run again`,
  );
}

/** Points the snapshot path at the blob with a relative symlink, as huggingface_hub does; copies if it cannot. */
export async function linkSnapshot(
  blobPath: string,
  snapshotPath: string,
  etag: string,
  filename: string,
): Promise<void> {
  await Deno.remove(snapshotPath).catch(() => {});
  const depth = filename.split("/").length - 1;
  const target = `${"../".repeat(2 + depth)}blobs/${etag}`;
  try {
    await Deno.symlink(target, snapshotPath);
  } catch {
    const tmp = `${snapshotPath}.incomplete`;
    await Deno.copyFile(blobPath, tmp);
    await Deno.rename(tmp, snapshotPath);
  }
}

export function describeRef(ref: HubFileRef): string {
  const rev = ref.revision && ref.revision !== "main" ? `@${ref.revision}` : "";
  return `${ref.repoType === "dataset" ? "dataset " : ""}${ref.repoId}${rev}/${ref.filename}`;
}

function homeDir(env: HubEnv): string {
  if (env.HOME) return env.HOME;
  try {
    return Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  } catch {
    return ".";
  }
}

function expandHome(path: string, env: HubEnv): string {
  return path === "~" || path.startsWith("~/") ? homeDir(env) + path.slice(1) : path;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}
