/** AdamW and clipping against a float64 host implementation of torch.optim.AdamW + clip_grad_norm_. */
import assert from "node:assert/strict";
import { AdamW } from "../train/optimizer.ts";
import { linearWarmupDecay } from "../train/schedule.ts";
import { assertClose, gpuReady, randn, rng } from "./helpers.ts";
import { paramStore, setGradients } from "./param_store_helpers.ts";

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

/** The parameter store in one flat buffer, or two or three with a small capacity: all equal PyTorch. */
const LAYOUTS = [
  { name: "1 buffer", capacity: undefined, dispatches: 2 },
  { name: "2 buffers", capacity: 384, dispatches: 4 },
  { name: "3 buffers", capacity: 320, dispatches: 6 },
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
    const store = paramStore(
      init.map((x, i) => ({
        name: `p${i}`,
        shape: shapes[i],
        data: new Float32Array(x),
        noDecay: noDecay[i],
      })),
      layout.capacity,
    );
    const tensors = [...store.tensors.values()];
    assert.equal(store.groups.length, layout.dispatches / 2);
    const opt = new AdamW(
      store,
      {
        lr: 0.01,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0.1,
        maxGradNorm: maxNorm,
      },
    );
    assert.equal(opt.updateDispatches, layout.dispatches);
    for (let t = 0; t < steps; t++) {
      setGradients(store, grads[t]);
      const normSq = opt.update(lrs[t]);
      const expectedNorm = Math.sqrt(grads[t].reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
      assert.ok(Math.abs(Math.sqrt(await normSq.item()) - expectedNorm) < 1e-4 * expectedNorm);
      normSq.dispose();
    }
    const expected = hostAdamW(init.map((x) => Float64Array.from(new Float32Array(x))), grads, noDecay, lrs, {
      wd: 0.1,
      maxNorm,
    });
    for (let i = 0; i < tensors.length; i++) {
      assertClose(await tensors[i].toArray(), expected[i], `param ${i}`, { atol: 2e-6, rtol: 1e-5 });
      assert.deepEqual(opt.m.get(`p${i}`)!.shape, shapes[i]);
    }
    // A step where one parameter has no gradient updates the others and leaves that one alone (PyTorch).
    const before = await Promise.all(tensors.map((t) => t.toArray()));
    setGradients(store, grads[0].map((g, i) => i === 1 ? null : g));
    opt.update(0.01).dispose();
    const after = await Promise.all(tensors.map((t) => t.toArray()));
    assert.deepEqual(after[1], before[1]);
    for (const i of [0, 2]) assert.notDeepEqual(after[i], before[i]);
    opt.dispose();
    store.dispose();
  });
}

Deno.test("a non-finite gradient leaves the parameters untouched", async () => {
  await gpuReady;
  const store = paramStore([{ name: "x", shape: [3], data: [1, 2, 3] }]);
  const x = store.tensors.get("x")!;
  const opt = new AdamW(store, {
    lr: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0.01,
    maxGradNorm: 1,
  });
  setGradients(store, [[0.5, NaN, 1]]);
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
