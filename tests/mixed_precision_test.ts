/**
 * Mixed precision (fp16): the f32 ↔ f16 casts, every matmul plan on f16 operands against float64 on the same
 * rounded inputs, the backward's f16 rounding of the incoming gradient, the loss scaler (unscaling, skipped
 * overflow steps, backoff and growth, the step count on the GPU) and the error without shader-f16. Parity
 * with PyTorch at the looser fp16 tolerances is in parity_test.ts; an fp16 run resuming exactly in
 * train_test.ts.
 */
import assert from "node:assert/strict";
import { gpu, mul, sum, Tensor, tidy, withSettings } from "../autograd/mod.ts";
import { cast, castRaw, matmul } from "../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../kernels/matmul.ts";
import { AdamW, type AdamWConfig } from "../train/optimizer.ts";
import { Trainer } from "../train/trainer.ts";
import { DistilBertClassifier } from "../model/distilbert.ts";
import { presetConfig } from "../model/config.ts";
import { initHostParams } from "../model/params.ts";
import { PRETRAINED_DEFAULTS } from "../train/config.ts";
import { gpuReady, randn, rng } from "./helpers.ts";
import { paramStore, setGradients } from "./param_store_helpers.ts";
import { MIXED_MATMUL_TEST_SHAPES as SHAPES, refMatmul } from "./reference.ts";

await gpuReady;
const ignore = !gpu().summary.shaderF16;
if (ignore) console.warn("mixed-precision tests skipped: this adapter has no shader-f16");

const round16 = (x: ArrayLike<number>) => Float32Array.from(Float16Array.from(x as number[]));

Deno.test({
  name: "cast: f32 → f16 rounds to nearest (±inf beyond 65504, NaN kept), f16 → f32 is exact",
  ignore,
  fn: async () => {
    const rand = rng(3);
    for (const n of [1, 2, 7, 1000, 4097]) {
      const values = Float32Array.from(randn(n, rand, 100));
      const specials = [65504, 65519, 65520, -70000, 1e-8, -0, 6e-5, 3.14159, NaN, Infinity];
      values.set(specials.slice(0, Math.min(n, specials.length)));
      const x = Tensor.fromArray(values, [n]);
      const half = castRaw(x, "f16");
      assert.equal(half.dtype, "f16");
      const got = await half.toArray(), back = await castRaw(half, "f32").toArray();
      const want = round16(values);
      for (let i = 0; i < n; i++) {
        assert.ok(
          Object.is(got[i], want[i]),
          `n=${n} element ${i}: ${values[i]} → ${got[i]}, want ${want[i]}`,
        );
        assert.ok(Object.is(back[i], want[i]), `n=${n} element ${i} back to f32`);
      }
      x.dispose();
      half.dispose();
    }
    assert.deepEqual(gpu().takeErrors(), []);
  },
});

/** C = op(A)·op(B) in float64, for a shape as the kernels see it. */
const referenceMatmul = (a: Float32Array, b: Float32Array, s: MatmulShape, sharedB: boolean) =>
  refMatmul(Float64Array.from(a), Float64Array.from(b), s.batch, s.m, s.n, s.k, s.transA, s.transB, sharedB);

