/**
 * Which model the job trains: a local directory, a Hugging Face id (cache or download), or a preset from
 * scratch. With no --model flag and no reachable weights, it says so in one line and falls back to the
 * `tiny` preset from scratch on the bundled sample, so the quickstart completes offline.
 */
import { dirname, join } from "node:path";
import { type DistilBertConfig, PRESET_NAMES, presetConfig } from "../model/config.ts";
import { readConfigFile } from "../model/config_file.ts";
import { formatLoadReport, loadClassifierCheckpoint } from "../model/checkpoint.ts";
import { countParameters, initHostParam, initHostParams, parameterSpecs } from "../model/params.ts";
import type { LabelSpace } from "../data/labels.ts";
import type { HostTensor } from "../model/safetensors.ts";
import { HubClient } from "../data/hub/client.ts";
import { checkVocabSize, type LoadedTokenizer, loadTokenizerDir } from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";
import { type GivenSettings, SCRATCH_DEFAULTS, type TrainConfig, withSettings } from "./config.ts";
import { bundledTokenizerDir } from "./data_source.ts";

const isPreset = (name: string) => PRESET_NAMES.includes(name);

export interface ModelSource {
  cfg: TrainConfig;
  init: "pretrained" | "scratch";
  config: DistilBertConfig;
  weights: Map<string, HostTensor>;
  description: string;
  loadReport: string | null;
  /**
   * The model's tokenizer, read once at the start (the directory it came from may be gone by the time a
   * checkpoint or the final model writes it again: a pruned checkpoint a run resumed from).
   */
  tokenizer: LoadedTokenizer;
  /** Whether the classification head is newly initialised (a preset, or a checkpoint without a head). */
  freshHead: boolean;
}

/** A model directory for `spec`: the directory itself, or the hub id's files in the HF cache. */
export async function resolveModelDir(spec: string): Promise<string> {
  const stat = await Deno.stat(spec).catch(() => null);
  if (stat?.isDirectory) return spec;
  if (stat) {
    throw new UserError(`--model ${spec}: is a file; pass the directory that holds model.safetensors`);
  }
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(spec)) throw new UserError(`--model ${spec}: no such directory`);
  // One client for the model's files: a hub that did not answer for one is not waited for again.
  const hub = new HubClient();
  const file = (filename: string) => hub.file({ repoType: "model", repoId: spec, filename });
  const weights = await file("model.safetensors");
  for (const filename of ["config.json", "tokenizer_config.json"]) await file(filename);
  // The tokenizer as transformers reads it: tokenizer.json where the repo (or, offline, the cache) has one,
  // else vocab.txt; the error, when neither comes, is vocab.txt's.
  await file("tokenizer.json").catch(async (err) => {
    if (!(err instanceof UserError)) throw err;
    await file("vocab.txt");
  });
  return dirname(weights);
}

/** Applies `--dropout` to every dropout probability of the config. */
export function withDropout(config: DistilBertConfig, dropout: number | null): DistilBertConfig {
  if (dropout === null) return config;
  return { ...config, dropout, attention_dropout: dropout, seq_classif_dropout: dropout };
}

/** The bundled distilbert-base-uncased tokenizer, which the presets are built for (vocab_size 30,522). */
async function bundledTokenizer(config: DistilBertConfig, preset: string): Promise<LoadedTokenizer> {
  const tokenizer = await loadTokenizerDir(bundledTokenizerDir());
  checkVocabSize(tokenizer, config, `the ${preset} preset`);
  return tokenizer;
}

async function scratch(cfg: TrainConfig, preset: string, why: string | null): Promise<ModelSource> {
  const config = withDropout(presetConfig(preset), cfg.dropout);
  return {
    cfg: { ...cfg, model: preset, init: "scratch" },
    init: "scratch",
    config,
    weights: initHostParams(config, cfg.seed),
    description: `${preset} preset, randomly initialised (seed ${cfg.seed})${why ? `: ${why}` : ""}`,
    loadReport: null,
    tokenizer: await bundledTokenizer(config, preset),
    freshHead: true,
  };
}

export async function resolveModel(cfg: TrainConfig, given: GivenSettings): Promise<ModelSource> {
  if (cfg.resume) return await pretrained(cfg, cfg.resume, `resumed from ${cfg.resume}`);
  if (cfg.init === "scratch") {
    if (isPreset(cfg.model)) return await scratch(cfg, cfg.model, null);
    throw new UserError(
      `--init scratch: --model must be a preset (${PRESET_NAMES.join(", ")}), got ${cfg.model}`,
    );
  }
  if (isPreset(cfg.model) && !(await exists(cfg.model))) {
    throw new UserError(`--model ${cfg.model}: a preset has no pretrained weights; add --init scratch`);
  }
  let dir: string;
  try {
    dir = await resolveModelDir(cfg.model);
  } catch (err) {
    if (!(err instanceof UserError) || given.model !== undefined) throw err;
    // The quickstart's fallback: no weights reachable, and the user did not ask for this model.
    console.error(
      `note: ${cfg.model} weights unavailable (${err.message}); training the tiny preset from scratch instead`,
    );
    // The scratch defaults, except where the user gave a setting.
    const fallback = withSettings(withSettings(cfg, SCRATCH_DEFAULTS), given);
    return await scratch(fallback, "tiny", "pretrained weights unavailable");
  }
  return await pretrained(cfg, dir, `${cfg.model} (${dir})`);
}

