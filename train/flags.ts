/**
 * The train task's flags: kebab-case, Hugging Face's names where they exist, each mapped onto one
 * TrainConfig field. `--help` prints them with the defaults from config.ts.
 */
import { UserError } from "../util/errors.ts";
import { PRETRAINED_DEFAULTS, SCRATCH_DEFAULTS, type TrainConfig } from "./config.ts";

type Kind = "string" | "int" | "number" | "prob";
interface FlagSpec {
  key: keyof TrainConfig;
  kind: Kind;
  help: string;
  /** Must be > 0 (else >= 0). */
  positive?: boolean;
}

export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  "model": { key: "model", kind: "string", help: "model directory or Hugging Face id" },
  "preset": {
    key: "model",
    kind: "string",
    help: "tiny | small | base, trained from scratch (sets --init scratch)",
  },
  "init": { key: "init", kind: "string", help: "pretrained | scratch" },
  "data": {
    key: "data",
    kind: "string",
    help:
      "training data: a .parquet, .csv, .tsv or .jsonl file, or a folder of <split>-*.parquet (default: IMDB)",
  },
  "eval-data": {
    key: "evalData",
    kind: "string",
    help: "evaluation data, or none (default: the folder's test split, else --validation-split)",
  },
  "format": { key: "format", kind: "string", help: "parquet | csv | tsv | jsonl (default: the extension)" },
  "text-column": { key: "textColumn", kind: "string", help: "text column (default: text, sentence, review)" },
  "label-column": { key: "labelColumn", kind: "string", help: "label column (default: label, labels)" },
  "num-labels": { key: "numLabels", kind: "int", help: "classes, 0 = from the data" },
  "validation-split": {
    key: "validationSplit",
    kind: "prob",
    help: "share of one --data file held out for evaluation (0 = none)",
  },
  "train-samples": { key: "trainSamples", kind: "int", help: "class-balanced training sample, 0 = all rows" },
  "eval-samples": { key: "evalSamples", kind: "int", help: "class-balanced evaluation sample, 0 = all rows" },
  "max-length": {
    key: "maxLength",
    kind: "int",
    help: "tokens per review, [CLS] and [SEP] included",
    positive: true,
  },
  "batch-size": { key: "batchSize", kind: "int", help: "reviews per micro-batch", positive: true },
  "eval-batch-size": {
    key: "evalBatchSize",
    kind: "int",
    help: "reviews per evaluation batch",
    positive: true,
  },
  "grad-accum": { key: "gradAccum", kind: "int", help: "micro-batches per optimizer step", positive: true },
  "lr": { key: "lr", kind: "number", help: "peak learning rate (AdamW)", positive: true },
  "weight-decay": {
    key: "weightDecay",
    kind: "number",
    help: "decoupled weight decay (not on biases, LayerNorm)",
  },
  "warmup-steps": { key: "warmupSteps", kind: "int", help: "linear warmup steps (overrides --warmup-ratio)" },
  "warmup-ratio": { key: "warmupRatio", kind: "prob", help: "linear warmup as a fraction of all steps" },
  "max-grad-norm": { key: "maxGradNorm", kind: "number", help: "global gradient-norm clip, 0 = off" },
  "epochs": { key: "epochs", kind: "number", help: "passes over the training data", positive: true },
  "max-steps": { key: "maxSteps", kind: "int", help: "optimizer steps; overrides --epochs when > 0" },
  "dropout": { key: "dropout", kind: "prob", help: "overrides every dropout of the config (0 = off)" },
  "seed": { key: "seed", kind: "int", help: "seed for sampling, shuffling, dropout and init" },
  "output": { key: "output", kind: "string", help: "run directory: checkpoints, log, metrics, report" },
  "resume": { key: "resume", kind: "string", help: "continue from a checkpoint directory" },
  "log": { key: "log", kind: "string", help: "JSONL log file (default <output>/log.jsonl)" },
  "eval-every": { key: "evalEvery", kind: "int", help: "also evaluate every N steps (0 = epoch ends only)" },
  "save-steps": {
    key: "saveEvery",
    kind: "int",
    help: "also checkpoint every N steps (0 = epoch ends only)",
  },
  "save-total-limit": {
    key: "saveTotalLimit",
    kind: "int",
    help: "checkpoints kept: newest and best (0 = all)",
  },
  "metric-for-best-model": {
    key: "metricForBestModel",
    kind: "string",
    help: "metric that picks the best checkpoint",
  },
  "early-stopping-patience": {
    key: "earlyStoppingPatience",
    kind: "int",
    help: "stop after N evals without gain (0 = off)",
  },
};

export const BOOLEAN_FLAGS = {
  "no-shuffle": "batches are consecutive rows in file order; --train-samples N takes the first N rows",
  "group-by-length": "length-bucketed batches: less padding, same rows per epoch (HF's group_by_length)",
  "fp16": "mixed precision: f16 matmul operands, f32 accumulation and master weights, loss scaling",
  "overwrite-output-dir": "replace the run already in --output (only what a run writes is removed)",
  "ignore-mismatched-sizes": "a fine-tuned checkpoint with another label count gets a fresh head",
  "help": "this text",
};

