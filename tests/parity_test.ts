/**
 * Parity with PyTorch (../shared/golden): the model's logits, loss and every gradient on reference
 * configurations, and a 30-step AdamW training trajectory replayed through the Trainer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu, scale, tidy } from "../autograd/mod.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { loadClassifierCheckpoint } from "../model/checkpoint.ts";
import { readConfigFile } from "../model/config_file.ts";
import { type HostTensor, readSafetensors } from "../model/safetensors.ts";
import { Trainer } from "../train/trainer.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { sharedDir } from "../util/fs.ts";
import { maxAbs, maxAbsDiff } from "./array_diff.ts";
import { gpuReady } from "./helpers.ts";
import { torchPython } from "../util/python.ts";

const shared = sharedDir();
const golden = shared ? join(shared, "golden") : null;
const ignore = golden === null;
if (ignore) {
  console.warn("parity tests skipped: ../shared/golden is missing (it sits beside the checkout in CI)");
}
const shaderF16 = (await gpuReady).summary.shaderF16;
if (!ignore && !shaderF16) console.warn("fp16 parity tests skipped: the adapter has no shader-f16");

/** Runs `fn` with self-attention forced onto one path (the runtime's setting), then restores it. */
async function withAttention(path: "fused" | "unfused", fn: () => Promise<void>): Promise<void> {
  const rt = await gpuReady;
  const before = rt.options;
  rt.options = { ...before, attention: path };
  try {
    await fn();
  } finally {
    rt.options = before;
  }
}

/** Rows of [B, S] I64 inputs as our batch (mask as f32). */
function batchFrom(inputs: Map<string, HostTensor>, index?: number) {
  const ids = inputs.get("input_ids")!, mask = inputs.get("attention_mask")!, labels = inputs.get("labels")!;
  const [B, S] = ids.shape.slice(-2);
  const at = (t: HostTensor, per: number) =>
    index === undefined ? t.data : t.data.subarray(index * per, (index + 1) * per);
  return {
    ids: Int32Array.from(at(ids, B * S)),
    mask: Float32Array.from(at(mask, B * S)),
    labels: Int32Array.from(at(labels, B)),
    batch: B,
    seq: S,
  };
}

/**
 * Tolerances: f32 holds logits to 1e-4, the loss to 1e-5 relative and each gradient to 1e-3 of its max.
 * Mixed precision (f16 matmul operands, f32 accumulation) rounds every matmul input to 11 significant bits
 * (relative 2^-11 ≈ 4.9e-4 each; attention scores of magnitude ~10 then move each softmax weight by
 * ~0.5%), so it is held to documented looser bounds: logits 2e-2 of the largest logit; the loss within
 * twice that (mean cross-entropy moves at most 2× the largest logit change); gradients 5e-2 of their max.
 */
const PRECISIONS = {
  f32: { logits: 1e-4, logitsRelative: false, loss: 1e-5, grad: 1e-3 },
  fp16: { logits: 2e-2, logitsRelative: true, loss: null, grad: 5e-2 },
};

