/**
 * Training checkpoints: `checkpoint-<step>/` holds the model as an HF directory (model.safetensors,
 * config.json, tokenizer files) plus what resuming needs (optimizer moments, trainer state with the data
 * position and RNG seed, the run's settings). Written atomically: a crash never leaves a partial one.
 */
import { dirname, join, resolve } from "node:path";
import { gpu, type Tensor } from "../autograd/mod.ts";
import type { DistilBertClassifier } from "../model/distilbert.ts";
import { hfConfigJson } from "../model/config.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "../model/safetensors.ts";
import type { BertTokenizer } from "../data/tokenizer.ts";
import { writeTokenizerFiles } from "../data/tokenizer_files.ts";
import { UserError } from "../util/errors.ts";
import { writeDirAtomic } from "../util/fs.ts";
import type { AdamW, LossScaleState } from "./optimizer.ts";
import { type GivenSettings, type TrainConfig, withSettings } from "./config.ts";
import type { TrainerState } from "./trainer.ts";
import type { RunLog } from "./run_log.ts";

export const TRAINER_STATE = "trainer_state.json";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const TRAINING_ARGS = "training_args.json";

/** Settings that fix the data order and batch contents: a resumed run must use the same. */
export const ORDER_KEYS = [
  "data",
  "trainSamples",
  "maxLength",
  "batchSize",
  "gradAccum",
  "seed",
  "shuffle",
  "groupByLength",
] as const satisfies readonly (keyof TrainConfig)[];

export interface SavedState {
  trainer: TrainerState;
  /** AdamW steps applied (fewer than trainer.step when mixed-precision steps were skipped). */
  optimizerStep: number;
  /** Mixed precision: the loss scaler's state (PyTorch saves it as scaler.pt). */
  lossScale?: LossScaleState | null;
  trainRows: number;
  /** The run's steps and evaluations so far (RunLog.toSaved()). */
  logHistory: unknown[];
}

export async function saveCheckpoint(
  dir: string,
  parts: {
    model: DistilBertClassifier;
    optimizer: AdamW;
    state: TrainerState;
    cfg: TrainConfig;
    trainRows: number;
    log: RunLog;
    tokenizer: BertTokenizer;
  },
): Promise<void> {
  const { model, optimizer } = parts;
  const weights = await model.toHost();
  const moments = new Map<string, HostTensor>();
  for (const [name, t] of optimizer.m) moments.set(`exp_avg.${name}`, hostOf(t, await t.toArray()));
  for (const [name, t] of optimizer.v) moments.set(`exp_avg_sq.${name}`, hostOf(t, await t.toArray()));
  const { step: optimizerStep, lossScale } = await optimizer.savedState();
  await writeDirAtomic(dir, async (tmp) => {
    await writeSafetensors(join(tmp, "model.safetensors"), weights);
    await writeSafetensors(join(tmp, OPTIMIZER_FILE), moments, { step: String(optimizerStep) });
    await Deno.writeTextFile(
      join(tmp, "config.json"),
      JSON.stringify(hfConfigJson(model.config), null, 2) + "\n",
    );
    await writeTokenizerFiles(tmp, parts.tokenizer);
    const saved: SavedState = {
      trainer: parts.state,
      optimizerStep,
      ...(lossScale ? { lossScale } : {}),
      trainRows: parts.trainRows,
      logHistory: parts.log.toSaved(),
    };
    await Deno.writeTextFile(join(tmp, TRAINER_STATE), JSON.stringify(saved, null, 1) + "\n");
    await Deno.writeTextFile(join(tmp, TRAINING_ARGS), JSON.stringify(parts.cfg, null, 2) + "\n");
  });
}

const hostOf = (t: Tensor, data: Float32Array): HostTensor => ({ dtype: "F32", shape: [...t.shape], data });

/** Reads a checkpoint's resume state, checking it against this run's settings. */
export async function readResumeState(dir: string, cfg: TrainConfig, trainRows: number): Promise<SavedState> {
  const saved = await readCheckpointJson<SavedState>(dir, TRAINER_STATE, "trainer state");
  const args = await readCheckpointJson<TrainConfig>(dir, TRAINING_ARGS, "trainer state");
  if (typeof saved?.trainer?.step !== "number" || typeof saved.optimizerStep !== "number") {
    throw new UserError(`--resume ${dir}: corrupt ${TRAINER_STATE} (no step)`);
  }
  for (const key of ORDER_KEYS) {
    if (JSON.stringify(args[key]) !== JSON.stringify(cfg[key])) {
      throw new UserError(
        `--resume ${dir}: the checkpoint was trained with ${key} = ${
          JSON.stringify(args[key])
        }, this run has ${JSON.stringify(cfg[key])}`,
      );
    }
  }
  if (saved.trainRows !== trainRows) {
    throw new UserError(
      `--resume ${dir}: the checkpoint saw ${saved.trainRows} training rows, this run has ${trainRows}`,
    );
  }
  return saved;
}

