/**
 * A run's `report.html`: one self-contained file (no network, no scripts, no external fonts or CSS) with the
 * key numbers, inline SVG charts drawn here (training loss, learning rate, gradient norm, evaluation metrics
 * and loss), the confusion matrix, the evaluations, timing and the full settings.
 */
import { writeFileAtomic } from "../util/fs.ts";
import type { ConfusionMatrix } from "./metrics.ts";
import type { EvalRecord, StepRecord } from "./run_log.ts";

export type { EvalRecord, StepRecord } from "./run_log.ts";

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

/** Most points one polyline may have. */
export const MAX_POLYLINE_POINTS = 2000;

// ---------------------------------------------------------------------------------------------------------
// Text

/** Escapes text for HTML element content and attribute values (also valid inside inline SVG). */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** `h:mm:ss` (or `m:ss` under an hour); "–" when unknown. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

function fmtFixed(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

function fmtPct(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(digits)}%`;
}

function fmtInt(v: number): string {
  if (!Number.isFinite(v)) return "–";
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A short number for a table cell: integers with separators, small/large values in exponent form. */
function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return Math.abs(v) >= 10000 ? fmtInt(v) : String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(6)));
}

// ---------------------------------------------------------------------------------------------------------
// Data helpers

export interface Point {
  x: number;
  /** Non-finite y marks a gap: the line breaks there. */
  y: number;
}

/**
 * At most `max` finite points that keep the line's shape: each bucket of consecutive points keeps its lowest
 * and highest point (so spikes survive), plus the first and last points; a bucket with a gap keeps one gap.
 */
export function downsample(points: Point[], max = MAX_POLYLINE_POINTS): Point[] {
  const finite = points.reduce((n, p) => n + (Number.isFinite(p.y) ? 1 : 0), 0);
  if (finite <= max) return points;
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const out: Point[] = [points[0]];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size), hi = Math.min(points.length, Math.floor((b + 1) * size));
    let iMin = -1, iMax = -1, iGap = -1;
    for (let i = lo; i < hi; i++) {
      if (i === 0 || i === points.length - 1) continue;
      const y = points[i].y;
      if (!Number.isFinite(y)) {
        if (iGap < 0) iGap = i;
        continue;
      }
      if (iMin < 0 || y < points[iMin].y) iMin = i;
      if (iMax < 0 || y > points[iMax].y) iMax = i;
    }
    const keep = [...new Set([iMin, iMax, iGap].filter((i) => i >= 0))].sort((a, b) => a - b);
    for (const i of keep) out.push(points[i]);
  }
  if (points.length > 1) out.push(points[points.length - 1]);
  return out;
}

/** Bias-corrected exponential moving average of the finite values; non-finite values pass through as gaps. */
export function emaSmooth(points: Point[], beta: number): Point[] {
  let ema = 0, n = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return { x: p.x, y: NaN };
    ema = beta * ema + (1 - beta) * p.y;
    n++;
    return { x: p.x, y: ema / (1 - beta ** n) };
  });
}

/** The EMA span for `n` points: about 1/30 of the run, between 1 (none) and 100 steps. */
export function smoothingSpan(n: number): number {
  return Math.max(1, Math.min(100, Math.round(n / 30)));
}

/** Steps sorted by step; when a resumed run logged a step twice, the later line wins. */
function cleanSteps(steps: StepRecord[]): StepRecord[] {
  const byStep = new Map<number, StepRecord>();
  for (const s of steps) if (s && Number.isFinite(s.step)) byStep.set(s.step, s);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

// ---------------------------------------------------------------------------------------------------------
// Charts

/** 1, 2 or 5 times a power of ten, near `range / count`. */
function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

interface Scale {
  min: number;
  max: number;
  ticks: number[];
  format: (v: number) => string;
}

function tickFormatter(step: number, maxAbs: number): (v: number) => string {
  if (maxAbs !== 0 && (maxAbs < 1e-3 || maxAbs >= 1e6)) {
    const digits = Math.max(0, Math.min(3, Math.floor(Math.log10(maxAbs)) - Math.floor(Math.log10(step))));
    return (v) => v === 0 ? "0" : v.toExponential(digits).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return (v) => {
    const s = v.toFixed(decimals);
    return maxAbs >= 10000 && decimals === 0 ? fmtInt(v) : s === "-0" ? "0" : s;
  };
}

/** A "nice" axis over [lo, hi] with about `count` ticks; `integer` keeps ticks on whole numbers. */
function niceScale(
  lo: number,
  hi: number,
  count: number,
  opts: { integer?: boolean; pad?: boolean } = {},
): Scale {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) lo = 0, hi = 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  } else if (opts.pad) {
    // 5% air above and below, without crossing zero when the data does not (loss, lr, norms stay >= 0).
    const d = (hi - lo) * 0.05;
    lo = lo >= 0 ? Math.max(0, lo - d) : lo - d;
    hi = hi <= 0 ? Math.min(0, hi + d) : hi + d;
  }
  let step = niceStep(hi - lo, count);
  if (opts.integer) step = Math.max(1, Math.round(step));
  const min = Math.floor(lo / step + 1e-9) * step, max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; i <= Math.round((max - min) / step); i++) {
    ticks.push(Number((min + i * step).toPrecision(12)));
  }
  return { min, max, ticks, format: tickFormatter(step, Math.max(Math.abs(min), Math.abs(max))) };
}

export interface Series {
  name: string;
  color: string;
  points: Point[];
  strokeWidth?: number;
  opacity?: number;
  dashed?: boolean;
  /** Circles at every point (for sparse series such as evaluations). */
  markers?: boolean;
  /** Leave out of the legend. */
  hideLegend?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Fixed y range (e.g. [0, 1] for accuracy); otherwise fitted to the data. */
  yDomain?: [number, number];
  /** x range to cover at least (e.g. the whole run for sparse evaluations); the data always fits. */
  xDomain?: [number, number];
  /** Text shown instead of the plot when no series has a finite point. */
  emptyText?: string;
  /** Unique within the page (names the clip path); default: from the title. */
  id?: string;
}

const FONT = `system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif`;

/** An inline SVG line chart with axes, tick labels, gridlines and a legend. */
export function lineChart(opts: ChartOptions): string {
  const W = opts.width ?? 960, H = opts.height ?? 300;
  const m = { left: 72, right: 20, top: 40, bottom: 48 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const finite = opts.series.flatMap((s) =>
    s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
  );
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" ` +
    `aria-label="${escapeHtml(opts.title)}" font-family='${FONT}' font-size="13">` +
    `<title>${escapeHtml(opts.title)}</title>` +
    `<text x="${m.left}" y="22" font-size="15" font-weight="600" fill="#1f2937">${
      escapeHtml(opts.title)
    }</text>`;
  if (finite.length === 0) {
    return `${head}<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="#f9fafb" ` +
      `stroke="#e5e7eb"/><text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle" ` +
      `fill="#6b7280">${escapeHtml(opts.emptyText ?? "No data")}</text></svg>`;
  }
  const xs = finite.map((p) => p.x), ys = finite.map((p) => p.y);
  let xMin = Math.min(...xs), xMax = Math.max(...xs);
  if (opts.xDomain && opts.xDomain.every(Number.isFinite)) {
    xMin = Math.min(xMin, opts.xDomain[0]);
    xMax = Math.max(xMax, opts.xDomain[1]);
  }
  const allIntX = xs.every(Number.isInteger);
  const xScale = niceScale(xMin, xMax, Math.max(2, Math.round(pw / 110)), { integer: allIntX });
  const yScale = opts.yDomain
    ? niceScale(opts.yDomain[0], opts.yDomain[1], Math.max(2, Math.round(ph / 45)))
    : niceScale(Math.min(...ys), Math.max(...ys), Math.max(2, Math.round(ph / 45)), { pad: true });
  const X = (x: number) => m.left + ((x - xScale.min) / (xScale.max - xScale.min)) * pw;
  const Y = (y: number) => m.top + ph - ((y - yScale.min) / (yScale.max - yScale.min)) * ph;
  const r = (v: number) => Math.round(v * 10) / 10;

  const parts: string[] = [head];
  // Gridlines and tick labels.
  parts.push(`<g stroke="#e5e7eb" stroke-width="1">`);
  for (const t of yScale.ticks) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${r(Y(t))}" y2="${r(Y(t))}"/>`);
  }
  for (const t of xScale.ticks) {
    parts.push(`<line x1="${r(X(t))}" x2="${r(X(t))}" y1="${m.top}" y2="${m.top + ph}"/>`);
  }
  parts.push(`</g><g fill="#4b5563" font-size="12">`);
  for (const t of yScale.ticks) {
    parts.push(
      `<text x="${m.left - 8}" y="${r(Y(t) + 4)}" text-anchor="end">${escapeHtml(yScale.format(t))}</text>`,
    );
  }
  for (const t of xScale.ticks) {
    parts.push(
      `<text x="${r(X(t))}" y="${m.top + ph + 18}" text-anchor="middle">${
        escapeHtml(xScale.format(t))
      }</text>`,
    );
  }
  parts.push(`</g>`);
  // Axes and labels.
  parts.push(
    `<path d="M${m.left} ${m.top}V${m.top + ph}H${
      m.left + pw
    }" fill="none" stroke="#9ca3af" stroke-width="1"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#374151">${
      escapeHtml(opts.xLabel)
    }</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#374151">` +
      `${escapeHtml(opts.yLabel)}</text>`,
  );
  // Series, clipped to the plot area.
  const clipId = `clip-${opts.id ?? (opts.title.toLowerCase().replace(/[^a-z0-9]+/g, "-") || "chart")}`;
  parts.push(
    `<clipPath id="${clipId}"><rect x="${m.left}" y="${m.top - 4}" width="${pw + 4}" height="${
      ph + 8
    }"/></clipPath>`,
    `<g clip-path="url(#${clipId})" fill="none" stroke-linejoin="round" stroke-linecap="round">`,
  );
  for (const s of opts.series) {
    const pts = downsample(s.points.filter((p) => Number.isFinite(p.x)));
    let d = "", pen = false, single: Point | null = null, segLen = 0;
    const singles: Point[] = [];
    for (const p of pts) {
      if (!Number.isFinite(p.y)) {
        if (segLen === 1 && single) singles.push(single);
        pen = false;
        segLen = 0;
        continue;
      }
      d += `${pen ? "L" : "M"}${r(X(p.x))} ${r(Y(p.y))}`;
      if (!pen) single = p;
      pen = true;
      segLen++;
    }
    if (segLen === 1 && single) singles.push(single);
    const attrs = `stroke="${s.color}" stroke-width="${s.strokeWidth ?? 2}"` +
      (s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : "") +
      (s.dashed ? ` stroke-dasharray="6 4"` : "");
    if (d) parts.push(`<path d="${d}" ${attrs}/>`);
    // Isolated points (one-step runs, points between gaps) and marked series get dots.
    const dots = s.markers ? pts.filter((p) => Number.isFinite(p.y)) : singles;
    for (const p of dots) {
      parts.push(
        `<circle cx="${r(X(p.x))}" cy="${
          r(Y(p.y))
        }" r="3.5" fill="${s.color}" stroke="#fff" stroke-width="1"/>`,
      );
    }
  }
  parts.push(`</g>`);
  // Legend, right-aligned above the plot.
  const legend = opts.series.filter((s) => !s.hideLegend);
  if (legend.length > 0) {
    const widths = legend.map((s) => 30 + s.name.length * 7 + 16);
    let x = m.left + pw - widths.reduce((a, b) => a + b, 0);
    parts.push(`<g font-size="12" fill="#374151">`);
    legend.forEach((s, i) => {
      parts.push(
        `<line x1="${r(x)}" x2="${r(x + 22)}" y1="18" y2="18" stroke="${s.color}" stroke-width="3"` +
          `${s.opacity !== undefined ? ` stroke-opacity="${Math.max(0.5, s.opacity)}"` : ""}` +
          `${s.dashed ? ` stroke-dasharray="6 4"` : ""}/>`,
        `<text x="${r(x + 28)}" y="22">${escapeHtml(s.name)}</text>`,
      );
      x += widths[i];
    });
    parts.push(`</g>`);
  }
  parts.push(`</svg>`);
  return parts.join("");
}

