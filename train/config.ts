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
  weightDecay: number;
  /** Warmup steps; when 0, `warmupRatio` of the total steps. */
  warmupSteps: number;
  warmupRatio: number;
  maxGradNorm: number;
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
  output: string;
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
  weightDecay: 0.01,
  warmupSteps: 0,
  warmupRatio: 0,
  maxGradNorm: 1,
  epochs: 2,
  maxSteps: 0,
  dropout: null,
  seed: 42,
  shuffle: true,
  groupByLength: false,
  fp16: false,
  output: "runs/latest",
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