async function pretrained(cfg: TrainConfig, dir: string, description: string): Promise<ModelSource> {
  const flag = cfg.resume ? "--resume" : "--model";
  if (!(await exists(join(dir, "model.safetensors")))) {
    throw new UserError(`${flag} ${dir}: no model.safetensors`);
  }
  const loaded = await loadClassifierCheckpoint(dir);
  const config = withDropout(loaded.config, cfg.dropout);
  const report = formatLoadReport(loaded);
  const tokenizer = await loadTokenizerDir(dir);
  checkVocabSize(tokenizer, loaded.config, join(dir, "config.json"));
  return {
    cfg,
    init: cfg.resume ? cfg.init : "pretrained",
    config,
    weights: loaded.tensors,
    description,
    loadReport: [report, ...tokenizer.notes].filter((l) => l).join("\n") || null,
    tokenizer,
    freshHead: loaded.newlyInitialized.includes("classifier.weight"),
  };
}

/**
 * The head sized to the data's classes, with their names as id2label/label2id, as HF's
 * `from_pretrained(num_labels=..., id2label=...)` does: a fresh head (a preset, a pre-trained checkpoint
 * without one) is simply made for them; a fine-tuned head with another label count is an error unless
 * `ignoreMismatchedSizes`, which replaces it with a fresh one (HF's flag and load report). Data without
 * names (integer labels) keeps a fine-tuned head's own names when the count matches.
 */
export function fitHead(source: ModelSource, labels: LabelSpace, cfg: TrainConfig): ModelSource {
  const k = labels.names.length;
  const old = source.config;
  const keepNames = !labels.named && !source.freshHead && old.num_labels === k;
  const names = keepNames ? Object.values(old.id2label) : labels.names;
  const id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
  const label2id = Object.fromEntries(names.map((n, i) => [n, i]));
  const config = { ...old, num_labels: k, id2label, label2id };
  if (old.num_labels === k) return { ...source, config };
  const flag = cfg.resume ? "--resume" : "--model";
  const dataHas = `the data has ${k} (${names.slice(0, 6).map((n) => JSON.stringify(n)).join(", ")}${
    k > 6 ? ", ..." : ""
  })`;
  if (!source.freshHead && cfg.resume) {
    throw new UserError(
      `--resume ${cfg.resume}: the checkpoint's head has ${old.num_labels} labels, ${dataHas}`,
    );
  }
  if (!source.freshHead && !cfg.ignoreMismatchedSizes) {
    throw new UserError(
      `${flag} ${cfg.model}: its classification head has ${old.num_labels} labels, ${dataHas}; ` +
        "pass --ignore-mismatched-sizes to train a fresh head",
    );
  }
  const weights = new Map(source.weights);
  const oldShapes = new Map(parameterSpecs(old).map((s) => [s.name, s.shape]));
  const changed: string[] = [];
  for (const spec of parameterSpecs(config)) {
    const before = oldShapes.get(spec.name)!;
    if (before.join(",") === spec.shape.join(",")) continue;
    weights.set(spec.name, initHostParam(spec, config, cfg.seed));
    changed.push(
      `- ${spec.name}: found shape [${before}] in the checkpoint and [${spec.shape}] in the model instantiated`,
    );
  }
  const report = source.freshHead ? source.loadReport : [
    source.loadReport,
    "Some weights of DistilBertForSequenceClassification were not initialized from the model checkpoint at " +
    `${cfg.model} and are newly initialized because the shapes did not match:`,
    ...changed,
    "You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.",
  ].filter((l) => l).join("\n");
  return { ...source, config, weights, loadReport: report, freshHead: true };
}

/** `deno task info --model`: the config (HF field names) and the classifier's parameter count. */
export async function modelInfo(spec: string): Promise<string> {
  const config = isPreset(spec) && !(await exists(spec))
    ? presetConfig(spec)
    : await readConfigFile(join(await resolveModelDir(spec), "config.json"));
  const count = countParameters(config);
  return [
    `model: ${spec}`,
    ...Object.entries(config).map(([k, v]) => `  ${k.padEnd(26)} ${JSON.stringify(v)}`),
    `parameters: ${
      count.toLocaleString("en-US")
    } (DistilBertForSequenceClassification, ${config.num_labels} labels)`,
  ].join("\n");
}
