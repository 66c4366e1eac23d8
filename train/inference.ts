/** The jobs around a trained model: `eval` (eval_results.json, predictions), `predict` (texts), `export`. */
import { join } from "node:path";
import { initGpu } from "../autograd/mod.ts";
import { autotuneAttention, autotuneMatmul } from "../autograd/autotune.ts";
import { useDiskAutotuneCache } from "../autograd/autotune_disk.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { exportClassifier, loadClassifierCheckpoint } from "../model/checkpoint.ts";
import { resolveImdbSplitOrSample } from "../data/imdb_source.ts";
import { isImdbSplit } from "../data/imdb.ts";
import type { DataFormat } from "../data/dataset.ts";
import { labelIds } from "../data/labels.ts";
import { findSplitFiles } from "../data/split_files.ts";
import { checkVocabSize, loadTokenizerDir } from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { exists, writeFileAtomic } from "../util/fs.ts";
import { classificationMetrics, softmax, softmax2 } from "./metrics.ts";
import { predictRows } from "./evaluate.ts";
import { loadSplit, sampleRows } from "./data_source.ts";
import { resolveModelDir } from "./model_source.ts";
import { checkExportDestination, writeExport } from "./export_dir.ts";
import { checkOutputFile } from "../util/output_check.ts";
import {
  EVAL_DEFAULTS,
  type EvalConfig,
  FALLBACK_MAX_LENGTH,
  INFERENCE_DEFAULTS,
  type InferenceConfig,
  withSettings,
} from "./config.ts";

/**
 * The max_length a model was trained with: its run's `run_config.json` (a run's output) or
 * `training_args.json` (a checkpoint), else FALLBACK_MAX_LENGTH. Evaluating at the
 * training length reproduces the run's own evaluation; longer inputs would reach positions it never trained.
 */
export async function trainedMaxLength(dir: string): Promise<number> {
  for (const name of ["run_config.json", "training_args.json"]) {
    try {
      const value = JSON.parse(await Deno.readTextFile(join(dir, name))).maxLength;
      if (Number.isInteger(value) && value >= 2) return value;
    } catch { /* absent or not ours: next */ }
  }
  return FALLBACK_MAX_LENGTH;
}

/** Tokens per input: the length asked for, else the training length; never past the model's positions. */
async function inputLength(requested: number | null, dir: string, model: DistilBertClassifier) {
  return Math.min(requested ?? await trainedMaxLength(dir), model.config.max_position_embeddings);
}

/** A model directory's classifier weights and its own tokenizer (they must agree on the vocabulary size). */
async function loadModelDir(dir: string) {
  const loaded = await loadClassifierCheckpoint(dir);
  const tokenizer = await loadTokenizerDir(dir);
  checkVocabSize(tokenizer, loaded.config, join(dir, "config.json"));
  for (const note of tokenizer.notes) console.error(`note: ${note}`);
  return { loaded, tokenizer: tokenizer.tokenizer };
}

/** A trained classifier on the GPU, with the tokenizer that goes with it. */
async function loadTrained(spec: string) {
  const dir = await resolveModelDir(spec);
  if (!(await exists(join(dir, "model.safetensors")))) {
    throw new UserError(`--model ${spec}: no model.safetensors in ${dir}`);
  }
  const { loaded, tokenizer } = await loadModelDir(dir);
  if (loaded.newlyInitialized.length > 0) {
    console.error(
      `note: ${spec} has no trained classification head (${loaded.newlyInitialized.join(", ")} are random)`,
    );
  }
  await initGpu();
  const model = DistilBertClassifier.fromHost(loaded.config, loaded.tensors);
  useDiskAutotuneCache(); // the choices earlier runs made on this adapter
  return { dir, model, tokenizer, loaded };
}

/**
 * Tunes the kernels for an evaluation's batches (`batch` rows of up to `seq` tokens; the forward's products
 * only). Predict does not tune: timing candidate kernels (each compiled first) costs minutes on a CPU driver,
 * far more than a few texts take; it uses the choices cached by earlier runs, else the heuristics.
 */
async function tuneForEval(model: DistilBertClassifier, batch: number, seq: number): Promise<void> {
  await autotuneAttention([model.attentionShape(batch, seq)]);
  await autotuneMatmul(model.matmulShapes(batch, seq, false, { forwardOnly: true }));
}

