/**
 * Hub downloads against a loopback server that mimics huggingface.co's routes: `resolve` answers with
 * X-Repo-Commit / X-Linked-Etag and a redirect to a "CDN" on another origin, plus a 404, a 401 without the
 * token, a transfer cut in the middle, and a file served without etag or commit.
 */
import assert from "node:assert/strict";
import {
  cachedHubFile,
  downloadHubFile,
  hubCacheDir,
  type HubEnv,
  hubFile,
  type HubFileRef,
  hubFileUrl,
  isHubOffline,
} from "../data/hub.ts";
import { resolveImdbSplit } from "../data/imdb_source.ts";
import { UserError } from "../util/errors.ts";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "hf_secret_token_123";

interface Blob {
  data: Uint8Array<ArrayBuffer>;
  sha: string;
}

async function makeBlob(size: number, seed: number): Promise<Blob> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return { data, sha: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("") };
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
  const blob = await makeBlob(50_000, 1);
  const cfg = await makeBlob(300, 2);
  await withHub({
    "/datasets/stanfordnlp/imdb/resolve/main/plain_text/train-00000-of-00001.parquet": blob,
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
  const blob = await makeBlob(400_000, 3);
  await withHub(
    { "/datasets/stanfordnlp/imdb/resolve/main/plain_text/train-00000-of-00001.parquet": blob },
    async (
      hub,
      env,
      home,
    ) => {
      hub.cutNext = true;
      await assert.rejects(hubFile(IMDB_TRAIN, { env, progress: false }), (e) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /download interrupted after \d+ of 400000 bytes.*run again to resume$/);
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
    },
  );
});

Deno.test("hub: HF_HUB_OFFLINE uses the cache and never the network; a missing file says offline", async () => {
  const blob = await makeBlob(1000, 4);
  await withHub(
    { "/datasets/stanfordnlp/imdb/resolve/main/plain_text/train-00000-of-00001.parquet": blob },
    async (
      hub,
      env,
    ) => {
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
    },
  );
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

Deno.test("hub: finds files Python's huggingface_hub already downloaded (HF_HUB_CACHE honoured)", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hf_cache_" });
  try {
    const repo = `${cache}/datasets--stanfordnlp--imdb`;
    await Deno.mkdir(`${repo}/snapshots/${COMMIT}/plain_text`, { recursive: true });
    await Deno.mkdir(`${repo}/blobs`);
    await Deno.mkdir(`${repo}/refs`);
    await Deno.writeTextFile(`${repo}/refs/main`, COMMIT);
    await Deno.writeTextFile(`${repo}/blobs/abc`, "parquet bytes");
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