/** Restores AdamW's moments, step and loss scale from a checkpoint. */
export async function loadOptimizerState(
  dir: string,
  optimizer: AdamW,
  step: number,
  lossScale: LossScaleState | null = null,
): Promise<void> {
  const path = join(dir, OPTIMIZER_FILE);
  const { tensors } = await readSafetensors(path);
  for (const [prefix, table] of [["exp_avg", optimizer.m], ["exp_avg_sq", optimizer.v]] as const) {
    for (const [name, t] of table) {
      const host = tensors.get(`${prefix}.${name}`);
      if (!host || host.shape.join(",") !== t.shape.join(",")) {
        throw new UserError(`--resume ${path}: ${prefix}.${name} is missing or has the wrong shape`);
      }
      // In place: in flat mode the moments are slices of the optimizer's flat buffers.
      gpu().upload(t.buffer, host.data as Float32Array, t.byteOffset);
    }
  }
  optimizer.restore(step, lossScale);
}

/** One of a checkpoint's JSON files; `what` names it in the error when it is missing or corrupt. */
async function readCheckpointJson<T>(dir: string, name: string, what = name): Promise<T> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, name)));
  } catch (err) {
    throw new UserError(
      `--resume ${dir}: ${
        err instanceof Deno.errors.NotFound
          ? `is not a training checkpoint (no ${what})`
          : `has a corrupt ${what}`
      }`,
    );
  }
}

/**
 * The settings of a resumed run: the checkpoint's (its training_args.json), except those given again on the
 * command line; the output is the checkpoint's run folder unless given.
 */
export async function resumeSettings(cfg: TrainConfig, given: GivenSettings): Promise<TrainConfig> {
  const dir = cfg.resume!;
  const args = await readCheckpointJson<GivenSettings>(dir, TRAINING_ARGS);
  // The checkpoint's model is what trains: a --preset, --model or --init naming another is a conflict.
  for (const key of ["model", "init"] as const) {
    if (given[key] !== undefined && key in args && args[key] !== cfg[key]) {
      throw new UserError(
        `--resume ${dir}: the checkpoint trains ${args.model} (init ${args.init}), not ` +
          `${key === "model" ? cfg.model : `init ${cfg.init}`}; drop --preset/--model/--init when resuming`,
      );
    }
  }
  // Only the run's settings carry over: not where it resumed from, nor a permission to overwrite.
  const saved: GivenSettings = {};
  for (const key of Object.keys(cfg) as (keyof TrainConfig)[]) {
    if (key !== "resume" && key !== "overwriteOutputDir" && key in args) {
      (saved as Record<string, unknown>)[key] = args[key];
    }
  }
  // Checkpoints from before the optimizer settings were nested keep two of them at the top level.
  const { weightDecay, maxGradNorm } = args as { weightDecay?: number; maxGradNorm?: number };
  if (args.optimizer === undefined && (weightDecay !== undefined || maxGradNorm !== undefined)) {
    saved.optimizer = JSON.parse(JSON.stringify({ weightDecay, maxGradNorm })); // the ones it has
  }
  const merged = withSettings(withSettings(cfg, saved), given);
  if (given.output === undefined) merged.output = dirname(resolve(dir));
  const step = (await readCheckpointJson<Partial<SavedState>>(dir, TRAINER_STATE))?.trainer?.step;
  if (typeof step === "number" && merged.maxSteps > 0 && merged.maxSteps <= step) {
    throw new UserError(
      given.maxSteps !== undefined
        ? `--max-steps ${merged.maxSteps}: the checkpoint ${dir} is already at step ${step}; ` +
          "pass a larger --max-steps to train further"
        : `--resume ${dir}: the checkpoint is at step ${step} of the run's ${merged.maxSteps}: ` +
          "nothing left to train (pass a larger --max-steps)",
    );
  }
  return merged;
}