/** `deno task eval`: the model and data, and any of EvalConfig's settings (EVAL_DEFAULTS otherwise). */
export interface EvalOptions extends Partial<EvalConfig> {
  model: string;
  data?: string;
  /** Where the metrics go; default `<model dir>/eval_results.json` (HF Trainer's name), else ./eval_results.json. */
  output?: string;
  predictions?: string;
  textColumn?: string;
  labelColumn?: string;
  format?: DataFormat;
}

/** A model's classes in id order (its config's id2label). */
function modelLabelNames(model: DistilBertClassifier): string[] {
  const id2label = model.config.id2label;
  return Array.from({ length: model.config.num_labels }, (_, i) => id2label[String(i)] ?? `LABEL_${i}`);
}

export async function evalJob(options: EvalOptions): Promise<Record<string, unknown>> {
  const o = { ...options, ...withSettings(EVAL_DEFAULTS, options) }; // left undefined: the default
  if (o.data === undefined && !isImdbSplit(o.split)) {
    throw new UserError(`--split: must be train, test or unsupervised, got ${o.split}`);
  }
  // Where the results go is checked before any work (the default, beside the model, once it is found).
  if (o.output !== undefined) await checkOutputFile(o.output, "--output");
  if (o.predictions !== undefined) await checkOutputFile(o.predictions, "--predictions");
  const { dir, model, tokenizer } = await loadTrained(o.model);
  const out = o.output ?? ((await exists(o.model)) ? join(dir, "eval_results.json") : "eval_results.json");
  if (o.output === undefined) {
    await checkOutputFile(out, "").catch((err) => {
      throw err instanceof UserError ? new UserError(`${err.message}; pass --output FILE`) : err;
    });
  }
  let files: string[];
  if (o.data !== undefined) {
    const found = await findSplitFiles(o.data, o.split, "--data");
    if (!found) {
      throw new UserError(`--data ${o.data}: no ${o.split} split (${o.split}.<ext> or ${o.split}-*.<ext>)`);
    }
    files = found;
  } else files = [(await resolveImdbSplitOrSample(o.split as "train" | "test" | "unsupervised")).path];
  const maxLength = await inputLength(o.maxLength, dir, model);
  const flag = o.data !== undefined ? "--data" : "the evaluation data";
  const columns = {
    ...(o.textColumn !== undefined ? { textColumn: o.textColumn } : {}),
    ...(o.labelColumn !== undefined ? { labelColumn: o.labelColumn } : {}),
    ...(o.format !== undefined ? { format: o.format } : {}),
  };
  const split = await loadSplit(files, tokenizer, { maxLength, columns, flag });
  const names = modelLabelNames(model);
  // The data's labels as the model's ids: names through its label2id, integers as they are.
  const ids = labelIds(split.column, { names, named: true }, `${flag} ${split.name}`);
  const rows = sampleRows({ ...split.tokens, labels: ids }, o.samples, {
    seed: o.seed,
    shuffle: true,
    flag: "--samples",
    strict: true,
    name: split.name,
  });
  const path = split.name;
  await tuneForEval(model, Math.min(o.batchSize, rows.offsets.length - 1), maxLength);
  const t0 = performance.now();
  const r = await predictRows(model, rows, o.batchSize);
  const seconds = (performance.now() - t0) / 1000;
  const metrics = {
    ...classificationMetrics(
      r.labels,
      r.predictions,
      { sum: r.lossSum, count: r.labels.length },
      names.length,
    ),
    eval_runtime: seconds,
    eval_samples_per_second: r.labels.length / seconds,
    model: o.model,
    data: path,
    max_length: maxLength,
  };
  if (o.predictions) {
    const lines: string[] = [];
    // In input order (the file's row order), whatever order the rows were sampled or batched in.
    const order = Array.from({ length: r.labels.length }, (_, i) => i);
    if (rows.rows) order.sort((a, b) => rows.rows![a] - rows.rows![b]);
    const k = names.length;
    for (const i of order) {
      const logits = Array.from(r.logits.subarray(k * i, k * (i + 1)));
      lines.push(JSON.stringify({
        row: rows.rows?.[i] ?? i,
        label: r.labels[i],
        predicted: r.predictions[i],
        predicted_label: names[r.predictions[i]],
        logits,
        probabilities: softmax(logits),
        ...(k === 2 ? { prob_positive: softmax2(logits[0], logits[1]) } : {}),
      }));
    }
    await writeFileAtomic(o.predictions, lines.join("\n") + "\n");
  }
  await writeFileAtomic(out, JSON.stringify(metrics, null, 2) + "\n");
  model.dispose();
  return { ...metrics, metrics_file: out };
}

