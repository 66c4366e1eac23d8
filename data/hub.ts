/**
 * Files from the Hugging Face Hub (models and datasets alike), kept in huggingface_hub's own cache layout so
 * that files Python already downloaded are found, and files downloaded here are found by Python:
 *
 *   $HF_HUB_CACHE/<models|datasets>--<org>--<name>/
 *     refs/<revision>               the commit hash that revision resolved to
 *     blobs/<etag>                  file contents
 *     snapshots/<commit>/<filename> symlink to ../../blobs/<etag> (a copy where symlinks fail)
 *
 * Downloads resume from `<blob>.incomplete` with a Range request, and only a complete, verified file is renamed
 * to its final name: its size must be the server's (X-Linked-Size / Content-Length), its sha256 the hub's
 * X-Linked-Etag where that is one, and a Parquet, safetensors or JSON file must parse. A rejected download is
 * deleted, never cached; a cached file that fails the same checks is named in the error with how to remove
 * it. HF_TOKEN is sent only to the endpoint's own origin, never to a redirect target elsewhere.
 *
 * Faults: every request has a connect timeout (HF_HUB_ETAG_TIMEOUT for HEAD, HF_HUB_DOWNLOAD_TIMEOUT for GET,
 * seconds, 10 by default as in huggingface_hub) and a body that sends nothing for HF_HUB_DOWNLOAD_TIMEOUT
 * seconds is a stall. Network errors, timeouts, stalls, HTTP 429 and 5xx are retried with exponential backoff
 * (huggingface_hub's http_backoff: 5 retries, waits of 1, 2, 4, 8, 8 s; DISTILBERT_WEBGPU_HUB_RETRIES and
 * DISTILBERT_WEBGPU_HUB_RETRY_WAIT change the count and the first wait), a cut transfer resuming where it stopped.
 */
import { parquetMetadata } from "hyparquet";
import { UserError } from "../util/errors.ts";
import { exists, writeError, writeFileAtomic } from "../util/fs.ts";

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

export interface HubDownloadOptions {
  env?: HubEnv;
  /** Progress on stderr (default true): a live bar on a terminal, start and end lines otherwise. */
  progress?: boolean;
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
const DEFAULT_ENDPOINT = "https://huggingface.co";
const MAX_REDIRECTS = 10;
const COMMIT_HASH = /^[0-9a-f]{40}$/;

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

/** The cached file, else a download into the cache; offline (HF_HUB_OFFLINE) a missing file is a UserError. */
export async function hubFile(ref: HubFileRef, opts: HubDownloadOptions = {}): Promise<string> {
  const env = opts.env ?? hubEnvFromProcess();
  const cached = await checkedCachedHubFile(ref, env);
  if (cached) return cached;
  if (isHubOffline(env)) {
    throw new UserError(
      `offline (HF_HUB_OFFLINE=${env.HF_HUB_OFFLINE}) and ${describeRef(ref)} is not in the HF cache at ${
        repoCacheFolder(ref, env)
      }`,
    );
  }
  return await downloadHubFile(ref, { ...opts, env });
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

/** Timeouts and retries, from the environment (see the module's comment). */
interface FaultPolicy {
  headTimeoutMs: number;
  getTimeoutMs: number;
  retries: number;
  firstWaitMs: number;
  maxWaitMs: number;
  progress: boolean;
}

function faultPolicy(env: HubEnv, progress: boolean): FaultPolicy {
  const seconds = (name: keyof HubEnv, fallback: number, integer = false) => {
    const raw = env[name];
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
      throw new UserError(
        `${name}: ${JSON.stringify(raw)} is not a ${integer ? "count" : "number of seconds"}`,
      );
    }
    return v;
  };
  return {
    headTimeoutMs: seconds("HF_HUB_ETAG_TIMEOUT", 10) * 1000,
    getTimeoutMs: seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10) * 1000,
    retries: seconds("DISTILBERT_WEBGPU_HUB_RETRIES", 5, true),
    firstWaitMs: seconds("DISTILBERT_WEBGPU_HUB_RETRY_WAIT", 1) * 1000,
    maxWaitMs: 8000,
    progress,
  };
}

/** A failure worth another try: a network error, a timeout, a stall, HTTP 429 or 5xx, a cut transfer. */
class RetriableError extends Error {
  /**
   * `final`: reported at once, without retries (a name that does not resolve: no network at all).
   * `noAnswer`: the server could not be reached or did not answer (not an HTTP error, not a cut transfer).
   */
  constructor(message: string, readonly final = false, readonly noAnswer = false) {
    super(message);
  }
}

