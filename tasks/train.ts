/** `deno task train`: parses flags and runs the fine-tuning job (see `--help`). */
import { runMain } from "./_cli.ts";
import { parseTrainArgs, runTrainJob, trainHelp } from "../mod.ts";

runMain(async () => {
  const { cfg, given, help } = parseTrainArgs(Deno.args);
  if (help) return console.log(trainHelp());
  const result = await runTrainJob(cfg, given);
  // An interrupted run saved a checkpoint, but did not finish: exit as the signal would have (130, 143).
  if (result.signal) Deno.exit(result.signal === "SIGTERM" ? 143 : 130);
});
