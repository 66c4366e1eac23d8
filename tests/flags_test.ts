/** The one flag parser and the config tree: pure functions, no GPU. */
import assert from "node:assert/strict";
import { helpText, parseFlags } from "../train/flags.ts";
import { parseTrainArgs, trainHelp } from "../train/train_flags.ts";
import { PRETRAINED_DEFAULTS, SCRATCH_DEFAULTS, withSettings } from "../train/config.ts";
import { UserError } from "../util/errors.ts";

const TABLE = {
  model: { kind: "string", metavar: "DIR", help: "a model\nsecond line" },
  "batch-size": { kind: "int", positive: true, help: "rows" },
  seed: { kind: "int", help: "any integer" },
  json: { kind: "boolean", help: "JSON lines" },
  help: { kind: "boolean", short: "h", hidden: true, help: "this text" },
} as const;

const fails = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof UserError && message.test(e.message));

Deno.test("flags: values by kind, = or a separate value, the last of a repeated flag, positionals after --", () => {
  const { values, options, positionals } = parseFlags(
    ["a", "--model=m1", "--batch-size", "8", "--seed", "-3", "--model", "m2", "-h", "--json", "--", "--x"],
    TABLE,
    { positionals: true },
  );
  assert.deepEqual(values, { "batch-size": 8, seed: -3, model: "m2", help: true, json: true });
  assert.deepEqual(positionals, ["a", "--x"]);
  assert.deepEqual(options, { batchSize: 8, seed: -3, model: "m2", help: true, json: true });
});

Deno.test("flags: each bad flag is one UserError naming it", () => {
  fails(() => parseFlags(["--bogus"], TABLE), /^unknown flag --bogus \(see --help\)$/);
  fails(() => parseFlags(["text"], TABLE), /^unexpected argument "text"/);
  fails(() => parseFlags(["--model"], TABLE), /^--model needs a value$/);
  fails(() => parseFlags(["--model", "--json"], TABLE), /^--model needs a value, got the flag --json/);
  fails(() => parseFlags(["--json=1"], TABLE), /^--json takes no value$/);
  fails(() => parseFlags(["--batch-size", "0"], TABLE), /^--batch-size: must be positive, got 0$/);
  fails(() => parseFlags(["--batch-size", "2.5"], TABLE), /^--batch-size: "2.5" is not an integer$/);
  fails(() => parseFlags(["--seed", "x"], TABLE), /^--seed: "x" is not a number$/);
});

Deno.test("flags: --help rows from the table, continuation lines under the help column, hidden flags left out", () => {
  assert.equal(
    helpText("usage\n", TABLE, 14),
    [
      "usage",
      "",
      "  --model DIR   a model",
      "                second line",
      "  --batch-size  rows",
      "  --seed        any integer",
      "  --json        JSON lines",
    ].join("\n"),
  );
  assert.match(
    trainHelp(),
    /\n {2}--weight-decay +decoupled weight decay \(not on biases, LayerNorm\) \[default: 0\.01\]\n/,
  );
});

Deno.test("train flags: nested settings, what was given, and the scratch defaults under given values", () => {
  const { cfg, given } = parseTrainArgs(["--weight-decay", "0.1", "--preset", "tiny", "--lr", "3e-4"]);
  assert.deepEqual(given, { optimizer: { weightDecay: 0.1 }, model: "tiny", init: "scratch", lr: 3e-4 });
  assert.deepEqual(cfg.optimizer, { ...PRETRAINED_DEFAULTS.optimizer, weightDecay: 0.1 });
  assert.equal(cfg.lr, 3e-4);
  assert.equal(cfg.batchSize, SCRATCH_DEFAULTS.batchSize);
  assert.deepEqual(PRETRAINED_DEFAULTS.optimizer.weightDecay, 0.01, "the defaults are not changed");
  const { cfg: plain, given: none } = parseTrainArgs(["--no-shuffle", "--overwrite-output-dir"]);
  assert.deepEqual(none, { shuffle: false, overwriteOutputDir: true });
  assert.match(plain.output, /^runs\/\d{8}-\d{6}$/);
  // Laying settings over a config: nested fields one by one, undefined keeps the base.
  const merged = withSettings(PRETRAINED_DEFAULTS, { optimizer: { eps: 1e-6 }, seed: undefined, epochs: 3 });
  assert.deepEqual(merged.optimizer, { ...PRETRAINED_DEFAULTS.optimizer, eps: 1e-6 });
  assert.equal(merged.seed, 42);
  assert.equal(merged.epochs, 3);
});
