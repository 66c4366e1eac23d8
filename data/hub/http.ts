/**
 * Requests to the hub and their faults: every request has a connect timeout (HF_HUB_ETAG_TIMEOUT for HEAD,
 * HF_HUB_DOWNLOAD_TIMEOUT for GET, seconds, 10 by default as in huggingface_hub) and a body that sends nothing
 * for HF_HUB_DOWNLOAD_TIMEOUT seconds is a stall. Network errors, timeouts, stalls, HTTP 429 and 5xx are
 * retried with exponential backoff (huggingface_hub's http_backoff: 5 retries, waits of 1, 2, 4, 8, 8 s;
 * DISTILBERT_WEBGPU_HUB_RETRIES and DISTILBERT_WEBGPU_HUB_RETRY_WAIT change the count and the first wait).
 * HF_TOKEN is sent only to the endpoint's own origin, never to a redirect target elsewhere.
 */
import { firstLine, printable, UserError } from "../../util/errors.ts";
import { describeRef, type HubEnv, type HubFileRef } from "./cache.ts";

export const MAX_REDIRECTS = 10;

/** Timeouts and retries, from the environment (see the module's comment). */
export interface FaultPolicy {
  headTimeoutMs: number;
  getTimeoutMs: number;
  retries: number;
  firstWaitMs: number;
  maxWaitMs: number;
  progress: boolean;
  /**
   * Origins that could not be reached or did not answer through every retry of an earlier file: later files
   * from them fail at once (the offline quickstart falls back after one file's retries, not after each
   * file's). Owned by the `HubClient` that made the policy, so it lasts as long as that client.
   */
  unreachable: Set<string>;
}

export function faultPolicy(env: HubEnv, progress: boolean, unreachable: Set<string>): FaultPolicy {
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
    unreachable,
  };
}

/** A failure worth another try: a network error, a timeout, a stall, HTTP 429 or 5xx, a cut transfer. */
export class RetriableError extends Error {
  /**
   * `final`: reported at once, without retries (a name that does not resolve: no network at all).
   * `noAnswer`: the server could not be reached or did not answer (not an HTTP error, not a cut transfer).
   */
  constructor(message: string, readonly final = false, readonly noAnswer = false) {
    super(message);
  }
}

/** Runs `attempt`, retrying RetriableErrors with exponential backoff; the last one becomes a UserError. */
export async function withRetries<T>(
  ref: HubFileRef,
  origin: string,
  policy: FaultPolicy,
  attempt: () => Promise<T>,
): Promise<T> {
  const retries = policy.unreachable.has(origin) ? 0 : policy.retries;
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof RetriableError)) throw err;
      if (i >= retries || err.final) {
        if (retries > 0 && err.noAnswer) policy.unreachable.add(origin);
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

/**
 * One request with a timeout for the answer (its headers); the returned controller aborts its body. Network
 * errors, timeouts, HTTP 429 and 5xx are RetriableErrors, except a name that does not resolve (no network:
 * the offline quickstart falls back at once).
 */
export async function request(
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

export function authHeaders(url: string, origin: string, token: string | undefined): Headers {
  // identity: sizes and Range offsets must count the stored bytes, not a gzip transfer encoding of them.
  const headers = new Headers({ "user-agent": "distilbert-webgpu", "accept-encoding": "identity" });
  if (token && new URL(url).origin === origin) headers.set("authorization", `Bearer ${token}`);
  return headers;
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

export function redirectTarget(res: Response, current: string, ref: HubFileRef): string {
  const location = res.headers.get("location");
  if (!location) throw new UserError(`${describeRef(ref)}: redirect ${res.status} without a Location header`);
  return new URL(location, current).href;
}

export function httpError(status: number, ref: HubFileRef, url: string): UserError {
  const where = new URL(url).origin;
  if (status === 404) return new UserError(`${describeRef(ref)}: not found on ${where} (HTTP 404)`);
  if (status === 401 || status === 403) {
    return new UserError(
      `${describeRef(ref)}: access denied by ${where} (HTTP ${status}); is HF_TOKEN set and valid?`,
    );
  }
  return new UserError(`${describeRef(ref)}: HTTP ${status} from ${where}`);
}

export function normalizeEtag(etag: string | null): string | null {
  if (!etag) return null;
  const clean = etag.replace(/^W\//, "").replaceAll('"', "").trim();
  // The etag becomes a file name: refuse anything that could leave the blobs folder.
  return /^[A-Za-z0-9._-]+$/.test(clean) && !clean.startsWith(".") ? clean : null;
}
