/**
 * Hugging Face model directories on the host side: loading one into DistilBertForSequenceClassification's
 * parameters (from a pre-trained masked-LM checkpoint, a bare DistilBertModel, or a fine-tuned classifier) with
 * HF's key matching and load report, and exporting a fine-tuned classifier that HF loads unchanged.
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { type LoadedClassifier, type LoadOptions, matchCheckpoint } from "./checkpoint_keys.ts";
import { exists, writeDirAtomic } from "../util/fs.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { writeTokenizerFiles } from "../data/tokenizer_files.ts";
import { type DistilBertConfig, hfConfigJson } from "./config.ts";
import { readConfigFile } from "./config_file.ts";
import { parameterSpecs } from "./params.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "./safetensors.ts";

export {
  classifierFromTensors,
  formatLoadReport,
  type LoadedClassifier,
  type LoadOptions,
} from "./checkpoint_keys.ts";

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
