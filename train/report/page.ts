/**
 * A run's `report.html`: one self-contained file (no network, no scripts, no external fonts or CSS) with the
 * key numbers, inline SVG charts drawn here (training loss, learning rate, gradient norm, evaluation metrics
 * and loss), the confusion matrix, the evaluations, timing and the full settings.
 */
import { writeFileAtomic } from "../../util/fs.ts";
import type { EvalRecord, StepRecord } from "../run_log.ts";
import { escapeHtml, formatFixed, formatInt, formatPercent, formatSeconds } from "./format.ts";
import { cleanSteps, emaSmooth, type Point, smoothingSpan } from "./series.ts";
import { CSS } from "./style.ts";
import { lineChart, type Series } from "./svg_chart.ts";
import { card, confusionTable, flattenSettings, kvTable, settingText } from "./tables.ts";

export interface RunReport {
  title: string;
  /** The run's full config, shown as a table (nested objects are flattened to dotted keys). */
  settings: Record<string, unknown>;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  device: string;
  init: "pretrained" | "scratch";
  steps: StepRecord[];
  evals: EvalRecord[];
  /** The class names in id order (the model's id2label); default NEGATIVE, POSITIVE for two. */
  labelNames?: string[];
  /** The final evaluation (e.g. of the best checkpoint); defaults to the last of `evals`. */
  finalMetrics?: EvalRecord;
  notes?: string[];
}

