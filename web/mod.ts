/**
 * The browser entry: a fine-tuned classifier in a web page, on the same runtime, autograd and WGSL kernels
 * as the Deno tasks. Everything here takes bytes and text (from `fetch` or from files the user picked): no
 * Deno, no `node:` module, nothing on disk. Autotuning runs in the page and is kept for the page's lifetime.
 *
 *   const source = urlSource("model/");            // or filesSource(input.files)
 *   const model = await loadClassifier(source);     // config.json, model.safetensors, the tokenizer
 *   const [p] = await model.predict(["A wonderful film."]);
 *   const e = await model.explain("A wonderful film."); // tokens and gradient × input on the embeddings
 */
import { gpu, initGpu, isCpuAdapter } from "../autograd/runtime.ts";
import { Tensor } from "../autograd/tensor.ts";
import { keep, noGrad, tidy } from "../autograd/tape.ts";
import { crossEntropy, embedding } from "../autograd/ops.ts";
import {
  autotuneAttention,
  type AutotuneCacheFile,
  autotuneMatmul,
  type AutotuneStore,
  flopsOf,
  proxyShape,
} from "../autograd/autotune.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { type DistilBertConfig, parseConfigText } from "../model/config.ts";
import { parseSafetensors } from "../model/safetensors_format.ts";
import { matchCheckpoint } from "../model/checkpoint_keys.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { checkVocabSize, tokenizerFromTexts } from "../data/tokenizer_formats.ts";
import { makeBatch, splitBatch } from "../train/batches.ts";
import { DeviceError, UserError } from "../util/errors.ts";

import { type ModelSource, REQUIRED_FILES } from "./model_files.ts";

export { DeviceError, gpu, initGpu, UserError };
export { kernelCatalog } from "../kernels/catalog.ts";
export { filesSource, type ModelSource, REQUIRED_FILES, urlSource } from "./model_files.ts";

export interface Prediction {
  text: string;
  label: string;
  /** The predicted label's index (config.json's id2label key). */
  labelId: number;
  /** The predicted label's probability. */
  probability: number;
  /** Probability per label, in label order (`prob_positive` is probabilities[1] for two labels). */
  probabilities: number[];
  logits: number[];
}

export interface Explanation {
  /** The model's input pieces, [CLS] and [SEP] included. */
  tokens: string[];
  /**
   * Gradient × input on the word embeddings, summed over the embedding dimension: each token's contribution
   * to the log-probability of the predicted label (positive: for it).
   */
  contributions: number[];
  prediction: Prediction;
}

export interface LoadTimings {
  /** Reading the files (network or disk). */
  fetchMs: number;
  /** Parsing them, and building the tokenizer. */
  parseMs: number;
  /** Uploading the weights and autotuning the kernels on this adapter. */
  gpuMs: number;
  /**
   * A first prediction of a short text: the forward's remaining kernels compile here, not on the first review
   * (the backward's compile on the first explanation).
   */
  warmupMs: number;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * The max_length the model was trained with, as `deno task predict` reads it: run_config.json (a run) or
 * training_args.json (a checkpoint), else 512.
 */
function trainedMaxLength(files: (Uint8Array | null)[]): number {
  for (const bytes of files) {
    if (!bytes) continue;
    try {
      const value = JSON.parse(decoder.decode(bytes)).maxLength;
      if (Number.isInteger(value) && value >= 2) return value;
    } catch { /* not ours: next */ }
  }
  return 512;
}

/**
 * The autotuner's choices in the page's localStorage, so a reload skips the timing; null where the page has
 * no storage (a sandboxed frame, storage disabled).
 */
const localAutotuneStore: AutotuneStore | null = (() => {
  const KEY = "distilbert-webgpu:autotune";
  try {
    const storage = (globalThis as { localStorage?: Storage }).localStorage;
    if (!storage) return null;
    return {
      read: () => Promise.resolve(JSON.parse(storage.getItem(KEY) ?? "null") as AutotuneCacheFile | null),
      write: (cache: AutotuneCacheFile) => {
        try {
          storage.setItem(KEY, JSON.stringify(cache));
        } catch { /* full or refused: tuned again next time */ }
        return Promise.resolve();
      },
    };
  } catch {
    return null; // storage access refused
  }
})();

/** A classifier loaded in the page: the weights on the GPU, its tokenizer, the length it was trained at. */
export class PageClassifier {
  private constructor(
    readonly model: DistilBertClassifier,
    readonly tokenizer: BertTokenizer,
    readonly maxLength: number,
    readonly source: string,
    readonly timings: LoadTimings,
    /** Things a user should know (an untrained head, a tokenizer note). */
    readonly notes: string[],
  ) {}

  get config(): DistilBertConfig {
    return this.model.config;
  }

