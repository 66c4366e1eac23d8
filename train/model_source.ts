/**
 * Which model the job trains: a local directory, a Hugging Face id (cache or download), or a preset from
 * scratch. With no --model flag and no reachable weights, it says so in one line and falls back to the
 * `tiny` preset from scratch on the bundled sample, so the quickstart completes offline.
 */
import { dirname, join } from "node:path";
import { type DistilBertConfig, PRESET_NAMES, presetConfig } from "../model/config.ts";
import { readConfigFile } from "../model/config_file.ts";
import { formatLoadReport, loadClassifierCheckpoint } from "../model/checkpoint.ts";
import { countParameters, initHostParams } from "../model/params.ts";
import type { HostTensor } from "../model/safetensors.ts";
import { hubFile } from "../data/hub.ts";
import { checkVocabSize, type LoadedTokenizer, loadTokenizerDir } from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";
import { SCRATCH_DEFAULTS, type TrainConfig } from "./config.ts";
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
}

/** A model directory for `spec`: the directory itself, or the hub id's files in the HF cache. */
export async function resolveModelDir(spec: string): Promise<string> {
  const stat = await Deno.stat(spec).catch(() => null);
  if (stat?.isDirectory) return spec;
  if (stat) {
    throw new UserError(`--model ${spec}: is a file; pass the directory that holds model.safetensors`);
  }
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(spec)) throw new UserError(`--model ${spec}: no such directory`);
  const file = (filename: string) => hubFile({ repoType: "model", repoId: spec, filename });
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
  };
}

export async function resolveModel(cfg: TrainConfig, explicit: Set<string>): Promise<ModelSource> {
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
    if (!(err instanceof UserError) || explicit.has("model")) throw err;
    // The quickstart's fallback: no weights reachable, and the user did not ask for this model.
    console.error(
      `note: ${cfg.model} weights unavailable (${err.message}); training the tiny preset from scratch instead`,
    );
    const fallback = { ...cfg };
    for (const [k, v] of Object.entries(SCRATCH_DEFAULTS)) {
      if (!explicit.has(k)) (fallback as Record<string, unknown>)[k] = v;
    }
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
  };
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
