import assert from "node:assert/strict";
import { escapeHtml, formatSeconds } from "../train/report/format.ts";
import { renderReport, type RunReport, writeReport } from "../train/report/page.ts";
import type { StepRecord } from "../train/run_log.ts";
import { downsample, emaSmooth, MAX_POLYLINE_POINTS, type Point } from "../train/report/series.ts";
import { lineChart } from "../train/report/svg_chart.ts";
import { classificationMetrics } from "../train/metrics.ts";

function makeSteps(n: number): StepRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    epoch: (i + 1) / Math.max(1, n / 2),
    loss: 0.7 * Math.exp(-i / 50) + 0.2 + 0.05 * Math.sin(i),
    lr: 2e-5 * (1 - i / n),
    grad_norm: 1 + Math.cos(i) * 0.5,
    tokens: 8000,
    seconds: (i + 1) * 1.25,
  }));
}

function makeEval(step: number, epoch: number) {
  const labels = [1, 1, 1, 0, 0, 0, 1, 0];
  const preds = [1, 1, 0, 0, 0, 1, 1, 0];
  const { eval_samples: _, ...m } = classificationMetrics(labels, preds, { sum: 3.2, count: 8 });
  return { step, epoch, ...m, eval_loss: m.eval_loss! };
}

function makeRun(over: Partial<RunReport> = {}): RunReport {
  return {
    title: "IMDB fine-tune",
    settings: {
      model: "distilbert-base-uncased",
      lr: 2e-5,
      batchSize: 16,
      data: null,
      nested: { a: 1, b: [1, 2] },
    },
    startedAt: "2025-01-01T00:00:00Z",
    finishedAt: "2025-01-01T00:10:00Z",
    wallSeconds: 600,
    device: "test device",
    init: "pretrained",
    steps: makeSteps(200),
    evals: [makeEval(100, 1), makeEval(200, 2)],
    notes: ["a note"],
    ...over,
  };
}

