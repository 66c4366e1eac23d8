/** Inline SVG line charts drawn by hand: "nice" axes, gridlines, gapped polylines, markers and a legend. */
import { escapeHtml, formatInt } from "./format.ts";
import { downsample, type Point } from "./series.ts";
import { FONT } from "./style.ts";

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
    return maxAbs >= 10000 && decimals === 0 ? formatInt(v) : s === "-0" ? "0" : s;
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
