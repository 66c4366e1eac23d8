/**
 * Hub downloads against a loopback server that mimics huggingface.co's routes: `resolve` answers with
 * X-Repo-Commit / X-Linked-Etag and a redirect to a "CDN" on another origin, plus a 404, a 401 without the
 * token, a transfer cut in the middle, and a file served without etag or commit.
 */
import assert from "node:assert/strict";
import {
  cachedHubFile,
  hubCacheDir,
  type HubEnv,
  type HubFileRef,
  hubFileUrl,
  isHubOffline,
} from "../data/hub/cache.ts";
import { downloadHubFile, HubClient, hubFile } from "../data/hub/client.ts";
import { resolveImdbSplit, resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { UserError } from "../util/errors.ts";
import { writeParquet } from "../data/parquet_writer.ts";
import { assertOneLineError, cli } from "./cli.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "hf_secret_token_123";

interface Blob {
  data: Uint8Array<ArrayBuffer>;
  sha: string;
}

async function blobOf(data: Uint8Array<ArrayBuffer>): Promise<Blob> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return { data, sha: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("") };
}

/** `size` seeded bytes: a file whose contents the hub does not check (not Parquet, safetensors or JSON). */
async function makeBlob(size: number, seed: number): Promise<Blob> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return await blobOf(data);
}

/** A valid IMDB-schema Parquet file of about `size` bytes (downloads must parse). */
async function makeParquetBlob(size: number, seed: number): Promise<Blob> {
  const text = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join(
    "",
  );
  const bytes = writeParquet([
    { name: "text", type: "BYTE_ARRAY", utf8: true, values: [text] },
    { name: "label", type: "INT64", values: [seed % 2] },
  ], { compression: "UNCOMPRESSED" });
  return await blobOf(bytes as Uint8Array<ArrayBuffer>);
}

async function makeJsonBlob(seed: number): Promise<Blob> {
  return await blobOf(
    new TextEncoder().encode(JSON.stringify({ seed, dim: 768 })) as Uint8Array<ArrayBuffer>,
  );
}

interface FakeHub {
  endpoint: string;
  /** Authorization headers seen, per server. */
  hubAuth: (string | null)[];
  cdnAuth: (string | null)[];
  cdnRanges: (string | null)[];
  requests: number;
  /** When true, the next CDN GET without Range sends half the body and then aborts. */
  cutNext: boolean;
  close(): Promise<void>;
}

function startFakeHub(files: Record<string, Blob>): FakeHub {
  const hub: Partial<FakeHub> = { hubAuth: [], cdnAuth: [], cdnRanges: [], requests: 0, cutNext: false };
  const byName = new Map(Object.values(files).map((b) => [b.sha, b]));

  const cdn = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hub.requests!++;
    hub.cdnAuth!.push(req.headers.get("authorization"));
    const blob = byName.get(new URL(req.url).pathname.replace("/cdn/", ""));
    if (!blob) return new Response("no such blob", { status: 404 });
    const range = req.headers.get("range");
    hub.cdnRanges!.push(range);
    const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    const body: Uint8Array<ArrayBuffer> = blob.data.subarray(start);
    const headers = new Headers({ "content-length": String(body.length) });
    if (range) headers.set("content-range", `bytes ${start}-${blob.data.length - 1}/${blob.data.length}`);
    if (!range && hub.cutNext) {
      hub.cutNext = false;
      const half = body.subarray(0, body.length >> 1);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(half);
        },
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 20));
          controller.error(new Error("connection cut"));
        },
      });
      return new Response(stream, { status: 200, headers });
    }
    return new Response(body, { status: range ? 206 : 200, headers });
  });
  const cdnOrigin = `http://127.0.0.1:${cdn.addr.port}`;

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hub.requests!++;
    hub.hubAuth!.push(req.headers.get("authorization"));
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.startsWith("/datasets/private/")) {
      if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) {
        return new Response("unauthorized", { status: 401 });
      }
    }
    if (path === "/plain/repo/resolve/main/notes.txt") {
      // A small non-LFS file served directly, with neither etag nor commit.
      return new Response(req.method === "HEAD" ? null : "plain notes\n", { status: 200 });
    }
    const blob = files[path];
    if (!blob) {
      return new Response("Entry not found", { status: 404, headers: { "x-error-code": "EntryNotFound" } });
    }
    return new Response(null, {
      status: 302,
      headers: {
        location: `${cdnOrigin}/cdn/${blob.sha}`,
        "x-repo-commit": COMMIT,
        "x-linked-etag": `"${blob.sha}"`,
        "x-linked-size": String(blob.data.length),
      },
    });
  });
  hub.endpoint = `http://127.0.0.1:${server.addr.port}`;
  hub.close = async () => {
    await server.shutdown();
    await cdn.shutdown();
  };
  return hub as FakeHub;
}

