/** Ops composed: a two-layer attention + FFN block against a float64 reference, and a GPU-memory leak test. */
import assert from "node:assert/strict";
import * as op from "../autograd/ops.ts";
import { gpu, Tensor, tidy } from "../autograd/mod.ts";
import { checkOp, gpuReady, randn, rng } from "./helpers.ts";
import { erf, refLayerNorm, refMatmul, refPermute, refSoftmax } from "./reference.ts";

const [B, S, D, H, F] = [2, 5, 8, 2, 12];
const dh = D / H;
const LAYER_SHAPES = [[D, D], [D, D], [D, D], [D, D], [D], [D], [F, D], [D, F], [D], [D]];
const mask = Float64Array.from({ length: B * S }, (_, i) => (i < S || i % S < 3 ? 1 : 0));

function gpuLayer(x: Tensor, w: Tensor[], m: Tensor): Tensor {
  const [wq, wk, wv, wo, g1, b1, w1, w2, g2, b2] = w;
  const lin = (t: Tensor, wt: Tensor) => op.matmul(t, wt, { transB: true });
  const heads = (t: Tensor) =>
    op.reshape(op.permute(op.reshape(t, [B, S, H, dh]), [0, 2, 1, 3]), [B * H, S, dh]);
  const q = heads(op.scale(lin(x, wq), 1 / Math.sqrt(dh)));
  const k = heads(lin(x, wk)), v = heads(lin(x, wv));
  const probs = op.softmax(op.matmul(q, k, { transB: true }), { mask: m });
  const ctx = op.reshape(op.permute(op.reshape(op.matmul(probs, v), [B, H, S, dh]), [0, 2, 1, 3]), [
    B * S,
    D,
  ]);
  const h = op.layerNorm(op.add(lin(ctx, wo), x), g1, b1, 1e-12);
  const ffn = lin(op.gelu(lin(h, w1)), w2);
  return op.layerNorm(op.add(ffn, h), g2, b2, 1e-12);
}

function refLayer(x: Float64Array, w: Float64Array[]): Float64Array {
  const [wq, wk, wv, wo, g1, b1, w1, w2, g2, b2] = w;
  const n = B * S;
  const lin = (t: Float64Array, wt: Float64Array, out: number, inp: number) =>
    refMatmul(t, wt, 1, n, out, inp, false, true);
  const heads = (t: Float64Array) => refPermute(t, [B, S, H, dh], [0, 2, 1, 3]);
  const q = heads(lin(x, wq, D, D).map((v) => v / Math.sqrt(dh)));
  const k = heads(lin(x, wk, D, D)), v = heads(lin(x, wv, D, D));
  const probs = refSoftmax(refMatmul(q, k, B * H, S, S, dh, false, true), B * H * S, S, 1, mask);
  const ctx = refPermute(refMatmul(probs, v, B * H, S, dh, S, false, false), [B, H, S, dh], [0, 2, 1, 3]);
  const attn = lin(ctx, wo, D, D);
  const h = refLayerNorm(attn.map((a, i) => a + x[i]), g1, b1, 1e-12);
  const mid = lin(h, w1, F, D).map((z) => 0.5 * z * (1 + erf(z / Math.SQRT2)));
  const ffn = lin(mid, w2, D, F);
  return refLayerNorm(ffn.map((a, i) => a + h[i]), g2, b2, 1e-12);
}

Deno.test("two-layer attention + FFN block: forward and every gradient", async () => {
  await gpuReady;
  const m = Tensor.fromArray(new Float32Array(mask), [B, S]);
  await checkOp({
    name: "block",
    shapes: [[B * S, D], ...LAYER_SHAPES, ...LAYER_SHAPES],
    init: (i, n, r) => {
      const layerIndex = (i - 1) % LAYER_SHAPES.length;
      if (i > 0 && (layerIndex === 4 || layerIndex === 8)) return randn(n, r, 0.1).map((v) => 1 + v); // LN gammas
      return randn(n, r, i === 0 ? 1 : 0.5);
    },
    gpu: ([x, ...w]) => gpuLayer(gpuLayer(x, w.slice(0, 10), m), w.slice(10), m),
    ref: ([x, ...w]) => refLayer(refLayer(x, w.slice(0, 10)), w.slice(10)),
    tol: { atol: 1e-4, rtol: 1e-3 },
    gradTol: { atol: 5e-4, rtol: 5e-3 },
  });
  m.dispose();
});

Deno.test("200 forward/backward steps keep the pool's live bytes flat", async () => {
  await gpuReady;
  const rand = rng(7);
  const w = [[D, D], [D, D], [D, D], [D, D], [D], [D], [F, D], [D, F], [D], [D]].map((s, i) =>
    Tensor.fromArray(
      new Float32Array(randn(s.reduce((a, b) => a * b, 1), rand, 0.3)).map((
        v,
      ) => (i === 4 || i === 8 ? 1 + v : v)),
      s,
      { requiresGrad: true },
    )
  );
  const m = Tensor.fromArray(new Float32Array(mask), [B, S]);
  const x = Tensor.fromArray(new Float32Array(randn(B * S * D, rand)), [B * S, D]);
  const step = () =>
    tidy(() => {
      const y = gpuLayer(x, w, m);
      op.mean(op.dropout(y, 0.1, 3)).backward();
    });
  const pool = gpu().pool;
  step();
  step();
  await gpu().sync();
  const live = pool.liveBytes;
  for (let i = 0; i < 200; i++) step();
  await gpu().sync();
  assert.equal(pool.liveBytes, live, `live bytes grew from ${live} to ${pool.liveBytes}`);
  assert.deepEqual(gpu().takeErrors(), []);
  for (const t of [...w, m, x]) {
    t.grad?.dispose();
    t.dispose();
  }
});