/** Asserts the page is self-contained and every chart path is well formed; returns the html. */
function checkSelfContained(html: string): string {
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  assert.ok(html.trimEnd().endsWith("</html>"));
  const withoutXmlns = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', "");
  assert.ok(!/https?:\/\//i.test(withoutXmlns), "no external references");
  assert.ok(!/<script/i.test(html), "no scripts");
  assert.ok(!/<link|@import|url\((?!#)/i.test(html), "no external stylesheets, fonts or images");
  for (const m of html.matchAll(/ d="([^"]*)"/g)) {
    assert.ok(!/NaN|Infinity|undefined/.test(m[1]), `bad path: ${m[1].slice(0, 80)}`);
    assert.ok(m[1].split(/[ML]/).length - 1 <= MAX_POLYLINE_POINTS, "polyline over the point limit");
  }
  for (const m of html.matchAll(/ (?:cx|cy|x|y|x1|x2|y1|y2)="([^"]*)"/g)) {
    assert.ok(Number.isFinite(Number(m[1])), `bad coordinate ${m[0]}`);
  }
  return html;
}

Deno.test("renderReport: typical run", () => {
  const html = checkSelfContained(renderReport(makeRun()));
  assert.ok(html.includes("<svg"));
  assert.equal(html.match(/<svg/g)!.length, 5); // loss, lr, grad norm, eval metrics, eval loss
  assert.ok(
    html.includes("Training loss") && html.includes("Learning rate") && html.includes("Gradient norm"),
  );
  assert.ok(html.includes("Evaluation metrics") && html.includes("Evaluation loss vs training loss"));
  // Key numbers: final accuracy 6/8, confusion matrix [[3,1],[1,3]], steps, wall time.
  assert.ok(html.includes("75.00%"));
  assert.ok(html.includes("NEGATIVE") && html.includes("POSITIVE"));
  assert.ok(/<b>3<\/b>[\s\S]*<b>1<\/b>[\s\S]*<b>1<\/b>[\s\S]*<b>3<\/b>/.test(html));
  assert.ok(html.includes("10:00"));
  assert.ok(html.includes("6,400")); // tokens/s: 8000 tokens per 1.25 s
  // Settings, flattened.
  assert.ok(html.includes("distilbert-base-uncased") && html.includes("nested.a") && html.includes("[1,2]"));
  assert.ok(html.includes("a note"));
  assert.ok(html.includes('viewBox="0 0 960 300"'));
});

Deno.test("renderReport: a mixed-precision run notes its loss scale and skipped steps", () => {
  const steps = makeSteps(6).map((s, i) => ({
    ...s,
    loss_scale: i < 2 ? 65536 : 32768,
    grad_norm: i === 2 ? null : s.grad_norm,
  }));
  const html = checkSelfContained(renderReport(makeRun({ steps })));
  assert.match(
    html,
    /loss scale 32,768–65,536, last 32,768; 1 step\(s\) skipped because their gradients overflowed/,
  );
  assert.doesNotMatch(renderReport(makeRun()), /loss scale/);
});

Deno.test("renderReport: escapes every inserted text", () => {
  const evil = `<script>alert("x")</script>&'`;
  const html = checkSelfContained(renderReport(makeRun({
    title: evil,
    device: evil,
    startedAt: evil,
    settings: { [evil]: evil, ok: `<b>bold</b>` },
    notes: [evil],
  })));
  assert.ok(!html.includes("<script>"));
  assert.ok(!html.includes("<b>bold</b>"));
  assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
  assert.ok(html.includes("&lt;b&gt;bold&lt;/b&gt;"));
});

Deno.test("renderReport: no steps, no evals", () => {
  const html = checkSelfContained(
    renderReport(makeRun({ steps: [], evals: [], notes: undefined, settings: {} })),
  );
  assert.ok(html.includes("No training steps were logged"));
  assert.ok(html.includes("No evaluations were run"));
  assert.ok(!html.includes("Confusion matrix"));
  assert.ok(html.includes("No settings recorded"));
});

Deno.test("renderReport: a single step and a single evaluation", () => {
  const html = checkSelfContained(renderReport(makeRun({ steps: makeSteps(1), evals: [makeEval(1, 0.01)] })));
  assert.ok(html.includes("<circle"), "a lone point is drawn as a dot");
  assert.ok(html.includes("Confusion matrix"));
});

Deno.test("renderReport: finalMetrics wins over the last evaluation", () => {
  const final = { ...makeEval(200, 2), eval_accuracy: 0.9876 };
  const html = renderReport(makeRun({ finalMetrics: final }));
  assert.ok(html.includes("98.76%"));
  assert.ok(html.includes("(final evaluation)"));
});

Deno.test("renderReport: NaN and missing values are skipped", () => {
  const steps = makeSteps(50);
  steps[10].loss = NaN;
  steps[11].loss = Infinity;
  steps[20].lr = NaN;
  for (const s of steps) s.grad_norm = NaN; // no gradient norms at all: no chart
  const ev = makeEval(50, 1);
  ev.eval_loss = NaN;
  const html = checkSelfContained(renderReport(makeRun({ steps, evals: [ev] })));
  assert.ok(!html.includes("Gradient norm"));
  assert.ok(!html.includes("Evaluation loss vs training loss"));
  assert.ok(html.includes("2 logged step(s) had a non-finite loss"));
  const allNaN = makeSteps(5).map((s) => ({ ...s, loss: NaN }));
  checkSelfContained(renderReport(makeRun({ steps: allNaN })));
});

Deno.test("renderReport: thousands of steps are downsampled, resumed duplicates collapse", () => {
  const steps = makeSteps(12_000);
  const html = checkSelfContained(renderReport(makeRun({ steps: [...steps.slice(0, 500), ...steps] })));
  const longest = Math.max(...[...html.matchAll(/ d="([^"]*)"/g)].map((m) => m[1].split(/[ML]/).length - 1));
  assert.ok(longest > 1000 && longest <= MAX_POLYLINE_POINTS, `${longest}`);
  assert.ok(html.includes("12,000"));
  assert.ok(html.includes("96,000,000"), "duplicated steps are counted once in the tokens total");
  assert.ok(html.length < 1_000_000, `${html.length} bytes`);
});

Deno.test("downsample keeps extremes, endpoints and gaps within the limit", () => {
  const pts: Point[] = Array.from({ length: 10_000 }, (_, i) => ({ x: i, y: Math.sin(i / 10) }));
  pts[5000].y = 50; // a spike
  pts[7000].y = -50;
  pts[8000].y = NaN; // a gap
  const out = downsample(pts, 500);
  const finite = out.filter((p) => Number.isFinite(p.y));
  assert.ok(finite.length <= 500);
  assert.deepEqual(out[0], pts[0]);
  assert.deepEqual(out[out.length - 1], pts[pts.length - 1]);
  assert.ok(out.some((p) => p.y === 50) && out.some((p) => p.y === -50));
  assert.ok(out.some((p) => Number.isNaN(p.y)));
  for (let i = 1; i < out.length; i++) assert.ok(out[i].x > out[i - 1].x, "x stays in order");
  const short = pts.slice(0, 100);
  assert.equal(downsample(short, 500), short);
});

Deno.test("emaSmooth is bias-corrected and passes gaps through", () => {
  const out = emaSmooth([{ x: 1, y: 2 }, { x: 2, y: NaN }, { x: 3, y: 1 }], 0.5);
  assert.equal(out[0].y, 2);
  assert.ok(Number.isNaN(out[1].y));
  // Raw EMA after the two finite values: 0.5 * (0.5 * 2) + 0.5 * 1 = 1; corrected: 1 / (1 - 0.5^2) = 4/3.
  assert.ok(Math.abs(out[2].y - 4 / 3) < 1e-12);
});

Deno.test("lineChart: empty data and constant series", () => {
  const empty = lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [], emptyText: "nothing <here>" });
  assert.ok(empty.includes("nothing &lt;here&gt;"));
  const flat = lineChart({
    title: "flat",
    xLabel: "x",
    yLabel: "y",
    series: [{ name: "s", color: "#000", points: [{ x: 1, y: 0 }, { x: 2, y: 0 }] }],
  });
  assert.ok(!/NaN|Infinity/.test(flat));
});

Deno.test("escapeHtml and formatSeconds", () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  assert.equal(formatSeconds(59.6), "1:00");
  assert.equal(formatSeconds(3725), "1:02:05");
  assert.equal(formatSeconds(NaN), "–");
});

Deno.test("writeReport writes atomically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/report.html`;
    await writeReport(path, makeRun());
    const text = await Deno.readTextFile(path);
    assert.ok(text.includes("<svg"));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["report.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