  /**
   * Reads and checks a model directory (a one-line UserError naming every missing file, or what is wrong),
   * starts WebGPU, uploads the weights and tunes the kernels for one review at a time.
   */
  static async load(source: ModelSource): Promise<PageClassifier> {
    const t0 = performance.now();
    const names = [
      ...REQUIRED_FILES,
      "tokenizer.json",
      "tokenizer_config.json",
      "vocab.txt",
      "run_config.json",
      "training_args.json",
    ];
    const files = new Map<string, Uint8Array | null>();
    await Promise.all(names.map(async (name) => files.set(name, await source.read(name))));
    const missing: string[] = REQUIRED_FILES.filter((name) => !files.get(name));
    if (!files.get("tokenizer.json") && !files.get("vocab.txt")) missing.push("tokenizer.json or vocab.txt");
    if (missing.length) {
      throw new UserError(
        `${source.label}: the model folder is incomplete: no ${missing.join(", no ")} ` +
          "(a run of `deno task train`, a checkpoint-N folder, or `deno task export`'s output has them)",
      );
    }
    const t1 = performance.now();
    const text = (name: string) => {
      const bytes = files.get(name);
      return bytes ? decoder.decode(bytes) : null;
    };
    const path = (name: string) => `${source.label.replace(/\/?$/, "/")}${name}`;
    const config = parseConfigText(text("config.json")!, path("config.json"));
    const weights = parseSafetensors(files.get("model.safetensors")!, path("model.safetensors"));
    files.delete("model.safetensors"); // the parsed tensors own their memory
    const loaded = matchCheckpoint(source.label, path("model.safetensors"), config, weights.tensors, {});
    const tok = tokenizerFromTexts(
      {
        tokenizerJson: text("tokenizer.json"),
        tokenizerConfig: text("tokenizer_config.json"),
        vocabTxt: text("tokenizer.json") === null ? text("vocab.txt") : null,
      },
      path,
      source.label,
    );
    checkVocabSize(tok, config, path("config.json"));
    const notes = [...tok.notes];
    if (loaded.newlyInitialized.length > 0) {
      notes.push(`no trained classification head (${loaded.newlyInitialized.join(", ")} are random)`);
    }
    const maxLength = Math.min(
      trainedMaxLength([files.get("run_config.json")!, files.get("training_args.json")!]),
      config.max_position_embeddings,
    );
    const t2 = performance.now();
    await initGpu();
    const model = DistilBertClassifier.fromHost(config, loaded.tensors);
    // Only the inputs' gradients are wanted here (explain): the weights are constants.
    for (const t of model.params.values()) t.requiresGrad = false;
    // The shapes a page runs most: one review at a time at the trained length, forward (x·Wᵀ, and the
    // attention products where attention runs unfused). Other shapes get the heuristic's kernel. Choices
    // persist in localStorage. CPU adapters (SwiftShader: about 1 GFLOP/s) time small matmul proxies, only
    // of shapes whose proxy stays small (a base model's 128 × 3072 × 768 cannot shrink: 2 minutes of timing),
    // and keep fused attention untimed (its proxy cannot shrink below one head of seq² scores: 20+ s at 512).
    if (localAutotuneStore) gpu().settings.autotuneStore = localAutotuneStore;
    const log = (line: string) => console.log(line);
    const cpu = isCpuAdapter();
    if (!cpu) await autotuneAttention([model.attentionShape(1, maxLength)], { log });
    const proxyFlops = cpu ? 3e7 : undefined;
    const forward = model.matmulShapes(1, maxLength).filter((s) =>
      !s.transA && (s.transB || s.batch > 1) &&
      (!cpu || flopsOf(proxyShape(s, proxyFlops!)) <= 2 * proxyFlops!)
    );
    await autotuneMatmul(forward, { log, proxyFlops });
    await gpu().sync();
    const t3 = performance.now();
    const classifier = new PageClassifier(model, tok.tokenizer, maxLength, source.label, {
      fetchMs: t1 - t0,
      parseMs: t2 - t1,
      gpuMs: t3 - t2,
      warmupMs: 0,
    }, notes);
    // Pipelines compile on first use (up to a second each on SwiftShader): the forward's now, while the page
    // says "loading", so that the first label comes as fast as the next.
    await classifier.predict(["a warm-up"]);
    classifier.timings.warmupMs = performance.now() - t3;
    return classifier;
  }