const IMDB_TRAIN: HubFileRef = {
  repoType: "dataset",
  repoId: "stanfordnlp/imdb",
  filename: "plain_text/train-00000-of-00001.parquet",
};
const MODEL_CONFIG: HubFileRef = {
  repoType: "model",
  repoId: "distilbert-base-uncased",
  filename: "config.json",
};

/** Where the fake hub serves IMDB's train split. */
const IMDB_TRAIN_URL = "/datasets/stanfordnlp/imdb/resolve/main/plain_text/train-00000-of-00001.parquet";

async function withHub(
  files: Record<string, Blob>,
  fn: (hub: FakeHub, env: HubEnv, home: string) => Promise<void>,
): Promise<void> {
  const hub = startFakeHub(files);
  const home = await Deno.makeTempDir({ prefix: "hf_home_" });
  try {
    await fn(hub, { HF_HOME: home, HF_ENDPOINT: hub.endpoint }, home);
  } finally {
    await hub.close();
    await Deno.remove(home, { recursive: true });
  }
}

/** Every file under `dir`, relative, so tests can say exactly what the cache holds. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(...await listFiles(`${dir}/${e.name}`, `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test("hub: cache dir and URLs follow huggingface_hub", () => {
  assert.equal(hubCacheDir({ HOME: "/h" }), "/h/.cache/huggingface/hub");
  assert.equal(hubCacheDir({ HOME: "/h", XDG_CACHE_HOME: "/x" }), "/x/huggingface/hub");
  assert.equal(hubCacheDir({ HOME: "/h", HF_HOME: "/hf" }), "/hf/hub");
  assert.equal(hubCacheDir({ HOME: "/h", HF_HOME: "/hf", HF_HUB_CACHE: "~/c" }), "/h/c");
  assert.equal(
    hubFileUrl(IMDB_TRAIN, {}),
    "https://huggingface.co/datasets/stanfordnlp/imdb/resolve/main/plain_text/train-00000-of-00001.parquet",
  );
  assert.equal(
    hubFileUrl({ ...MODEL_CONFIG, revision: "v1.0" }, { HF_ENDPOINT: "http://x/" }),
    "http://x/distilbert-base-uncased/resolve/v1.0/config.json",
  );
  assert.ok(isHubOffline({ HF_HUB_OFFLINE: "1" }) && isHubOffline({ HF_HUB_OFFLINE: "true" }));
  assert.ok(!isHubOffline({}) && !isHubOffline({ HF_HUB_OFFLINE: "0" }));
});

Deno.test("hub: download follows the redirect into HF's cache layout; token stays on the hub's origin", async () => {
  const blob = await makeParquetBlob(50_000, 1);
  const cfg = await makeJsonBlob(2);
  await withHub({
    [IMDB_TRAIN_URL]: blob,
    "/distilbert-base-uncased/resolve/main/config.json": cfg,
  }, async (hub, env, home) => {
    const withToken = { ...env, HF_TOKEN: TOKEN };
    const path = await hubFile(IMDB_TRAIN, { env: withToken, progress: false });
    const repo = `${home}/hub/datasets--stanfordnlp--imdb`;
    assert.equal(path, `${repo}/snapshots/${COMMIT}/plain_text/train-00000-of-00001.parquet`);
    assert.deepEqual(await Deno.readFile(path), blob.data);
    assert.equal(await Deno.readTextFile(`${repo}/refs/main`), COMMIT);
    assert.equal(await Deno.readLink(path), `../../../blobs/${blob.sha}`);
    assert.deepEqual(await listFiles(repo), [
      `blobs/${blob.sha}`,
      "refs/main",
      `snapshots/${COMMIT}/plain_text/train-00000-of-00001.parquet`,
    ]);
    assert.ok(hub.hubAuth.length > 0 && hub.hubAuth.every((a) => a === `Bearer ${TOKEN}`));
    assert.ok(hub.cdnAuth.length > 0 && hub.cdnAuth.every((a) => a === null), "token leaked to the CDN");

    // Models use the same mechanism, without the datasets/ prefix.
    const cfgPath = await hubFile(MODEL_CONFIG, { env, progress: false });
    assert.equal(cfgPath, `${home}/hub/models--distilbert-base-uncased/snapshots/${COMMIT}/config.json`);
    assert.deepEqual(await Deno.readFile(cfgPath), cfg.data);

    // A second call is served from the cache: no requests.
    const before = hub.requests;
    assert.equal(await hubFile(IMDB_TRAIN, { env, progress: false }), path);
    assert.equal(hub.requests, before);
  });
});

Deno.test("hub: 404 and 401 are one-line errors that never show the token", async () => {
  await withHub({}, async (_hub, env) => {
    const missing = { ...IMDB_TRAIN, filename: "plain_text/nope.parquet" };
    await assert.rejects(hubFile(missing, { env: { ...env, HF_TOKEN: TOKEN }, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /stanfordnlp\/imdb\/plain_text\/nope\.parquet: not found on .* \(HTTP 404\)$/);
      assert.ok(!e.message.includes("\n") && !e.message.includes(TOKEN));
      return true;
    });
    const priv: HubFileRef = { repoType: "dataset", repoId: "private/repo", filename: "x.bin" };
    await assert.rejects(hubFile(priv, { env, progress: false }), /access denied .*HTTP 401.*HF_TOKEN/);
  });
});

Deno.test("hub: a transfer cut in the middle leaves only .incomplete; the retry resumes with Range", async () => {
  const blob = await makeParquetBlob(400_000, 3);
  await withHub({ [IMDB_TRAIN_URL]: blob }, async (hub, env, home) => {
    hub.cutNext = true;
    const noRetry = { ...env, DISTILBERT_WEBGPU_HUB_RETRIES: "0" };
    await assert.rejects(hubFile(IMDB_TRAIN, { env: noRetry, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        new RegExp(`download interrupted after \\d+ of ${blob.data.length} bytes.*run again to resume$`),
      );
      return true;
    });
    const repo = `${home}/hub/datasets--stanfordnlp--imdb`;
    const files = await listFiles(repo);
    assert.deepEqual(files, [`blobs/${blob.sha}.incomplete`], "nothing under a final name after a cut");
    assert.equal(await cachedHubFile(IMDB_TRAIN, env), null);
    const partial = (await Deno.stat(`${repo}/blobs/${blob.sha}.incomplete`)).size;
    assert.ok(partial > 0 && partial < blob.data.length, `partial size ${partial}`);

    const path = await hubFile(IMDB_TRAIN, { env, progress: false });
    assert.deepEqual(await Deno.readFile(path), blob.data);
    assert.equal(hub.cdnRanges.at(-1), `bytes=${partial}-`, "the retry asked for the rest only");
    assert.deepEqual(await listFiles(repo), [
      `blobs/${blob.sha}`,
      "refs/main",
      `snapshots/${COMMIT}/plain_text/train-00000-of-00001.parquet`,
    ]);
  });
});

Deno.test("hub: HF_HUB_OFFLINE uses the cache and never the network; a missing file says offline", async () => {
  const blob = await makeParquetBlob(1000, 4);
  await withHub({ [IMDB_TRAIN_URL]: blob }, async (hub, env) => {
    const offline = { ...env, HF_HUB_OFFLINE: "1" };
    await assert.rejects(hubFile(IMDB_TRAIN, { env: offline, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /^offline \(HF_HUB_OFFLINE=1\) and dataset stanfordnlp\/imdb\/plain_text\/train/,
      );
      return true;
    });
    await assert.rejects(resolveImdbSplit("train", { env: offline }), /offline .*pass --data/);
    assert.equal(hub.requests, 0);
    const path = await hubFile(IMDB_TRAIN, { env, progress: false });
    const requests = hub.requests;
    assert.equal(await hubFile(IMDB_TRAIN, { env: offline, progress: false }), path);
    assert.deepEqual(await resolveImdbSplit("train", { env: offline }), { path, source: "cache" });
    assert.equal(hub.requests, requests);
  });
});

Deno.test("hub: without etag or commit headers the file lands directly in snapshots/main", async () => {
  await withHub({}, async (_hub, env, home) => {
    const ref: HubFileRef = { repoType: "model", repoId: "plain/repo", filename: "notes.txt" };
    const path = await downloadHubFile(ref, { env, progress: false });
    const repo = `${home}/hub/models--plain--repo`;
    assert.equal(path, `${repo}/snapshots/main/notes.txt`);
    assert.equal(await Deno.readTextFile(path), "plain notes\n");
    assert.equal(await Deno.readTextFile(`${repo}/refs/main`), "main");
    assert.equal(await cachedHubFile(ref, env), path);
  });
});

/** An empty IMDB repo in huggingface_hub's cache layout under `cache`, main at COMMIT; its folder. */
async function imdbCacheRepo(cache: string): Promise<string> {
  const repo = `${cache}/datasets--stanfordnlp--imdb`;
  await Deno.mkdir(`${repo}/snapshots/${COMMIT}/plain_text`, { recursive: true });
  await Deno.mkdir(`${repo}/blobs`);
  await Deno.mkdir(`${repo}/refs`);
  await Deno.writeTextFile(`${repo}/refs/main`, COMMIT);
  return repo;
}

