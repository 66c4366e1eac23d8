/**
 * The real shapes, against transformers: a DistilBERT-base-size classifier (768 dim, 12 heads, 3072 FFN, the
 * real vocabulary; 2 layers, to keep CI within its time on a CPU driver) with random weights, saved by
 * save_pretrained. One train step's forward and backward at batch 16 × 512 (every row 512 real tokens):
 * logits, loss, gradient norm and every gradient equal DistilBertForSequenceClassification's; an evaluation
 * pass at 32 × 512 (four rows padded) gives its logits; the same train batch in mixed precision is within the
 * fp16 bounds. With the adapter's limits and under DISTILBERT_WEBGPU_LIMITS=default (CI runs both) no device
 * error may occur: the attention scores (16 × 12 × 512² × 4 B = 192 MiB) never exist, and the evaluation's
 * FFN activation (32 × 512 × 3072 × 4 B) is over 128 MiB, so that batch runs as two passes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors } from "../model/safetensors.ts";
import { bundledVocabPath } from "../data/tokenizer_files.ts";
import { gpuReady } from "./helpers.ts";
import { assertMatchesHf, FP16, GOLDEN, hf, runHf } from "./hf_reference.ts";

const LAYERS = 2;

let made: Promise<{ dir: string; summary: Record<string, number> }> | null = null;
function reference() {
  made ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "hf-real-shapes-" });
    const out = await runHf("real_shapes.py", [bundledVocabPath(), dir, String(LAYERS)]);
    return { dir, summary: JSON.parse(out) };
  })();
  return made;
}

const tensors = async (path: string) => (await readSafetensors(path)).tensors;

type Tolerance = Parameters<typeof assertMatchesHf>[3];
type MatchOptions = Parameters<typeof assertMatchesHf>[4];

/** Our pass over the reference's `kind` batch against transformers' results for it. */
async function matchCase(kind: "train" | "eval", tol: Tolerance, opts?: MatchOptions) {
  const { dir } = await reference();
  return await assertMatchesHf(
    join(dir, "model"),
    await tensors(join(dir, `${kind}.safetensors`)),
    await tensors(join(dir, `${kind}_expected.safetensors`)),
    tol,
    opts,
  );
}

Deno.test({
  name:
    "hf: base-size train step at 16 × 512: logits, loss, gradient norm and every gradient equal transformers'",
  ignore: !hf,
  fn: async () => {
    const { summary } = await reference();
    assert.ok(
      summary.train_f32_vs_f64 < 1e-4 && summary.train_grad_f32_vs_f64 < 1e-4,
      `the reference is ill-conditioned: ${JSON.stringify(summary)}`,
    );
    const worst = await matchCase("train", GOLDEN);
    const normRel = Math.abs(worst.gradNorm! / summary.train_grad_norm - 1);
    assert.ok(normRel <= 1e-4, `gradient norm ${worst.gradNorm} vs ${summary.train_grad_norm}`);
    console.log(
      `  16 × 512 vs transformers: ${JSON.stringify({ ...worst, normRel })}; HF f32 vs f64 ${
        JSON.stringify(summary)
      }`,
    );
  },
});

Deno.test({
  name:
    "hf: base-size evaluation at 32 × 512 (padded rows, two passes on a 128 MiB binding) gives transformers' logits",
  ignore: !hf,
  fn: async () => {
    const worst = await matchCase("eval", GOLDEN, { logitsOnly: true });
    console.log(`  32 × 512 vs transformers: ${JSON.stringify(worst)}`);
  },
});

Deno.test({
  name:
    "hf: base-size train step at 16 × 512 in mixed precision (--fp16) within the fp16 bounds of transformers'",
  ignore: !hf || !(await gpuReady).summary.shaderF16,
  fn: async () => {
    const worst = await matchCase("train", FP16, { fp16: true });
    console.log(`  16 × 512 fp16 vs transformers f32: ${JSON.stringify(worst)}`);
  },
});
