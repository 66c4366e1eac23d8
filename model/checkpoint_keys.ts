/**
 * Hugging Face checkpoint keys → DistilBertForSequenceClassification's parameters, as from_pretrained matches
 * them, with its load report. Tensors in, parameters out: no file access (pages use it too).
 */
import { UserError } from "../util/errors.ts";
import type { DistilBertConfig } from "./config.ts";
import { HEAD_PARAM_NAMES, initHostParam, parameterSpecs } from "./params.ts";
import type { HostTensor } from "./safetensors_format.ts";

/** HF's base_model_prefix for DistilBERT: a bare DistilBertModel's keys lack it. */
const BASE_PREFIX = "distilbert.";
export const MODEL_CLASS = "DistilBertForSequenceClassification";

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

export function matchCheckpoint(
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
