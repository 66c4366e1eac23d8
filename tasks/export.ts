/** `deno task export CHECKPOINT --output DIR`: a checkpoint → a Hugging Face model directory. */
import { runMain } from "./_cli.ts";
import { HELP_FLAG, parseFlags } from "../train/flags.ts";
import { EXPORT_MANIFEST, exportJob } from "../mod.ts";
import { UserError } from "../util/errors.ts";

const HELP = `deno task export CHECKPOINT_DIR --output DIR [--overwrite]

Writes model.safetensors, config.json (DistilBertForSequenceClassification, id2label/label2id), vocab.txt
and tokenizer_config.json: loadable by transformers' AutoModelForSequenceClassification.from_pretrained.
DIR must be new, empty or an earlier export (${EXPORT_MANIFEST} lists its files); --overwrite replaces the
exported files in any other folder and leaves everything else in it alone. Never into the checkpoint itself
or a folder that holds it.`;

// The usage text above describes them.
const EXPORT_FLAGS = {
  output: { kind: "string", hidden: true, help: "the Hugging Face directory to write" },
  checkpoint: { kind: "string", hidden: true, help: "the checkpoint (or the first argument)" },
  overwrite: { kind: "boolean", hidden: true, help: "replace the exported files in another folder" },
  ...HELP_FLAG,
} as const;

runMain(async () => {
  const { values: v, positionals } = parseFlags(Deno.args, EXPORT_FLAGS, { positionals: true });
  if (v.help) return console.log(HELP);
  const checkpoint = v.checkpoint ?? positionals[0];
  if (!checkpoint) throw new UserError("export: pass a checkpoint directory (see --help)");
  if (positionals.length > 1) throw new UserError(`export: unexpected argument "${positionals[1]}"`);
  if (!v.output) throw new UserError("--output DIR is required");
  console.log(
    `exported ${await exportJob({ checkpoint, output: v.output, overwrite: v.overwrite ?? false })}`,
  );
});
