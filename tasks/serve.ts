/** `deno task serve --model DIR [--port N]`: the fine-tuned model in a web page, on 127.0.0.1. */
import { runMain } from "./_cli.ts";
import { HELP_FLAG, helpText, parseFlags } from "../train/flags.ts";
import { servePage } from "../web/server.ts";
import { resolveModelDir } from "../train/model_source.ts";

const USAGE = `deno task serve --model DIR [--port N]

Serves a page that classifies reviews with the model in your browser (WebGPU), on the same kernels as
deno task predict, and shows each token's contribution. Listens on 127.0.0.1 only.
`;

const DEFAULT_PORT = 8000;

const SERVE_FLAGS = {
  model: {
    kind: "string",
    metavar: "DIR",
    help: "a trained classifier: a run of deno task train, a checkpoint-N folder, deno task export's\n" +
      "output, or a Hugging Face id in the cache; without it the page asks for a model folder",
  },
  port: {
    kind: "int",
    metavar: "N",
    min: 0,
    max: 65535,
    help: `the port [default: ${DEFAULT_PORT}; 0 picks a free one]`,
  },
  ...HELP_FLAG,
} as const;

runMain(async () => {
  const { values: v } = parseFlags(Deno.args, SERVE_FLAGS);
  if (v.help) return console.log(helpText(USAGE, SERVE_FLAGS, 14));
  const port = v.port ?? DEFAULT_PORT;
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