/**
 * Origins that could not be reached or did not answer through every retry in this process: later files from
 * them fail at once (the offline quickstart falls back after one file's retries, not after each file's).
 */
const unreachable = new Set<string>();

/** Runs `attempt`, retrying RetriableErrors with exponential backoff; the last one becomes a UserError. */
async function withRetries<T>(
  ref: HubFileRef,
  origin: string,
  policy: FaultPolicy,
  attempt: () => Promise<T>,
): Promise<T> {
  const retries = unreachable.has(origin) ? 0 : policy.retries;
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof RetriableError)) throw err;
      if (i >= retries || err.final) {
        if (retries > 0 && err.noAnswer) unreachable.add(origin);
        const tries = i > 0 ? ` (${i + 1} attempts)` : "";
        throw new UserError(`${describeRef(ref)}: ${err.message}${tries}`);
      }
      const wait = Math.min(policy.maxWaitMs, policy.firstWaitMs * 2 ** i);
      if (policy.progress) {
        console.error(
          `${describeRef(ref)}: ${err.message}; retry ${i + 1} of ${retries} in ${wait / 1000} s`,
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Downloads `ref` into the cache (resuming a partial download) and returns the snapshot path. */
export async function downloadHubFile(ref: HubFileRef, opts: HubDownloadOptions = {}): Promise<string> {
  const env = opts.env ?? hubEnvFromProcess();
  if (isHubOffline(env)) {
    throw new UserError(
      `offline (HF_HUB_OFFLINE=${env.HF_HUB_OFFLINE}): cannot download ${describeRef(ref)}`,
    );
  }
  const url = hubFileUrl(ref, env);
  const origin = new URL(url).origin;
  const token = env.HF_TOKEN;
  const policy = faultPolicy(env, opts.progress ?? true);
  const info = await withRetries(ref, origin, policy, () => resolveHead(url, origin, token, ref, policy));

  const revision = ref.revision ?? "main";
  const commit = info.commit ?? revision;
  const folder = repoCacheFolder(ref, env);
  const snapshotPath = `${folder}/snapshots/${commit}/${ref.filename}`;
  try {
    await Deno.mkdir(dirname(snapshotPath), { recursive: true });
  } catch (err) {
    throw writeError(err, dirname(snapshotPath));
  }

  const download = (finalPath: string) =>
    fetchToFile(info.downloadUrl, origin, token, finalPath, info, ref, policy);
  if (info.etag) {
    const blobPath = `${folder}/blobs/${info.etag}`;
    await Deno.mkdir(`${folder}/blobs`, { recursive: true });
    if (!(await exists(blobPath))) await download(blobPath);
    await linkSnapshot(blobPath, snapshotPath, info.etag, ref.filename);
  } else {
    await download(snapshotPath);
  }
  if (!COMMIT_HASH.test(revision)) {
    const refPath = `${folder}/refs/${revision}`;
    await Deno.mkdir(dirname(refPath), { recursive: true });
    await writeFileAtomic(refPath, commit);
  }
  return snapshotPath;
}

interface HeadInfo {
  downloadUrl: string;
  commit: string | null;
  etag: string | null;
  size: number | null;
}

/**
 * HEAD the resolve URL as huggingface_hub does: same-origin redirects (a renamed repo) are followed; a redirect
 * to another origin (the CDN) ends the walk and becomes the download URL. Commit, etag and size are read from
 * the hub's own response, which is where X-Repo-Commit and X-Linked-Etag live.
 */
async function resolveHead(
  url: string,
  origin: string,
  token: string | undefined,
  ref: HubFileRef,
  policy: FaultPolicy,
): Promise<HeadInfo> {
  let current = url;
  const info: HeadInfo = { downloadUrl: url, commit: null, etag: null, size: null };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { res } = await request(current, "HEAD", authHeaders(current, origin, token), policy.headTimeoutMs);
    info.commit ??= res.headers.get("x-repo-commit");
    info.etag ??= normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
    const linkedSize = res.headers.get("x-linked-size");
    if (linkedSize !== null && /^\d+$/.test(linkedSize)) info.size ??= Number(linkedSize);
    if (isRedirect(res.status)) {
      const next = redirectTarget(res, current, ref);
      if (new URL(next).origin !== origin) {
        info.downloadUrl = next;
        return info;
      }
      current = next;
      continue;
    }
    if (!res.ok) throw httpError(res.status, ref, current);
    // Some servers answer HEAD with Content-Length 0; only a positive length is a size.
    const length = Number(res.headers.get("content-length") ?? 0);
    if (length > 0) info.size ??= length;
    info.downloadUrl = current;
    return info;
  }
  throw new UserError(`${describeRef(ref)}: more than ${MAX_REDIRECTS} redirects`);
}

/**
 * GET into `<final>.incomplete` (resuming with Range when it exists), retrying faults; then verify (size,
 * sha256, contents) and rename to `final`. A file that fails verification is deleted: nothing is cached.
 */
async function fetchToFile(
  url: string,
  origin: string,
  token: string | undefined,
  finalPath: string,
  info: HeadInfo,
  ref: HubFileRef,
  policy: FaultPolicy,
): Promise<void> {
  const tmp = `${finalPath}.incomplete`;
  await withRetries(ref, origin, policy, () => fetchAttempt(url, origin, token, tmp, info, ref, policy));
  const reject = async (why: string) => {
    await Deno.remove(tmp).catch(() => {});
    return new UserError(`${describeRef(ref)}: ${why}; the download was deleted, nothing was cached`);
  };
  const size = await fileSize(tmp);
  if (info.size !== null && size !== info.size) {
    throw await reject(`the server sent ${size} bytes but announced ${info.size}`);
  }
  if (info.etag && /^[0-9a-f]{64}$/.test(info.etag)) {
    // LFS etags are the file's sha256: a mismatch means a corrupt or mixed-up transfer.
    const digest = await sha256File(tmp);
    if (digest !== info.etag) {
      throw await reject(`downloaded file has sha256 ${digest}, expected ${info.etag}`);
    }
  }
  const bad = await contentProblem(tmp, ref.filename);
  if (bad !== null) throw await reject(`the server's file is damaged or not what was asked for (${bad})`);
  await Deno.rename(tmp, finalPath);
}

/** One GET of the rest of the file into `tmp`. */
async function fetchAttempt(
  url: string,
  origin: string,
  token: string | undefined,
  tmp: string,
  info: HeadInfo,
  ref: HubFileRef,
  policy: FaultPolicy,
): Promise<void> {
  let offset = await fileSize(tmp);
  if (info.size !== null && offset > info.size) {
    await Deno.remove(tmp);
    offset = 0;
  }
  let res: Response, controller: AbortController;
  let current = url;
  let sendToken = token;
  for (let hop = 0;; hop++) {
    const headers = authHeaders(current, origin, sendToken);
    if (offset > 0) headers.set("range", `bytes=${offset}-`);
    ({ res, controller } = await request(current, "GET", headers, policy.getTimeoutMs));
    if (!isRedirect(res.status)) break;
    await res.body?.cancel();
    if (hop >= MAX_REDIRECTS) {
      throw new UserError(`${describeRef(ref)}: more than ${MAX_REDIRECTS} redirects`);
    }
    current = redirectTarget(res, current, ref);
    // Once the chain has left the endpoint's origin the token stays behind, even if it comes back.
    if (new URL(current).origin !== origin) sendToken = undefined;
  }
  if (res.status === 416 && offset > 0 && info.size === offset) {
    await res.body?.cancel();
    return;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw httpError(res.status, ref, current);
  }
  let append = false;
  if (res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1] ?? NaN);
    if (start !== offset) {
      await res.body?.cancel();
      throw new UserError(`${describeRef(ref)}: server resumed at byte ${start}, expected ${offset}`);
    }
    append = true;
  } else {
    offset = 0;
  }
  // The GET's own framing is authoritative; the HEAD's size is the fallback.
  const rangeTotal = Number(/\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1] ?? NaN);
  const length = Number(res.headers.get("content-length") ?? NaN);
  const total = Number.isFinite(rangeTotal)
    ? rangeTotal
    : Number.isFinite(length)
    ? offset + length
    : info.size;
  await streamBody(res, controller, tmp, append, offset, total, ref, policy);
}