function parseValue(flag: string, spec: FlagSpec, raw: string): string | number {
  if (spec.kind === "string") return raw;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new UserError(`--${flag}: "${raw}" is not a number`);
  if (spec.kind === "int" && !Number.isInteger(n)) {
    throw new UserError(`--${flag}: "${raw}" is not an integer`);
  }
  if (spec.kind === "prob" && (n < 0 || n >= 1)) {
    throw new UserError(`--${flag}: must be in [0, 1), got ${raw}`);
  }
  if (spec.positive && n <= 0) throw new UserError(`--${flag}: must be positive, got ${raw}`);
  if (n < 0) throw new UserError(`--${flag}: must not be negative, got ${raw}`);
  return n;
}

/** The metrics an evaluation reports, any of which can pick the best checkpoint. */
export const BEST_MODEL_METRICS = [
  "eval_loss",
  "eval_accuracy",
  "eval_precision",
  "eval_recall",
  "eval_f1",
  "eval_macro_precision",
  "eval_macro_recall",
  "eval_macro_f1",
  "eval_weighted_precision",
  "eval_weighted_recall",
  "eval_weighted_f1",
];

/** The positive class's metrics, which exist for two labels only. */
export const BINARY_ONLY_METRICS = ["eval_precision", "eval_recall", "eval_f1"];

/** `--metric-for-best-model`: a metric name with or without HF's `eval_` prefix; anything else is an error. */
function metricName(raw: string): string {
  const name = raw.startsWith("eval_") ? raw : `eval_${raw}`;
  if (BEST_MODEL_METRICS.includes(name)) return name;
  const names = BEST_MODEL_METRICS.map((m) => m.slice(5)).join(", ");
  throw new UserError(
    `--metric-for-best-model: "${raw}" is not a metric; use one of ${names} (eval_ prefix optional)`,
  );
}

/** The config for these args, and the names of the TrainConfig fields the user set explicitly. */
export function parseTrainArgs(args: string[]): { cfg: TrainConfig; explicit: Set<string>; help: boolean } {
  const values: Record<string, unknown> = {};
  const explicit = new Set<string>();
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      throw new UserError(`unexpected argument "${arg}" (flags start with --; see --help)`);
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (name in BOOLEAN_FLAGS) {
      if (eq >= 0) throw new UserError(`--${name} takes no value`);
      if (name === "help") help = true;
      else if (name === "no-shuffle") values.shuffle = false, explicit.add("shuffle");
      else if (name === "group-by-length") values.groupByLength = true, explicit.add("groupByLength");
      else if (name === "fp16") values.fp16 = true, explicit.add("fp16");
      else if (name === "ignore-mismatched-sizes") {
        values.ignoreMismatchedSizes = true, explicit.add("ignoreMismatchedSizes");
      } else explicit.add("overwrite");
      continue;
    }
    const spec = TRAIN_FLAGS[name];
    if (!spec) throw new UserError(`unknown flag --${name} (see --help)`);
    const raw = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new UserError(`--${name} needs a value`);
    if (eq < 0 && raw.startsWith("--")) {
      throw new UserError(
        `--${name} needs a value, got the flag ${raw} (write --${name}=${raw} if that is the value)`,
      );
    }
    values[spec.key] = parseValue(name, spec, raw);
    explicit.add(spec.key);
    if (name === "preset") values.init = "scratch", explicit.add("init");
  }
  if (values.metricForBestModel !== undefined) {
    values.metricForBestModel = metricName(values.metricForBestModel as string);
  }
  if (values.format !== undefined && !["parquet", "csv", "tsv", "jsonl"].includes(values.format as string)) {
    throw new UserError(`--format: must be one of parquet, csv, tsv, jsonl, got ${values.format}`);
  }
  if (values.numLabels === 1) {
    throw new UserError("--num-labels: a classifier needs at least 2 labels (0 = from the data)");
  }
  if (values.init !== undefined && values.init !== "pretrained" && values.init !== "scratch") {
    throw new UserError(`--init: must be pretrained or scratch, got ${values.init}`);
  }
  const base: TrainConfig = values.init === "scratch"
    ? { ...PRETRAINED_DEFAULTS, ...SCRATCH_DEFAULTS }
    : { ...PRETRAINED_DEFAULTS };
  const cfg = { ...base, ...values } as TrainConfig;
  if (!explicit.has("output")) {
    cfg.output = `runs/${
      new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-")
    }`;
  }
  return { cfg, explicit, help };
}

export function trainHelp(): string {
  const lines = [
    "deno task train [flags]",
    "",
    "Fine-tunes DistilBERT for text classification: IMDB sentiment by default, or your own data (--data)",
    "with any number of labels (defaults: HF's guide for the pretrained model).",
    "",
  ];
  const show = (v: unknown) => (v === null ? "none" : JSON.stringify(v));
  for (const [flag, spec] of Object.entries(TRAIN_FLAGS)) {
    const d = PRETRAINED_DEFAULTS[spec.key];
    const s = SCRATCH_DEFAULTS[spec.key];
    const def = flag === "output"
      ? "runs/<date-time>"
      : show(d) + (s !== undefined && flag !== "preset" ? ` (scratch: ${show(s)})` : "");
    // A default that depends on the data is in the help text itself.
    const bracket = d === null && spec.help.includes("(default:") ? "" : ` [default: ${def}]`;
    lines.push(`  --${flag.padEnd(24)} ${spec.help}${bracket}`);
  }
  for (const [flag, help] of Object.entries(BOOLEAN_FLAGS)) lines.push(`  --${flag.padEnd(24)} ${help}`);
  lines.push(
    "",
    "With no --model and no reachable distilbert-base-uncased weights (local dir, HF cache or download), it",
    "says so and trains the tiny preset from scratch on the bundled sample, recording init: scratch.",
  );
  return lines.join("\n");
}
