/**
 * The model's hyperparameters, with Hugging Face's DistilBertConfig field names so that `config.json` reads
 * and writes unchanged. Fields this project does not use are kept in `extra` and written back on export.
 */
import { UserError } from "../util/errors.ts";

export type Activation = "gelu" | "relu";

export interface DistilBertConfig {
  vocab_size: number;
  max_position_embeddings: number;
  /** Fixed sinusoidal position embeddings are not implemented; only learned ones (false). */
  sinusoidal_pos_embds: false;
  n_layers: number;
  n_heads: number;
  dim: number;
  hidden_dim: number;
  dropout: number;
  attention_dropout: number;
  seq_classif_dropout: number;
  /** Unused by sequence classification; kept because HF writes it in every DistilBERT config. */
  qa_dropout: number;
  activation: Activation;
  initializer_range: number;
  pad_token_id: number;
  num_labels: number;
  /** Keys are label indices as strings ("0", "1"), as in HF's config.json. */
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  /** Other config.json fields (e.g. `tie_weights_`), written back unchanged by hfConfigJson. */
  extra?: Record<string, unknown>;
}

/** The transformers release whose config.json we write (and test against). */
export const TRANSFORMERS_VERSION = "5.18.0";

export const DEFAULT_ID2LABEL: Readonly<Record<string, string>> = { "0": "NEGATIVE", "1": "POSITIVE" };

/** HF DistilBertConfig's defaults, which are distilbert-base-uncased's values. */
const BASE: DistilBertConfig = {
  vocab_size: 30522,
  max_position_embeddings: 512,
  sinusoidal_pos_embds: false,
  n_layers: 6,
  n_heads: 12,
  dim: 768,
  hidden_dim: 3072,
  dropout: 0.1,
  attention_dropout: 0.1,
  seq_classif_dropout: 0.2,
  qa_dropout: 0.1,
  activation: "gelu",
  initializer_range: 0.02,
  pad_token_id: 0,
  num_labels: 2,
  id2label: { ...DEFAULT_ID2LABEL },
  label2id: { NEGATIVE: 0, POSITIVE: 1 },
};

const PRESETS: Record<string, Partial<DistilBertConfig>> = {
  base: {},
  small: { dim: 256, n_layers: 4, n_heads: 4, hidden_dim: 1024 },
  tiny: { dim: 128, n_layers: 2, n_heads: 2, hidden_dim: 512 },
};

export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

/** A fresh copy of a named preset: `base` is distilbert-base-uncased; `small` and `tiny` train from scratch. */
export function presetConfig(name: string): DistilBertConfig {
  const preset = PRESETS[name];
  if (!preset) {
    throw new UserError(`unknown model preset "${name}" (choose one of: ${PRESET_NAMES.join(", ")})`);
  }
  return structuredClone({ ...BASE, ...preset });
}

/**
 * Fields that hfConfigJson derives on export (the class name, label count, dtype); they are dropped on read so
 * that a config survives read → export → read unchanged.
 */
const DERIVED_FIELDS = new Set([
  // What 5.x writes for every model, meaningless for a sequence classifier (no generation, no output embeddings).
  "bos_token_id",
  "eos_token_id",
  "tie_word_embeddings",
  "architectures",
  "model_type",
  "problem_type",
  "torch_dtype",
  "dtype",
  "transformers_version",
  "num_labels",
  "id2label",
  "label2id",
  "_num_labels",
]);

const INT_FIELDS = [
  "vocab_size",
  "max_position_embeddings",
  "n_layers",
  "n_heads",
  "dim",
  "hidden_dim",
] as const;
const PROBABILITY_FIELDS = ["dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout"] as const;

