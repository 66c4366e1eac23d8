/**
 * The page's server (Deno; `deno task serve`): the page, its bundle (web/app.ts by `deno bundle --platform
 * browser`), and a model directory's files, on 127.0.0.1 only. Only the files a model directory holds are
 * served from it, by name: nothing else on disk is reachable.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";

/** The files the page may read from a model directory (web/mod.ts reads exactly these). */
export const MODEL_FILES = [
  "config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
  "vocab.txt",
  "run_config.json",
  "training_args.json",
] as const;

const WEB_DIR = fileURLToPath(new URL(".", import.meta.url));

/**
 * Bundles a browser entry module (`deno bundle --platform browser`) and returns the JavaScript. The bundle
 * is checked: no `node:` import and no use of Deno except through `globalThis.Deno` (util/host.ts), so it
 * runs in a page.
 */
export async function bundleForBrowser(entry: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "distilbert-web-" });
  try {
    const out = join(dir, "bundle.js");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--output", out, entry],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      const why = new TextDecoder().decode(stderr).trim().split("\n")[0];
      throw new Error(`deno bundle ${entry} failed: ${why}`);
    }
    const js = await Deno.readTextFile(out);
    const problem = browserProblem(js);
    if (problem) throw new Error(`the browser bundle of ${entry} ${problem}`);
    return js;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Why a bundle would not run in a page (a `node:` import, Deno used directly), or null. */
export function browserProblem(js: string): string | null {
  const node = /["']node:[a-z_/]+["']/.exec(js);
  if (node) return `imports ${node[0]}`;
  for (const m of js.matchAll(/\bDeno\b/g)) {
    if (js.slice(Math.max(0, m.index - 11), m.index) !== "globalThis.") {
      return `uses Deno directly: …${js.slice(Math.max(0, m.index - 40), m.index + 30)}…`;
    }
  }
  return null;
}

export interface ServeOptions {
  /** A model directory whose files are served at /model/; none: the page asks for a folder. */
  model?: string;
  port: number;
  /** More routes (tests: a checks bundle): path → body and content type. */
  extra?: Map<string, { body: string | Uint8Array<ArrayBuffer>; type: string }>;
  /** Called once listening, with the page's address. */
  onListen?: (url: string) => void;
  signal?: AbortSignal;
}

const TYPES: Record<string, string> = {
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

/** Checks a model directory before serving it: a one-line error when it is not one. */
export async function checkModelDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new UserError(`--model ${dir}: no such directory`);
  }
  if (!info.isDirectory) throw new UserError(`--model ${dir}: not a directory`);
  const missing: string[] = [];
  for (const name of ["config.json", "model.safetensors"]) {
    if (!(await isFile(join(dir, name)))) missing.push(name);
  }
  if (!(await isFile(join(dir, "tokenizer.json"))) && !(await isFile(join(dir, "vocab.txt")))) {
    missing.push("tokenizer.json or vocab.txt");
  }
  if (missing.length) {
    throw new UserError(
      `--model ${dir}: not a model directory: no ${missing.join(", no ")} (pass a run of deno task train, ` +
        "a checkpoint-N folder, or deno task export's output)",
    );
  }
}

/** The MODEL_FILES that `dir` has (the page asks only for those). */
async function presentFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of MODEL_FILES) if (await isFile(join(dir, name))) out.push(name);
  return out;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Serves the page until `signal` aborts; resolves when the server has stopped. */
export async function servePage(o: ServeOptions): Promise<void> {
  if (o.model !== undefined) await checkModelDir(o.model);
  const [html, app] = await Promise.all([
    Deno.readTextFile(join(WEB_DIR, "index.html")),
    bundleForBrowser(join(WEB_DIR, "app.ts")),
  ]);
  const routes = new Map<string, { body: string | Uint8Array<ArrayBuffer>; type: string }>([
    ["/", { body: html, type: "text/html; charset=utf-8" }],
    ["/index.html", { body: html, type: "text/html; charset=utf-8" }],
    ["/app.js", { body: app, type: "text/javascript; charset=utf-8" }],
    ["/info.json", {
      body: JSON.stringify({
        model: o.model ?? null,
        files: o.model !== undefined ? await presentFiles(o.model) : [],
      }),
      type: "application/json; charset=utf-8",
    }],
    ...(o.extra ?? []),
  ]);
  const serve = () =>
    Deno.serve({
      hostname: "127.0.0.1",
      port: o.port,
      signal: o.signal,
      onListen: ({ port }) => o.onListen?.(`http://127.0.0.1:${port}/`),
    }, async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("method not allowed", { status: 405 });
      }
      const route = routes.get(path);
      const headers = { "cache-control": "no-store" };
      if (route) return new Response(route.body, { headers: { ...headers, "content-type": route.type } });
      const name = path.startsWith("/model/") ? path.slice("/model/".length) : null;
      if (o.model !== undefined && name !== null && (MODEL_FILES as readonly string[]).includes(name)) {
        try {
          const file = await Deno.open(join(o.model, name), { read: true });
          const ext = name.slice(name.lastIndexOf("."));
          return new Response(file.readable, { headers: { ...headers, "content-type": TYPES[ext] } });
        } catch {
          return new Response("not found", { status: 404 });
        }
      }
      return new Response("not found", { status: 404 });
    });
  let server: Deno.HttpServer;
  try {
    server = serve();
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) throw new UserError(`--port ${o.port}: already in use`);
    throw err;
  }
  await server.finished;
}
