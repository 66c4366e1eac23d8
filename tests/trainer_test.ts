/** The training loop itself: pipelined steps (loss read back asynchronously) and one submission per step. */
import assert from "node:assert/strict";
import { gpu } from "../autograd/mod.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { makeBatch } from "../train/batches.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { Trainer } from "../train/trainer.ts";
import type { StepRecord } from "../train/run_log.ts";
import { gpuReady, rng } from "./helpers.ts";

/** 40 synthetic rows of 5-20 tokens. */
function syntheticRows() {
  const rand = rng(11);
  const lengths = Array.from({ length: 40 }, () => 5 + Math.floor(rand() * 16));
  const offsets = Int32Array.from({ length: 41 }, (_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0));
  const ids = Int32Array.from({ length: offsets[40] }, () => 1000 + Math.floor(rand() * 5000));
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 2);
  return { ids, offsets, labels };
}

Deno.test("trainer: the pipelined loop equals waiting for every step, with one submission per step", async () => {
  await gpuReady;
  const config = presetConfig("tiny");
  const rows = syntheticRows();
  const cfg = { ...PRETRAINED_DEFAULTS, init: "scratch" as const, batchSize: 4, maxSteps: 8, lr: 1e-3 };

  // The loop: steps 1-7 are submitted before the previous one's loss is back; step 8 is the last.
  const piped = DistilBertClassifier.fromHost(config, initHostParams(config, 3));
  const a = new Trainer(piped, rows, cfg);
  const logs: StepRecord[] = [];
  const submittedAtLog: number[] = [];
  await gpu().sync();
  const submitsBefore = gpu().submits;
  await a.run({
    onStep: (log, state) => {
      logs.push(log);
      submittedAtLog.push(state.step);
    },
  });
  const submits = gpu().submits - submitsBefore;
  assert.deepEqual(logs.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(submits <= 8 + 1, `${submits} queue submissions for 8 steps`);
  // Step k is logged after step k+1 was submitted (no wait inside a step), except the last.
  assert.deepEqual(submittedAtLog, [2, 3, 4, 5, 6, 7, 8, 8]);

  // The same steps, each waited for.
  const waited = DistilBertClassifier.fromHost(config, initHostParams(config, 3));
  const b = new Trainer(waited, rows, cfg);
  const order = b.orderFor(0);
  for (let step = 0; step < 8; step++) {
    const batch = makeBatch(rows, order.subarray(step * 4, step * 4 + 4));
    const r = await b.trainStep([batch]);
    b.state.step++;
    assert.equal(r.loss, logs[step].loss, `step ${step + 1} loss`);
    assert.equal(r.gradNorm, logs[step].grad_norm, `step ${step + 1} grad norm`);
  }
  const wa = await piped.toHost(), wb = await waited.toHost();
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, name);
  for (const t of [a, b]) t.optimizer.dispose();
  piped.dispose();
  waited.dispose();
});

Deno.test("trainer: 2 micro-batches of 4 (gradient accumulation) step like one batch of 8", async () => {
  await gpuReady;
  // Without dropout the two runs compute the same function; padding differs (each micro-batch is padded to
  // its own longest row) but padded keys are masked out, so only summation order differs.
  const config = { ...presetConfig("tiny"), dropout: 0, attention_dropout: 0, seq_classif_dropout: 0 };
  const rows = syntheticRows();
  const run = async (batchSize: number, gradAccum: number) => {
    const model = DistilBertClassifier.fromHost(config, initHostParams(config, 5));
    const trainer = new Trainer(model, rows, {
      ...PRETRAINED_DEFAULTS,
      init: "scratch" as const,
      batchSize,
      gradAccum,
      maxSteps: 4,
      lr: 1e-3,
    });
    const logs: StepRecord[] = [];
    await trainer.run({ onStep: (log) => void logs.push(log) });
    trainer.optimizer.dispose();
    model.dispose();
    return logs;
  };
  const big = await run(8, 1), accumulated = await run(4, 2);
  assert.equal(accumulated.length, 4);
  for (let i = 0; i < 4; i++) {
    const what = `step ${i + 1}`;
    assert.ok(Math.abs(accumulated[i].loss - big[i].loss) <= 1e-4 * big[i].loss, `${what} loss`);
    assert.ok(
      Math.abs(accumulated[i].grad_norm! - big[i].grad_norm!) <= 1e-3 * big[i].grad_norm!,
      `${what} norm`,
    );
    assert.equal(accumulated[i].tokens, big[i].tokens);
  }
});
