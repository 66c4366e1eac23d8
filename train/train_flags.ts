/**
 * The train task's flags: kebab-case, Hugging Face's names where they exist, each setting one TrainConfig
 * field. `--help` prints them with the defaults from config.ts.
 */
import { UserError } from "../util/errors.ts";
import {
  type GivenSettings,
  type OptimizerConfig,
  PRETRAINED_DEFAULTS,
  SCRATCH_DEFAULTS,
  type TrainConfig,
  withSettings,
} from "./config.ts";
import { type FlagKind, flagRows, type FlagSpec, parseFlags } from "./flags.ts";

/** A TrainConfig field, or a field of its optimizer config. */
type SettingPath = keyof TrainConfig | `optimizer.${keyof OptimizerConfig}`;

interface TrainFlag extends FlagSpec {
  /** The setting the flag gives (all but --help). */
  key?: SettingPath;
  /** A boolean flag's value for its setting (`--no-shuffle` sets shuffle to false). */
  sets?: boolean;
}

type Rules = Pick<FlagSpec, "positive">;
// Every number of the train task is non-negative; `positive` makes it > 0.
const flag = (kind: FlagKind) => (key: SettingPath, help: string, rules: Rules = {}): TrainFlag => ({
  key,
  kind,
  help,
  ...(kind === "string" ? {} : { nonNegative: true }),
  ...rules,
});
const text = flag("string"), int = flag("int"), number = flag("number"), prob = flag("prob");
const toggle = (key: SettingPath, sets: boolean, help: string): TrainFlag => ({
  key,
  kind: "boolean",
  help,
  sets,
});

export const TRAIN_FLAGS = {
  "model": text("model", "model directory or Hugging Face id"),
  "preset": text("model", "tiny | small | base, trained from scratch (sets --init scratch)"),
  "init": text("init", "pretrained | scratch"),
  "data": text(
    "data",
    "training data: a .parquet, .csv, .tsv or .jsonl file, or a folder of <split>-*.parquet (default: IMDB)",
  ),
  "eval-data": text(
    "evalData",
    "evaluation data, or none (default: the folder's test split, else --validation-split)",
  ),
  "format": text("format", "parquet | csv | tsv | jsonl (default: the extension)"),
  "text-column": text("textColumn", "text column (default: text, sentence, review)"),
  "label-column": text("labelColumn", "label column (default: label, labels)"),
  "num-labels": int("numLabels", "classes, 0 = from the data"),
  "validation-split": prob("validationSplit", "share of one --data file held out for evaluation (0 = none)"),
  "train-samples": int("trainSamples", "class-balanced training sample, 0 = all rows"),
  "eval-samples": int("evalSamples", "class-balanced evaluation sample, 0 = all rows"),
  "max-length": int("maxLength", "tokens per review, [CLS] and [SEP] included", { positive: true }),
  "batch-size": int("batchSize", "reviews per micro-batch", { positive: true }),
  "eval-batch-size": int("evalBatchSize", "reviews per evaluation batch", { positive: true }),
  "grad-accum": int("gradAccum", "micro-batches per optimizer step", { positive: true }),
  "lr": number("lr", "peak learning rate (AdamW)", { positive: true }),
  "weight-decay": number("optimizer.weightDecay", "decoupled weight decay (not on biases, LayerNorm)"),
  "warmup-steps": int("warmupSteps", "linear warmup steps (overrides --warmup-ratio)"),
  "warmup-ratio": prob("warmupRatio", "linear warmup as a fraction of all steps"),
  "max-grad-norm": number("optimizer.maxGradNorm", "global gradient-norm clip, 0 = off"),
  "epochs": number("epochs", "passes over the training data", { positive: true }),
  "max-steps": int("maxSteps", "optimizer steps; overrides --epochs when > 0"),
  "dropout": prob("dropout", "overrides every dropout of the config (0 = off)"),
  "seed": int("seed", "seed for sampling, shuffling, dropout and init"),
  "output": text("output", "run directory: checkpoints, log, metrics, report"),
  "resume": text("resume", "continue from a checkpoint directory"),
  "log": text("log", "JSONL log file (default <output>/log.jsonl)"),
  "eval-every": int("evalEvery", "also evaluate every N steps (0 = epoch ends only)"),
  "save-steps": int("saveEvery", "also checkpoint every N steps (0 = epoch ends only)"),
  "save-total-limit": int("saveTotalLimit", "checkpoints kept: newest and best (0 = all)"),
  "metric-for-best-model": text("metricForBestModel", "metric that picks the best checkpoint"),
  "early-stopping-patience": int("earlyStoppingPatience", "stop after N evals without gain (0 = off)"),
  "no-shuffle": toggle(
    "shuffle",
    false,
    "batches are consecutive rows in file order; --train-samples N takes the first N rows",
  ),
  "group-by-length": toggle(
    "groupByLength",
    true,
    "length-bucketed batches: less padding, same rows per epoch (HF's group_by_length)",
  ),
  "fp16": toggle(
    "fp16",
    true,
    "mixed precision: f16 matmul operands, f32 accumulation and master weights, loss scaling",
  ),
  "overwrite-output-dir": toggle(
    "overwriteOutputDir",
    true,
    "replace the run already in --output (only what a run writes is removed)",
  ),
  "ignore-mismatched-sizes": toggle(
    "ignoreMismatchedSizes",
    true,
    "a fine-tuned checkpoint with another label count gets a fresh head",
  ),
  "help": { kind: "boolean", help: "this text" },
} satisfies Record<string, TrainFlag>;

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

