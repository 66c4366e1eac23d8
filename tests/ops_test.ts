/** Every op: forward vs a float64 reference, backward vs finite differences (one `checkOp` line each). */
import assert from "node:assert/strict";
import * as op from "../autograd/ops.ts";
import { Tensor, withSettings } from "../autograd/mod.ts";
import { checkOp, gpuReady, rng } from "./helpers.ts";
import { erf, map, refLayerNorm, refMatmul, refPermute, refSoftmax, zip } from "./reference.ts";

// ---- checks --------------------------------------------------------------------------------------------

for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
  Deno.test(`matmul transA=${tA} transB=${tB}, odd sizes, batched`, () => {
    const [batch, m, n, k] = [3, 13, 17, 9];
    return checkOp({
      name: "matmul",
      shapes: [[batch, ...(tA ? [k, m] : [m, k])], [batch, ...(tB ? [n, k] : [k, n])]],
      gpu: ([a, b]) => op.matmul(a, b, { transA: tA, transB: tB }),
      ref: ([a, b]) => refMatmul(a, b, batch, m, n, k, tA, tB),
    });
  });
}
Deno.test("matmul with a shared 2-D weight (Linear)", () =>
  checkOp({
    name: "matmul shared B",
    shapes: [[2, 5, 33], [19, 33]],
    gpu: ([a, b]) => op.matmul(a, b, { transB: true }),
    ref: ([a, b]) => refMatmul(a, b, 2, 5, 19, 33, false, true, true),
  }));
Deno.test("matmul 2-D, sizes past one tile", () =>
  checkOp({
    name: "matmul 2d",
    shapes: [[70, 41], [41, 66]],
    gpu: ([a, b]) => op.matmul(a, b),
    ref: ([a, b]) => refMatmul(a, b, 1, 70, 66, 41, false, false),
  }));

for (const [name, fn] of [["add", op.add], ["sub", op.sub], ["mul", op.mul]] as const) {
  const f = {
    add: (a: number, b: number) => a + b,
    sub: (a: number, b: number) => a - b,
    mul: (a: number, b: number) => a * b,
  }[name];
  Deno.test(`${name} same shape`, () =>
    checkOp({
      name,
      shapes: [[7, 11], [7, 11]],
      gpu: ([a, b]) => fn(a, b),
      ref: zip(f),
    }));
  Deno.test(`${name} with a broadcast bias row`, () =>
    checkOp({ name: `${name} bias`, shapes: [[3, 5, 11], [11]], gpu: ([a, b]) => fn(a, b), ref: zip(f) }));
  // A batch of one: a [1, n] activation and its [n] bias row have equal sizes but are not the same shape.
  Deno.test(`${name} with a bias row over a batch of one ([1, 2] and [2], [1, 1, 5] and [1, 5])`, async () => {
    await checkOp({
      name: `${name} [1,2]+[2]`,
      shapes: [[1, 2], [2]],
      gpu: ([a, b]) => fn(a, b),
      ref: zip(f),
    });
    await checkOp({
      name: `${name} [1,1,5]+[1,5]`,
      shapes: [[1, 1, 5], [1, 5]],
      gpu: ([a, b]) => fn(a, b),
      ref: zip(f),
    });
  });
}
for (const act of ["gelu", "relu"] as const) {
  Deno.test(`${act}(x + bias) fused`, () =>
    checkOp({
      name: `bias ${act}`,
      shapes: [[3, 5, 13], [13]],
      gpu: ([x, b]) => op.biasActivation(act, x, b),
      ref: zip((x, b) =>
        act === "relu" ? Math.max(x + b, 0) : 0.5 * (x + b) * (1 + erf((x + b) / Math.SQRT2))
      ),
      // for relu, keep x + b away from the kink so finite differences are meaningful
      init: act === "gelu" ? undefined : (i, n, r) =>
        Float64Array.from(
          { length: n },
          () => i === 1 ? 0.04 * r() - 0.02 : (r() < 0.5 ? -1 : 1) * (0.05 + r()),
        ),
    }));
}