Deno.test("hub: finds files Python's huggingface_hub already downloaded (HF_HUB_CACHE honoured)", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hf_cache_" });
  try {
    const repo = await imdbCacheRepo(cache);
    await Deno.writeFile(`${repo}/blobs/abc`, (await makeParquetBlob(100, 5)).data);
    await Deno.symlink(
      "../../../blobs/abc",
      `${repo}/snapshots/${COMMIT}/plain_text/test-00000-of-00001.parquet`,
    );
    const env = { HF_HUB_CACHE: cache, HF_HOME: "/nonexistent", HF_ENDPOINT: "http://127.0.0.1:9" };
    const found = await resolveImdbSplit("test", { env });
    assert.deepEqual(found, {
      path: `${repo}/snapshots/${COMMIT}/plain_text/test-00000-of-00001.parquet`,
      source: "cache",
    });
    // A pinned commit needs no refs file.
    assert.equal(
      await cachedHubFile({ ...IMDB_TRAIN, filename: found.path.split(`${COMMIT}/`)[1], revision: COMMIT }, {
        HF_HUB_CACHE: cache,
      }),
      found.path,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

// ---- faults: a hub that never answers, stalls, sends junk, fails, or lies about sizes ----

/** Short timeouts and retries so fault tests take a second, not minutes. */
const FAST: HubEnv = {
  HF_HUB_ETAG_TIMEOUT: "0.3",
  HF_HUB_DOWNLOAD_TIMEOUT: "0.3",
  DISTILBERT_WEBGPU_HUB_RETRIES: "2",
  DISTILBERT_WEBGPU_HUB_RETRY_WAIT: "0.01",
};

/** A server on 127.0.0.1 whose handler the test writes; `hits` counts requests. */
async function withServer(
  handler: (req: Request, hit: number) => Response | Promise<Response>,
  fn: (env: HubEnv, home: string, hits: () => number) => Promise<void>,
): Promise<void> {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => handler(req, ++hits));
  const home = await Deno.makeTempDir({ prefix: "hf_home_" });
  try {
    await fn(
      { HF_HOME: home, HF_ENDPOINT: `http://127.0.0.1:${server.addr.port}`, ...FAST },
      home,
      () => hits,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
}

/** Files under the hub cache of `home`: empty when nothing was cached. */
async function cacheFiles(home: string): Promise<string[]> {
  return await listFiles(`${home}/hub`).catch(() => []);
}

/**
 * A server on 127.0.0.1 that accepts connections and never answers (`held`: the connections it accepted),
 * and a fresh HF_HOME.
 */
async function withSilentServer(
  fn: (endpoint: string, home: string, held: Deno.Conn[]) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch { /* closed */ }
  })();
  const home = await Deno.makeTempDir({ prefix: "hf_home_" });
  try {
    await fn(`http://127.0.0.1:${listener.addr.port}`, home, held);
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting;
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("hub faults: a server that accepts but never answers times out, is retried, and is one line", async () => {
  await withSilentServer(async (endpoint, home, held) => {
    const env = { HF_HOME: home, HF_ENDPOINT: endpoint, ...FAST };
    await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /no answer from http:\/\/127\.0\.0\.1:\d+ within 0\.3 s \(3 attempts\)$/);
      return true;
    });
    assert.ok(held.length >= 3, `${held.length} connections: the retries happened`);
    assert.deepEqual(await cacheFiles(home), []);
  });
});

Deno.test("hub faults: a client whose hub did not answer one file fails its next file at once", async () => {
  await withSilentServer(async (endpoint, home, held) => {
    const env = { HF_HOME: home, HF_ENDPOINT: endpoint, ...FAST };
    const hub = new HubClient({ env, progress: false });
    await assert.rejects(hub.file(IMDB_TRAIN), /within 0\.3 s \(3 attempts\)$/);
    const afterFirst = held.length;
    await assert.rejects(hub.file(MODEL_CONFIG), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /no answer from http:\/\/127\.0\.0\.1:\d+ within 0\.3 s$/);
      return true;
    });
    assert.equal(held.length - afterFirst, 1, "the second file was tried once, without retries");
    // A new client knows nothing of the first one's failures: it retries again.
    await assert.rejects(new HubClient({ env, progress: false }).file(MODEL_CONFIG), /\(3 attempts\)$/);
  });
});

