/**
 * Every matmul variant equals the reference `simple` on every shape it claims to support: all four
 * transpose combinations, batched and shared-B, sizes that are not multiples of any tile, odd k. So does
 * every plan that transposes B first (`T+variant`) on A·Bᵀ.
 */
import assert from "node:assert/strict";
import { gpu, Tensor, tidy, withSettings } from "../autograd/mod.ts";
import { chooseMatmulPlan, planName, shapeBucket } from "../autograd/matmul_plan.ts";
import { autotuneMatmul } from "../autograd/autotune.ts";
import { matmulShapesFor } from "../model/shapes.ts";
import { matmul } from "../autograd/ops.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../kernels/matmul.ts";
import { gpuReady, randn, rng, withTempAutotuneCache } from "./helpers.ts";
import { MATMUL_TEST_SHAPES as SHAPES } from "./reference.ts";

function productWith(
  name: string,
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
): Promise<Float32Array> {
  return withSettings({ matmulPlan: name }, async () => {
    const c = tidy(() => matmul(a, b, { transA, transB }));
    const out = await c.toArray();
    c.dispose();
    return out;
  });
}

for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
  for (const sharedB of [false, true]) {
    Deno.test(`matmul variants equal simple: transA=${transA} transB=${transB} sharedB=${sharedB}`, async () => {
      await gpuReady;
      const rand = rng(7 + Number(transA) * 2 + Number(transB) * 4 + Number(sharedB) * 8);
      let checked = 0;
      for (const [batch, m, n, k] of SHAPES) {
        if (sharedB && batch === 0) continue;
        const shape: MatmulShape = { batch: Math.max(1, batch), m, n, k, transA, transB };
        // Every fast variant, and for A·Bᵀ every plan that transposes B first (`T+variant`).
        const fast = MATMUL_VARIANTS.slice(1);
        const plans = [
          ...fast.filter((v) => v.supports(shape)).map((v) => v.name),
          ...(transB && !transA ? fast.filter((v) => v.supports({ ...shape, transB: false })) : []).map((v) =>
            `T+${v.name}`
          ),
        ];
        if (plans.length === 0) continue;
        const lead = batch === 0 ? [] : [batch];
        const aShape = [...lead, ...(transA ? [k, m] : [m, k])];
        const bShape = [...(sharedB ? [] : lead), ...(transB ? [n, k] : [k, n])];
        const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
        const a = Tensor.fromArray(new Float32Array(randn(size(aShape), rand)), aShape);
        const b = Tensor.fromArray(new Float32Array(randn(size(bShape), rand)), bShape);
        const expected = await productWith("simple", a, b, transA, transB);
        const scale = Math.max(1, ...expected.map(Math.abs));
        for (const name of plans) {
          const got = await productWith(name, a, b, transA, transB);
          assert.equal(got.length, expected.length);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
          const what = `${name} on batch=${batch} m=${m} n=${n} k=${k}`;
          assert.ok(worst <= 1e-5 * scale * Math.max(1, Math.sqrt(k)), `${what}: max |diff| ${worst}`);
          checked++;
        }
        a.dispose();
        b.dispose();
      }
      assert.ok(checked > 0, "no variant supported any shape");
      assert.deepEqual(gpu().takeErrors(), []);
    });
  }
}

Deno.test("every fast variant supports the DistilBERT training shapes", () => {
  const shapes: MatmulShape[] = [
    { batch: 1, m: 2048, n: 768, k: 768, transA: false, transB: true },
    { batch: 1, m: 2048, n: 768, k: 768, transA: false, transB: false },
    { batch: 1, m: 768, n: 768, k: 2048, transA: true, transB: false },
    { batch: 96, m: 256, n: 256, k: 64, transA: false, transB: true },
    { batch: 96, m: 256, n: 64, k: 256, transA: false, transB: false },
  ];
  for (const v of MATMUL_VARIANTS) {
    for (const s of shapes) assert.ok(v.supports(s), `${v.name} should support ${JSON.stringify(s)}`);
  }
});

Deno.test("autotune: tunes, caches on disk, installs its chooser", () =>
  withTempAutotuneCache(async (dir) => {
    const big: MatmulShape = { batch: 1, m: 96, n: 128, k: 100, transA: false, transB: true };
    const tiny: MatmulShape = { batch: 1, m: 8, n: 8, k: 8, transA: false, transB: false };
    const first = await autotuneMatmul([big, tiny, { ...big }], { budgetMs: 5 });
    assert.deepEqual(first.map((r) => r.source), ["tuned", "heuristic"]);
    assert.ok(Object.keys(first[0].timings).length >= 2);
    const file = JSON.parse(await Deno.readTextFile(`${dir}/distilbert-webgpu/matmul-autotune.json`));
    const entries = Object.values(file.adapters) as Record<string, string>[];
    assert.equal(entries[0][shapeBucket(big)], first[0].choice);
    assert.equal(planName(chooseMatmulPlan(big)), first[0].choice);
    const again = await autotuneMatmul([big]);
    assert.equal(again[0].source, "cache");
    assert.equal(again[0].choice, first[0].choice);
  }));

Deno.test("matmulShapesFor: a DistilBERT step's forward and backward shapes", () => {
  const shapes = matmulShapesFor({ batch: 8, seq: 256, dim: 768, hidden: 3072, heads: 12, layers: 6 });
  const has = (m: number, n: number, k: number, transA: boolean, transB: boolean, batch = 1) =>
    shapes.some((s) =>
      s.batch === batch && s.m === m && s.n === n && s.k === k && s.transA === transA && s.transB === transB
    );
  assert.ok(has(2048, 768, 768, false, true)); // q/k/v/out forward
  assert.ok(has(2048, 3072, 768, false, true)); // lin1 forward
  assert.ok(has(2048, 768, 3072, false, false)); // lin1 dX
  assert.ok(has(3072, 768, 2048, true, false)); // lin1 dW
  assert.ok(has(256, 256, 64, false, true, 96)); // QKᵀ
  assert.ok(has(256, 64, 256, false, false, 96)); // P·V
  assert.equal(new Set(shapes.map((s) => JSON.stringify(s))).size, shapes.length);
});
