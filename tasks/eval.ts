/** `deno task eval --model DIR`: accuracy, precision, recall, F1 and the confusion matrix (eval_results.json). */
import { runMain } from "./_cli.ts";
import { EVAL_DEFAULTS, evalJob } from "../mod.ts";
import { HELP_FLAG, helpText, parseFlags } from "../train/flags.ts";
import { inferenceFlags } from "../train/inference_flags.ts";
import { UserError } from "../util/errors.ts";
import { dataFormat } from "../data/dataset.ts";

const EVAL_FLAGS = {
  model: {
    kind: "string",
    metavar: "DIR",
    help: "a trained classifier (a run's output or checkpoint-<step>, or an exported dir)",
  },
  data: {
    kind: "string",
    metavar: "DIR|FILE",
    help: "a .parquet, .csv, .tsv or .jsonl file, or a folder of <split>-*.parquet\n" +
      "[default: IMDB via the HF cache]",
  },
  split: { kind: "string", metavar: "NAME", help: `the folder's split [default: ${EVAL_DEFAULTS.split}]` },
  "text-column": { kind: "string", metavar: "NAME", help: "[default: text, then sentence, review]" },
  "label-column": {
    kind: "string",
    metavar: "NAME",
    help: "integer ids or the model's label names [default: label, then labels]",
  },
  format: { kind: "string", metavar: "FORMAT", help: "parquet | csv | tsv | jsonl [default: the extension]" },
  samples: {
    kind: "int",
    metavar: "N",
    min: 0,
    help: `class-balanced sample, 0 = all rows [default: ${EVAL_DEFAULTS.samples}]`,
  },
  ...inferenceFlags("review"),
  seed: { kind: "int", metavar: "N", help: `sampling seed [default: ${EVAL_DEFAULTS.seed}]` },
  output: {
    kind: "string",
    metavar: "FILE",
    help: "where the metrics go [default: <model dir>/eval_results.json]",
  },
  predictions: {
    kind: "string",
    metavar: "FILE",
    help: "also write one JSON line per review (row, label, predicted, predicted_label, logits,\n" +
      "probabilities; prob_positive for two labels)",
  },
  ...HELP_FLAG,
} as const;

runMain(async () => {
  const { values, options: given } = parseFlags(Deno.args, EVAL_FLAGS);
  if (values.help) {
    return console.log(helpText("deno task eval --model DIR|HUB_ID [flags]\n", EVAL_FLAGS, 21));
  }
  const { model, format, help: _, ...options } = given;
  if (!model) throw new UserError("--model is required (see --help)");
  const metrics = await evalJob({
    model,
    ...options,
    ...(format !== undefined ? { format: dataFormat("", format) } : {}),
  });
  console.log(JSON.stringify(metrics, null, 2));
});
