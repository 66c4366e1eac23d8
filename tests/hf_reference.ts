/**
 * The Hugging Face reference for the tests: the venv that scripts/hf_reference.sh sets up (real torch,
 * transformers, tokenizers, safetensors, accelerate). Tests that need it use `ignore: !hf`. One message per
 * `deno test` run says whether it is there: test files run in workers of one process, and the process's
 * environment is shared between them, so the first file to load this module marks it said.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gpu, scale, tidy } from "../autograd/mod.ts";
import { type Batch, DistilBertClassifier } from "../model/distilbert.ts";
import { loadClassifierCheckpoint } from "../model/checkpoint.ts";
import type { HostTensor } from "../model/safetensors.ts";
import { predictRows } from "../train/evaluate.ts";
import { maxAbs, maxAbsDiff } from "./array_diff.ts";
import { cliOutput } from "./cli.ts";
import { gpuReady } from "./helpers.ts";
import { describeHfReference, type HfReference, hfReference, hfReferenceVenv } from "../util/python.ts";

export const hf: HfReference | null = await hfReference();

const ANNOUNCED = "DISTILBERT_WEBGPU_HF_REFERENCE_ANNOUNCED";
if (!Deno.env.get(ANNOUNCED)) {
  Deno.env.set(ANNOUNCED, "1");
  if (hf) console.log(`HF reference: ${hf.python} (${describeHfReference(hf)})`);
  else {
    console.log(
      `skipping the Hugging Face reference tests (hf: ...): no reference venv at ${hfReferenceVenv()} ` +
        "(set it up with scripts/hf_reference.sh); the golden files are the reference instead",
    );
  }
}

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Runs tests/hf/<script> with the reference python; its stdout, or an error with its stderr. */
export async function runHf(script: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  if (!hf) throw new Error("runHf: no HF reference");
  const out = await new Deno.Command(hf.python, {
    args: [`${ROOT}tests/hf/${script}`, ...args],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: {
      PYTHONHASHSEED: "0",
      TOKENIZERS_PARALLELISM: "true",
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_VERBOSITY: "error",
    },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout), stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`tests/hf/${script} failed (exit ${out.code}):\n${stderr.slice(-4000)}`);
  return stdout;
}

