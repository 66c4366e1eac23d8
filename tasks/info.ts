/**
 * `deno task info`: the WebGPU adapter (description, fallback or not, shader-f16, limits).
 * `deno task info --model DIR|HUB_ID|preset`: also that model's config and parameter count.
 */
import { parseFlags, runMain } from "./_cli.ts";
import { adapterInfo, modelInfo } from "../mod.ts";

const HELP = `deno task info [--model DIR|HUB_ID|tiny|small|base]

Prints the WebGPU adapter this machine gives us and its limits.
  --model   also print a model's config and parameter count (a preset name, a directory with
            config.json, or a Hugging Face id such as distilbert-base-uncased)`;

runMain(async () => {
  const { values } = parseFlags(Deno.args, {
    model: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return console.log(HELP);
  console.log(await adapterInfo());
  if (values.model) console.log(await modelInfo(values.model));
});