Deno.test("hub faults: a body that stalls is aborted and resumed with Range; cut for good, nothing cached", async () => {
  const blob = await makeParquetBlob(200_000, 6);
  const part = 1000;
  let stall = 1;
  const ranges: (string | null)[] = [];
  const stalled: ReadableStreamDefaultController<Uint8Array>[] = [];
  await withServer((req) => {
    if (req.method === "HEAD") {
      return new Response(null, { headers: { "x-linked-size": String(blob.data.length) } });
    }
    const range = req.headers.get("range");
    ranges.push(range);
    const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    const body = blob.data.subarray(start);
    const headers = new Headers({ "content-length": String(body.length) });
    if (range) headers.set("content-range", `bytes ${start}-${blob.data.length - 1}/${blob.data.length}`);
    if (stall-- > 0) {
      // A thousand bytes, then silence: the connection stays open and sends nothing more.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.subarray(0, part));
          stalled.push(c);
        },
      });
      return new Response(stream, { status: range ? 206 : 200, headers });
    }
    return new Response(body, { status: range ? 206 : 200, headers });
  }, async (env, home) => {
    const path = await hubFile(IMDB_TRAIN, { env, progress: false });
    assert.deepEqual(await Deno.readFile(path), blob.data);
    assert.deepEqual(ranges, [null, `bytes=${part}-`], "the retry asked for the rest only");
    // Every attempt stalls: a one-line error, only the resumable .incomplete left, no cached file.
    await Deno.remove(`${home}/hub`, { recursive: true });
    stall = 100;
    await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /download stalled after \d+ of \d+ bytes \(nothing for 0\.3 s\).*\(3 attempts\)$/,
      );
      return true;
    });
    assert.deepEqual(await cacheFiles(home), [
      "datasets--stanfordnlp--imdb/snapshots/main/plain_text/train-00000-of-00001.parquet.incomplete",
    ]);
    assert.equal(await cachedHubFile(IMDB_TRAIN, env), null);
  });
  for (const c of stalled) {
    try {
      c.close();
    } catch { /* the client already cancelled it */ }
  }
});