/** The value at `path` of a config (or of given settings). */
function settingAt(cfg: GivenSettings, path: SettingPath): unknown {
  const [key, field] = path.split(".") as [keyof TrainConfig, string | undefined];
  const value = cfg[key];
  return field === undefined ? value : (value as Record<string, unknown> | undefined)?.[field];
}

function setSetting(given: GivenSettings, path: SettingPath, value: unknown): void {
  const [key, field] = path.split(".") as [keyof TrainConfig, string | undefined];
  const target = given as Record<string, unknown>;
  target[key] = field === undefined ? value : { ...(target[key] as object), [field]: value };
}

export interface TrainArgs {
  /** The settings of the run: the defaults (pretrained or scratch) with the given ones on top. */
  cfg: TrainConfig;
  /** What the user gave, and only that. */
  given: GivenSettings;
  help: boolean;
}

/** The config for these args, and the settings the user gave explicitly. */
export function parseTrainArgs(args: string[]): TrainArgs {
  const { values } = parseFlags(args, TRAIN_FLAGS);
  const given: GivenSettings = {};
  for (const [name, value] of Object.entries(values)) {
    const spec: TrainFlag = TRAIN_FLAGS[name as keyof typeof TRAIN_FLAGS];
    if (spec.key === undefined) continue; // --help
    setSetting(given, spec.key, spec.kind === "boolean" ? spec.sets : value);
    if (name === "preset") given.init = "scratch";
  }
  if (given.metricForBestModel !== undefined) given.metricForBestModel = metricName(given.metricForBestModel);
  if (given.format !== undefined && !["parquet", "csv", "tsv", "jsonl"].includes(given.format as string)) {
    throw new UserError(`--format: must be one of parquet, csv, tsv, jsonl, got ${given.format}`);
  }
  if (given.numLabels === 1) {
    throw new UserError("--num-labels: a classifier needs at least 2 labels (0 = from the data)");
  }
  if (given.init !== undefined && given.init !== "pretrained" && given.init !== "scratch") {
    throw new UserError(`--init: must be pretrained or scratch, got ${given.init}`);
  }
  const base = given.init === "scratch"
    ? { ...PRETRAINED_DEFAULTS, ...SCRATCH_DEFAULTS }
    : PRETRAINED_DEFAULTS;
  const cfg = withSettings(base, given);
  if (given.output === undefined) {
    cfg.output = `runs/${
      new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-")
    }`;
  }
  return { cfg, given, help: values.help === true };
}

export function trainHelp(): string {
  const show = (v: unknown) => (v === null ? "none" : JSON.stringify(v));
  const withDefault = (name: string, spec: FlagSpec) => {
    const { key, kind } = spec as TrainFlag;
    if (kind === "boolean" || key === undefined) return spec.help;
    const d = settingAt(PRETRAINED_DEFAULTS, key);
    const s = settingAt(SCRATCH_DEFAULTS, key);
    const def = name === "output"
      ? "runs/<date-time>"
      : show(d) + (s !== undefined && name !== "preset" ? ` (scratch: ${show(s)})` : "");
    // A default that depends on the data is in the help text itself.
    return spec.help + (d === null && spec.help.includes("(default:") ? "" : ` [default: ${def}]`);
  };
  return [
    "deno task train [flags]",
    "",
    "Fine-tunes DistilBERT for text classification: IMDB sentiment by default, or your own data (--data)",
    "with any number of labels (defaults: HF's guide for the pretrained model).",
    "",
    ...flagRows(TRAIN_FLAGS, 27, withDefault),
    "",
    "With no --model and no reachable distilbert-base-uncased weights (local dir, HF cache or download), it",
    "says so and trains the tiny preset from scratch on the bundled sample, recording init: scratch.",
  ].join("\n");
}