/** The report as one self-contained HTML document. */
export function renderReport(run: RunReport): string {
  const steps = cleanSteps(run.steps ?? []);
  const evals = [...(run.evals ?? [])].filter((e) => e && Number.isFinite(e.step)).sort((a, b) =>
    a.step - b.step
  );
  const final = run.finalMetrics ?? evals[evals.length - 1];
  const lastStep = steps[steps.length - 1];
  const totalTokens = steps.reduce((s, r) => s + (Number.isFinite(r.tokens) ? r.tokens : 0), 0);
  const trainSeconds = lastStep && Number.isFinite(lastStep.seconds) ? lastStep.seconds : NaN;
  const firstStep = steps[0];
  // Rates over the logged span: a resumed run's log may start after step 1.
  const spanSeconds = firstStep && lastStep && steps.length > 1
    ? lastStep.seconds - firstStep.seconds
    : trainSeconds;
  const spanTokens = steps.length > 1 ? totalTokens - (firstStep.tokens || 0) : totalTokens;
  const spanSteps = steps.length > 1 ? lastStep.step - firstStep.step : steps.length;
  const tokensPerSec = spanSeconds > 0 ? spanTokens / spanSeconds : NaN;
  const stepsPerSec = spanSeconds > 0 ? spanSteps / spanSeconds : NaN;
  const nonFiniteLoss = steps.filter((s) => !Number.isFinite(s.loss)).length;

  const lossPts: Point[] = steps.map((s) => ({ x: s.step, y: s.loss }));
  const span = smoothingSpan(steps.length);
  const smoothPts = emaSmooth(lossPts, 1 - 1 / span);
  const lastSmoothed = [...smoothPts].reverse().find((p) => Number.isFinite(p.y))?.y ?? NaN;
  const hasGrad = steps.some((s) => Number.isFinite(s.grad_norm ?? NaN));
  const runSpan: [number, number] = [0, lastStep?.step ?? 0];
  const emptySteps = steps.length === 0 ? "No training steps were logged" : "No finite values";

  // Header.
  const initTag = `<span class="tag ${run.init === "scratch" ? "scratch" : ""}">${
    escapeHtml(run.init)
  }</span>`;
  const sub = `${initTag}${escapeHtml(run.device)} · ${escapeHtml(run.startedAt)} → ${
    escapeHtml(run.finishedAt)
  }`;
  const cards = [
    card("accuracy", formatPercent(final?.eval_accuracy), "final evaluation accuracy"),
    final?.eval_f1 === undefined && final
      ? card("macro F1", formatFixed(final.eval_macro_f1, 4), "final evaluation F1, mean over the classes")
      : card("F1", formatFixed(final?.eval_f1, 4), "final evaluation F1 (positive class)"),
    card("eval loss", formatFixed(final?.eval_loss, 4)),
    card("train loss", formatFixed(lastSmoothed, 4), `smoothed (EMA span ${span}) at the last step`),
    card("steps", lastStep ? formatInt(lastStep.step) : "0"),
    card("wall time", formatSeconds(run.wallSeconds)),
    card("tokens/s", Number.isFinite(tokensPerSec) ? formatInt(tokensPerSec) : "–"),
  ].join("");

  // Charts.
  const lossChart = lineChart({
    title: "Training loss",
    xLabel: "step",
    yLabel: "loss",
    emptyText: emptySteps,
    series: [
      { name: "raw", color: "#93c5fd", points: lossPts, strokeWidth: 1.2, opacity: 0.9 },
      ...(span > 1 ? [{ name: `smoothed (EMA, span ${span})`, color: "#1d4ed8", points: smoothPts }] : []),
    ],
  });
  const lrChart = lineChart({
    title: "Learning rate",
    xLabel: "step",
    yLabel: "lr",
    // Beside the grad-norm chart when there is one, else full width.
    width: hasGrad ? 520 : 960,
    height: hasGrad ? 300 : 240,
    series: [{
      name: "lr",
      color: "#7c3aed",
      points: steps.map((s) => ({ x: s.step, y: s.lr })),
      hideLegend: true,
    }],
  });
  const gradChart = hasGrad
    ? lineChart({
      title: "Gradient norm (before clipping)",
      xLabel: "step",
      yLabel: "global L2 norm",
      width: 520,
      height: 300,
      series: [{
        name: "grad norm",
        color: "#059669",
        points: steps.map((s) => ({ x: s.step, y: s.grad_norm ?? NaN })),
        strokeWidth: 1.2,
        hideLegend: true,
      }],
    })
    : "";
  // More than two classes: the macro averages stand in for the positive class's precision, recall and F1.
  const multi = evals.some((e) => e.eval_f1 === undefined && e.eval_macro_f1 !== undefined);
  const pre = multi ? "macro " : "";
  const precisionOf = (e: EvalRecord) => e.eval_precision ?? e.eval_macro_precision;
  const recallOf = (e: EvalRecord) => e.eval_recall ?? e.eval_macro_recall;
  const f1Of = (e: EvalRecord) => e.eval_f1 ?? e.eval_macro_f1;
  const evalSeries = (
    name: string,
    color: string,
    metric: (e: EvalRecord) => number,
    dashed = false,
  ): Series => ({
    name,
    color,
    markers: true,
    points: evals.map((e) => ({ x: e.step, y: metric(e) })),
    ...(dashed ? { dashed, strokeWidth: 1.5 } : {}),
  });
  const evalMetricsChart = lineChart({
    title: "Evaluation metrics",
    xLabel: "step",
    xDomain: runSpan,
    yLabel: "score",
    emptyText: "No evaluations",
    series: [
      evalSeries("accuracy", "#2563eb", (e) => e.eval_accuracy),
      evalSeries(`${pre}F1`, "#db2777", f1Of),
      // Precision and recall dashed and thinner: they bracket F1.
      evalSeries(`${pre}precision`, "#f59e0b", precisionOf, true),
      evalSeries(`${pre}recall`, "#10b981", recallOf, true),
    ],
  });
  const evalLossPts = evals.map((e) => ({ x: e.step, y: e.eval_loss ?? NaN }));
  const evalLossChart = evalLossPts.some((p) => Number.isFinite(p.y))
    ? lineChart({
      title: "Evaluation loss vs training loss",
      xLabel: "step",
      xDomain: runSpan,
      yLabel: "loss",
      height: 260,
      series: [
        { name: "train (smoothed)", color: "#93c5fd", points: smoothPts, strokeWidth: 1.5 },
        { name: "eval", color: "#dc2626", markers: true, points: evalLossPts },
      ],
    })
    : "";

  const evalRows = evals.map((e) =>
    `<tr><td class="num">${formatInt(e.step)}</td><td class="num">${formatFixed(e.epoch, 2)}</td>` +
    `<td class="num">${formatFixed(e.eval_loss, 4)}</td><td class="num">${
      formatPercent(e.eval_accuracy)
    }</td>` +
    `<td class="num">${formatFixed(precisionOf(e), 4)}</td><td class="num">${
      formatFixed(recallOf(e), 4)
    }</td>` +
    `<td class="num">${formatFixed(f1Of(e), 4)}</td></tr>`
  ).join("");
  const evalTable = evals.length > 0
    ? `<table><tr><th class="num">step</th><th class="num">epoch</th><th class="num">loss</th>` +
      `<th class="num">accuracy</th><th class="num">${pre}precision</th><th class="num">${pre}recall</th>` +
      `<th class="num">${pre}F1</th></tr>${evalRows}</table>`
    : `<p class="muted">No evaluations were run.</p>`;

  const finalSection = final
    ? `<section><h2>Confusion matrix${
      run.finalMetrics ? " (final evaluation)" : ` (evaluation at step ${formatInt(final.step)})`
    }</h2><div class="row">${confusionTable(final.eval_confusion_matrix, run.labelNames)}${
      kvTable([
        ["accuracy", formatPercent(final.eval_accuracy)],
        ...(final.eval_f1 !== undefined
          ? [
            ["precision", formatFixed(final.eval_precision, 4)],
            ["recall", formatFixed(final.eval_recall, 4)],
            ["F1", formatFixed(final.eval_f1, 4)],
          ] as [string, string][]
          : []),
        [
          "macro precision / recall / F1",
          [final.eval_macro_precision, final.eval_macro_recall, final.eval_macro_f1].map((v) =>
            formatFixed(v, 4)
          ).join(" / "),
        ],
        [
          "weighted precision / recall / F1",
          [final.eval_weighted_precision, final.eval_weighted_recall, final.eval_weighted_f1].map((v) =>
            formatFixed(v, 4)
          ).join(" / "),
        ],
        ["loss", formatFixed(final.eval_loss, 4)],
        ...(final.eval_samples !== undefined
          ? [["samples", formatInt(final.eval_samples)] as [string, string]]
          : []),
        ["step / epoch", `${formatInt(final.step)} / ${formatFixed(final.epoch, 2)}`],
      ])
    }</div></section>`
    : "";

  const timing = kvTable([
    ["started", run.startedAt],
    ["finished", run.finishedAt],
    ["wall time", formatSeconds(run.wallSeconds)],
    ["training time (steps only)", formatSeconds(trainSeconds)],
    [
      "other (evaluation, checkpoints, loading)",
      Number.isFinite(trainSeconds) && Number.isFinite(run.wallSeconds) && run.wallSeconds >= trainSeconds
        ? formatSeconds(run.wallSeconds - trainSeconds)
        : "–",
    ],
    ["optimizer steps", lastStep ? formatInt(lastStep.step) : "0"],
    ["epochs", lastStep ? formatFixed(lastStep.epoch, 2) : "–"],
    ["steps/s", Number.isFinite(stepsPerSec) ? stepsPerSec.toFixed(3) : "–"],
    ["tokens", formatInt(totalTokens)],
    ["tokens/s", Number.isFinite(tokensPerSec) ? formatInt(tokensPerSec) : "–"],
    ["device", run.device],
  ]);

  const notes = [...(run.notes ?? [])];
  if (nonFiniteLoss > 0) {
    notes.push(`${nonFiniteLoss} logged step(s) had a non-finite loss; the charts skip them.`);
  }
  const scales = steps.map((s) => s.loss_scale).filter((x): x is number => typeof x === "number");
  if (scales.length > 0) {
    const skipped = steps.filter((s) => s.grad_norm === null).length;
    notes.push(
      `Mixed precision (fp16): loss scale ${formatInt(Math.min(...scales))}–${
        formatInt(Math.max(...scales))
      }, ` +
        `last ${formatInt(scales.at(-1)!)}; ${skipped} step(s) skipped because their gradients overflowed.`,
    );
  }
  const notesSection = notes.length > 0
    ? `<section><h2>Notes</h2><ul class="notes">${
      notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")
    }</ul></section>`
    : "";

  const settingsRows = flattenSettings(run.settings ?? {}).map(([k, v]) =>
    [k, settingText(v)] as [string, string]
  );
  const settings = settingsRows.length > 0
    ? kvTable(settingsRows, "settings")
    : `<p class="muted">No settings recorded.</p>`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(run.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header><h1>${escapeHtml(run.title)}</h1><p class="sub">${sub}</p></header>
<div class="cards">${cards}</div>
${notesSection}
<section><h2>Training</h2><div class="chart">${lossChart}</div></section>
${
    steps.length === 0
      ? ""
      : gradChart
      ? `<div class="grid2"><section><div class="chart">${lrChart}</div></section>` +
        `<section><div class="chart">${gradChart}</div></section></div>`
      : `<section><div class="chart">${lrChart}</div></section>`
  }
<section><h2>Evaluation</h2>${
    evals.length === 0
      ? evalTable
      : `<div class="chart">${evalMetricsChart}</div>${
        evalLossChart ? `<div class="chart">${evalLossChart}</div>` : ""
      }<div style="margin-top:12px;overflow-x:auto">${evalTable}</div>`
  }</section>
${finalSection}
<div class="grid2">
<section><h2>Timing</h2>${timing}</section>
<section><h2>Settings</h2>${settings}</section>
</div>
<footer>Generated ${escapeHtml(run.finishedAt)} · self-contained report, no network access needed</footer>
</main>
</body>
</html>
`;
}

/** Renders `run` and writes it to `path` atomically. */
export async function writeReport(path: string, run: RunReport): Promise<void> {
  await writeFileAtomic(path, renderReport(run));
}
