/**
 * `deno task info`: the WebGPU adapter (description, fallback or not, shader-f16, limits).
 * `deno task info --model DIR|HUB_ID|preset`: also that model's config and parameter count.
 */
import { runMain } from "./_cli.ts";
import { HELP_FLAG, helpText, parseFlags } from "../train/flags.ts";
import { adapterInfo, modelInfo } from "../mod.ts";

const USAGE = `deno task info [--model DIR|HUB_ID|tiny|small|base]

Prints the WebGPU adapter this machine gives us and its limits.`;

const INFO_FLAGS = {
  model: {
    kind: "string",
    help: "also print a model's config and parameter count (a preset name, a directory with\n" +
      "config.json, or a Hugging Face id such as distilbert-base-uncased)",
  },
  ...HELP_FLAG,
} as const;

runMain(async () => {
  const { values } = parseFlags(Deno.args, INFO_FLAGS);
  if (values.help) return console.log(helpText(USAGE, INFO_FLAGS, 10));
  console.log(await adapterInfo());
  if (values.model) console.log(await modelInfo(values.model));
});
