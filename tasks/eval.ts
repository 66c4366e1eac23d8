/** `deno task eval --model DIR`: accuracy, precision, recall, F1 and the confusion matrix (eval_results.json). */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { evalJob } from "../mod.ts";
import { UserError } from "../util/errors.ts";
import { dataFormat } from "../data/dataset.ts";

const HELP = `deno task eval --model DIR|HUB_ID [flags]

  --model DIR          a trained classifier (a run's output or checkpoint-<step>, or an exported dir)
  --data DIR|FILE      a .parquet, .csv, .tsv or .jsonl file, or a folder of <split>-*.parquet
                       [default: IMDB via the HF cache]
  --split NAME         the folder's split [default: test]
  --text-column NAME   [default: text, then sentence, review]
  --label-column NAME  integer ids or the model's label names [default: label, then labels]
  --format FORMAT      parquet | csv | tsv | jsonl [default: the extension]
  --samples N          class-balanced sample, 0 = all rows [default: 0]
  --max-length N       tokens per review [default: the model's training max_length, else 512]
  --batch-size N       reviews per batch [default: 32]
  --seed N             sampling seed [default: 42]
  --output FILE        where the metrics go [default: <model dir>/eval_results.json]
  --predictions FILE   also write one JSON line per review (row, label, predicted, predicted_label, logits,
                       probabilities; prob_positive for two labels)`;

runMain(async () => {
  const { values: v } = parseFlags(Deno.args, {
    model: { type: "string" },
    data: { type: "string" },
    split: { type: "string", default: "test" },
    samples: { type: "string" },
    "max-length": { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string" },
    output: { type: "string" },
    predictions: { type: "string" },
    "text-column": { type: "string" },
    "label-column": { type: "string" },
    format: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return console.log(HELP);
  if (!v.model) throw new UserError("--model is required (see --help)");
  const metrics = await evalJob({
    model: v.model,
    data: v.data,
    split: v.split!,
    samples: numberFlag(v.samples, "--samples", { integer: true, min: 0 }) ?? 0,
    maxLength: numberFlag(v["max-length"], "--max-length", { integer: true, min: 2 }),
    batchSize: numberFlag(v["batch-size"], "--batch-size", { integer: true, positive: true }) ?? 32,
    seed: numberFlag(v.seed, "--seed", { integer: true }) ?? 42,
    output: v.output,
    predictions: v.predictions,
    textColumn: v["text-column"],
    labelColumn: v["label-column"],
    format: v.format === undefined ? undefined : dataFormat("", v.format),
  });
  console.log(JSON.stringify(metrics, null, 2));
});
