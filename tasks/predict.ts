/** `deno task predict --model DIR "text" ...` or `--file F`: the label and its probability per input. */
import { runMain } from "./_cli.ts";
import { predictJob, readTextInputs } from "../mod.ts";
import { HELP_FLAG, helpText, parseFlags } from "../train/flags.ts";
import { inferenceFlags } from "../train/inference_flags.ts";
import { UserError } from "../util/errors.ts";

const PREDICT_FLAGS = {
  model: { kind: "string", metavar: "DIR", help: "a trained classifier" },
  file: {
    kind: "string",
    metavar: "F",
    help: 'inputs, one per line: plain text, or JSONL lines {"text": ...}',
  },
  ...inferenceFlags("input"),
  json: {
    kind: "boolean",
    help: "one JSON line per input: label, score, every class's probability, logits\n" +
      '[default: "LABEL  probability  text", the predicted label and its probability]',
  },
  ...HELP_FLAG,
} as const;

const USAGE = `deno task predict --model DIR "review text" ... | --file F [flags]\n`;

runMain(async () => {
  const { values, options: given, positionals } = parseFlags(Deno.args, PREDICT_FLAGS, { positionals: true });
  if (values.help) return console.log(helpText(USAGE, PREDICT_FLAGS, 19));
  const { model, file, json, help: _, ...options } = given;
  if (!model) throw new UserError("--model is required (see --help)");
  const texts = [...positionals, ...(file ? await readTextInputs(file) : [])];
  if (texts.length === 0) throw new UserError("no input: pass texts as arguments or --file F");
  for (const p of await predictJob({ model, texts, ...options })) {
    if (json) console.log(JSON.stringify(p));
    else {
      const text = p.text.length > 70 ? p.text.slice(0, 67) + "..." : p.text;
      console.log(`${p.label.padEnd(8)}  ${p.score.toFixed(4)}  ${text.replace(/\s+/g, " ")}`);
    }
  }
});