// A tensor reaching one op twice, or two ways: ops hand out views of their output gradient (add gives the
// same storage to both inputs), so accumulating in place would corrupt a sibling's gradient.
Deno.test("a tensor used twice by one op: add(x, x), mul(x, x)", async () => {
  await checkOp({ name: "add(x, x)", shapes: [[5, 7]], gpu: ([x]) => op.add(x, x), ref: map((x) => 2 * x) });
  await checkOp({ name: "mul(x, x)", shapes: [[5, 7]], gpu: ([x]) => op.mul(x, x), ref: map((x) => x * x) });
});
Deno.test("gradients that alias a sibling's: (x·x + x) + 5x, and 5x + (x + x·x)", async () => {
  const f = map((x) => x * x + 6 * x);
  await checkOp({
    name: "alias 1",
    shapes: [[4, 6]],
    gpu: ([x]) => op.add(op.add(op.mul(x, x), x), op.scale(x, 5)),
    ref: f,
  });
  await checkOp({
    name: "alias 2",
    shapes: [[4, 6]],
    gpu: ([x]) => op.add(op.scale(x, 5), op.add(x, op.mul(x, x))),
    ref: f,
  });
});
Deno.test("div", () =>
  checkOp({
    name: "div",
    shapes: [[6, 9], [9]],
    gpu: ([a, b]) => op.div(a, b),
    ref: zip((a, b) => a / b),
    init: (i, n, r) => Float64Array.from({ length: n }, () => (i === 1 ? 1 + r() : r() * 2 - 1)),
  }));
Deno.test("scale", () =>
  checkOp({ name: "scale", shapes: [[257]], gpu: ([x]) => op.scale(x, -0.37), ref: map((x) => x * -0.37) }));
Deno.test("relu", () =>
  checkOp({
    name: "relu",
    shapes: [[300]],
    gpu: ([x]) => op.relu(x),
    ref: map((x) => Math.max(x, 0)),
    // keep inputs away from the kink so finite differences are meaningful
    init: (_, n, r) => Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.05 + r())),
  }));
Deno.test("gelu (erf form)", () =>
  checkOp({
    name: "gelu",
    shapes: [[513]],
    gpu: ([x]) => op.gelu(x),
    ref: map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2))),
  }));
// Row kernels come in two layouts (a workgroup per row for GPUs, a thread per row for CPU drivers); both are
// checked on every adapter, so each proves itself against the same float64 reference.
for (const layout of ["workgroup", "thread"] as const) {
  const inLayout = (check: () => Promise<void>) => () => withSettings({ rowLayout: layout }, check);
  Deno.test(
    `softmax with scale (${layout} per row)`,
    inLayout(() =>
      checkOp({
        name: "softmax",
        shapes: [[4, 3, 70]],
        gpu: ([x]) => op.softmax(x, { scale: 0.7 }),
        ref: ([x]) => refSoftmax(x, 12, 70, 0.7),
      })
    ),
  );
  Deno.test(
    `softmax with a key mask, masked scores at the f32 minimum (${layout} per row)`,
    inLayout(() => {
      const [b, h, s] = [2, 2, 19];
      return checkOp({
        name: "masked softmax",
        shapes: [[b, h, s, s], [b, s]],
        noGrad: [1],
        init: (i, n, r) =>
          i === 1
            ? Float64Array.from({ length: n }, (_, j) => ((j % s) < (j < s ? 19 : 9) ? 1 : 0))
            : Float64Array.from({ length: n }, () => r() * 4 - 2),
        gpu: ([x, m]) => op.softmax(x, { mask: m }),
        ref: ([x, m]) => refSoftmax(x, b * h * s, s, 1, m),
      });
    }),
  );
  Deno.test(
    `layer norm of x + residual, fused (${layout} per row)`,
    inLayout(() =>
      checkOp({
        name: "addLayerNorm",
        shapes: [[4, 3, 77], [4, 3, 77], [77], [77]],
        gpu: ([x, r, g, b]) => op.addLayerNorm(x, r, g, b, 1e-12),
        ref: ([x, r, g, b]) => refLayerNorm(x.map((v, i) => v + r[i]), g, b, 1e-12),
      })
    ),
  );
  Deno.test(
    `layer norm (${layout} per row)`,
    inLayout(() =>
      checkOp({
        name: "layerNorm",
        shapes: [[5, 3, 77], [77], [77]],
        gpu: ([x, g, b]) => op.layerNorm(x, g, b, 1e-12),
        ref: ([x, g, b]) => refLayerNorm(x, g, b, 1e-12),
      })
    ),
  );
}
Deno.test("sum", () =>
  checkOp({
    name: "sum",
    shapes: [[33, 71]],
    gpu: ([x]) => op.sum(x),
    ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0)),
  }));
