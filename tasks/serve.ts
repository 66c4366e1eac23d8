/** `deno task serve --model DIR [--port N]`: the fine-tuned model in a web page, on 127.0.0.1. */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { servePage } from "../web/server.ts";
import { resolveModelDir } from "../train/model_source.ts";
import { UserError } from "../util/errors.ts";

const HELP = `deno task serve --model DIR [--port N]

Serves a page that classifies reviews with the model in your browser (WebGPU), on the same kernels as
deno task predict, and shows each token's contribution. Listens on 127.0.0.1 only.

  --model DIR   a trained classifier: a run of deno task train, a checkpoint-N folder, deno task export's
                output, or a Hugging Face id in the cache; without it the page asks for a model folder
  --port N      the port [default: 8000; 0 picks a free one]`;

runMain(async () => {
  const { values: v } = parseFlags(Deno.args, {
    model: { type: "string" },
    port: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return console.log(HELP);
  const port = numberFlag(v.port, "--port", { integer: true, min: 0 }) ?? 8000;
  if (port > 65535) throw new UserError(`--port: must be at most 65535, got ${port}`);
  const model = v.model !== undefined ? await resolveModelDir(v.model) : undefined;
  const abort = new AbortController();
  Deno.addSignalListener("SIGINT", () => abort.abort());
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", () => abort.abort());
  await servePage({
    model,
    port,
    signal: abort.signal,
    onListen: (url) => console.log(`serving ${model ?? "(no model: the page asks for a folder)"} at ${url}`),
  });
});
