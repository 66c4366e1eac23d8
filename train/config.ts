import type { AdamWConfig, LossScaleConfig } from "./optimizer.ts";

/**
 * AdamW's settings besides the learning rate (which the schedule owns): HF TrainingArguments' adam_beta1,
 * adam_beta2, adam_epsilon, weight_decay and max_grad_norm.
 */
export type OptimizerConfig = Omit<AdamWConfig, "lr">;

/**
 * The training job's hyperparameters: the single source of every default. Defaults for the pretrained
 * model follow Hugging Face's sequence-classification guide (lr 2e-5, batch 16, 2 epochs, weight decay
 * 0.01, max_length 512) and the original notebook's 4,000 training samples; the scratch presets have their
 * own (a randomly initialised model wants a larger learning rate and warmup).
 */
export interface TrainConfig {
  /** A directory, a Hugging Face id, or a preset name (tiny, small, base). */
  model: string;
  /** "pretrained" loads weights; "scratch" initialises the preset (or the model's config) randomly. */
  init: "pretrained" | "scratch";
  /**
   * Training data: a Parquet, CSV, TSV or JSONL file, a folder in the Hugging Face layout
   * (`[<config>/]<split>-*.parquet`, shards too), or null for the default IMDB.
   */
  data: string | null;
  /**
   * Evaluation data; null: the folder's test (or validation) split, else `validationSplit` of a single
   * training file; "none": no evaluation.
   */
  evalData: string | null;
  /** The data's format when its extension does not say: parquet, csv, tsv or jsonl; null: the extension. */
  format: string | null;
  /** The text column; null tries text, sentence, review. */
  textColumn: string | null;
  /** The label column; null tries label, labels. */
  labelColumn: string | null;
  /** Classes of the head; 0: from the data (its ClassLabel names, its label names, or the largest id + 1). */
  numLabels: number;
  /**
   * The share of a single training file held out (seeded, stratified) for evaluation when there is no
   * evaluation data; 0 trains on every row without evaluation.
   */
  validationSplit: number;
  /** A fine-tuned checkpoint whose head has another label count gets a fresh head (HF's flag). */
  ignoreMismatchedSizes: boolean;
  /** Class-balanced sample of the training split; 0 = all rows. */
  trainSamples: number;
  /** Class-balanced sample of the evaluation split; 0 = all rows. */
  evalSamples: number;
  maxLength: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  /** AdamW (betas, eps, weight decay) and the global gradient-norm clip. */
  optimizer: OptimizerConfig;
  /** Warmup steps; when 0, `warmupRatio` of the total steps. */
  warmupSteps: number;
  warmupRatio: number;
  epochs: number;
  /** When > 0, overrides `epochs`. */
  maxSteps: number;
  /** Overrides every dropout probability of the model config when set (0 turns dropout off). */
  dropout: number | null;
  seed: number;
  /** Length-bucketed batches (sorted by length inside shuffled windows of 50 batches, then shuffled). */
  groupByLength: boolean;
  /** false: batches are consecutive rows in file order, and trainSamples takes the first N rows. */
  shuffle: boolean;
  /**
   * Mixed precision (HF's fp16): matmul operands in f16 with f32 accumulation, f32 master weights and
   * optimizer state, dynamic loss scaling (PyTorch GradScaler defaults). Needs an adapter with shader-f16.
   */
  fp16: boolean;
  /** Dynamic loss scaling of the fp16 path (PyTorch GradScaler's settings); unused without fp16. */
  lossScale: LossScaleConfig;
  output: string;
  /** Replace a previous run in `output` (only what a run writes; HF's overwrite_output_dir). */
  overwriteOutputDir: boolean;
  /** A checkpoint directory to continue from. */
  resume: string | null;
  /** The JSONL log; null = `<output>/log.jsonl`. */
  log: string | null;
  /** Evaluate every N optimizer steps as well as at each epoch end (0 = only at epoch ends). */
  evalEvery: number;
  /** Save a checkpoint every N optimizer steps (0 = only at epoch ends and the end). */
  saveEvery: number;
  /** Checkpoints kept: the newest ones and the best (HF's save_total_limit); 0 keeps all. */
  saveTotalLimit: number;
  /** Metric that picks the best checkpoint (`best/` in the output). */
  metricForBestModel: string;
  /** Stop after this many evaluations without improvement (0 = never). */
  earlyStoppingPatience: number;
  evalBatchSize: number;
}