async function streamBody(
  res: Response,
  controller: AbortController,
  tmp: string,
  append: boolean,
  offset: number,
  total: number | null,
  ref: HubFileRef,
  policy: FaultPolicy,
): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, create: true, append, truncate: !append });
  } catch (err) {
    await res.body?.cancel();
    throw writeError(err, tmp);
  }
  const progress = policy.progress ? new ProgressBar(ref.filename, total, offset) : null;
  let received = offset;
  const of = total !== null ? ` of ${total}` : "";
  try {
    const reader = res.body?.getReader();
    while (reader) {
      // A body that sends nothing for the download timeout is a stall: abort it and let the retry resume.
      const timer = setTimeout(() => controller.abort(), policy.getTimeoutMs);
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new RetriableError(
          controller.signal.aborted
            ? `download stalled after ${received}${of} bytes (nothing for ${
              policy.getTimeoutMs / 1000
            } s); run again to resume`
            : `download interrupted after ${received}${of} bytes (${firstLine(err)}); run again to resume`,
        );
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) break;
      let written = 0;
      try {
        while (written < chunk.value.length) written += await file.write(chunk.value.subarray(written));
      } catch (err) {
        await reader.cancel().catch(() => {});
        throw writeError(err, tmp);
      }
      received += chunk.value.length;
      if (total !== null && received > total) {
        await reader.cancel().catch(() => {});
        await Deno.remove(tmp).catch(() => {});
        throw new UserError(`${describeRef(ref)}: the server sent more than the ${total} bytes it announced`);
      }
      progress?.update(received);
    }
  } catch (err) {
    progress?.end(false);
    throw err;
  } finally {
    file.close();
  }
  if (total !== null && received !== total) {
    progress?.end(false);
    throw new RetriableError(`download ended after ${received}${of} bytes; run again to resume`);
  }
  progress?.end(true);
}

