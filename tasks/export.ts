/** `deno task export CHECKPOINT --output DIR`: a checkpoint → a Hugging Face model directory. */
import { parseFlags, runMain } from "./_cli.ts";
import { exportJob } from "../mod.ts";
import { UserError } from "../util/errors.ts";

const HELP = `deno task export CHECKPOINT_DIR --output DIR

Writes model.safetensors, config.json (DistilBertForSequenceClassification, id2label/label2id), vocab.txt
and tokenizer_config.json: loadable by transformers' AutoModelForSequenceClassification.from_pretrained.`;

runMain(async () => {
  const { values: v, positionals } = parseFlags(Deno.args, {
    output: { type: "string" },
    checkpoint: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (v.help) return console.log(HELP);
  const checkpoint = v.checkpoint ?? positionals[0];
  if (!checkpoint) throw new UserError("export: pass a checkpoint directory (see --help)");
  if (positionals.length > 1) throw new UserError(`export: unexpected argument "${positionals[1]}"`);
  if (!v.output) throw new UserError("--output DIR is required");
  console.log(`exported ${await exportJob({ checkpoint, output: v.output })}`);
});
