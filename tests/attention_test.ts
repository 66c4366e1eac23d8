/**
 * The fused attention op against the unfused reference path (matmul → masked softmax → dropout → matmul, the
 * ops the model used before) and against float64 with finite differences: forward and every gradient, with
 * and without dropout, padded and fully padded rows, odd lengths, S = 1, S = 512, f16 operands.
 */
import assert from "node:assert/strict";
import * as op from "../autograd/ops.ts";
import { gpu, sum, Tensor, tidy } from "../autograd/mod.ts";
import { assertClose, gpuReady, randn, rng } from "./helpers.ts";

interface Case {
  batch: number;
  heads: number;
  seq: number;
  headDim: number;
  /** Tokens per batch row (the rest is padding); 0 = a fully padded row. Default: all real. */
  lengths?: number[];
  dropout?: number;
}

function maskOf(c: Case): Float32Array {
  const m = new Float32Array(c.batch * c.seq);
  for (let b = 0; b < c.batch; b++) {
    const len = c.lengths?.[b] ?? c.seq;
    for (let s = 0; s < len; s++) m[b * c.seq + s] = 1;
  }
  return m;
}

/** The unfused path: scores stored, softmax with the mask, dropout on the probabilities, then · v. */
function unfused(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor,
  scale: number,
  drop?: { p: number; seed: number },
) {
  const weights = op.softmax(op.matmul(q, k, { transB: true }), { scale, mask });
  const dropped = drop ? op.dropout(weights, drop.p, drop.seed) : weights;
  return op.matmul(dropped, v);
}

/** Output and q/k/v gradients of L = Σ out · R for one path. */
async function run(c: Case, fused: boolean, seed = 7) {
  await gpuReady;
  const rand = rng(seed);
  const n = c.batch * c.heads * c.seq * c.headDim;
  const shape = [c.batch * c.heads, c.seq, c.headDim];
  const inputs = [0, 1, 2].map(() =>
    Tensor.fromArray(Float32Array.from(randn(n, rand)), shape, { requiresGrad: true })
  );
  const weights = Tensor.fromArray(Float32Array.from(randn(n, rand)), shape);
  const mask = Tensor.fromArray(maskOf(c), [c.batch, c.seq]);
  const scale = 1 / Math.sqrt(c.headDim);
  const drop = c.dropout ? { p: c.dropout, seed: 1234 } : undefined;
  const out = tidy(() => {
    const [q, k, v] = inputs;
    const y = fused
      ? op.attention(q, k, v, mask, { heads: c.heads, scale, dropout: drop })
      : unfused(q, k, v, mask, scale, drop);
    sum(op.mul(y, weights)).backward();
    return y;
  });
  const result = {
    out: await out.toArray(),
    grads: await Promise.all(inputs.map((t) => t.grad!.toArray())),
  };
  assert.deepEqual(gpu().takeErrors(), []);
  [out, weights, mask, ...inputs].forEach((t) => {
    t.grad?.dispose();
    t.dispose();
  });
  return result;
}

const maxAbs = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** Fused equals unfused: forward within 1e-5 of the largest output, each gradient within 1e-4 of its max. */
async function assertFusedEqualsUnfused(c: Case) {
  const a = await run(c, true), b = await run(c, false);
  assertClose(a.out, b.out, "forward", { atol: 1e-5 * Math.max(1, maxAbs(b.out)), rtol: 1e-5 });
  ["q", "k", "v"].forEach((name, i) => {
    const scale = Math.max(1e-6, maxAbs(b.grads[i]));
    assertClose(a.grads[i], b.grads[i], `gradient of ${name}`, { atol: 1e-4 * scale, rtol: 1e-4 });
  });
  return a;
}

const CASES: [string, Case][] = [
  ["odd length, padded rows", { batch: 2, heads: 3, seq: 37, headDim: 16, lengths: [37, 20] }],
  ["head_dim not a multiple of 4", { batch: 2, heads: 2, seq: 13, headDim: 6, lengths: [13, 5] }],
  ["S = 1", { batch: 3, heads: 2, seq: 1, headDim: 8 }],
  ["a fully padded row (HF: uniform weights)", { batch: 2, heads: 2, seq: 9, headDim: 8, lengths: [9, 0] }],
  ["dropout 0.1, padded", { batch: 2, heads: 3, seq: 37, headDim: 16, lengths: [37, 11], dropout: 0.1 }],
  ["dropout 0.5, a fully padded row", {
    batch: 2,
    heads: 2,
    seq: 19,
    headDim: 8,
    lengths: [0, 19],
    dropout: 0.5,
  }],
  ["S = 512 at DistilBERT's head_dim 64", { batch: 1, heads: 2, seq: 512, headDim: 64, lengths: [300] }],
];
for (const [name, c] of CASES) {
  Deno.test(`attention: fused equals unfused (${name})`, async () => {
    await assertFusedEqualsUnfused(c);
  });
}

Deno.test("attention: a fully padded row attends uniformly (its output is the mean of v)", async () => {
  const c: Case = { batch: 1, heads: 1, seq: 5, headDim: 4, lengths: [0] };
  await gpuReady;
  const v = Float32Array.from({ length: 20 }, (_, i) => i);
  const t = (d: Float32Array) => Tensor.fromArray(d, [1, 5, 4]);
  const q = t(Float32Array.from(randn(20, rng(3)))), k = t(Float32Array.from(randn(20, rng(4))));
  const out = op.attention(q, k, t(v), Tensor.fromArray(maskOf(c), [1, 5]), { heads: 1, scale: 0.5 });
  const got = await out.toArray();
  for (let s = 0; s < 5; s++) assertClose(got.subarray(4 * s, 4 * s + 4), [8, 9, 10, 11], `row ${s}`);
});

// The float64 and finite-difference checks of attention are rows of the op test table (tests/op_table.ts).

Deno.test("attention: f16 operands equal float64 on the f16-rounded q, k, v", async () => {
  await gpuReady;
  if (!gpu().summary.shaderF16) {
    console.warn("f16 attention skipped: the adapter has no shader-f16");
    return;
  }
  const c: Case = { batch: 2, heads: 2, seq: 23, headDim: 16, lengths: [23, 9] };
  const n = c.batch * c.heads * c.seq * c.headDim, shape = [c.batch * c.heads, c.seq, c.headDim];
  const rand = rng(11);
  const data = [0, 1, 2].map(() => Float32Array.from(Float16Array.from(randn(n, rand))));
  const mask = Tensor.fromArray(maskOf(c), [c.batch, c.seq]);
  const scale = 1 / Math.sqrt(c.headDim);
  const halves = data.map((d) => op.castRaw(Tensor.fromArray(d, shape), "f16"));
  const fused = await op.attention(halves[0], halves[1], halves[2], mask, { heads: c.heads, scale })
    .toArray();
  // The f32 path on the same (exactly representable) rounded values.
  const f32s = data.map((d) => Tensor.fromArray(d, shape));
  const ref = await op.attention(f32s[0], f32s[1], f32s[2], mask, { heads: c.heads, scale }).toArray();
  assertClose(fused, ref, "f16 fused vs f32 on rounded operands", { atol: 1e-5, rtol: 1e-5 });
  assert.deepEqual(gpu().takeErrors(), []);
});