for (const attention of ["unfused", "fused"] as const) {
  for (const precision of ["f32", "fp16"] as const) {
    for (const name of ["tiny", "odd-shapes", "small"]) {
      const tol = PRECISIONS[precision];
      Deno.test({
        name: `golden model ${name}${precision === "fp16" ? " (fp16 mixed precision)" : ""}, ${attention} ` +
          "attention: logits, loss and every gradient match PyTorch",
        ignore: ignore || (precision === "fp16" && !shaderF16),
        fn: () =>
          withAttention(attention, async () => {
            await gpuReady;
            const fp16 = precision === "fp16";
            const dir = join(golden!, "model", name);
            const loaded = await loadClassifierCheckpoint(dir);
            assert.deepEqual(loaded.missingKeys, []);
            assert.deepEqual(loaded.unexpectedKeys, []);
            const model = DistilBertClassifier.fromHost(loaded.config, loaded.tensors);
            const inputs = (await readSafetensors(join(dir, "inputs.safetensors"))).tensors;
            const expected = (await readSafetensors(join(dir, "expected.safetensors"))).tensors;
            const batch = batchFrom(inputs);
            // fp16 backpropagates a scaled loss, as training does (f16 gradients would otherwise underflow).
            const lossScale = fp16 ? 1024 : 1;
            const [logitsT, lossT] = tidy(() => {
              const logits = model.forward(batch, { training: false, fp16 });
              const loss = model.loss(logits, batch.labels);
              (fp16 ? scale(loss, lossScale) : loss).backward();
              return [logits, loss];
            });
            const logits = await logitsT.toArray(), loss = await lossT.item();
            const refLogits = expected.get("logits")!.data;
            const logitDiff = maxAbsDiff(logits, refLogits);
            const logitTol = tol.logits * (tol.logitsRelative ? maxAbs(refLogits) : 1);
            assert.ok(logitDiff <= logitTol, `logits differ by ${logitDiff}`);
            const refLoss = expected.get("loss")!.data[0];
            // The fused attention sums in another order (online softmax): on `small` (weights N(0, 0.2), so every
            // rounding is amplified) its loss is 7.7e-6 from float64 HF and 1.2e-5 from this golden, which is
            // itself 4.0e-6 from float64 (HF 5.18's own f32 run: 6.2e-6). It is held to twice the f32 bound.
            const lossRel = tol.loss === null ? null : tol.loss * (attention === "fused" ? 2 : 1);
            const lossTol = lossRel === null ? 2 * logitTol : lossRel * Math.abs(refLoss);
            assert.ok(Math.abs(loss - refLoss) <= lossTol, `loss ${loss} vs ${refLoss}`);
            // k_lin.bias has an analytically zero gradient (a bias added to every key shifts each softmax row by
            // a constant), so both sides hold rounding noise (~1e-8) there and "1e-3 of its max" is meaningless.
            // Such gradients (max below 1e-6 of the largest gradient in the model) are held to 1e-6 of that
            // largest one (fp16: the same fraction as every other gradient, of that largest one).
            const globalMax = Math.max(
              ...[...expected].filter(([k]) => k.startsWith("grad.")).map(([, t]) => maxAbs(t.data)),
            );
            let checked = 0, worst = 0;
            for (const [key, t] of model.params) {
              const ref = expected.get(`grad.${key}`);
              assert.ok(ref, `no reference gradient for ${key}`);
              const got = (await t.grad!.toArray()).map((g) => g / lossScale);
              const diff = maxAbsDiff(got, ref.data), refMax = maxAbs(ref.data);
              const tiny = refMax < 1e-6 * globalMax;
              const bound = tiny ? (fp16 ? tol.grad : 1e-6) * globalMax : tol.grad * refMax;
              assert.ok(diff <= bound, `gradient of ${key}: max diff ${diff} vs max ${refMax}`);
              if (!tiny) worst = Math.max(worst, diff / refMax);
              checked++;
            }
            assert.equal(checked, [...expected.keys()].filter((k) => k.startsWith("grad.")).length);
            if (fp16) {
              console.log(
                `  ${name} fp16: logits max diff ${logitDiff.toExponential(2)} (largest logit ${
                  maxAbs(refLogits).toFixed(3)
                }), loss ${Math.abs(loss / refLoss - 1).toExponential(2)} relative, worst gradient ${
                  worst.toExponential(2)
                } of its max`,
              );
            }
            logitsT.dispose();
            lossT.dispose();
            model.dispose();
            assert.deepEqual(gpu().takeErrors(), []);
          }),
      });
    }
  }
}