Deno.test("hub faults: a 200 with a random body is rejected (Parquet and safetensors must parse), never cached", async () => {
  const junk = await makeBlob(5000, 9);
  await withServer(
    (req) => new Response(req.method === "HEAD" ? null : junk.data),
    async (env, home, hits) => {
      const model: HubFileRef = { repoType: "model", repoId: "org/m", filename: "model.safetensors" };
      for (const ref of [IMDB_TRAIN, model, { ...model, filename: "config.json" }]) {
        await assert.rejects(hubFile(ref, { env, progress: false }), (e) => {
          assert.ok(e instanceof UserError);
          assert.match(
            e.message,
            /damaged or not what was asked for \(not (a Parquet|a safetensors|valid JSON)/,
          );
          assert.match(e.message, /nothing was cached$/);
          const raw = [...e.message].some((c) => c < " " || c === "\ufffd");
          assert.ok(!raw, `no raw bytes in the message: ${JSON.stringify(e.message)}`);
          return true;
        });
      }
      assert.deepEqual(await cacheFiles(home), []);
      // Asked again, it asks the server again (nothing poisoned the cache).
      const before = hits();
      await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), /damaged/);
      assert.ok(hits() > before);
    },
  );
});

Deno.test("hub faults: HTTP 500 is retried, then the file downloads; 500 every time is one line", async () => {
  const blob = await makeParquetBlob(2000, 7);
  let failures = 2;
  await withServer((req) => {
    if (failures-- > 0) return new Response("oops", { status: 500 });
    return new Response(req.method === "HEAD" ? null : blob.data, {
      headers: { "content-length": String(blob.data.length) },
    });
  }, async (env, _home, hits) => {
    const path = await hubFile(IMDB_TRAIN, { env, progress: false });
    assert.deepEqual(await Deno.readFile(path), blob.data);
    assert.equal(hits(), 4, "two 500s, then HEAD and GET");
    failures = 100;
    const model: HubFileRef = { repoType: "model", repoId: "org/m", filename: "config.json" };
    await assert.rejects(
      hubFile(model, { env, progress: false }),
      /HTTP 500 from http:\/\/127\.0\.0\.1:\d+ \(3 attempts\)$/,
    );
  });
});