export interface Prediction {
  text: string;
  /** The predicted class's name (the model's id2label). */
  label: string;
  /** Its probability (the softmax of the logits), as HF's pipeline reports it. */
  score: number;
  /** Every class's probability, by name. */
  probabilities: Record<string, number>;
  logits: number[];
  /** Two labels only: P(class 1). */
  prob_positive?: number;
}

/** `predict --file F`: one input per non-empty line, plain text or a JSON object with a "text" string. */
export async function readTextInputs(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new UserError(`--file ${path}: cannot read it`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.map((line, i) => {
    if (!line.trimStart().startsWith("{")) return line;
    try {
      const obj = JSON.parse(line);
      if (typeof obj.text !== "string") throw new Error();
      return obj.text;
    } catch {
      throw new UserError(`--file ${path}: line ${i + 1} is not JSON with a "text" string`);
    }
  });
}

/** `deno task predict`: the model, the texts, and any of InferenceConfig's settings (INFERENCE_DEFAULTS otherwise). */
export async function predictJob(
  options: { model: string; texts: string[] } & Partial<InferenceConfig>,
): Promise<Prediction[]> {
  const o = { ...options, ...withSettings(INFERENCE_DEFAULTS, options) };
  const { dir, model, tokenizer } = await loadTrained(o.model);
  const names = modelLabelNames(model);
  const k = names.length;
  const maxLength = await inputLength(o.maxLength, dir, model);
  const out: Prediction[] = [];
  for (let start = 0; start < o.texts.length; start += o.batchSize) {
    const texts = o.texts.slice(start, start + o.batchSize);
    const enc = tokenizer.encodeBatch(texts, { maxLength });
    const offsets = [0];
    const ids: number[] = [];
    for (let b = 0; b < enc.batchSize; b++) {
      for (let s = 0; s < enc.seqLength; s++) {
        if (enc.attentionMask[b * enc.seqLength + s]) ids.push(enc.inputIds[b * enc.seqLength + s]);
      }
      offsets.push(ids.length);
    }
    const rows = {
      ids: Int32Array.from(ids),
      offsets: Int32Array.from(offsets),
      labels: new Int32Array(texts.length),
    };
    const r = await predictRows(model, rows, o.batchSize);
    texts.forEach((text, i) => {
      const logits = Array.from(r.logits.subarray(k * i, k * (i + 1)));
      const probs = softmax(logits);
      const best = r.predictions[i];
      out.push({
        text,
        label: names[best],
        score: probs[best],
        probabilities: Object.fromEntries(names.map((n, c) => [n, probs[c]])),
        logits,
        ...(k === 2 ? { prob_positive: softmax2(logits[0], logits[1]) } : {}),
      });
    });
  }
  model.dispose();
  return out;
}

/**
 * A checkpoint (or any classifier directory) → a clean Hugging Face directory, in a new or empty folder or
 * over a previous export of ours; `overwrite` replaces the exported files in any other folder, and nothing
 * else in it (see export_dir.ts).
 */
export async function exportJob(
  o: { checkpoint: string; output: string; overwrite?: boolean },
): Promise<string> {
  const dir = await resolveModelDir(o.checkpoint);
  if (!(await exists(join(dir, "model.safetensors")))) {
    throw new UserError(
      `${o.checkpoint}: no model.safetensors (pass a checkpoint-<step> directory or a run's output)`,
    );
  }
  await checkExportDestination(dir, o.output, o.overwrite ?? false);
  const { loaded, tokenizer } = await loadModelDir(dir);
  await writeExport(
    o.output,
    dir,
    o.overwrite ?? false,
    (tmp) => exportClassifier(tmp, loaded.config, loaded.tensors, tokenizer),
  );
  return o.output;
}