export const PRETRAINED_DEFAULTS: TrainConfig = {
  model: "distilbert-base-uncased",
  init: "pretrained",
  data: null,
  evalData: null,
  format: null,
  textColumn: null,
  labelColumn: null,
  numLabels: 0,
  validationSplit: 0.1,
  ignoreMismatchedSizes: false,
  trainSamples: 4000,
  evalSamples: 1000,
  maxLength: 512,
  batchSize: 16,
  gradAccum: 1,
  lr: 2e-5,
  // PyTorch's and HF Trainer's AdamW (betas, eps, clip 1.0) with the guide's weight decay.
  optimizer: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
  warmupSteps: 0,
  warmupRatio: 0,
  epochs: 2,
  maxSteps: 0,
  dropout: null,
  seed: 42,
  shuffle: true,
  groupByLength: false,
  fp16: false,
  // PyTorch GradScaler's defaults: start at 2^16, halve on overflow, double after 2000 clean steps.
  lossScale: { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 },
  output: "runs/latest",
  overwriteOutputDir: false,
  resume: null,
  log: null,
  evalEvery: 0,
  saveEvery: 0,
  saveTotalLimit: 2,
  metricForBestModel: "eval_accuracy",
  earlyStoppingPatience: 0,
  evalBatchSize: 32,
};

/**
 * Scratch presets: the settings of the learning-proof run (lr 1e-3 with 10% warmup, batch 32,
 * max_length 256, 1 epoch); the quickstart's fallback trains `tiny` on the bundled sample with them.
 */
export const SCRATCH_DEFAULTS: Partial<TrainConfig> = {
  init: "scratch",
  lr: 1e-3,
  batchSize: 32,
  maxLength: 256,
  epochs: 1,
  warmupRatio: 0.1,
  trainSamples: 0,
  evalSamples: 0,
};

/**
 * The settings a user gave (flags): values only for what was given, nested as TrainConfig is. A fallback
 * (the quickstart's tiny preset) or a resumed checkpoint's settings never replace these.
 */
export type GivenSettings = SomeSettings<TrainConfig>;

/** Some of a config's settings; a nested config (optimizer, lossScale) may be given in part too. */
export type SomeSettings<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/**
 * `base` with `over`'s values laid on top, nested objects (optimizer, lossScale) field by field; a value
 * left undefined keeps the base's.
 */
export function withSettings<T extends object>(base: T, over: SomeSettings<T>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const inner = out[key];
    out[key] = isNested(inner) ? { ...inner, ...(value as object) } : value;
  }
  return out as T;
}

const isNested = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `deno task eval` and `deno task predict`: how a trained model reads its inputs. The length defaults to the
 * one the model was trained with (its run_config.json or training_args.json), else `fallbackMaxLength`.
 */
export interface InferenceConfig {
  /** Inputs per batch. */
  batchSize: number;
  /** Tokens per input, [CLS] and [SEP] included; null: the model's training max_length. */
  maxLength: number | null;
}

/** Eval's own settings besides the inference ones: which rows, and where the results go. */
export interface EvalConfig extends InferenceConfig {
  /** The folder's split (IMDB: train, test, unsupervised). */
  split: string;
  /** Class-balanced sample; 0 = all rows. */
  samples: number;
  /** Sampling seed. */
  seed: number;
}

export const INFERENCE_DEFAULTS: InferenceConfig = { batchSize: 32, maxLength: null };

export const EVAL_DEFAULTS: EvalConfig = { ...INFERENCE_DEFAULTS, split: "test", samples: 0, seed: 42 };

/** The length for a model without a recorded training length: the tokenizer's model_max_length. */
export const FALLBACK_MAX_LENGTH = 512;