/** Reads a tests/hf/encode_texts.py id file: int32 n, n lengths, then the ids. */
export async function readIdRows(path: string): Promise<Int32Array[]> {
  const bytes = await Deno.readFile(path);
  const all = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const n = all[0];
  const rows: Int32Array[] = [];
  let at = 1 + n;
  for (let i = 0; i < n; i++) {
    rows.push(all.subarray(at, at + all[1 + i]));
    at += all[1 + i];
  }
  return rows;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "hf-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Logits (absolute, or relative to the largest logit), loss (relative), each gradient (relative to its max). */
export interface Tolerance {
  logits: number;
  logitsRelative?: boolean;
  loss: number;
  grad: number;
}
/** Our well-conditioned checkpoint (HF's own float32 and float64 agree to 4e-7). */
export const TIGHT: Tolerance = { logits: 1e-5, loss: 1e-6, grad: 1e-4 };
/** The golden files' documented tolerances (their N(0, 0.2) weights: HF's f32 and f64 differ by up to 1e-5). */
export const GOLDEN: Tolerance = { logits: 1e-4, loss: 1e-5, grad: 1e-3 };
/** Mixed precision against float32 transformers: the parity tests' documented fp16 bounds. */
export const FP16: Tolerance = { logits: 2e-2, logitsRelative: true, loss: 4e-2, grad: 5e-2 };

/** The HF batch in `inputs` (input_ids, attention_mask, labels as I64) as ours. */
export function batchOf(inputs: Map<string, HostTensor>): Batch {
  const idsT = inputs.get("input_ids")!, maskT = inputs.get("attention_mask")!;
  const [batch, seq] = idsT.shape;
  return {
    ids: Int32Array.from(idsT.data),
    mask: Float32Array.from(maskT.data),
    labels: Int32Array.from(inputs.get("labels")!.data),
    batch,
    seq,
  };
}

/**
 * Our logits, loss and gradients on `inputs` against transformers' `expected` (forward_backward), f32 both
 * sides with different summation orders (or ours in mixed precision: `fp16`, the loss scaled by 1024 for the
 * backward as training scales it). `logitsOnly` checks the logits alone (an evaluation pass). Returns the
 * worst of each and our gradient norm, for the log.
 */
export async function assertMatchesHf(
  dir: string,
  inputs: Map<string, HostTensor>,
  expected: Map<string, HostTensor>,
  tol: Tolerance,
  opts: { fp16?: boolean; logitsOnly?: boolean } = {},
) {
  await gpuReady;
  const loaded = await loadClassifierCheckpoint(dir, { strict: true });
  const model = DistilBertClassifier.fromHost(loaded.config, loaded.tensors);
  const b = batchOf(inputs);
  const fp16 = opts.fp16 ?? false, lossScale = fp16 ? 1024 : 1;
  const refLogits = expected.get("logits")!.data;
  const logitTol = tol.logits * (tol.logitsRelative ? maxAbs(refLogits) : 1);
  if (opts.logitsOnly) {
    const logits = await predictRows(model, rowsOf(b), b.batch, fp16).then((r) => r.logits);
    const logitDiff = maxAbsDiff(logits, refLogits);
    model.dispose();
    assert.ok(logitDiff <= logitTol, `logits differ by ${logitDiff} (bound ${logitTol})`);
    assert.deepEqual(gpu().takeErrors(), []);
    return { logitDiff };
  }
  const [logitsT, lossT] = tidy(() => {
    const logits = model.forward(b, { training: false, fp16 });
    const loss = model.loss(logits, b.labels!);
    (fp16 ? scale(loss, lossScale) : loss).backward();
    return [logits, loss];
  });
  const logits = await logitsT.toArray(), loss = await lossT.item();
  const logitDiff = maxAbsDiff(logits, refLogits);
  assert.ok(logitDiff <= logitTol, `logits differ by ${logitDiff} (bound ${logitTol})`);
  const refLoss = expected.get("loss")!.data[0];
  const lossRel = Math.abs(loss / refLoss - 1);
  assert.ok(lossRel <= tol.loss, `loss ${loss} vs ${refLoss}`);
  const globalMax = Math.max(
    ...[...expected].filter(([k]) => k.startsWith("grad.")).map(([, t]) => maxAbs(t.data)),
  );
  let worst = 0, checked = 0, normSq = 0;
  // Every gradient is compared before failing, so one failure names all that are off (one parameter, a
  // layer, or all of them point at different causes).
  const failures: string[] = [];
  for (const [name, t] of model.params) {
    const ref = expected.get(`grad.${name}`);
    assert.ok(ref, `transformers has no parameter ${name}`);
    const got = (await t.grad!.toArray()).map((g) => g / lossScale);
    for (const g of got) normSq += g * g;
    const diff = maxAbsDiff(got, ref.data);
    // A gradient that is analytically zero (k_lin.bias: a key bias shifts each softmax row by a constant)
    // is rounding noise on both sides: held to 1e-6 of the largest gradient instead (fp16: its own bound).
    const refMax = maxAbs(ref.data);
    const tiny = refMax < 1e-6 * globalMax;
    const bound = tiny ? (fp16 ? tol.grad : 1e-6) * globalMax : tol.grad * refMax;
    if (!(diff <= bound)) {
      const at = got.findIndex((g, i) => Math.abs(g - ref.data[i]) === diff);
      failures.push(
        `${name}: max diff ${diff} (its max ${refMax}; at [${at}]: ours ${got[at]}, transformers' ${
          ref.data[at]
        })`,
      );
    }
    if (!tiny) worst = Math.max(worst, diff / refMax);
    checked++;
  }
  assert.deepEqual(
    failures,
    [],
    `${failures.length} of ${checked} gradients differ (logits ${logitDiff}, loss ${lossRel} relative: ` +
      `within bounds):\n${failures.join("\n")}`,
  );
  assert.equal(checked, [...expected.keys()].filter((k) => k.startsWith("grad.")).length, "every parameter");
  logitsT.dispose();
  lossT.dispose();
  model.dispose();
  assert.deepEqual(gpu().takeErrors(), []);
  return { logitDiff, lossRel, worstGradient: worst, gradNorm: Math.sqrt(normSq) };
}

/** A padded batch as tokenized rows (each row's real tokens), for `predictRows`. */
function rowsOf(b: Batch) {
  const offsets = [0], ids: number[] = [];
  for (let r = 0; r < b.batch; r++) {
    for (let s = 0; s < b.seq; s++) if (b.mask[r * b.seq + s] > 0) ids.push(b.ids[r * b.seq + s]);
    offsets.push(ids.length);
  }
  return { ids: Int32Array.from(ids), offsets: Int32Array.from(offsets), labels: b.labels! };
}

/**
 * Our `predict --json` and transformers (tests/hf/check_export.py: the model, tokenizer and pipeline loaded
 * from `exported`) on the same texts; transformers must load the export with no missing, unexpected or
 * mismatched keys. `dir` holds the texts' files.
 */
export async function predictBothSides(exported: string, texts: string[], dir: string) {
  await Deno.writeTextFile(join(dir, "texts.txt"), texts.join("\n") + "\n");
  const ours = (await cliOutput("predict", ["--model", exported, "--json", "--file", join(dir, "texts.txt")]))
    .trim().split("\n").map((l) => JSON.parse(l));
  await Deno.writeTextFile(join(dir, "texts.json"), JSON.stringify(texts));
  const theirs = JSON.parse(
    await runHf("check_export.py", [exported, join(dir, "texts.json"), join(dir, "resaved")]),
  );
  assert.deepEqual(theirs.loading_info, {
    missing_keys: [],
    unexpected_keys: [],
    mismatched_keys: [],
    error_msgs: [],
  });
  return { ours, theirs };
}
