/**
 * Every op: each row of the op test table (tests/op_table.ts: forward vs a float64 reference, backward vs
 * finite differences), and the properties a row cannot state (exact padding gradients, dropout statistics,
 * shape errors).
 */
import assert from "node:assert/strict";
import * as op from "../autograd/ops.ts";
import { Tensor } from "../autograd/mod.ts";
import { gpuReady, rng } from "./helpers.ts";
import { checkRow, OP_TABLE } from "./op_table.ts";

for (const row of OP_TABLE) Deno.test(row.name, () => checkRow(row));

Deno.test("embedding padding row gradient is exactly zero, other rows deterministic", async () => {
  await gpuReady;
  const ids = Int32Array.from([2, 0, 2, 1, 0, 2]);
  const table = Tensor.fromArray(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3], {
    requiresGrad: true,
  });
  const runOnce = async () => {
    table.grad?.dispose();
    table.grad = null;
    const y = op.embedding(ids, [6], table, 0);
    const loss = op.sum(op.mul(y, y));
    loss.backward();
    return await table.grad!.toArray();
  };
  const g1 = await runOnce();
  const g2 = await runOnce();
  assert.deepEqual(Array.from(g1.slice(0, 3)), [0, 0, 0]);
  assert.deepEqual(g1, g2);
  // row 2 appears 3 times: d/dt sum(t²) = 2t per use
  assert.deepEqual(Array.from(g1.slice(6, 9)), [36, 42, 48]);
});

Deno.test("dropout: same seed same mask, backward uses it, rate about p", async () => {
  await gpuReady;
  const n = 20000;
  const x = Tensor.fromArray(new Float32Array(n).fill(1), [n], { requiresGrad: true });
  const y1 = await op.dropout(x, 0.25, 42).toArray();
  const y2 = await op.dropout(x, 0.25, 42).toArray();
  const y3 = await op.dropout(x, 0.25, 43).toArray();
  assert.deepEqual(y1, y2);
  assert.notDeepEqual(y1, y3);
  const dropped = y1.filter((v) => v === 0).length / n;
  assert.ok(Math.abs(dropped - 0.25) < 0.02, `dropped fraction ${dropped}`);
  assert.ok(y1.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6));
  const loss = op.sum(op.dropout(x, 0.25, 42));
  loss.backward();
  assert.deepEqual(await x.grad!.toArray(), y1);
});

Deno.test("mismatched shapes throw an error naming both shapes", async () => {
  await gpuReady;
  const a = Tensor.fromArray(new Float32Array(6), [2, 3]);
  const b = Tensor.fromArray(new Float32Array(8), [2, 4]);
  assert.throws(() => op.add(a, b), /\[2, 3\].*\[2, 4\]/);
  // Equal element counts are not equal shapes.
  const c = Tensor.fromArray(new Float32Array(6), [3, 2]);
  assert.throws(() => op.add(a, c), /\[2, 3\] and \[3, 2\] do not broadcast/);
  c.dispose();
  assert.throws(() => op.matmul(a, b), /\[2, 3\].*\[2, 4\]/);
  a.dispose();
  b.dispose();
});

Deno.test("seeded RNG helper is deterministic", () => {
  assert.equal(rng(1)(), rng(1)());
});
