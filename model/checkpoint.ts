/**
 * Hugging Face model directories on the host side: loading one into DistilBertForSequenceClassification's
 * parameters (from a pre-trained masked-LM checkpoint, a bare DistilBertModel, or a fine-tuned classifier) with
 * HF's key matching and load report, and exporting a fine-tuned classifier that HF loads unchanged.
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { exists, writeDirAtomic } from "../util/fs.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { writeTokenizerFiles } from "../data/tokenizer_files.ts";
import { type DistilBertConfig, hfConfigJson } from "./config.ts";
import { readConfigFile } from "./config_file.ts";
import { HEAD_PARAM_NAMES, initHostParam, parameterSpecs } from "./params.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "./safetensors.ts";

/** HF's base_model_prefix for DistilBERT: a bare DistilBertModel's keys lack it. */
const BASE_PREFIX = "distilbert.";
const MODEL_CLASS = "DistilBertForSequenceClassification";

export interface LoadOptions {
  /** Seed for the parameters the checkpoint lacks (HF Trainer's default seed is 42). */
  seed?: number;
  /** Refuse a checkpoint that is not a complete classifier (for evaluation and prediction). */
  strict?: boolean;
}

export interface LoadedClassifier {
  /** The directory (or name) loaded from, as the load report shows it. */
  source: string;
  config: DistilBertConfig;
  /** Every parameter of parameterSpecs(config), in that order. */
  tensors: Map<string, HostTensor>;
  /**
   * Parameters that a checkpoint of its kind should have had but lacked: encoder parameters always; head
   * parameters only if the checkpoint has a classification head. Sorted.
   */
  missingKeys: string[];
  /** Checkpoint tensors the classifier does not use (the masked-LM head's vocab_* from a pre-trained model). Sorted. */
  unexpectedKeys: string[];
  /** Every parameter initialised fresh because the checkpoint lacked it (HF's "newly initialized" list). Sorted. */
  newlyInitialized: string[];
}

/**
 * Loads `dir/model.safetensors` with `dir/config.json` (see classifierFromTensors for the key matching).
 * Without config.json the model's shape is unknown: an error, as in transformers (no guessed default).
 */
export async function loadClassifierCheckpoint(
  dir: string,
  opts: LoadOptions = {},
): Promise<LoadedClassifier> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${dir}: no such directory`);
    throw err;
  }
  if (!info.isDirectory) {
    throw new UserError(`${dir}: not a directory (expected a Hugging Face model directory)`);
  }
  const weightsPath = join(dir, "model.safetensors");
  if (!(await exists(weightsPath))) {
    const why = (await exists(join(dir, "pytorch_model.bin")))
      ? "pytorch_model.bin is not supported; convert it to safetensors, e.g. save_pretrained(dir, safe_serialization=True)"
      : "expected a Hugging Face model directory";
    throw new UserError(`${dir}: no model.safetensors (${why})`);
  }
  const configPath = join(dir, "config.json");
  if (!(await exists(configPath))) {
    throw new UserError(`${dir}: no config.json (a Hugging Face model directory has one: the model's shape)`);
  }
  const config = await readConfigFile(configPath);
  const { tensors } = await readSafetensors(weightsPath);
  return matchCheckpoint(dir, weightsPath, config, tensors, opts);
}

/**
 * Builds the classifier's parameters from checkpoint tensors as HF's from_pretrained does: keys match by
 * name; if no key has the `distilbert.` prefix the checkpoint is a bare DistilBertModel and its keys are
 * matched with the prefix added; unused tensors are reported, and parameters the checkpoint lacks are
 * initialised fresh (HF init). A shape mismatch is an error. `source` names the checkpoint in errors.
 */
export function classifierFromTensors(
  source: string,
  config: DistilBertConfig,
  checkpoint: Map<string, HostTensor>,
  opts: LoadOptions = {},
): LoadedClassifier {
  return matchCheckpoint(source, source, config, checkpoint, opts);
}

