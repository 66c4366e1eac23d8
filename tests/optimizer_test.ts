/** AdamW and clipping against a float64 host implementation of torch.optim.AdamW + clip_grad_norm_. */
import assert from "node:assert/strict";
import { Tensor } from "../autograd/mod.ts";
import { AdamW } from "../train/optimizer.ts";
import { linearWarmupDecay } from "../train/schedule.ts";
import { assertClose, gpuReady, randn, rng } from "./helpers.ts";

function hostAdamW(
  params: Float64Array[],
  grads: Float64Array[][],
  noDecay: boolean[],
  lrs: number[],
  c: { wd: number; maxNorm: number },
): Float64Array[] {
  const p = params.map((x) => Float64Array.from(x));
  const m = p.map((x) => new Float64Array(x.length)), v = p.map((x) => new Float64Array(x.length));
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  grads.forEach((gs, t) => {
    const norm = Math.sqrt(gs.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
    const clip = c.maxNorm > 0 ? Math.min(1, c.maxNorm / (norm + 1e-6)) : 1;
    const step = t + 1, lr = lrs[t];
    p.forEach((x, k) => {
      for (let i = 0; i < x.length; i++) {
        const g = gs[k][i] * clip;
        x[i] *= 1 - lr * (noDecay[k] ? 0 : c.wd);
        m[k][i] = b1 * m[k][i] + (1 - b1) * g;
        v[k][i] = b2 * v[k][i] + (1 - b2) * g * g;
        const denom = Math.sqrt(v[k][i]) / Math.sqrt(1 - b2 ** step) + eps;
        x[i] -= (lr / (1 - b1 ** step)) * m[k][i] / denom;
      }
    });
  });
  return p;
}

/** Flat buffers (one, or three with a small capacity) and one dispatch per parameter: all equal PyTorch. */
const LAYOUTS = [
  { name: "flat", opts: {}, dispatches: 2 },
  { name: "flat, 2 buffers", opts: { flatCapacity: 384 }, dispatches: 4 },
  { name: "per parameter", opts: { flat: false }, dispatches: 6 },
];

for (const [maxNorm, layout] of [1, 0].flatMap((n) => LAYOUTS.map((l) => [n, l] as const))) {
  Deno.test(`AdamW matches PyTorch semantics (clip ${maxNorm || "off"}, decay only where allowed; ${layout.name})`, async () => {
    await gpuReady;
    const rand = rng(11);
    const shapes = [[37, 5], [5], [300]];
    const noDecay = [false, true, false];
    const init = shapes.map((s) => randn(s.reduce((a, b) => a * b, 1), rand));
    const steps = 4;
    const grads = Array.from(
      { length: steps },
      () => shapes.map((s) => randn(s.reduce((a, b) => a * b, 1), rand, 0.3)),
    );
    const lrs = Array.from({ length: steps }, (_, t) => 0.01 * linearWarmupDecay(t, 1, steps));
    const tensors = init.map((x, i) =>
      Tensor.fromArray(new Float32Array(x), shapes[i], { requiresGrad: true })
    );
    const opt = new AdamW(
      tensors.map((t, i) => ({ name: `p${i}`, tensor: t, noDecay: noDecay[i] })),
      {
        lr: 0.01,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0.1,
        maxGradNorm: maxNorm,
      },
      null,
      layout.opts,
    );
    assert.equal(opt.updateDispatches, layout.dispatches);
    for (let t = 0; t < steps; t++) {
      tensors.forEach((x, i) => (x.grad = Tensor.fromArray(new Float32Array(grads[t][i]), shapes[i])));
      const normSq = opt.update(lrs[t]);
      const expectedNorm = Math.sqrt(grads[t].reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
      assert.ok(Math.abs(Math.sqrt(await normSq.item()) - expectedNorm) < 1e-4 * expectedNorm);
      normSq.dispose();
      tensors.forEach((x) => x.grad!.dispose());
    }
    const expected = hostAdamW(init.map((x) => Float64Array.from(new Float32Array(x))), grads, noDecay, lrs, {
      wd: 0.1,
      maxNorm,
    });
    for (let i = 0; i < tensors.length; i++) {
      assertClose(await tensors[i].toArray(), expected[i], `param ${i}`, { atol: 2e-6, rtol: 1e-5 });
      assert.deepEqual(opt.m.get(`p${i}`)!.shape, shapes[i]);
    }
    // A step where one parameter has no gradient takes the per-parameter path and leaves that one alone.
    const before = await tensors[1].toArray();
    tensors.forEach((
      x,
      i,
    ) => (x.grad = i === 1 ? null : Tensor.fromArray(new Float32Array(grads[0][i]), shapes[i])));
    opt.update(0.01).dispose();
    assert.deepEqual(await tensors[1].toArray(), before);
    tensors.forEach((x) => x.grad?.dispose());
    opt.dispose();
    tensors.forEach((t) => t.dispose());
  });
}

Deno.test("a non-finite gradient leaves the parameters untouched", async () => {
  await gpuReady;
  const x = Tensor.fromArray([1, 2, 3], [3], { requiresGrad: true });
  const opt = new AdamW([{ name: "x", tensor: x, noDecay: false }], {
    lr: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0.01,
    maxGradNorm: 1,
  });
  x.grad = Tensor.fromArray([0.5, NaN, 1], [3]);
  const normSq = opt.update(0.1);
  assert.ok(!Number.isFinite(await normSq.item()));
  assert.deepEqual(Array.from(await x.toArray()), [1, 2, 3]);
});

Deno.test("linear schedule: warmup from 0, decay to 0 (HF get_linear_schedule_with_warmup)", () => {
  assert.equal(linearWarmupDecay(0, 4, 30), 0);
  assert.equal(linearWarmupDecay(2, 4, 30), 0.5);
  assert.equal(linearWarmupDecay(4, 4, 30), 1);
  assert.equal(linearWarmupDecay(17, 4, 30), 13 / 26);
  assert.equal(linearWarmupDecay(30, 4, 30), 0);
  assert.equal(linearWarmupDecay(0, 0, 10), 1);
});
