/**
 * `deno task bench [matmul|tokenize|train ...]`: benchmarks that print numbers (never timed tests) and write
 * them as JSON to `runs/bench/<name>.json` (or `--json FILE`). With no name, runs them all.
 */
import { runMain } from "./_cli.ts";
import { UserError } from "../util/errors.ts";

const BENCHES: Record<string, () => Promise<(args: string[]) => Promise<void>>> = {
  matmul: async () => (await import("./bench_matmul.ts")).benchMatmul,
  tokenize: async () => (await import("./bench_tokenize.ts")).benchTokenize,
  train: async () => (await import("./bench_train.ts")).benchTrain,
};

/** Adds the default `--json runs/bench/<name>.json` unless the caller chose a file or asked for help. */
function withJson(name: string, args: string[]): string[] {
  const chosen = args.some((a) => a === "--json" || a.startsWith("--json=") || a === "--help" || a === "-h");
  return chosen ? args : [...args, "--json", `runs/bench/${name}.json`];
}

runMain(async () => {
  const [name, ...rest] = Deno.args;
  if (name === "--help" || name === "-h") {
    console.log(`deno task bench [${Object.keys(BENCHES).join("|")}] [flags]   (each takes --help)`);
    return;
  }
  if (name && !name.startsWith("-")) {
    const load = BENCHES[name];
    if (!load) {
      throw new UserError(`bench: unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(", ")})`);
    }
    return await (await load())(withJson(name, rest));
  }
  for (const [bench, load] of Object.entries(BENCHES)) {
    console.log(`\n== ${bench} ==`);
    await (await load())(withJson(bench, Deno.args));
  }
});