for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
  for (const sharedB of [false, true]) {
    Deno.test({
      name:
        `f16 matmul: every plan equals float64 on the rounded operands (transA=${transA} transB=${transB} ` +
        `sharedB=${sharedB})`,
      ignore,
      fn: async () => {
        const rand = rng(11 + Number(transA) + 2 * Number(transB) + 4 * Number(sharedB));
        let checked = 0;
        for (const [batch, m, n, k] of SHAPES) {
          if (sharedB && batch === 0) continue;
          const s: MatmulShape = { batch: Math.max(1, batch), m, n, k, transA, transB, f16: true };
          const plans = [
            ...MATMUL_VARIANTS.filter((v) => v.supports(s)).map((v) => v.name),
            ...(transB && !transA ? MATMUL_VARIANTS.filter((v) => v.supports({ ...s, transB: false })) : [])
              .map((v) => `T+${v.name}`),
          ];
          const lead = batch === 0 ? [] : [batch];
          const aShape = [...lead, ...(transA ? [k, m] : [m, k])];
          const bShape = [...(sharedB ? [] : lead), ...(transB ? [n, k] : [k, n])];
          const size = (d: number[]) => d.reduce((x, y) => x * y, 1);
          const aHost = round16(randn(size(aShape), rand)), bHost = round16(randn(size(bShape), rand));
          const a = Tensor.fromArray(aHost, aShape, { dtype: "f16" });
          const b = Tensor.fromArray(bHost, bShape, { dtype: "f16" });
          const want = referenceMatmul(aHost, bHost, s, sharedB);
          for (const name of plans) {
            await withSettings({ matmulPlan: name }, async () => {
              const c = tidy(() => matmul(a, b, { transA, transB }));
              assert.equal(c.dtype, "f32");
              const got = await c.toArray();
              c.dispose();
              let worst = 0;
              for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
              // Exact products of f16 values, summed in f32: only the f32 sum's rounding differs.
              const bound = 1e-6 * Math.sqrt(k) * Math.max(1, ...want.map(Math.abs));
              assert.ok(worst <= bound, `${name} on batch=${batch} m=${m} n=${n} k=${k}: |diff| ${worst}`);
              checked++;
            });
          }
          a.dispose();
          b.dispose();
        }
        assert.ok(checked > 0);
        assert.deepEqual(gpu().takeErrors(), []);
      },
    });
  }
}

Deno.test({
  name: "autocast matmul backward: gradients are f32, from the incoming gradient rounded to f16",
  ignore,
  fn: async () => {
    const rand = rng(5);
    const [m, n, k] = [9, 12, 20];
    const xHost = Float32Array.from(randn(m * k, rand)), wHost = Float32Array.from(randn(n * k, rand));
    const rHost = Float32Array.from(randn(m * n, rand));
    const x = Tensor.fromArray(xHost, [m, k], { requiresGrad: true });
    const w = Tensor.fromArray(wHost, [n, k], { requiresGrad: true });
    const r = Tensor.fromArray(rHost, [m, n]);
    tidy(() => {
      // loss = Σ (x·Wᵀ ⊙ R): dC = R, which the backward rounds to f16 before its two products.
      sum(mul(matmul(cast(x, "f16"), cast(w, "f16"), { transB: true }), r)).backward();
    });
    assert.equal(x.grad!.dtype, "f32");
    assert.equal(w.grad!.dtype, "f32");
    const g = round16(rHost), xr = round16(xHost), wr = round16(wHost);
    const wantX = referenceMatmul(g, wr, { batch: 1, m, n: k, k: n, transA: false, transB: false }, true);
    const wantW = referenceMatmul(g, xr, { batch: 1, m: n, n: k, k: m, transA: true, transB: false }, true);
    const gotX = await x.grad!.toArray(), gotW = await w.grad!.toArray();
    for (let i = 0; i < gotX.length; i++) assert.ok(Math.abs(gotX[i] - wantX[i]) < 1e-4, `dx[${i}]`);
    for (let i = 0; i < gotW.length; i++) assert.ok(Math.abs(gotW[i] - wantW[i]) < 1e-4, `dW[${i}]`);
    for (const t of [x, w, r]) t.dispose();
    x.grad!.dispose();
    w.grad!.dispose();
  },
});

