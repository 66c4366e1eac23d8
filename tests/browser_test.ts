/**
 * The library in a real browser: headless Chromium (Debian's /usr/bin/chromium, SwiftShader's WebGPU) driven by
 * playwright-core. Chromium's WGSL compiler (Tint) is stricter than Deno's (naga): every kernel of the catalog
 * must compile there; a representative set of op checks runs in the page against float64; and the page of
 * `deno task serve` must give `deno task predict --json`'s logits for a small exported model. Skipped, with a
 * message, where /usr/bin/chromium is absent (.ci/run installs it).
 */
/// <reference lib="dom" />
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelCatalog } from "../kernels/catalog.ts";
import { exportClassifier } from "../model/checkpoint.ts";
import { presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { bundledVocabPath, loadTokenizer } from "../data/tokenizer_files.ts";
import { browserProblem, bundleForBrowser, checkModelDir, MODEL_FILES, servePage } from "../web/server.ts";
import { UserError } from "../util/errors.ts";
import type { CheckResult, CompileReport } from "./browser/checks.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(`skipping the browser tests: no ${CHROMIUM} (apt-get install chromium; .ci/run does)`);
}

/** The flags that make headless Chromium run WebGPU (SwiftShader) on a machine with no GPU and no network. */
const CHROMIUM_ARGS = [
  "--enable-unsafe-webgpu",
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

Deno.test("browser bundle: the page's modules carry no node: import and reach Deno only through globalThis", async () => {
  for (const entry of ["web/mod.ts", "web/app.ts", "tests/browser/checks.ts"]) {
    const js = await bundleForBrowser(join(ROOT, entry)); // throws when browserProblem finds one
    assert.equal(browserProblem(js), null, entry);
  }
  assert.match(browserProblem(`import { join } from "node:path";`)!, /node:path/);
  assert.match(browserProblem(`const t = Deno.readTextFileSync("x");`)!, /Deno directly/);
  assert.equal(browserProblem(`var denoHost = globalThis.Deno;`), null);
});

Deno.test("serve: a folder that is not a model directory is a one-line error naming what is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "config.json"), "{}");
    await assert.rejects(checkModelDir(dir), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /no model\.safetensors, no tokenizer\.json or vocab\.txt/);
      return true;
    });
    await assert.rejects(checkModelDir(join(dir, "absent")), /no such directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task serve: the page, its bundle and the model's files on 127.0.0.1, nothing else", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "serve", "--model", dir, "--port", "0"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  });
  try {
    // Not a model directory yet: one line, exit 1.
    const refused = await child.output();
    assert.equal(refused.code, 1);
    assert.match(
      new TextDecoder().decode(refused.stderr),
      /^error: --model .*: not a model directory: no config\.json/m,
    );
    await smallModel(dir);
    const server = child.spawn();
    const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/at (http:\S+)/.test(out)) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    const base = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
    assert.ok(base, `no address in: ${out}`);
    try {
      const get = async (path: string) => {
        const r = await fetch(base + path);
        return { status: r.status, body: new Uint8Array(await r.arrayBuffer()) };
      };
      assert.equal((await get("")).status, 200);
      assert.equal((await get("app.js")).status, 200);
      assert.deepEqual(JSON.parse(new TextDecoder().decode((await get("info.json")).body)), {
        model: dir,
        // Every file the page may read that the run wrote: all but a checkpoint's training_args.json.
        files: MODEL_FILES.filter((f) => f !== "training_args.json"),
      });
      const config = await get("model/config.json");
      assert.deepEqual(config.body, await Deno.readFile(join(dir, "config.json")));
      assert.equal(
        (await get("model/model.safetensors")).body.length,
        (await Deno.stat(join(dir, "model.safetensors"))).size,
      );
      for (
        const path of [
          "model/../deno.json",
          "model/optimizer.safetensors",
          "model/",
          "deno.json",
          "model/%2e%2e/deno.json",
        ]
      ) {
        assert.equal((await get(path)).status, 404, path);
      }
    } finally {
      server.kill("SIGTERM");
      await server.status;
      await lines.cancel();
      await server.stderr.cancel();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A small exported classifier (tiny preset, 2 layers, seeded random weights) trained at max_length 64. */
async function smallModel(dir: string): Promise<void> {
  const config = { ...presetConfig("tiny"), n_layers: 2 };
  const tokenizer = (await loadTokenizer(bundledVocabPath())).tokenizer;
  await exportClassifier(dir, config, initHostParams(config, 11), tokenizer);
  await Deno.writeTextFile(join(dir, "run_config.json"), JSON.stringify({ maxLength: 64 }));
}

const TEXTS = [
  "This movie was a wonderful surprise: the acting is superb and the story kept me hooked until the very end.",
  "A dull, predictable plot and wooden acting. I want those two hours of my life back.",
  "Bad.",
  "Un film magnifique, très émouvant — 映画 was great!! " + "and then it went on and on ".repeat(20),
];

interface PredictLine {
  label: string;
  logits: number[];
}

async function predictJson(model: string, texts: string[]): Promise<PredictLine[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "predict", "--model", model, "--json", ...texts],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test({
  name:
    "browser: every kernel compiles in Chromium, op checks pass there, the page predicts as deno task predict",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const { chromium } = await import("playwright-core");
  const work = await Deno.makeTempDir({ prefix: "distilbert-browser-" });
  const model = join(work, "my-model");
  await smallModel(model);
  const expected = await predictJson(model, TEXTS);
  const checksJs = await bundleForBrowser(join(ROOT, "tests/browser/checks.ts"));
  const checksHtml = await Deno.readTextFile(join(ROOT, "tests/browser/checks.html"));
  const abort = new AbortController();
  let base = "";
  const listening = Promise.withResolvers<void>();
  const served = servePage({
    model,
    port: 0,
    signal: abort.signal,
    extra: new Map([
      ["/checks.js", { body: checksJs, type: "text/javascript; charset=utf-8" }],
      ["/checks.html", { body: checksHtml, type: "text/html; charset=utf-8" }],
    ]),
    onListen: (url) => {
      base = url;
      listening.resolve();
    },
  });
  await Promise.race([listening.promise, served]);
  const context = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  // Waits, not timings: SwiftShader on a busy CPU can take minutes where a GPU takes milliseconds.
  context.setDefaultTimeout(600_000);
  const pageErrors: string[] = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) {
        pageErrors.push(`console: ${m.text()}`);
      }
    });
    page.on("response", (r) => {
      if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
    });

    await t.step("every kernel of the catalog compiles in Tint", async () => {
      // CI's second suite (DISTILBERT_WEBGPU_LIMITS=default) runs the page's checks at the default limits too.
      const limits = Deno.env.get("DISTILBERT_WEBGPU_LIMITS") === "default" ? "?limits=default" : "";
      await page.goto(`${base}checks.html${limits}`);
      await page.waitForFunction(() => "browserChecks" in globalThis);
      const report: CompileReport = await page.evaluate(() =>
        (globalThis as unknown as { browserChecks: { compileKernels(): Promise<CompileReport> } })
          .browserChecks
          .compileKernels()
      );
      console.log(
        `Chromium compiled ${report.compiled} of ${report.total} kernels ` +
          `(maxStorageBufferBindingSize ${report.maxStorageBinding})` +
          (report.skippedF16
            ? ` (${report.skippedF16} f16 kernels skipped: the adapter has no shader-f16)`
            : ""),
      );
      if (limits) {
        assert.equal(report.maxStorageBinding, 128 * 2 ** 20, "the page runs at the default limits");
      }
      assert.match(report.canary, /./, "Tint accepted a kernel it must reject: the check sees no errors");
      assert.deepEqual(report.failures, []);
      assert.equal(report.total, kernelCatalog().length);
      assert.equal(report.compiled + report.skippedF16, report.total);
      assert.equal(report.skippedF16, report.shaderF16 ? 0 : kernelCatalog().filter((k) => k.f16).length);
    });

    await t.step("op checks in the page: forward and backward against float64", async () => {
      const results: CheckResult[] = await page.evaluate(() =>
        (globalThis as unknown as { browserChecks: { opChecks(): Promise<CheckResult[]> } }).browserChecks
          .opChecks()
      );
      console.log(`${results.filter((r) => r.ok).length} of ${results.length} op checks passed in Chromium`);
      assert.deepEqual(results.filter((r) => !r.ok), []);
      assert.ok(results.length >= 30, `only ${results.length} checks ran`);
    });

    await t.step(
      "the page: the served model's predictions equal deno task predict --json, offline",
      async () => {
        await page.goto(base);
        await page.waitForFunction(
          () => ["ready", "failed"].includes(document.getElementById("status")!.dataset.state!),
        );
        assert.equal(await page.textContent("#problem"), "");
        assert.deepEqual(pageErrors, []); // no failed request either (the page asks only for files the server has)
        assert.match((await page.textContent("#status"))!, /my-model.*max_length 64/);
        await context.setOffline(true); // everything is loaded: classifying needs no network
        try {
          await page.fill("#reviews", TEXTS.join("\n"));
          await page.click("#classify");
          await page.waitForFunction((n) => document.querySelectorAll(".result").length === n, TEXTS.length);
          await page.waitForFunction(() => document.getElementById("status")!.dataset.state === "ready");
        } finally {
          await context.setOffline(false);
        }
        const cards = await page.$$eval(".result", (els) =>
          els.map((e) => ({
            label: (e as HTMLElement).dataset.label!,
            logits: JSON.parse((e as HTMLElement).dataset.logits!) as number[],
            tokens: e.querySelectorAll(".tok").length,
          })));
        let worst = 0;
        cards.forEach((card, i) => {
          assert.equal(card.label, expected[i].label, `review ${i}`);
          card.logits.forEach((v, c) => worst = Math.max(worst, Math.abs(v - expected[i].logits[c])));
          assert.ok(card.tokens >= 3, `review ${i}: tokens shown`);
        });
        console.log(`page logits vs deno task predict --json: max |diff| ${worst.toExponential(2)}`);
        assert.ok(worst <= 1e-5, `max |diff| ${worst}`);
        const shot = Deno.env.get("DISTILBERT_SCREENSHOT") ?? join(work, "page.png");
        await page.screenshot({ path: shot, fullPage: true });
        assert.ok((await Deno.stat(shot)).size > 10_000, "a screenshot of the page with predictions");
      },
    );

    await t.step("a picked folder: an incomplete one is named, a complete one loads", async () => {
      const partial = join(work, "partial");
      await Deno.mkdir(partial);
      await Deno.copyFile(join(model, "config.json"), join(partial, "config.json"));
      await page.setInputFiles("#folder", partial);
      await page.waitForFunction(() => !document.getElementById("problem")!.hidden);
      assert.match(
        (await page.textContent("#problem"))!,
        /partial: the model folder is incomplete: no model\.safetensors, no tokenizer\.json or vocab\.txt/,
      );
      await page.setInputFiles("#folder", model);
      await page.waitForFunction(
        () =>
          /my-model/.test(document.getElementById("status")!.textContent!) &&
          document.getElementById("status")!.dataset.state === "ready",
      );
      await page.fill("#reviews", TEXTS[0]);
      await page.click("#classify");
      await page.waitForFunction(() =>
        document.querySelectorAll(".result").length === 1 &&
        document.getElementById("status")!.dataset.state === "ready"
      );
      const logits: number[] = JSON.parse((await page.getAttribute(".result", "data-logits"))!);
      logits.forEach((v, c) => assert.ok(Math.abs(v - expected[0].logits[c]) <= 1e-5));
    });

    await t.step("a browser without WebGPU gets a message saying what it needs", async () => {
      const bare = await context.newPage();
      await bare.addInitScript(() =>
        Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined })
      );
      await bare.goto(base);
      await bare.waitForFunction(() => document.getElementById("status")!.dataset.state === "failed");
      assert.match((await bare.textContent("#problem"))!, /no WebGPU/);
      await bare.close();
    });
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
    abort.abort();
    await served.catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