Deno.test({
  name: "golden trajectory: 30 AdamW steps replay PyTorch's losses and final weights",
  ignore,
  fn: async () => {
    await gpuReady;
    const dir = join(golden!, "train", "tiny-adamw");
    const expected = JSON.parse(await Deno.readTextFile(join(dir, "expected.json")));
    const hp = expected.hyperparameters;
    const config = {
      ...(await readConfigFile(join(dir, "config.json"))),
      dropout: 0,
      attention_dropout: 0,
      seq_classif_dropout: 0,
    };
    const init = (await readSafetensors(join(dir, "init.safetensors"))).tensors;
    const model = DistilBertClassifier.fromHost(config, init);
    const batches = (await readSafetensors(join(dir, "batches.safetensors"))).tensors;
    const [steps, B, S] = batches.get("input_ids")!.shape;
    // Rows in file order, one optimizer step per batch of B: the Trainer's --no-shuffle order.
    const ids = batches.get("input_ids")!.data, mask = batches.get("attention_mask")!.data;
    const offsets = [0], flat: number[] = [];
    for (let r = 0; r < steps * B; r++) {
      const len = Array.from(mask.subarray(r * S, (r + 1) * S)).reduce((a, b) => a + b, 0);
      flat.push(...ids.subarray(r * S, r * S + len));
      offsets.push(flat.length);
    }
    const rows = {
      ids: Int32Array.from(flat),
      offsets: Int32Array.from(offsets),
      labels: Int32Array.from(batches.get("labels")!.data),
    };
    const trainer = new Trainer(model, rows, {
      ...PRETRAINED_DEFAULTS,
      lr: hp.lr,
      optimizer: {
        ...PRETRAINED_DEFAULTS.optimizer,
        weightDecay: hp.weight_decay,
        maxGradNorm: hp.max_grad_norm,
      },
      warmupSteps: hp.warmup_steps,
      maxSteps: hp.total_steps,
      batchSize: B,
      shuffle: false,
      dropout: 0,
    });
    const losses: number[] = [], lrs: number[] = [];
    await trainer.run({ onStep: (log) => void (losses.push(log.loss), lrs.push(log.lr)) });
    assert.equal(losses.length, steps);
    losses.forEach((l, i) => {
      const ref = expected.loss[i];
      assert.ok(Math.abs(l - ref) <= 1e-4 * Math.abs(ref), `step ${i + 1}: loss ${l} vs ${ref}`);
      assert.ok(
        Math.abs(lrs[i] - expected.lr[i]) <= 1e-12,
        `step ${i + 1}: lr ${lrs[i]} vs ${expected.lr[i]}`,
      );
    });
    const final = (await readSafetensors(join(dir, "final.safetensors"))).tensors;
    for (const [key, t] of model.params) {
      const diff = maxAbsDiff(await t.toArray(), final.get(key)!.data);
      assert.ok(diff <= 1e-4, `final ${key}: max diff ${diff}`);
    }
    trainer.optimizer.dispose();
    model.dispose();
  },
});

const python = golden ? await torchPython() : null;
if (golden && !python) console.warn("fp16 emulation parity skipped: `import torch` fails");

for (const name of ["tiny", "odd-shapes", "small"]) {
  Deno.test({
    name: `golden model ${name} (fp16): logits equal PyTorch making the same f16 roundings`,
    ignore: !python || !shaderF16,
    // The unfused path rounds the softmax output to f16 for its product with v, as the emulation does; the
    // fused kernel keeps it f32 (closer to f32, so not the same roundings).
    fn: () =>
      withAttention("unfused", async () => {
        await gpuReady;
        const dir = join(golden!, "model", name);
        const script = new URL("../bench/fp16_reference.py", import.meta.url).pathname;
        const out = await new Deno.Command(python!, { args: [script, dir, "--fp16"], stderr: "inherit" })
          .output();
        assert.ok(out.success, "bench/fp16_reference.py failed");
        const reference: number[] = JSON.parse(new TextDecoder().decode(out.stdout));
        const loaded = await loadClassifierCheckpoint(dir);
        const model = DistilBertClassifier.fromHost(loaded.config, loaded.tensors);
        const batch = batchFrom((await readSafetensors(join(dir, "inputs.safetensors"))).tensors);
        const logitsT = tidy(() => model.forward(batch, { training: false, fp16: true }));
        const logits = await logitsT.toArray();
        // Same roundings: `tiny` matches to 1.2e-7, `small` to 2.4e-3 where the f32 golden is 2.8e-2 away.
        // What is left is f32 summation order deciding a few f16 roundings, amplified by these small random
        // models: the same emulation summed in float64 moves `odd-shapes` by 1.8e-3 (ours: 1.7e-3).
        const diff = maxAbsDiff(logits, reference);
        const f32Logits =
          (await readSafetensors(join(dir, "expected.safetensors"))).tensors.get("logits")!.data;
        const f32Diff = maxAbsDiff(f32Logits, reference);
        console.log(
          `  ${name}: |ours - emulation| ${diff.toExponential(2)}, |f32 - emulation| ${
            f32Diff.toExponential(2)
          }`,
        );
        assert.ok(
          diff <= 2.5e-3 * maxAbs(reference),
          `logits differ by ${diff} (largest ${maxAbs(reference)})`,
        );
        logitsT.dispose();
        model.dispose();
      }),
  });
}
