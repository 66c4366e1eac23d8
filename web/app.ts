/**
 * The page (`deno task serve`): loads the served model (or a folder the user picks), classifies the reviews
 * typed or pasted (one per line), and colours each token by its contribution. Once the model is loaded,
 * nothing more is fetched: it works offline.
 */
/// <reference lib="dom" />
import { filesSource, type ModelSource, PageClassifier, urlSource, UserError, webgpuProblem } from "./mod.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLDivElement>("status");
const problem = $<HTMLDivElement>("problem");
const results = $<HTMLDivElement>("results");
const input = $<HTMLTextAreaElement>("reviews");
const run = $<HTMLButtonElement>("classify");
const picker = $<HTMLInputElement>("folder");

let classifier: PageClassifier | null = null;
let busy = false;

const ms = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US")} ms`;

function showProblem(message: string | null): void {
  problem.textContent = message ?? "";
  problem.hidden = message === null;
}

function describe(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const e = err as Error;
  return e?.name === "DeviceError"
    ? `WebGPU: ${e.message}`
    : `unexpected error: ${e?.message ?? String(err)}`;
}

function setBusy(on: boolean, what = ""): void {
  busy = on;
  run.disabled = on || classifier === null;
  picker.disabled = on;
  if (what) status.dataset.state = what;
}

async function load(source: ModelSource): Promise<void> {
  setBusy(true, "loading");
  showProblem(null);
  status.textContent = `loading ${source.label} …`;
  try {
    const next = await PageClassifier.load(source);
    classifier?.dispose();
    classifier = next;
    const c = next.config, t = next.timings;
    const labels = Object.values(c.id2label ?? {}).join(" / ") || `${c.num_labels} labels`;
    status.innerHTML = "";
    const line = (label: string, value: string) => {
      const row = document.createElement("div");
      row.innerHTML = `<b></b> <span></span>`;
      row.querySelector("b")!.textContent = label;
      row.querySelector("span")!.textContent = value;
      status.append(row);
    };
    line("adapter", PageClassifier.adapterName());
    line(
      "model",
      `${next.source} — ${c.n_layers} layers, dim ${c.dim}, ${labels}, max_length ${next.maxLength}`,
    );
    const total = t.fetchMs + t.parseMs + t.gpuMs + t.warmupMs;
    line(
      "loaded in",
      `${ms(total)} (files ${ms(t.fetchMs)}, parse ${ms(t.parseMs)}, upload and kernel tuning ` +
        `${ms(t.gpuMs)}, kernel compilation ${ms(t.warmupMs)})`,
    );
    for (const note of next.notes) line("note", note);
    status.dataset.state = "ready";
    document.body.dataset.loadMs = String(total);
  } catch (err) {
    status.textContent = classifier ? `still using ${classifier.source}` : "no model loaded";
    status.dataset.state = classifier ? "ready" : "failed";
    showProblem(describe(err));
  } finally {
    setBusy(false);
  }
}

/** Background for a contribution: green for the predicted label, red against it, by its share of the largest. */
function shade(value: number, scale: number): string {
  const a = scale > 0 ? Math.min(1, Math.abs(value) / scale) : 0;
  return value >= 0
    ? `rgba(22, 163, 74, ${(0.85 * a).toFixed(3)})`
    : `rgba(220, 38, 38, ${(0.85 * a).toFixed(3)})`;
}

async function classify(): Promise<void> {
  if (!classifier || busy) return;
  const texts = input.value.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (texts.length === 0) return showProblem("type or paste a review first (one per line)");
  showProblem(null);
  setBusy(true, "classifying");
  results.innerHTML = "";
  try {
    for (const text of texts) {
      // The label first, then the tokens' colours (a forward and a backward) fill in.
      const t0 = performance.now();
      const [p] = await classifier.predict([text]);
      const t1 = performance.now();
      const card = document.createElement("div");
      card.className = "result";
      card.dataset.label = p.label;
      card.dataset.logits = JSON.stringify(p.logits);
      card.dataset.predictMs = String(t1 - t0);
      const head = document.createElement("div");
      head.className = "head";
      const badge = document.createElement("span");
      badge.className = `badge ${/^pos/i.test(p.label) ? "pos" : /^neg/i.test(p.label) ? "neg" : ""}`;
      badge.textContent = p.label;
      const prob = document.createElement("span");
      prob.className = "prob";
      prob.textContent = `${(100 * p.probability).toFixed(1)}%`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.innerHTML = `<i style="width:${(100 * p.probability).toFixed(1)}%"></i>`;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = `prediction ${ms(t1 - t0)}`;
      head.append(badge, prob, bar, time);
      const tokens = document.createElement("div");
      tokens.className = "tokens";
      tokens.textContent = text;
      card.append(head, tokens);
      results.append(card);

      const e = await classifier.explain(text);
      const t2 = performance.now();
      card.dataset.explainMs = String(t2 - t1);
      time.textContent += ` · contributions ${ms(t2 - t1)}`;
      tokens.textContent = "";
      const scale = Math.max(...e.contributions.map(Math.abs));
      e.tokens.forEach((tok, i) => {
        const span = document.createElement("span");
        const piece = tok.startsWith("##");
        span.className = piece ? "tok piece" : "tok";
        span.textContent = piece ? tok.slice(2) : tok;
        span.style.background = shade(e.contributions[i], scale);
        span.title = `${tok}: ${e.contributions[i] >= 0 ? "+" : ""}${e.contributions[i].toPrecision(3)}`;
        tokens.append(span);
      });
    }
  } catch (err) {
    showProblem(describe(err));
  } finally {
    setBusy(false, classifier ? "ready" : "failed");
  }
}

run.addEventListener("click", classify);
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) classify();
});
picker.addEventListener("change", () => {
  if (picker.files && picker.files.length > 0) load(filesSource(picker.files));
});

async function start(): Promise<void> {
  const why = await webgpuProblem();
  if (why) {
    status.textContent = "no WebGPU";
    status.dataset.state = "failed";
    picker.disabled = true;
    run.disabled = true;
    return showProblem(why);
  }
  // The server says whether it serves a model (`deno task serve --model DIR`); otherwise pick a folder.
  const info = await fetch("info.json").then((r) => r.ok ? r.json() : null).catch(() => null);
  if (info?.model) await load(urlSource("model/", { label: info.model, present: info.files }));
  else {
    status.textContent = "no model served: pick a model folder";
    status.dataset.state = "idle";
    setBusy(false);
  }
}

start();
