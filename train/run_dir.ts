/**
 * The run directory of `deno task train`, settled before any work starts:
 *
 * - checked: writable; new, empty, or a training run of ours. A folder that holds anything else (an exported
 *   model, the user's files) is refused, with or without --overwrite-output-dir.
 * - claimed: without --output the default `runs/<date-time>` gets a `-2`, `-3`, ... suffix when a run started
 *   in the same second already took it (mkdir is the atomic claim).
 * - locked: `.train.lock` holds the trainer's PID under an exclusive flock, so a second trainer on the same
 *   folder stops at once. The kernel drops the lock when a process dies, so the lock of a killed run (its PID
 *   no longer running) is simply taken over.
 * - cleaned: `checkpoint-N.incomplete-PID` folders and other temporaries left by writes that were killed
 *   (their PID no longer running) are removed.
 *
 * --overwrite-output-dir over a run of ours removes what a run writes (its checkpoints, log, metrics,
 * report, settings, final model and tokenizer files) right before the new run writes, and nothing else: a
 * file the user put there stays. (Hugging Face deletes the whole folder; we never delete what is not ours.)
 */
import { dirname, join, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { checkOutputDir, checkOutputFile } from "../util/output_check.ts";
import { pidAlive } from "../util/pid.ts";
import type { GivenSettings, TrainConfig } from "./config.ts";

export const LOCK_FILE = ".train.lock";

/** The files a run writes at its root (`eval` adds eval_results.json beside a trained model). */
const RUN_FILES = [
  "run_config.json",
  "log.jsonl",
  "metrics.json",
  "report.html",
  "model.safetensors",
  "config.json",
  "vocab.txt",
  "tokenizer_config.json",
  "eval_results.json",
];
const CHECKPOINT = /^checkpoint-\d+$/;
/** Temporaries of atomic writes: `<name>.incomplete-<pid>[-<n>]` and `<name>.old-<pid>`. */
const LEFTOVER = /\.(?:incomplete|old)-(\d+)(?:-\d+)?$/;

export interface RunDir {
  /** The folder, absolute (a claimed default name may differ from the one asked for). */
  path: string;
  /** --overwrite-output-dir over a previous run: removes what that run wrote; call right before writing. */
  clearPreviousRun(): Promise<void>;
  /** Unlocks; removes the lock file, and the folder too when this run created it and left it empty. */
  release(): Promise<void>;
}

async function entries(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

async function isFile(path: string): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.isFile, () => false);
}

/** A checkpoint folder our trainer wrote (it holds the settings file every checkpoint has). */
async function isOurCheckpoint(dir: string, e: Deno.DirEntry): Promise<boolean> {
  return e.isDirectory && CHECKPOINT.test(e.name) && await isFile(join(dir, e.name, "training_args.json"));
}

/** Whether `dir` holds a training run of ours: its settings file, or one of its checkpoints. */
async function holdsOurRun(dir: string, list: Deno.DirEntry[]): Promise<boolean> {
  try {
    const settings = JSON.parse(await Deno.readTextFile(join(dir, "run_config.json")));
    if (typeof settings?.maxLength === "number" && typeof settings?.batchSize === "number") return true;
  } catch { /* absent or not ours */ }
  for (const e of list) if (await isOurCheckpoint(dir, e)) return true;
  return false;
}

/** Names of temporaries in `dir` left by writers that were killed. */
function leftovers(list: Deno.DirEntry[]): string[] {
  return list.map((e) => e.name).filter((name) => {
    const m = LEFTOVER.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  });
}

/** `runs/<stamp>`, or `runs/<stamp>-2`, ...: the first that mkdir creates (atomic: two runs never share one). */
async function claimDefault(path: string): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  for (let n = 1; n < 1000; n++) {
    const candidate = n === 1 ? path : `${path}-${n}`;
    try {
      await Deno.mkdir(candidate);
      return candidate;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
  }
  throw new UserError(`--output: no free run folder name beside ${path}`);
}