Deno.test({
  name: "loss scaling: unscales before AdamW, skips an overflowed step, backs off and grows the scale",
  ignore,
  fn: async () => {
    const config: AdamWConfig = {
      lr: 0.1,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.01,
      maxGradNorm: 1,
    };
    const init = [0.5, -1, 2, 0.25, -0.75];
    const grads = [[0.3, -0.2, 0.1, 0.4, -0.5], [0.1, 0.1, -0.3, 0.2, 0.05], [-0.2, 0.3, 0.2, -0.1, 0.1], [
      0.05,
      -0.4,
      0.3,
      0.2,
      -0.1,
    ], [0.2, 0.2, 0.2, -0.2, 0.3]];
    const scaledStore = paramStore([{ name: "p", shape: [init.length], data: init }]);
    const plainStore = paramStore([{ name: "p", shape: [init.length], data: init }]);
    const scaled = scaledStore.tensors.get("p")!, plain = plainStore.tensors.get("p")!;
    const withScale = new AdamW(scaledStore, config, {
      initScale: 8,
      growthFactor: 2,
      backoffFactor: 0.5,
      growthInterval: 3,
    });
    const reference = new AdamW(plainStore, config);
    const scales: number[] = [];
    // Steps 1-3 clean (the scale grows 8 → 16 after the third), step 4 overflows (skipped, 16 → 8), step 5 clean.
    for (let step = 0; step < 5; step++) {
      const [scale] = await withScale.lossScale!.toArray();
      const overflow = step === 3;
      setGradients(scaledStore, [(overflow ? [Infinity, 0, 0, 0, 0] : grads[step]).map((x) => x * scale)]);
      const before = await scaled.toArray();
      const norm = await withScale.update(1e-2).toArray();
      if (overflow) {
        assert.ok(!Number.isFinite(norm[0]), "an overflowed step reports a non-finite norm");
        assert.deepEqual(await scaled.toArray(), before, "an overflowed step leaves the parameters");
      } else {
        setGradients(plainStore, [grads[step]]);
        const want = await reference.update(1e-2).toArray();
        assert.ok(Math.abs(norm[0] - want[0]) <= 1e-5 * want[0], `step ${step + 1}: unscaled norm²`);
        const got = await scaled.toArray(), expected = await plain.toArray();
        // Bias corrections come from the step count on the GPU, in f32 (1 - 0.999^t loses digits to
        // cancellation), the reference's from the host in float64: equal to 1e-3 of a step (lr 1e-2).
        for (let i = 0; i < got.length; i++) {
          assert.ok(
            Math.abs(got[i] - expected[i]) <= 1e-5,
            `step ${step + 1} p[${i}]: ${got[i]} vs ${expected[i]}`,
          );
        }
      }
      scales.push((await withScale.lossScale!.toArray())[0]);
    }
    assert.deepEqual(scales, [8, 8, 16, 8, 8]);
    const saved = await withScale.savedState();
    assert.equal(saved.step, 4);
    assert.equal(withScale.step, 5);
    assert.deepEqual(saved.lossScale, { scale: 8, growthTracker: 1 });
    withScale.dispose();
    reference.dispose();
    scaledStore.dispose();
    plainStore.dispose();
    assert.deepEqual(gpu().takeErrors(), []);
  },
});

Deno.test("--fp16 on an adapter without shader-f16: a one-line error naming the flag and the adapter", async () => {
  await gpuReady;
  const rt = gpu();
  const real = rt.summary;
  // Pretend the adapter lacks the feature (lavapipe and most GPUs have it).
  Object.defineProperty(rt, "summary", { value: { ...real, shaderF16: false }, configurable: true });
  const config = presetConfig("tiny");
  const model = DistilBertClassifier.fromHost(config, initHostParams(config, 1));
  const rows = {
    ids: Int32Array.from([101, 102]),
    offsets: Int32Array.from([0, 2]),
    labels: Int32Array.from([0]),
  };
  try {
    assert.throws(
      () => new Trainer(model, rows, { ...PRETRAINED_DEFAULTS, fp16: true }),
      (err: Error) =>
        /^--fp16: the adapter \(.+\) has no shader-f16; train without --fp16$/.test(err.message),
    );
  } finally {
    delete (rt as unknown as Record<string, unknown>).summary;
    model.dispose();
  }
  assert.equal(gpu().summary.shaderF16, real.shaderF16);
});
