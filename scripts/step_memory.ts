/**
 * The GPU memory one training step needs, without running it: with DISTILBERT_DRY_RUN=1 the runtime records
 * every allocation and dispatch but submits nothing, so DistilBERT-base at 32 × 512 can be planned on any
 * machine. Prints the buffer pool's peak (live and cached buffers, as the pool rounds them: weights,
 * gradients, AdamW moments and activations) and what the weights and optimizer state alone hold.
 *
 *     DISTILBERT_DRY_RUN=1 deno run -A scripts/step_memory.ts [--preset base] [--batch 16] [--seq 512]
 *                                   [--layers N] [--fp16]
 *
 * Without the dry run it trains the step for real and also prints its loss and time. With the adapter's own
 * binding limit a batch runs in one pass; under DISTILBERT_WEBGPU_LIMITS=default (128 MiB bindings) in as many
 * passes as the limit needs (fewer bytes at the peak).
 */
import { parseArgs } from "node:util";
import { gpu, initGpu } from "../autograd/mod.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { Trainer } from "../train/trainer.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "base" },
    batch: { type: "string", default: "16" },
    seq: { type: "string", default: "512" },
    layers: { type: "string" },
    fp16: { type: "boolean", default: false },
  },
});
const rt = await initGpu();
const batch = Number(values.batch), seq = Number(values.seq);
const config = {
  ...presetConfig(values.preset!),
  ...(values.layers ? { n_layers: Number(values.layers) } : {}),
};
const model = DistilBertClassifier.fromHost(config, initHostParams(config, 1));
const ids = new Int32Array(batch * seq);
for (let i = 0; i < ids.length; i++) ids[i] = i % seq === 0 ? 101 : 1000 + ((i * 7919) % 20000);
const labels = Int32Array.from({ length: batch }, (_, i) => i % 2);
const rows = { ids, offsets: Int32Array.from({ length: batch + 1 }, (_, i) => i * seq), labels };
const trainer = new Trainer(model, rows, {
  ...PRETRAINED_DEFAULTS,
  batchSize: batch,
  maxSteps: 1,
  lr: 1e-4,
  fp16: values.fp16,
});
const pool = gpu().pool;
const weightsBytes = pool.liveBytes;
const t0 = performance.now();
const r = await trainer.trainStep([{ ids, mask: new Float32Array(batch * seq).fill(1), labels, batch, seq }]);
const seconds = (performance.now() - t0) / 1000;
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
console.log(
  `${values.preset} (${config.n_layers} layers) ${batch} × ${seq}${values.fp16 ? " fp16" : ""}, ` +
    `${rt.options.dryRun ? "dry run" : `loss ${r.loss.toFixed(4)}, ${seconds.toFixed(1)} s`}, ` +
    `${Math.ceil(batch / Math.min(batch, model.maxRowsPerPass(seq)))} pass(es): pool peak ${
      gib(pool.peakBytes)
    } GiB (held before it: ${gib(weightsBytes)} GiB)`,
);