/** Validates an HF DistilBERT config object. Errors are one line naming `nameForErrors` and the field. */
export function parseHfConfig(json: unknown, nameForErrors: string): DistilBertConfig {
  const fail = (what: string): never => {
    throw new UserError(`${nameForErrors}: ${what}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("not a JSON object");
  const src = json as Record<string, unknown>;
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  const has = (k: string) => src[k] !== undefined;

  if (has("model_type") && src.model_type !== "distilbert") {
    fail(`model_type ${show(src.model_type)} is not supported (only "distilbert")`);
  }
  if (
    has("problem_type") && src.problem_type !== null && src.problem_type !== "single_label_classification"
  ) {
    fail(`problem_type ${show(src.problem_type)} is not supported (only "single_label_classification")`);
  }
  const config: DistilBertConfig = structuredClone(BASE);
  for (const k of INT_FIELDS) {
    if (!has(k)) continue;
    const v = src[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      fail(`"${k}" must be a positive integer, got ${show(v)}`);
    }
    config[k] = v as number;
  }
  for (const k of PROBABILITY_FIELDS) {
    if (!has(k)) continue;
    const v = src[k];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      fail(`"${k}" must be a probability in [0, 1], got ${show(v)}`);
    }
    config[k] = v as number;
  }
  if (has("initializer_range")) {
    const v = src.initializer_range;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      fail(`"initializer_range" must be a non-negative number, got ${show(v)}`);
    }
    config.initializer_range = v as number;
  }
  if (has("pad_token_id")) {
    const v = src.pad_token_id;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      fail(`"pad_token_id" must be a non-negative integer, got ${show(v)}`);
    }
    config.pad_token_id = v as number;
  }
  if (config.pad_token_id >= config.vocab_size) {
    fail(`"pad_token_id" ${config.pad_token_id} is outside the vocabulary (vocab_size ${config.vocab_size})`);
  }
  if (has("activation")) {
    if (src.activation !== "gelu" && src.activation !== "relu") {
      fail(`"activation" ${show(src.activation)} is not supported (only "gelu" or "relu")`);
    }
    config.activation = src.activation as Activation;
  }
  if (has("sinusoidal_pos_embds") && src.sinusoidal_pos_embds !== false) {
    fail(
      `"sinusoidal_pos_embds" ${
        show(src.sinusoidal_pos_embds)
      } is not supported (only learned positions, false)`,
    );
  }
  if (config.dim % config.n_heads !== 0) {
    fail(`"dim" ${config.dim} is not a multiple of "n_heads" ${config.n_heads}`);
  }
  parseLabels(src, config, fail, show);

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (!Object.hasOwn(BASE, k) && !DERIVED_FIELDS.has(k)) extra[k] = v;
  }
  if (Object.keys(extra).length) config.extra = extra;
  return config;
}

/**
 * Labels as HF derives them: `id2label` sets the count; otherwise `num_labels` (HF names the labels
 * LABEL_i); otherwise this project's default, IMDB's NEGATIVE/POSITIVE.
 */
function parseLabels(
  src: Record<string, unknown>,
  config: DistilBertConfig,
  fail: (what: string) => never,
  show: (v: unknown) => string,
): void {
  let numLabels: number | undefined;
  if (src.num_labels !== undefined) {
    const v = src.num_labels;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      fail(`"num_labels" must be a positive integer, got ${show(v)}`);
    }
    numLabels = v as number;
  }
  if (src.id2label !== undefined) {
    const m = src.id2label;
    if (typeof m !== "object" || m === null || Array.isArray(m)) return fail(`"id2label" must be an object`);
    const entries = Object.entries(m as Record<string, unknown>);
    const id2label: Record<string, string> = {};
    for (const [k, v] of entries) {
      const id = Number(k);
      if (!/^\d+$/.test(k) || id >= entries.length) {
        fail(`"id2label" keys must be the label ids 0..${entries.length - 1}, got ${show(k)}`);
      }
      if (typeof v !== "string") fail(`"id2label" value for ${show(k)} must be a string, got ${show(v)}`);
      id2label[String(id)] = v as string;
    }
    if (Object.keys(id2label).length !== entries.length) fail(`"id2label" repeats a label id`);
    if (numLabels !== undefined && numLabels !== entries.length) {
      fail(`"num_labels" ${numLabels} disagrees with the ${entries.length} labels in "id2label"`);
    }
    config.id2label = id2label;
  } else if (numLabels !== undefined && numLabels !== 2) {
    config.id2label = Object.fromEntries(
      Array.from({ length: numLabels }, (_, i) => [String(i), `LABEL_${i}`]),
    );
  }
  config.num_labels = Object.keys(config.id2label).length;
  if (config.num_labels < 1) fail(`"id2label" is empty`);
  config.label2id = Object.fromEntries(
    Object.entries(config.id2label).map(([id, label]) => [label, Number(id)]),
  );
  if (src.label2id !== undefined) {
    const m = src.label2id;
    if (typeof m !== "object" || m === null || Array.isArray(m)) return fail(`"label2id" must be an object`);
    for (const [label, id] of Object.entries(m as Record<string, unknown>)) {
      if (config.id2label[String(id)] !== label) {
        fail(`"label2id" maps ${show(label)} to ${show(id)}, which disagrees with "id2label"`);
      }
    }
  }
}

/** A config.json's text → the model's config; `nameForErrors` (a path or URL) starts every error message. */
export function parseConfigText(text: string, nameForErrors: string): DistilBertConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${nameForErrors}: not valid JSON (${(err as Error).message.replace(/\s+/g, " ")})`);
  }
  return parseHfConfig(json, nameForErrors);
}

/**
 * The config.json object for an exported classifier, as transformers 5.x's save_pretrained writes it for a
 * DistilBertForSequenceClassification (`dtype`, not 4.x's `torch_dtype`; `transformers_version`), keys sorted.
 */
export function hfConfigJson(config: DistilBertConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...config.extra,
    activation: config.activation,
    architectures: ["DistilBertForSequenceClassification"],
    attention_dropout: config.attention_dropout,
    bos_token_id: null,
    dim: config.dim,
    dropout: config.dropout,
    eos_token_id: null,
    hidden_dim: config.hidden_dim,
    id2label: { ...config.id2label },
    initializer_range: config.initializer_range,
    label2id: { ...config.label2id },
    max_position_embeddings: config.max_position_embeddings,
    model_type: "distilbert",
    n_heads: config.n_heads,
    n_layers: config.n_layers,
    pad_token_id: config.pad_token_id,
    problem_type: "single_label_classification",
    qa_dropout: config.qa_dropout,
    seq_classif_dropout: config.seq_classif_dropout,
    sinusoidal_pos_embds: false,
    tie_word_embeddings: true,
    dtype: "float32",
    transformers_version: TRANSFORMERS_VERSION,
    vocab_size: config.vocab_size,
  };
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