/** The PID in a lock file, or null; the holder may be writing it right now, so a few reads are allowed. */
async function lockHolder(path: string): Promise<number | null> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const pid = JSON.parse(await Deno.readTextFile(path))?.pid;
      if (Number.isInteger(pid)) return pid;
    } catch { /* empty, half-written or gone */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** An exclusive lock on `<dir>/.train.lock`, with our PID in it; a UserError naming the holder if taken. */
async function lock(dir: string, flag: string): Promise<Deno.FsFile> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    const file = await Deno.open(path, { read: true, write: true, create: true });
    if (!(await file.tryLock(true))) {
      file.close();
      const holder = await lockHolder(path);
      throw new UserError(
        `${flag}: another training run${holder ? ` (PID ${holder})` : ""} is writing there; ` +
          "wait for it to finish or pass another --output",
      );
    }
    // The holder we waited on may have removed the file after unlocking it: lock the file at the path.
    const [mine, current] = await Promise.all([file.stat(), Deno.stat(path).catch(() => null)]);
    if (current === null || current.ino !== mine.ino) {
      file.close();
      continue;
    }
    const before = new TextDecoder().decode(await Deno.readFile(path)).trim();
    const stale = before
      ? (() => {
        try {
          return JSON.parse(before).pid as number;
        } catch {
          return null;
        }
      })()
      : null;
    if (stale && stale !== Deno.pid) {
      console.error(`note: ${flag}: took over the lock of PID ${stale}, which is no longer running`);
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, started: new Date() }) + "\n"));
    return file;
  }
  throw new UserError(`${flag}: could not lock ${path}`);
}

/**
 * Checks, claims, locks and cleans the run directory for `cfg` (see the module's comment); also checks that
 * `--log` can be written. `resumeRunDir` is the folder of the checkpoint being resumed, if any: continuing
 * there is the point of --resume.
 */
export async function openRunDir(
  cfg: TrainConfig,
  given: GivenSettings,
  resumeRunDir: string | null,
): Promise<RunDir> {
  const flag = `--output ${cfg.output}`;
  await checkOutputDir(cfg.output, "--output");
  let path = resolve(cfg.output);
  let created = false;
  if (given.output === undefined && !cfg.resume) {
    path = await claimDefault(path);
    created = true;
  } else {
    created = !(await Deno.stat(path).then(() => true, () => false));
    await Deno.mkdir(path, { recursive: true });
  }
  const lockFile = await lock(path, flag).catch(async (err) => {
    if (created) await Deno.remove(path).catch(() => {}); // only when empty: the holder's lock is in it
    throw err;
  });
  const release = async () => {
    try {
      await Deno.remove(join(path, LOCK_FILE));
    } catch { /* already gone */ }
    lockFile.close();
    if (created) await Deno.remove(path).catch(() => {}); // only when empty
  };
  try {
    // Once the run folder exists, so that a --log inside it has its folder.
    if (cfg.log !== null) await checkOutputFile(cfg.log, "--log");
    let list = (await entries(path)).filter((e) => e.name !== LOCK_FILE);
    for (const name of leftovers(list)) {
      await Deno.remove(join(path, name), { recursive: true });
      console.error(`note: removed ${join(path, name)}, left by a write that was killed`);
    }
    list = (await entries(path)).filter((e) => e.name !== LOCK_FILE);
    const ours = await holdsOurRun(path, list);
    const resumingHere = resumeRunDir !== null && resolve(resumeRunDir) === path;
    if (list.length > 0 && !ours) {
      const names = list.map((e) => e.name).sort();
      const shown = names.slice(0, 4).join(", ") +
        (names.length > 4 ? `, ... (${names.length} entries)` : "");
      throw new UserError(
        `${flag}: not empty and not a training run (it holds ${shown}); pass a new or empty folder`,
      );
    }
    if (ours && !resumingHere && !cfg.overwriteOutputDir) {
      throw new UserError(
        `${flag}: already holds a training run; pass --resume ${cfg.output}/checkpoint-N to continue it, ` +
          "--overwrite-output-dir to replace it, or another --output",
      );
    }
    const clearPreviousRun = async () => {
      if (!ours || resumingHere) return;
      for (const e of await entries(path)) {
        if (RUN_FILES.includes(e.name) && e.isFile) await Deno.remove(join(path, e.name));
        else if (await isOurCheckpoint(path, e)) await Deno.remove(join(path, e.name), { recursive: true });
      }
    };
    return { path, clearPreviousRun, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * Keeps the newest `limit` checkpoints and the best (HF's save_total_limit): when the best is not among the
 * newest it takes one of their places, but the newest always stays, so a limit of 1 keeps two (HF's rule:
 * the latest checkpoint is what a resume needs).
 */
export async function pruneCheckpoints(dir: string, limit: number, best: number | null): Promise<void> {
  const steps: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^checkpoint-(\d+)$/.exec(e.name);
    if (e.isDirectory && m) steps.push(Number(m[1]));
  }
  steps.sort((a, b) => b - a);
  const bestIsNewest = best === null || steps.slice(0, limit).includes(best);
  const keep = new Set(steps.slice(0, bestIsNewest ? limit : Math.max(1, limit - 1)));
  if (best !== null) keep.add(best);
  for (const step of steps) {
    if (!keep.has(step)) await Deno.remove(join(dir, `checkpoint-${step}`), { recursive: true });
  }
}
