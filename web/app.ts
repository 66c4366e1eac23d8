/**
 * The page (`deno task serve`): loads the served model (or a folder the user picks), classifies the reviews
 * typed or pasted (one per line), and colours each token by its contribution. Once the model is loaded,
 * nothing more is fetched: it works offline.
 */
/// <reference lib="dom" />
import { filesSource, type ModelSource, PageClassifier, urlSource, UserError, webgpuProblem } from "./mod.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ms = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US")} ms`;

function describe(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const e = err as Error;
  return e?.name === "DeviceError"
    ? `WebGPU: ${e.message}`
    : `unexpected error: ${e?.message ?? String(err)}`;
}

/** Background for a contribution: green for the predicted label, red against it, by its share of the largest. */
function shade(value: number, scale: number): string {
  const a = scale > 0 ? Math.min(1, Math.abs(value) / scale) : 0;
  return value >= 0
    ? `rgba(22, 163, 74, ${(0.85 * a).toFixed(3)})`
    : `rgba(220, 38, 38, ${(0.85 * a).toFixed(3)})`;
}

/** The page's elements and its state (the loaded classifier, whether a load or a classification runs). */
class ClassifierPage {
  readonly status = $<HTMLDivElement>("status");
  readonly problem = $<HTMLDivElement>("problem");
  readonly results = $<HTMLDivElement>("results");
  readonly input = $<HTMLTextAreaElement>("reviews");
  readonly run = $<HTMLButtonElement>("classify");
  readonly picker = $<HTMLInputElement>("folder");
  classifier: PageClassifier | null = null;
  busy = false;

  constructor() {
    this.run.addEventListener("click", () => this.classify());
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) this.classify();
    });
    this.picker.addEventListener("change", () => {
      if (this.picker.files && this.picker.files.length > 0) this.load(filesSource(this.picker.files));
    });
  }

  showProblem(message: string | null): void {
    this.problem.textContent = message ?? "";
    this.problem.hidden = message === null;
  }

  setBusy(on: boolean, what = ""): void {
    this.busy = on;
    this.run.disabled = on || this.classifier === null;
    this.picker.disabled = on;
    if (what) this.status.dataset.state = what;
  }

  async load(source: ModelSource): Promise<void> {
    this.setBusy(true, "loading");
    this.showProblem(null);
    this.status.textContent = `loading ${source.label} …`;
    try {
      const next = await PageClassifier.load(source);
      this.classifier?.dispose();
      this.classifier = next;
      const c = next.config, t = next.timings;
      const labels = Object.values(c.id2label ?? {}).join(" / ") || `${c.num_labels} labels`;
      this.status.innerHTML = "";
      const line = (label: string, value: string) => {
        const row = document.createElement("div");
        row.innerHTML = `<b></b> <span></span>`;
        row.querySelector("b")!.textContent = label;
        row.querySelector("span")!.textContent = value;
        this.status.append(row);
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
      this.status.dataset.state = "ready";
      document.body.dataset.loadMs = String(total);
    } catch (err) {
      this.status.textContent = this.classifier ? `still using ${this.classifier.source}` : "no model loaded";
      this.status.dataset.state = this.classifier ? "ready" : "failed";
      this.showProblem(describe(err));
    } finally {
      this.setBusy(false);
    }
  }

  async classify(): Promise<void> {
    if (!this.classifier || this.busy) return;
    const texts = this.input.value.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
    if (texts.length === 0) return this.showProblem("type or paste a review first (one per line)");
    this.showProblem(null);
    this.setBusy(true, "classifying");
    this.results.innerHTML = "";
    try {
      for (const text of texts) {
        // The label first, then the tokens' colours (a forward and a backward) fill in.
        const t0 = performance.now();
        const [p] = await this.classifier.predict([text]);
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
        this.results.append(card);

        const e = await this.classifier.explain(text);
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
      this.showProblem(describe(err));
    } finally {
      this.setBusy(false, this.classifier ? "ready" : "failed");
    }
  }

  async start(): Promise<void> {
    const why = await webgpuProblem();
    if (why) {
      this.status.textContent = "no WebGPU";
      this.status.dataset.state = "failed";
      this.picker.disabled = true;
      this.run.disabled = true;
      return this.showProblem(why);
    }
    // The server says whether it serves a model (`deno task serve --model DIR`); otherwise pick a folder.
    const info = await fetch("info.json").then((r) => r.ok ? r.json() : null).catch(() => null);
    if (info?.model) await this.load(urlSource("model/", { label: info.model, present: info.files }));
    else {
      this.status.textContent = "no model served: pick a model folder";
      this.status.dataset.state = "idle";
      this.setBusy(false);
    }
  }
}

new ClassifierPage().start();