/**
 * Why the file at `path` cannot be `filename`'s contents (a Parquet, safetensors or JSON file must parse), or
 * null. Cheap: a Parquet file's footer and a safetensors header are read, not the data.
 */
export async function contentProblem(path: string, filename: string): Promise<string | null> {
  const kind = filename.endsWith(".parquet")
    ? "parquet"
    : filename.endsWith(".safetensors")
    ? "safetensors"
    : filename.endsWith(".json")
    ? "json"
    : null;
  if (kind === null) return null;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    return firstLine(err);
  }
  try {
    const size = (await file.stat()).size;
    const readAt = async (at: number, n: number) => {
      const buf = new Uint8Array(n);
      await file.seek(at, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await file.read(buf.subarray(got));
        if (r === null) break;
        got += r;
      }
      return buf.subarray(0, got);
    };
    if (kind === "json") {
      if (size > 64 * 1024 * 1024) return null;
      try {
        JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await readAt(0, size)));
        return null;
      } catch {
        return "not valid JSON";
      }
    }
    if (kind === "parquet") {
      const isMagic = (b: Uint8Array) => b.length === 4 && new TextDecoder().decode(b) === "PAR1";
      if (size < 12 || !isMagic(await readAt(0, 4)) || !isMagic(await readAt(size - 4, 4))) {
        return "not a Parquet file: no PAR1 magic bytes";
      }
      const footer = new DataView((await readAt(size - 8, 4)).slice().buffer).getUint32(0, true);
      if (footer + 12 > size) return "not a Parquet file: its footer runs past the start";
      const tail = await readAt(size - footer - 8, footer + 8);
      try {
        parquetMetadata(tail.slice().buffer);
        return null;
      } catch (err) {
        return `not a readable Parquet file: ${printable(firstLine(err))}`;
      }
    }
    // safetensors: an 8-byte header length, a JSON header whose tensors fill the rest of the file exactly.
    if (size < 8) return "not a safetensors file: shorter than its header length";
    const n = Number(new DataView((await readAt(0, 8)).slice().buffer).getBigUint64(0, true));
    if (n < 2 || n > 100_000_000 || 8 + n > size) return "not a safetensors file: bad header length";
    let header: Record<string, { data_offsets?: unknown }>;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await readAt(8, n)));
    } catch {
      return "not a safetensors file: its header is not JSON";
    }
    let end = 0;
    for (const [name, t] of Object.entries(header ?? {})) {
      if (name === "__metadata__") continue;
      const o = t?.data_offsets;
      if (!Array.isArray(o) || o.length !== 2 || !(o[0] <= o[1])) return `not a safetensors file: ${name}`;
      end = Math.max(end, Number(o[1]));
    }
    if (end !== size - 8 - n) {
      return `truncated safetensors file: tensors need ${end} bytes, ${size - 8 - n} follow`;
    }
    return null;
  } finally {
    file.close();
  }
}

/** Text safe to print on one line: control characters and stray bytes shown as "?", at most 120 characters. */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, "?");
  return clean.length > 120 ? clean.slice(0, 117) + "..." : clean;
}

