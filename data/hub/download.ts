/**
 * One file into the cache: HEAD for commit, etag and size, then a GET into `<blob>.incomplete` that resumes with
 * a Range request after a fault; only a complete, verified file is renamed to its final name: its size must be
 * the server's (X-Linked-Size / Content-Length), its sha256 the hub's X-Linked-Etag where that is one, and its
 * contents must pass `contentProblem`. A rejected download is deleted, never cached.
 */
import { firstLine, UserError } from "../../util/errors.ts";
import { exists, writeError, writeFileAtomic } from "../../util/fs.ts";
import {
  COMMIT_HASH,
  describeRef,
  dirname,
  type HubEnv,
  type HubFileRef,
  hubFileUrl,
  linkSnapshot,
  repoCacheFolder,
} from "./cache.ts";
import { contentProblem } from "./content_check.ts";
import {
  authHeaders,
  type FaultPolicy,
  faultPolicy,
  httpError,
  isRedirect,
  MAX_REDIRECTS,
  normalizeEtag,
  redirectTarget,
  request,
  RetriableError,
  withRetries,
} from "./http.ts";
import { ProgressBar } from "./progress_bar.ts";

/**
 * Downloads `ref` into the cache (resuming a partial download) and returns the snapshot path; `unreachable`
 * is the calling client's memo of origins that did not answer (see `FaultPolicy`).
 */
export async function downloadIntoCache(
  ref: HubFileRef,
  env: HubEnv,
  progress: boolean,
  unreachable: Set<string>,
): Promise<string> {
  const url = hubFileUrl(ref, env);
  const origin = new URL(url).origin;
  const token = env.HF_TOKEN;
  const policy = faultPolicy(env, progress, unreachable);
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