function matchCheckpoint(
  source: string,
  fileForErrors: string,
  config: DistilBertConfig,
  checkpoint: Map<string, HostTensor>,
  opts: LoadOptions,
): LoadedClassifier {
  const hasPrefix = [...checkpoint.keys()].some((k) => k.startsWith(BASE_PREFIX));
  const checkpointKey = (name: string) =>
    hasPrefix || !name.startsWith(BASE_PREFIX) ? name : name.slice(BASE_PREFIX.length);
  const specs = parameterSpecs(config);
  const hasHead = HEAD_PARAM_NAMES.some((name) => checkpoint.has(checkpointKey(name)));

  const tensors = new Map<string, HostTensor>();
  const used = new Set<string>();
  const missingKeys: string[] = [], newlyInitialized: string[] = [];
  for (const spec of specs) {
    const key = checkpointKey(spec.name);
    const t = checkpoint.get(key);
    if (!t) {
      tensors.set(spec.name, initHostParam(spec, config, opts.seed ?? 42));
      newlyInitialized.push(spec.name);
      if (hasHead || !HEAD_PARAM_NAMES.includes(spec.name)) missingKeys.push(spec.name);
      continue;
    }
    if (t.shape.join(",") !== spec.shape.join(",")) {
      throw new UserError(
        `${fileForErrors}: tensor ${
          JSON.stringify(key)
        } has shape [${t.shape}] but the config needs [${spec.shape}]`,
      );
    }
    if (t.dtype !== "F32") {
      throw new UserError(
        `${fileForErrors}: tensor ${JSON.stringify(key)} has dtype ${t.dtype}, not a float type`,
      );
    }
    tensors.set(spec.name, t);
    used.add(key);
  }
  const unexpectedKeys = [...checkpoint.keys()].filter((k) => !used.has(k)).sort();
  missingKeys.sort();
  newlyInitialized.sort();
  const result = { source, config, tensors, missingKeys, unexpectedKeys, newlyInitialized };
  if (opts.strict && (newlyInitialized.length || unexpectedKeys.length)) {
    const parts = [];
    if (newlyInitialized.length) {
      parts.push(`lacks ${newlyInitialized.length} parameters (${preview(newlyInitialized)})`);
    }
    if (unexpectedKeys.length) {
      parts.push(`has ${unexpectedKeys.length} unused tensors (${preview(unexpectedKeys)})`);
    }
    throw new UserError(
      `${fileForErrors}: not a complete ${MODEL_CLASS} checkpoint: it ${parts.join(" and ")}`,
    );
  }
  return result;
}

function preview(keys: string[]): string {
  return keys.length <= 4 ? keys.join(", ") : `${keys.slice(0, 4).join(", ")}, ...`;
}

/** HF's from_pretrained warnings for this load, or "" when every tensor was used and every parameter found. */
export function formatLoadReport(result: LoadedClassifier): string {
  const list = (keys: string[]) => `[${keys.map((k) => `'${k}'`).join(", ")}]`;
  const lines: string[] = [];
  if (result.unexpectedKeys.length) {
    lines.push(
      `Some weights of the model checkpoint at ${result.source} were not used when initializing ${MODEL_CLASS}: ${
        list(result.unexpectedKeys)
      }`,
      `- This IS expected if you are initializing ${MODEL_CLASS} from the checkpoint of a model trained on another task or with another architecture (e.g. initializing a BertForSequenceClassification model from a BertForPreTraining model).`,
      `- This IS NOT expected if you are initializing ${MODEL_CLASS} from the checkpoint of a model that you expect to be exactly identical (initializing a BertForSequenceClassification model from a BertForSequenceClassification model).`,
    );
  }
  if (result.newlyInitialized.length) {
    lines.push(
      `Some weights of ${MODEL_CLASS} were not initialized from the model checkpoint at ${result.source} and are newly initialized: ${
        list(result.newlyInitialized)
      }`,
      "You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.",
    );
  }
  return lines.join("\n");
}

/**
 * Writes a model directory that HF's from_pretrained, AutoTokenizer and pipeline() load as is, as
 * save_pretrained writes one: model.safetensors (F32, exactly the classifier's parameters under HF's names),
 * config.json (5.x keys), tokenizer.json and tokenizer_config.json, and vocab.txt for older readers. The
 * directory is swapped in whole: on failure an existing `dir` is untouched.
 */
export async function exportClassifier(
  dir: string,
  config: DistilBertConfig,
  tensors: Map<string, HostTensor>,
  tokenizer: BertTokenizer,
): Promise<void> {
  if (tokenizer.vocabSize !== config.vocab_size) {
    throw new Error(
      `exportClassifier: the tokenizer has ${tokenizer.vocabSize} tokens, vocab_size is ${config.vocab_size}`,
    );
  }
  const weights = new Map<string, HostTensor>();
  for (const spec of parameterSpecs(config)) {
    const t = tensors.get(spec.name);
    if (!t) throw new Error(`exportClassifier: no tensor for parameter ${spec.name}`);
    if (t.dtype !== "F32" || !(t.data instanceof Float32Array)) {
      throw new Error(`exportClassifier: parameter ${spec.name} is ${t.dtype}, not F32`);
    }
    if (t.shape.join(",") !== spec.shape.join(",")) {
      throw new Error(
        `exportClassifier: parameter ${spec.name} has shape [${t.shape}], the config needs [${spec.shape}]`,
      );
    }
    weights.set(spec.name, t);
  }
  await writeDirAtomic(dir, async (tmp) => {
    await writeSafetensors(join(tmp, "model.safetensors"), weights);
    await Deno.writeTextFile(join(tmp, "config.json"), JSON.stringify(hfConfigJson(config), null, 2) + "\n");
    await writeTokenizerFiles(tmp, tokenizer);
  });
}