/** Points the snapshot path at the blob with a relative symlink, as huggingface_hub does; copies if it cannot. */
async function linkSnapshot(
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

/**
 * One request with a timeout for the answer (its headers); the returned controller aborts its body. Network
 * errors, timeouts, HTTP 429 and 5xx are RetriableErrors, except a name that does not resolve (no network:
 * the offline quickstart falls back at once).
 */
async function request(
  url: string,
  method: string,
  headers: Headers,
  timeoutMs: number,
): Promise<{ res: Response; controller: AbortController }> {
  const origin = new URL(url).origin;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { method, headers, redirect: "manual", signal: controller.signal });
  } catch (err) {
    if (controller.signal.aborted) {
      throw new RetriableError(`no answer from ${origin} within ${timeoutMs / 1000} s`, false, true);
    }
    const detail = firstLine((err as { cause?: unknown }).cause ?? err)
      .replace(/^error sending request for url \([^)]*\): /, "");
    const why = `cannot reach ${origin} (${printable(detail)})`;
    throw new RetriableError(
      why,
      /dns error|failed to lookup address|Name or service not known/i.test(detail),
      true,
    );
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel();
    throw new RetriableError(`HTTP ${res.status} from ${origin}`);
  }
  return { res, controller };
}

function authHeaders(url: string, origin: string, token: string | undefined): Headers {
  // identity: sizes and Range offsets must count the stored bytes, not a gzip transfer encoding of them.
  const headers = new Headers({ "user-agent": "distilbert-webgpu", "accept-encoding": "identity" });
  if (token && new URL(url).origin === origin) headers.set("authorization", `Bearer ${token}`);
  return headers;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function redirectTarget(res: Response, current: string, ref: HubFileRef): string {
  const location = res.headers.get("location");
  if (!location) throw new UserError(`${describeRef(ref)}: redirect ${res.status} without a Location header`);
  return new URL(location, current).href;
}

function httpError(status: number, ref: HubFileRef, url: string): UserError {
  const where = new URL(url).origin;
  if (status === 404) return new UserError(`${describeRef(ref)}: not found on ${where} (HTTP 404)`);
  if (status === 401 || status === 403) {
    return new UserError(
      `${describeRef(ref)}: access denied by ${where} (HTTP ${status}); is HF_TOKEN set and valid?`,
    );
  }
  return new UserError(`${describeRef(ref)}: HTTP ${status} from ${where}`);
}

function normalizeEtag(etag: string | null): string | null {
  if (!etag) return null;
  const clean = etag.replace(/^W\//, "").replaceAll('"', "").trim();
  // The etag becomes a file name: refuse anything that could leave the blobs folder.
  return /^[A-Za-z0-9._-]+$/.test(clean) && !clean.startsWith(".") ? clean : null;
}

export function describeRef(ref: HubFileRef): string {
  const rev = ref.revision && ref.revision !== "main" ? `@${ref.revision}` : "";
  return `${ref.repoType === "dataset" ? "dataset " : ""}${ref.repoId}${rev}/${ref.filename}`;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
}

export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
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

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0];
}

/** One line on stderr, redrawn at most ten times a second on a terminal; start/end lines otherwise. */
class ProgressBar {
  private readonly tty: boolean;
  private readonly started = performance.now();
  private lastDraw = 0;
  private received: number;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly from: number,
  ) {
    this.tty = Deno.stderr.isTerminal();
    this.received = from;
    if (!this.tty) {
      const size = total !== null ? ` (${formatBytes(total)})` : "";
      const resume = from > 0 ? `, resuming at ${formatBytes(from)}` : "";
      this.write(`downloading ${label}${size}${resume}\n`);
    }
  }

  update(received: number): void {
    this.received = received;
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw(received);
  }

  end(ok: boolean): void {
    if (this.tty) {
      this.draw(this.received);
      this.write("\n");
    } else if (ok) this.write(`downloaded ${this.label}\n`);
  }

  private draw(received: number): void {
    const seconds = Math.max((performance.now() - this.started) / 1000, 1e-3);
    const rate = `${formatBytes((received - this.from) / seconds)}/s`;
    if (this.total === null || this.total <= 0) {
      this.write(`\r${this.label} ${formatBytes(received)} ${rate}\x1b[K`);
      return;
    }
    const fraction = Math.min(received / this.total, 1);
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const pct = (fraction * 100).toFixed(0).padStart(3);
    this.write(
      `\r${this.label} [${bar}] ${pct}% ${formatBytes(received)}/${formatBytes(this.total)} ${rate}\x1b[K`,
    );
  }

  private write(text: string): void {
    Deno.stderr.writeSync(this.encoder.encode(text));
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n.toFixed(0)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
