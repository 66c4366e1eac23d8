/** `deno task train`: parses flags and runs the fine-tuning job (see `--help`). */
import { runMain } from "./_cli.ts";
import { parseTrainArgs, runTrainJob, trainHelp } from "../mod.ts";

runMain(async () => {
  const { cfg, explicit, help } = parseTrainArgs(Deno.args);
  if (help) return console.log(trainHelp());
  await runTrainJob(cfg, explicit);
});
