/**
 * A device error is fatal (through the CLI, as a user runs it): a WebGPU validation error (an oversized
 * binding reaching the device), an allocation past maxBufferSize and a lost device each stop `deno task train`
 * with one line naming the kernel or tensor and the limit or reason, a non-zero exit, no stack trace, and the
 * output directory as it was (absent when it was absent; an earlier run's checkpoint untouched).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hfConfigJson, presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { gpuReady } from "./helpers.ts";
import { words } from "./cli.ts";
import { softmax, Tensor } from "../autograd/mod.ts";
import { DeviceError } from "../util/errors.ts";

const root = new URL("..", import.meta.url).pathname;
const sample = join(root, "assets/imdb-sample/plain_text");

/** A model directory (config, weights, vocab) of the tiny preset with config changes. */
async function modelDir(changes: Record<string, number>): Promise<string> {
  const dir = await Deno.makeTempDir();
  const config = { ...presetConfig("tiny"), ...changes };
  await writeSafetensors(join(dir, "model.safetensors"), initHostParams(config, 1));
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(hfConfigJson(config)));
  await Deno.copyFile(join(root, "assets/distilbert-base-uncased/vocab.txt"), join(dir, "vocab.txt"));
  return dir;
}

async function train(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "tasks/train.ts",
      "--data",
      join(sample, "train-00000-of-00001.parquet"),
      "--eval-data",
      join(sample, "test-00000-of-00001.parquet"),
      "--eval-samples",
      "8",
      ...args,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { HF_HUB_OFFLINE: "1", DISTILBERT_AUTOTUNE: "0", ...env },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Exit 1, exactly one `error: WebGPU:` line matching `pattern`, no stack trace, no raw WebGPU error line. */
function assertDeviceError(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^error: WebGPU: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at |Uncaught|WebGPU error/m, "no stack trace, no raw WebGPU error line");
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/**
 * `train` of a tiny model with `changes` to its config, `flags` and `env`, must stop with a device error
 * matching `message`, and leave no output directory behind.
 */
async function assertTrainStopsCleanly(
  changes: Record<string, number>,
  flags: string,
  env: Record<string, string>,
  message: RegExp,
) {
  await gpuReady;
  const model = await modelDir(changes);
  const out = join(await Deno.makeTempDir(), "run");
  const r = await train(["--model", model, ...words(flags), "--output", out], env);
  assertDeviceError(r, message);
  assert.equal(await exists(out), false, "nothing written");
}

Deno.test("device error: an oversized binding that reaches the device stops train; the output is not created", async () => {
  // 16 heads at 512 tokens: the unfused scores of 9 rows are 151 MB, over a 128 MiB storage binding. The
  // host-side checks and the automatic split are turned off, so wgpu's own validation reports it.
  await assertTrainStopsCleanly(
    { dim: 64, n_heads: 16, hidden_dim: 128, n_layers: 1 },
    "--train-samples 9 --batch-size 9 --max-length 512 --max-steps 1",
    {
      DISTILBERT_ATTENTION: "unfused",
      DISTILBERT_SKIP_LIMIT_CHECKS: "1",
      DISTILBERT_WEBGPU_LIMITS: "default",
    },
    /binding.*(exceeds|limit)/i,
  );
});

Deno.test("a limit the host sees is refused before it is recorded, naming the kernel, shapes and limit", async () => {
  const rt = await gpuReady;
  const scores = new Tensor([rt.limits.maxStorageBufferBindingSize / 1024 + 1, 256]);
  const dispatches = rt.dispatches;
  assert.throws(
    () => softmax(scores),
    (err: Error) =>
      err instanceof DeviceError &&
      /^softmax \[\d+, 256\] \[\d+, 256\]: binding 0 is [\d,]+ bytes .* over the adapter's maxStorageBufferBindingSize/
        .test(err.message),
  );
  assert.equal(rt.dispatches, dispatches, "nothing recorded");
  scores.dispose();
  assert.deepEqual(rt.takeErrors(), []);
});

Deno.test("device error: an allocation past maxBufferSize names the tensor", async () => {
  // An FFN 70,000 wide: 8 rows of 128 tokens make a 287 MB activation, over the default 256 MiB buffer.
  await assertTrainStopsCleanly(
    { hidden_dim: 70000, n_layers: 1 },
    "--train-samples 8 --batch-size 8 --max-length 128 --max-steps 1",
    { DISTILBERT_WEBGPU_LIMITS: "default", DISTILBERT_SKIP_LIMIT_CHECKS: "1" },
    /tensor \[\d+, 70000\].*maxBufferSize/,
  );
});

Deno.test("device error: a lost device stops a resumed run; the earlier checkpoint is untouched", async () => {
  await gpuReady;
  const base = await Deno.makeTempDir(), out = join(base, "run");
  const args = words("--preset tiny --init scratch --train-samples 16 --batch-size 8 --max-length 32");
  const first = await train([...args, "--max-steps", "1", "--output", out], {});
  assert.equal(first.code, 0, first.stderr);
  const checkpoint = join(out, "checkpoint-1");
  const before = await snapshot(out);
  const r = await train(["--resume", checkpoint, "--max-steps", "2"], { DISTILBERT_LOSE_DEVICE_AFTER: "20" });
  assertDeviceError(r, /device was lost/);
  assert.deepEqual(await snapshot(out), before, "the run directory is as it was");
});

/** Every file under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else {
        const s = await Deno.stat(p);
        out[p] = `${s.size} ${s.mtime?.getTime()}`;
      }
    }
  };
  await walk(dir);
  return out;
}