Deno.test("mean", () =>
  checkOp({
    name: "mean",
    shapes: [[1000]],
    gpu: ([x]) => op.mean(x),
    ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0) / x.length),
  }));
Deno.test("columnSums over many rows (two passes)", () =>
  checkOp({
    name: "columnSums",
    shapes: [[150, 7]],
    gpu: ([x]) => op.columnSums(x),
    ref: ([x]) =>
      Float64Array.from({ length: 7 }, (_, c) =>
        Array.from({ length: 150 }, (_, r) => x[r * 7 + c]).reduce((a, b) => a + b, 0)),
  }));
Deno.test("reshape", () =>
  checkOp({
    name: "reshape",
    shapes: [[6, 4]],
    gpu: ([x]) => op.mul(op.reshape(x, [3, -1]), op.reshape(x, [3, 8])),
    ref: map((x) => x * x),
  }));
Deno.test("permute (attention heads)", () =>
  checkOp({
    name: "permute",
    shapes: [[2, 5, 3, 4]],
    gpu: ([x]) => op.permute(x, [0, 2, 1, 3]),
    ref: ([x]) => refPermute(x, [2, 5, 3, 4], [0, 2, 1, 3]),
  }));
Deno.test("permute 3-D", () =>
  checkOp({
    name: "permute3",
    shapes: [[3, 5, 7]],
    gpu: ([x]) => op.permute(x, [2, 0, 1]),
    ref: ([x]) => refPermute(x, [3, 5, 7], [2, 0, 1]),
  }));
Deno.test("slice (token 0 of each sequence)", () =>
  checkOp({
    name: "slice",
    shapes: [[3, 6, 5]],
    gpu: ([x]) => op.slice(x, 1, 0, 1),
    ref: ([x]) => Float64Array.from({ length: 15 }, (_, i) => x[Math.floor(i / 5) * 30 + (i % 5)]),
  }));
Deno.test("slice in the middle", () =>
  checkOp({
    name: "slice mid",
    shapes: [[4, 9]],
    gpu: ([x]) => op.slice(x, 1, 2, 5),
    ref: ([x]) => Float64Array.from({ length: 20 }, (_, i) => x[Math.floor(i / 5) * 9 + 2 + (i % 5)]),
  }));

Deno.test("cross-entropy (mean over the batch)", async () => {
  await gpuReady;
  const labels = [1, 0, 1, 1, 0];
  const labelT = Tensor.fromArray(labels, [5], { dtype: "i32" });
  await checkOp({
    name: "crossEntropy",
    shapes: [[5, 2]],
    gpu: ([x]) => op.crossEntropy(x, labelT),
    ref: ([x]) => {
      let s = 0;
      for (let r = 0; r < 5; r++) {
        const a = x[2 * r], b = x[2 * r + 1], m = Math.max(a, b);
        s += Math.log(Math.exp(a - m) + Math.exp(b - m)) + m - x[2 * r + labels[r]];
      }
      return Float64Array.of(s / 5);
    },
  });
  labelT.dispose();
});

Deno.test("embedding (repeated ids sum their gradients)", async () => {
  await gpuReady;
  const ids = Int32Array.from([3, 0, 5, 3, 3, 1, 0, 6]);
  await checkOp({
    name: "embedding",
    shapes: [[7, 6]],
    gpu: ([t]) => op.embedding(ids, [2, 4], t),
    ref: ([t]) => Float64Array.from({ length: 48 }, (_, i) => t[ids[Math.floor(i / 6)] * 6 + (i % 6)]),
  });
});

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

/** The dropout kernel's counter-based hash (kernels/elementwise.ts HASH_WGSL), in u32 arithmetic. */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}
const keepBit = (seed: number, i: number, p: number) =>
  (pcg(pcg(seed) ^ pcg((i + 0x9e3779b9) >>> 0)) >>> 0) >= Math.round(p * 2 ** 32);

Deno.test("dropout against a host replay of its hash: forward and gradient", () =>
  checkOp({
    name: "dropout",
    shapes: [[9, 37]],
    gpu: ([x]) => op.dropout(x, 0.3, 1234),
    ref: ([x]) => x.map((v, i) => (keepBit(1234, i, 0.3) ? v / 0.7 : 0)),
  }));

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