// ---------------------------------------------------------------------------------------------------------
// Report

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #111827; font: 14px/1.5 ${FONT}; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header .sub { color: #4b5563; margin: 0 0 16px; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 999px; background: #e0e7ff; color: #3730a3;
  font-size: 12px; font-weight: 600; margin-right: 6px; vertical-align: 2px; }
.tag.scratch { background: #fef3c7; color: #92400e; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; margin: 0 0 20px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 12px 14px; }
.card .k { color: #6b7280; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 16px 18px; margin: 0 0 16px; }
section h2 { font-size: 17px; margin: 0 0 12px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart + .chart { margin-top: 12px; border-top: 1px solid #f3f4f6; padding-top: 12px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px;
  margin: 0 0 16px; }
.grid2 > section { margin: 0; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid #f3f4f6; vertical-align: top; }
th { color: #4b5563; font-weight: 600; }
td.num, th.num { text-align: right; }
.settings td:first-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #374151;
  white-space: nowrap; }
.settings td:last-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; }
.settings { width: 100%; }
.cm { border-collapse: separate; border-spacing: 4px; }
.cm td.cell { width: 130px; height: 76px; text-align: center; vertical-align: middle; border-radius: 8px;
  border: none; }
.cm td.cell b { display: block; font-size: 20px; }
.cm td.cell span { font-size: 12px; }
.cm th { text-align: center; border: none; font-size: 12px; vertical-align: middle; }
.cm td { vertical-align: middle; border: none; }
.cm th.rowh { text-align: right; }
.cm .axis { color: #6b7280; font-weight: 500; text-transform: uppercase; letter-spacing: .04em; font-size: 11px; }
.muted { color: #6b7280; }
ul.notes { margin: 0; padding-left: 20px; }
footer { color: #9ca3af; font-size: 12px; text-align: center; margin-top: 24px; }
@media (max-width: 520px) { .grid2 { grid-template-columns: 1fr; } }
`;

/** Flattens nested plain objects to dotted keys; arrays and other values are kept as leaves. */
function flattenSettings(obj: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (
      v !== null && typeof v === "object" && !Array.isArray(v) &&
      Object.getPrototypeOf(v) === Object.prototype
    ) {
      const inner = flattenSettings(v as Record<string, unknown>, key);
      if (inner.length > 0) out.push(...inner);
      else out.push([key, v]);
    } else out.push([key, v]);
  }
  return out;
}

function settingText(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "–";
  if (typeof v === "string") return v;
  if (typeof v === "number") return fmtValue(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Mixes white into `rgb` by `1 - t` (t in [0, 1]). */
function shade(rgb: [number, number, number], t: number): string {
  const c = rgb.map((v) => Math.round(255 + (v - 255) * Math.max(0, Math.min(1, t))));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function confusionTable(cm: ConfusionMatrix, labelNames?: string[]): string {
  const k = cm.length;
  const names = labelNames?.length === k
    ? labelNames
    : k === 2
    ? ["NEGATIVE", "POSITIVE"]
    : cm.map((_, i) => `${i}`);
  const cell = (a: number, p: number) => (Number.isFinite(cm[a]?.[p]) ? cm[a][p] : 0);
  const total = cm.reduce((s, row, a) => s + row.reduce((t, _, p) => t + cell(a, p), 0), 0);
  const max = Math.max(1, ...cm.flatMap((row, a) => row.map((_, p) => cell(a, p))));
  const rows = cm.map((row, a) => {
    const rowTotal = row.reduce((t, _, p) => t + cell(a, p), 0);
    const cells = row.map((_, p) => {
      const v = cell(a, p);
      const t = 0.08 + 0.92 * (v / max);
      const correct = a === p;
      const bg = shade(correct ? [37, 99, 235] : [220, 38, 38], total > 0 ? t : 0);
      const fg = total > 0 && t > 0.55 ? "#fff" : "#111827";
      const pct = rowTotal > 0 ? `${((v / rowTotal) * 100).toFixed(1)}% of actual` : "–";
      const label = k === 2
        ? correct
          ? (a === 1 ? "true positive" : "true negative")
          : (a === 1 ? "false negative" : "false positive")
        : correct
        ? "correct"
        : `predicted ${names[p]}`;
      return `<td class="cell" style="background:${bg};color:${fg}" title="${escapeHtml(label)}"><b>${
        fmtInt(v)
      }</b><span>${escapeHtml(label)}<br>${pct}</span></td>`;
    }).join("");
    return `<tr><th class="rowh">${escapeHtml(names[a])}</th>${cells}<td class="num muted">${
      fmtInt(rowTotal)
    }</td></tr>`;
  }).join("");
  const columnTotals = names.map((_, p) =>
    `<td class="num muted" style="text-align:center">${
      fmtInt(cm.reduce((t, _, a) => t + cell(a, p), 0))
    }</td>`
  ).join("");
  return `<table class="cm"><tr><th></th><th colspan="${k}" class="axis">predicted</th><th></th></tr>` +
    `<tr><th class="axis rowh">actual ↓</th>${
      names.map((n) => `<th>${escapeHtml(n)}</th>`).join("")
    }<th class="muted">total</th></tr>` +
    `${rows}<tr><th></th>${columnTotals}<td class="num muted">${fmtInt(total)}</td></tr></table>`;
}

function card(k: string, v: string, title = ""): string {
  return `<div class="card"${title ? ` title="${escapeHtml(title)}"` : ""}><div class="k">${
    escapeHtml(k)
  }</div>` +
    `<div class="v">${escapeHtml(v)}</div></div>`;
}

function kvTable(rows: [string, string][], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}>` +
    rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join("") + `</table>`;
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
    card("accuracy", fmtPct(final?.eval_accuracy), "final evaluation accuracy"),
    final?.eval_f1 === undefined && final
      ? card("macro F1", fmtFixed(final.eval_macro_f1, 4), "final evaluation F1, mean over the classes")
      : card("F1", fmtFixed(final?.eval_f1, 4), "final evaluation F1 (positive class)"),
    card("eval loss", fmtFixed(final?.eval_loss, 4)),
    card("train loss", fmtFixed(lastSmoothed, 4), `smoothed (EMA span ${span}) at the last step`),
    card("steps", lastStep ? fmtInt(lastStep.step) : "0"),
    card("wall time", formatSeconds(run.wallSeconds)),
    card("tokens/s", Number.isFinite(tokensPerSec) ? fmtInt(tokensPerSec) : "–"),
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
  const evalMetricsChart = lineChart({
    title: "Evaluation metrics",
    xLabel: "step",
    xDomain: runSpan,
    yLabel: "score",
    emptyText: "No evaluations",
    series: [
      {
        name: "accuracy",
        color: "#2563eb",
        markers: true,
        points: evals.map((e) => ({ x: e.step, y: e.eval_accuracy })),
      },
      {
        name: `${pre}F1`,
        color: "#db2777",
        markers: true,
        points: evals.map((e) => ({ x: e.step, y: f1Of(e) })),
      },
      {
        name: `${pre}precision`,
        color: "#f59e0b",
        dashed: true,
        strokeWidth: 1.5,
        markers: true,
        points: evals.map((e) => ({ x: e.step, y: precisionOf(e) })),
      },
      {
        name: `${pre}recall`,
        color: "#10b981",
        dashed: true,
        strokeWidth: 1.5,
        markers: true,
        points: evals.map((e) => ({ x: e.step, y: recallOf(e) })),
      },
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
    `<tr><td class="num">${fmtInt(e.step)}</td><td class="num">${fmtFixed(e.epoch, 2)}</td>` +
    `<td class="num">${fmtFixed(e.eval_loss, 4)}</td><td class="num">${fmtPct(e.eval_accuracy)}</td>` +
    `<td class="num">${fmtFixed(precisionOf(e), 4)}</td><td class="num">${fmtFixed(recallOf(e), 4)}</td>` +
    `<td class="num">${fmtFixed(f1Of(e), 4)}</td></tr>`
  ).join("");
  const evalTable = evals.length > 0
    ? `<table><tr><th class="num">step</th><th class="num">epoch</th><th class="num">loss</th>` +
      `<th class="num">accuracy</th><th class="num">${pre}precision</th><th class="num">${pre}recall</th>` +
      `<th class="num">${pre}F1</th></tr>${evalRows}</table>`
    : `<p class="muted">No evaluations were run.</p>`;

  const finalSection = final
    ? `<section><h2>Confusion matrix${
      run.finalMetrics ? " (final evaluation)" : ` (evaluation at step ${fmtInt(final.step)})`
    }</h2><div class="row">${confusionTable(final.eval_confusion_matrix, run.labelNames)}${
      kvTable([
        ["accuracy", fmtPct(final.eval_accuracy)],
        ...(final.eval_f1 !== undefined
          ? [
            ["precision", fmtFixed(final.eval_precision, 4)],
            ["recall", fmtFixed(final.eval_recall, 4)],
            ["F1", fmtFixed(final.eval_f1, 4)],
          ] as [string, string][]
          : []),
        [
          "macro precision / recall / F1",
          [final.eval_macro_precision, final.eval_macro_recall, final.eval_macro_f1].map((v) =>
            fmtFixed(v, 4)
          ).join(" / "),
        ],
        [
          "weighted precision / recall / F1",
          [final.eval_weighted_precision, final.eval_weighted_recall, final.eval_weighted_f1].map((v) =>
            fmtFixed(v, 4)
          ).join(" / "),
        ],
        ["loss", fmtFixed(final.eval_loss, 4)],
        ...(final.eval_samples !== undefined
          ? [["samples", fmtInt(final.eval_samples)] as [string, string]]
          : []),
        ["step / epoch", `${fmtInt(final.step)} / ${fmtFixed(final.epoch, 2)}`],
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
    ["optimizer steps", lastStep ? fmtInt(lastStep.step) : "0"],
    ["epochs", lastStep ? fmtFixed(lastStep.epoch, 2) : "–"],
    ["steps/s", Number.isFinite(stepsPerSec) ? stepsPerSec.toFixed(3) : "–"],
    ["tokens", fmtInt(totalTokens)],
    ["tokens/s", Number.isFinite(tokensPerSec) ? fmtInt(tokensPerSec) : "–"],
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
      `Mixed precision (fp16): loss scale ${fmtInt(Math.min(...scales))}–${fmtInt(Math.max(...scales))}, ` +
        `last ${fmtInt(scales.at(-1)!)}; ${skipped} step(s) skipped because their gradients overflowed.`,
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
