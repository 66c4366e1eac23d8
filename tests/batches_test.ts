/** Batching: epoch orders, dynamic padding, and length bucketing. */
import assert from "node:assert/strict";
import { bucketByLength, epochOrder, makeBatch, paddingEfficiency, splitBatch } from "../train/batches.ts";
import { mulberry32 } from "../util/random.ts";

const random = mulberry32(3);
const lengths = Array.from({ length: 1000 }, () => 2 + Math.floor(random() * 510));
const length = (r: number) => lengths[r];

Deno.test("epoch orders: seeded permutations, file order without shuffle", () => {
  const a = epochOrder(1000, 42, 0, true),
    b = epochOrder(1000, 42, 0, true),
    c = epochOrder(1000, 42, 1, true);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(epochOrder(5, 42, 0, false), Int32Array.from([0, 1, 2, 3, 4]));
});

Deno.test("length bucketing keeps every row once, fills batches, and cuts padding", () => {
  const order = epochOrder(1000, 42, 0, true);
  const bucketed = bucketByLength(order, length, 16, 42);
  assert.deepEqual([...bucketed].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(bucketByLength(order, length, 16, 42), bucketed);
  const before = paddingEfficiency(order, length, 16), after = paddingEfficiency(bucketed, length, 16);
  assert.ok(after > 0.9 && after > before + 0.3, `padding efficiency ${before} -> ${after}`);
  // 1000 = 62 full batches + 8 rows: the partial batch is last
  const lastBatch = [...bucketed.subarray(992)];
  const window = [...order.subarray(800)].sort((x, y) => length(y) - length(x) || x - y);
  assert.deepEqual(lastBatch, window.slice(192));
});

Deno.test("makeBatch pads to the longest row with 0 ids and a 0 mask", () => {
  const rows = {
    ids: Int32Array.from([101, 5, 102, 101, 102]),
    offsets: Int32Array.from([0, 3, 5]),
    labels: Int32Array.from([1, 0]),
  };
  const b = makeBatch(rows, [1, 0]);
  assert.equal(b.seq, 3);
  assert.deepEqual(b.ids, Int32Array.from([101, 102, 0, 101, 5, 102]));
  assert.deepEqual(b.mask, Float32Array.from([1, 1, 0, 1, 1, 1]));
  assert.deepEqual(b.labels, Int32Array.from([0, 1]));
});

Deno.test("splitBatch: as few pieces as fit, as even as they come, each keeping the padded length", () => {
  const seq = 3, rows = 9;
  const batch = {
    ids: Int32Array.from({ length: rows * seq }, (_, i) => i),
    mask: new Float32Array(rows * seq).fill(1),
    labels: Int32Array.from({ length: rows }, (_, i) => i % 2),
    batch: rows,
    seq,
  };
  assert.deepEqual(splitBatch(batch, 9), [batch]);
  const pieces = splitBatch(batch, 8);
  assert.deepEqual(pieces.map((p) => p.batch), [5, 4]);
  assert.ok(pieces.every((p) => p.seq === seq));
  assert.deepEqual(Array.from(pieces[1].ids), Array.from(batch.ids.subarray(15)));
  assert.deepEqual(Array.from(pieces[1].labels!), [1, 0, 1, 0]);
  assert.deepEqual(splitBatch(batch, 2).map((p) => p.batch), [2, 2, 2, 2, 1]);
});
