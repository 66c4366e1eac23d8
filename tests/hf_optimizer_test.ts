/**
 * Our AdamW, gradient clipping and linear schedule against the real ones: torch.optim.AdamW (two parameter
 * groups, as Trainer builds them), torch.nn.utils.clip_grad_norm_ and transformers'
 * get_linear_schedule_with_warmup, step by step on the same gradients (tests/optimizer_test.ts checks the same
 * against a float64 host implementation when this reference is missing).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AdamW } from "../train/optimizer.ts";
import { linearWarmupDecay } from "../train/schedule.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { assertClose, gpuReady, randn, rng } from "./helpers.ts";
import { paramStore, setGradients } from "./param_store_helpers.ts";
import { hf, runHf, withTempDir } from "./hf_reference.ts";

const SHAPES = [[37, 5], [5], [300], [64]];
const NO_DECAY = [1, 3];
/** Gradient scales: ordinary, and (parameter 3) rounding-noise size, where eps = 1e-8 decides the step. */
const SCALES = [0.3, 0.3, 0.05, 1e-8];

for (const maxGradNorm of [1, 0]) {
  Deno.test({
    name: `hf: AdamW${
      maxGradNorm ? " + clip_grad_norm_" : ""
    } and the linear schedule equal torch's and transformers'`,
    ignore: !hf,
    fn: async () => {
      await gpuReady;
      const rand = rng(5);
      const steps = 6, lr = 0.01, warmup = 2, weightDecay = 0.1;
      const init = SHAPES.map((s) => new Float32Array(randn(s.reduce((a, b) => a * b, 1), rand)));
      const grads = Array.from(
        { length: steps },
        () => SHAPES.map((s, i) => new Float32Array(randn(s.reduce((a, b) => a * b, 1), rand, SCALES[i]))),
      );
      await withTempDir(async (dir) => {
        const file = new Map<string, HostTensor>();
        init.forEach((data, i) => file.set(`p.${i}`, { dtype: "F32", shape: SHAPES[i], data }));
        grads.forEach((gs, t) =>
          gs.forEach((data, i) => file.set(`g.${t}.${i}`, { dtype: "F32", shape: SHAPES[i], data }))
        );
        await writeSafetensors(join(dir, "in.safetensors"), file);
        const settings = {
          lr,
          weight_decay: weightDecay,
          max_grad_norm: maxGradNorm,
          warmup_steps: warmup,
          steps,
          no_decay: NO_DECAY,
        };
        await Deno.writeTextFile(join(dir, "settings.json"), JSON.stringify(settings));
        const theirs = JSON.parse(
          await runHf("adamw_steps.py", [
            join(dir, "in.safetensors"),
            join(dir, "settings.json"),
            join(dir, "out.safetensors"),
          ]),
        );
        const expected = (await readSafetensors(join(dir, "out.safetensors"))).tensors;

        const store = paramStore(
          init.map((data, i) => ({ name: `p${i}`, shape: SHAPES[i], data, noDecay: NO_DECAY.includes(i) })),
        );
        const tensors = [...store.tensors.values()];
        const opt = new AdamW(store, { lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay, maxGradNorm });
        for (let t = 0; t < steps; t++) {
          const stepLr = lr * linearWarmupDecay(t, warmup, steps);
          assert.ok(
            Math.abs(stepLr - theirs.lrs[t]) <= 1e-15,
            `step ${t + 1}: lr ${stepLr} vs ${theirs.lrs[t]}`,
          );
          setGradients(store, grads[t]);
          const normSq = opt.update(stepLr);
          const norm = Math.sqrt(await normSq.item());
          assert.ok(
            Math.abs(norm / theirs.norms[t] - 1) <= 1e-5,
            `step ${t + 1}: grad norm ${norm} vs ${theirs.norms[t]}`,
          );
          normSq.dispose();
        }
        for (let i = 0; i < tensors.length; i++) {
          assertClose(await tensors[i].toArray(), expected.get(`p.${i}`)!.data, `parameter ${i}`, {
            atol: 1e-6,
            rtol: 1e-5,
          });
        }
        opt.dispose();
        store.dispose();
      });
    },
  });
}