  /** The rows of `texts` as `deno task predict` makes them: [CLS] ... [SEP], truncated at maxLength. */
  private encode(texts: string[]) {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.maxLength });
    const ids: number[] = [], offsets = [0];
    for (let b = 0; b < enc.batchSize; b++) {
      for (let s = 0; s < enc.seqLength; s++) {
        if (enc.attentionMask[b * enc.seqLength + s]) ids.push(enc.inputIds[b * enc.seqLength + s]);
      }
      offsets.push(ids.length);
    }
    return {
      ids: Int32Array.from(ids),
      offsets: Int32Array.from(offsets),
      labels: new Int32Array(texts.length),
    };
  }

  private prediction(text: string, logits: ArrayLike<number>): Prediction {
    const values = Array.from(logits);
    const max = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const probabilities = exps.map((e) => e / total);
    let best = 0;
    for (let c = 1; c < values.length; c++) if (probabilities[c] > probabilities[best]) best = c;
    // Two labels: the label is positive at p >= 0.5, as `deno task predict` decides it.
    if (values.length === 2) best = probabilities[1] >= 0.5 ? 1 : 0;
    const names = this.config.id2label ?? {};
    return {
      text,
      label: String(names[best] ?? best),
      labelId: best,
      probability: probabilities[best],
      probabilities,
      logits: values,
    };
  }

  /** Label and probabilities per text, in batches padded to their longest row (as `deno task predict`). */
  async predict(texts: string[], batchSize = 32): Promise<Prediction[]> {
    const out: Prediction[] = [];
    const classes = this.config.num_labels;
    for (let start = 0; start < texts.length; start += batchSize) {
      const chunk = texts.slice(start, start + batchSize);
      const rows = this.encode(chunk);
      const batch = makeBatch(rows, Int32Array.from(chunk, (_, i) => i));
      // A batch larger than one pass fits on this adapter runs as several passes, as in predictRows.
      const values = new Float32Array(chunk.length * classes);
      let at = 0;
      for (const piece of splitBatch(batch, this.model.maxRowsPerPass(batch.seq))) {
        const logits = noGrad(() => tidy(() => this.model.forward(piece, { training: false })));
        values.set(await logits.toArray(), at);
        at += logits.size;
        logits.dispose();
      }
      chunk.forEach((text, i) =>
        out.push(this.prediction(text, values.subarray(i * classes, (i + 1) * classes)))
      );
    }
    return out;
  }

  /**
   * The prediction for one text and each token's contribution to it: gradient × input on the word
   * embeddings (the gradient of the predicted label's log-probability with respect to each token's word
   * embedding, dotted with that embedding), one forward and one backward through our autograd.
   */
  async explain(text: string): Promise<Explanation> {
    const [prediction] = await this.predict([text]);
    const rows = this.encode([text]);
    const batch = makeBatch(rows, [0]);
    const S = batch.seq, D = this.config.dim;
    const label = prediction.labelId;
    const table = this.model.params.get("distilbert.embeddings.word_embeddings.weight")!;
    const words = keep(noGrad(() => tidy(() => embedding(batch.ids, [S], table, this.config.pad_token_id))));
    words.requiresGrad = true;
    const labels = keep(Tensor.fromArray([label], [1], { dtype: "i32" }));
    try {
      tidy(() => {
        const logits = this.model.forward(batch, { training: false, wordEmbeddings: words });
        crossEntropy(logits, labels).backward();
      });
      if (words.grad === null) throw new DeviceError("explain: no gradient reached the embeddings");
      const [e, g] = await Promise.all([words.toArray(), words.grad.toArray()]);
      const contributions: number[] = [];
      for (let s = 0; s < S; s++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += e[s * D + d] * g[s * D + d];
        contributions.push(-dot); // the loss is −log p(label): its gradient points against the label
      }
      const tokens = Array.from(batch.ids, (id) => this.tokenizer.idToToken[id] ?? `[${id}]`);
      return { tokens, contributions, prediction };
    } finally {
      words.grad?.dispose();
      words.grad = null;
      words.dispose();
      labels.dispose();
    }
  }

  /** The adapter in words (SwiftShader, a GPU's name). */
  static adapterName(): string {
    const s = gpu().summary;
    return [s.description, s.vendor, s.architecture].filter((x) => x && x !== "(no description)").join(
      " · ",
    ) ||
      "unnamed adapter";
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The same as PageClassifier.load. */
export const loadClassifier = (source: ModelSource): Promise<PageClassifier> => PageClassifier.load(source);

/** Why this browser cannot run the model, or null when it can (WebGPU present and an adapter found). */
export async function webgpuProblem(): Promise<string | null> {
  const g = (navigator as { gpu?: GPU }).gpu;
  if (!g) {
    return "This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or another " +
      "Chromium-based browser (113 or newer; on Linux start it with --enable-unsafe-webgpu, or enable " +
      "chrome://flags/#enable-unsafe-webgpu), Safari 26, or Firefox 141 on Windows; pages must come from " +
      "https:// or localhost.";
  }
  const adapter = await g.requestAdapter().catch(() => null);
  if (!adapter) {
    return "WebGPU is present but found no adapter: the GPU may be blocklisted or its driver too old.";
  }
  return null;
}
