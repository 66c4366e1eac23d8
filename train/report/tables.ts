/** HTML pieces of the page: key-number cards, key-value tables, the settings table and the confusion matrix. */
import type { ConfusionMatrix } from "../metrics.ts";
import { escapeHtml, formatInt, formatValue } from "./format.ts";

/** Flattens nested plain objects to dotted keys; arrays and other values are kept as leaves. */
export function flattenSettings(obj: Record<string, unknown>, prefix = ""): [string, unknown][] {
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

export function settingText(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "–";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatValue(v);
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

export function confusionTable(cm: ConfusionMatrix, labelNames?: string[]): string {
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
        formatInt(v)
      }</b><span>${escapeHtml(label)}<br>${pct}</span></td>`;
    }).join("");
    return `<tr><th class="rowh">${escapeHtml(names[a])}</th>${cells}<td class="num muted">${
      formatInt(rowTotal)
    }</td></tr>`;
  }).join("");
  const columnTotals = names.map((_, p) =>
    `<td class="num muted" style="text-align:center">${
      formatInt(cm.reduce((t, _, a) => t + cell(a, p), 0))
    }</td>`
  ).join("");
  return `<table class="cm"><tr><th></th><th colspan="${k}" class="axis">predicted</th><th></th></tr>` +
    `<tr><th class="axis rowh">actual ↓</th>${
      names.map((n) => `<th>${escapeHtml(n)}</th>`).join("")
    }<th class="muted">total</th></tr>` +
    `${rows}<tr><th></th>${columnTotals}<td class="num muted">${formatInt(total)}</td></tr></table>`;
}

export function card(k: string, v: string, title = ""): string {
  return `<div class="card"${title ? ` title="${escapeHtml(title)}"` : ""}><div class="k">${
    escapeHtml(k)
  }</div>` +
    `<div class="v">${escapeHtml(v)}</div></div>`;
}

export function kvTable(rows: [string, string][], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}>` +
    rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join("") + `</table>`;
}