Deno.test("hub faults: a size or sha256 other than the hub announced is rejected and deleted", async () => {
  const blob = await makeParquetBlob(3000, 8);
  let linkedSize = blob.data.length + 10, etag = blob.sha;
  await withServer((req) => {
    const headers = new Headers({ "x-linked-size": String(linkedSize), "x-linked-etag": `"${etag}"` });
    return new Response(req.method === "HEAD" ? null : blob.data, { headers });
  }, async (env, home) => {
    await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        new RegExp(`sent ${blob.data.length} bytes but announced ${linkedSize}.*nothing was cached$`),
      );
      return true;
    });
    linkedSize = blob.data.length;
    etag = "a".repeat(64);
    await assert.rejects(
      hubFile(IMDB_TRAIN, { env, progress: false }),
      /has sha256 [0-9a-f]{64}, expected a{64}/,
    );
    const files = (await cacheFiles(home)).filter((f) => f.includes("blobs/") || f.includes("snapshots/"));
    assert.deepEqual(files, [], "no blob, no snapshot, no .incomplete");
    etag = blob.sha;
    const path = await hubFile(IMDB_TRAIN, { env, progress: false });
    assert.deepEqual(await Deno.readFile(path), blob.data);
  });
});

Deno.test("hub faults: a damaged cache entry is named with how to remove it; the quickstart falls back in one line", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hf_cache_" });
  try {
    const repo = await imdbCacheRepo(cache);
    await Deno.writeTextFile(`${repo}/blobs/junk`, "<html>captive portal \u0001\u0002</html>");
    const snap = `${repo}/snapshots/${COMMIT}/plain_text/train-00000-of-00001.parquet`;
    await Deno.symlink("../../../blobs/junk", snap);
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" };
    await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), (e) => {
      assert.ok(e instanceof UserError);
      assert.equal(
        e.message,
        `dataset stanfordnlp/imdb/plain_text/train-00000-of-00001.parquet: the cached file ${snap} is damaged ` +
          `(not a Parquet file: no PAR1 magic bytes); remove it with rm '${snap}' '${repo}/blobs/junk' and run again`,
      );
      return true;
    });
    const notes: string[] = [];
    const found = await resolveImdbSplitOrSample("train", { env, onNotice: (l) => notes.push(l) });
    assert.equal(found.source, "sample");
    assert.equal(notes.length, 1);
    assert.match(notes[0], /bundled IMDB sample .*is damaged .*remove it with rm/);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("hub faults: HF_ENDPOINT that is not a URL, and bad timeout settings, are one-line errors", async () => {
  const home = await Deno.makeTempDir({ prefix: "hf_home_" });
  try {
    await assert.rejects(
      hubFile(IMDB_TRAIN, { env: { HF_HOME: home, HF_ENDPOINT: "not a url" }, progress: false }),
      (e) => e instanceof UserError && e.message === 'HF_ENDPOINT: "not a url" is not an http(s) URL',
    );
    await assert.rejects(
      hubFile(IMDB_TRAIN, { env: { HF_HOME: home, HF_ENDPOINT: "ftp://x" }, progress: false }),
      /HF_ENDPOINT: "ftp:\/\/x" is not an http\(s\) URL/,
    );
    await assert.rejects(
      hubFile(IMDB_TRAIN, {
        env: { HF_HOME: home, HF_ENDPOINT: "http://127.0.0.1:1", HF_HUB_DOWNLOAD_TIMEOUT: "soon" },
        progress: false,
      }),
      (e) =>
        e instanceof UserError &&
        /HF_HUB_DOWNLOAD_TIMEOUT: "soon" is not a number of seconds/.test(e.message),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("hub faults through the CLI: HF_ENDPOINT not a URL, and a hub that never answers, stop train in one line", async () => {
  await withSilentServer(async (endpoint, home) => {
    const args = (run: string) => ["--model", "someone/some-model", "--output", `${home}/${run}`];
    const env = { HF_HOME: home, HF_HUB_OFFLINE: "0", ...FAST } as Record<string, string>;
    const [notUrl, silent] = await Promise.all([
      cli("train", args("a"), { env: { ...env, HF_ENDPOINT: "not a url" } }),
      cli("train", args("b"), { env: { ...env, HF_ENDPOINT: endpoint } }),
    ]);
    assertOneLineError(notUrl, /^error: HF_ENDPOINT: "not a url" is not an http\(s\) URL$/);
    assertOneLineError(
      silent,
      /someone\/some-model\/model\.safetensors: no answer from http:\/\/127\.0\.0\.1:\d+ within 0\.3 s \(3 attempts\)$/,
    );
    for (const run of ["a", "b"]) {
      assert.ok(!(await Deno.stat(`${home}/${run}`).then(() => true, () => false)), "no run folder left");
    }
  });
});
