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
 * to its final name. HF_TOKEN is sent only to the endpoint's own origin, never to a redirect target elsewhere.
 */
import { UserError } from "../util/errors.ts";
import { exists, writeFileAtomic } from "../util/fs.ts";

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
  const cached = await cachedHubFile(ref, env);
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
  const info = await resolveHead(url, origin, token, ref);

  const revision = ref.revision ?? "main";
  const commit = info.commit ?? revision;
  const folder = repoCacheFolder(ref, env);
  const snapshotPath = `${folder}/snapshots/${commit}/${ref.filename}`;
  await Deno.mkdir(dirname(snapshotPath), { recursive: true });

  if (info.etag) {
    const blobPath = `${folder}/blobs/${info.etag}`;
    await Deno.mkdir(`${folder}/blobs`, { recursive: true });
    if (!(await exists(blobPath))) {
      await fetchToFile(info.downloadUrl, origin, token, blobPath, info, ref, opts.progress ?? true);
    }
    await linkSnapshot(blobPath, snapshotPath, info.etag, ref.filename);
  } else {
    await fetchToFile(info.downloadUrl, origin, token, snapshotPath, info, ref, opts.progress ?? true);
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
): Promise<HeadInfo> {
  let current = url;
  const info: HeadInfo = { downloadUrl: url, commit: null, etag: null, size: null };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(current, "HEAD", authHeaders(current, origin, token), ref);
    info.commit ??= res.headers.get("x-repo-commit");
    info.etag ??= normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
    const linkedSize = res.headers.get("x-linked-size");
    if (linkedSize !== null) info.size ??= Number(linkedSize);
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

/** GET into `<final>.incomplete` (resuming with Range when it exists), verify, then rename to `final`. */
async function fetchToFile(
  url: string,
  origin: string,
  token: string | undefined,
  finalPath: string,
  info: HeadInfo,
  ref: HubFileRef,
  showProgress: boolean,
): Promise<void> {
  const tmp = `${finalPath}.incomplete`;
  let offset = await fileSize(tmp);
  if (info.size !== null && offset > info.size) {
    await Deno.remove(tmp);
    offset = 0;
  }
  let res: Response;
  let current = url;
  let sendToken = token;
  for (let hop = 0;; hop++) {
    const headers = authHeaders(current, origin, sendToken);
    if (offset > 0) headers.set("range", `bytes=${offset}-`);
    res = await request(current, "GET", headers, ref);
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
  } else {
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
    await streamBody(res, tmp, append, offset, total, ref, showProgress);
  }
  if (info.etag && /^[0-9a-f]{64}$/.test(info.etag)) {
    // LFS etags are the file's sha256: a mismatch means a corrupt or mixed-up resume, so start over next time.
    const digest = await sha256File(tmp);
    if (digest !== info.etag) {
      await Deno.remove(tmp);
      throw new UserError(`${describeRef(ref)}: downloaded file has sha256 ${digest}, expected ${info.etag}`);
    }
  }
  await Deno.rename(tmp, finalPath);
}

async function streamBody(
  res: Response,
  tmp: string,
  append: boolean,
  offset: number,
  total: number | null,
  ref: HubFileRef,
  showProgress: boolean,
): Promise<void> {
  const file = await Deno.open(tmp, { write: true, create: true, append, truncate: !append });
  const progress = showProgress ? new ProgressBar(ref.filename, total, offset) : null;
  let received = offset;
  try {
    if (res.body) {
      for await (const chunk of res.body) {
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        received += chunk.length;
        progress?.update(received);
      }
    }
  } catch (err) {
    progress?.end(false);
    throw new UserError(
      `${describeRef(ref)}: download interrupted after ${received}${
        total !== null ? ` of ${total}` : ""
      } bytes (${firstLine(err)}); run again to resume`,
    );
  } finally {
    file.close();
  }
  if (total !== null && received !== total) {
    progress?.end(false);
    throw new UserError(
      `${describeRef(ref)}: download ended after ${received} of ${total} bytes; run again to resume`,
    );
  }
  progress?.end(true);
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

async function request(url: string, method: string, headers: Headers, ref: HubFileRef): Promise<Response> {
  try {
    return await fetch(url, { method, headers, redirect: "manual" });
  } catch (err) {
    throw new UserError(`${describeRef(ref)}: cannot reach ${new URL(url).origin} (${firstLine(err)})`);
  }
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
