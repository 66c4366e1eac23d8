/**
 * The op test table: one row per op case, each checked by `checkOp` (forward against a float64 reference,
 * backward against finite differences). tests/ops_test.ts runs every row under Deno; tests/browser/checks.ts
 * runs the rows marked `browser` inside Chromium. A new op is one row here.
 */
import * as op from "../autograd/ops.ts";
import { type EngineSettings, Tensor, withSettings } from "../autograd/mod.ts";
import { ACTIVATION_NAMES } from "../kernels/elementwise.ts";
import { checkOp, type OpCase, randn } from "./helpers.ts";
import {
  map,
  REF_ACTIVATIONS,
  refAttention,
  refLayerNorm,
  refMatmul,
  refPermute,
  refSoftmax,
  zip,
} from "./reference.ts";

export interface OpRow extends OpCase {
  /** Settings the row runs under (a row-kernel layout, a matmul plan). */
  settings?: Partial<EngineSettings>;
  /** Also run in Chromium (tests/browser/checks.ts). */
  browser?: boolean;
}

/** Checks one row under its settings. */
export const checkRow = (row: OpRow): Promise<void> => withSettings(row.settings ?? {}, () => checkOp(row));

/** Inputs away from zero (relu's kink), so finite differences are meaningful. */
const awayFromZero = (n: number, r: () => number) =>
  Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.05 + r()));

const matmulRows = (): OpRow[] => {
  const rows: OpRow[] = [];
  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
    const [batch, m, n, k] = [3, 13, 17, 9];
    rows.push({
      name: `matmul transA=${tA} transB=${tB}, odd sizes, batched`,
      shapes: [[batch, ...(tA ? [k, m] : [m, k])], [batch, ...(tB ? [n, k] : [k, n])]],
      gpu: ([a, b]) => op.matmul(a, b, { transA: tA, transB: tB }),
      ref: ([a, b]) => refMatmul(a, b, batch, m, n, k, tA, tB),
    });
  }
  rows.push({
    name: "matmul with a shared 2-D weight (Linear)",
    shapes: [[2, 5, 33], [19, 33]],
    gpu: ([a, b]) => op.matmul(a, b, { transB: true }),
    ref: ([a, b]) => refMatmul(a, b, 2, 5, 19, 33, false, true, true),
  }, {
    name: "matmul 2-D, sizes past one tile",
    shapes: [[70, 41], [41, 66]],
    gpu: ([a, b]) => op.matmul(a, b),
    ref: ([a, b]) => refMatmul(a, b, 1, 70, 66, 41, false, false),
  });
  return rows;
};

const binaryRows = (): OpRow[] =>
  (["add", "sub", "mul"] as const).flatMap((name) => {
    const fn = op[name];
    const f = {
      add: (a: number, b: number) => a + b,
      sub: (a: number, b: number) => a - b,
      mul: (a: number, b: number) => a * b,
    }[name];
    const row = (title: string, shapes: number[][]): OpRow => ({
      name: `${name} ${title}`,
      shapes,
      gpu: ([a, b]) => fn(a, b),
      ref: zip(f),
    });
    // A batch of one: a [1, n] activation and its [n] bias row have equal sizes but are not the same shape.
    return [
      row("same shape", [[7, 11], [7, 11]]),
      row("with a broadcast bias row", [[3, 5, 11], [11]]),
      row("with a bias row over a batch of one ([1, 2] and [2])", [[1, 2], [2]]),
      row("with a bias row over a batch of one ([1, 1, 5] and [1, 5])", [[1, 1, 5], [1, 5]]),
    ];
  });

/** Every activation of the kernel table, alone and fused with a bias row. */
const activationRows = (): OpRow[] =>
  ACTIVATION_NAMES.flatMap((act): OpRow[] => {
    const f = REF_ACTIVATIONS[act];
    const kinked = act === "relu";
    return [{
      name: act,
      shapes: [[kinked ? 300 : 513]],
      gpu: ([x]) => op[act](x),
      ref: map(f),
      init: kinked ? (_, n, r) => awayFromZero(n, r) : undefined,
      browser: kinked,
    }, {
      name: `${act}(x + bias) fused`,
      shapes: [[3, 5, 13], [13]],
      gpu: ([x, b]) => op.biasActivation(act, x, b),
      ref: zip((x, b) => f(x + b)),
      // keep x + b away from the kink
      init: kinked
        ? (i, n, r) =>
          i === 1 ? Float64Array.from({ length: n }, () => 0.04 * r() - 0.02) : awayFromZero(n, r)
        : undefined,
      browser: !kinked,
    }];
  });

// A tensor reaching one op twice, or two ways: ops hand out views of their output gradient (add gives the
// same storage to both inputs), so accumulating in place would corrupt a sibling's gradient.
const aliasRows = (): OpRow[] => [
  { name: "add(x, x)", shapes: [[5, 7]], gpu: ([x]) => op.add(x, x), ref: map((x) => 2 * x) },
  { name: "mul(x, x)", shapes: [[5, 7]], gpu: ([x]) => op.mul(x, x), ref: map((x) => x * x) },
  {
    name: "gradients that alias a sibling's: (x·x + x) + 5x",
    shapes: [[4, 6]],
    gpu: ([x]) => op.add(op.add(op.mul(x, x), x), op.scale(x, 5)),
    ref: map((x) => x * x + 6 * x),
  },
  {
    name: "gradients that alias a sibling's: 5x + (x + x·x)",
    shapes: [[4, 6]],
    gpu: ([x]) => op.add(op.scale(x, 5), op.add(x, op.mul(x, x))),
    ref: map((x) => x * x + 6 * x),
  },
];

// Row kernels come in two layouts (a workgroup per row for GPUs, a thread per row for CPU drivers); both are
// checked on every adapter, so each proves itself against the same float64 reference.
const rowKernelRows = (): OpRow[] =>
  (["workgroup", "thread"] as const).flatMap((layout): OpRow[] => {
    const [b, h, s] = [2, 2, 19];
    const rows: OpRow[] = [{
      name: `softmax with scale (${layout} per row)`,
      shapes: [[4, 3, 70]],
      gpu: ([x]) => op.softmax(x, { scale: 0.7 }),
      ref: ([x]) => refSoftmax(x, 12, 70, 0.7),
    }, {
      name: `softmax with a key mask, masked scores at the f32 minimum (${layout} per row)`,
      shapes: [[b, h, s, s], [b, s]],
      noGrad: [1],
      init: (i, n, r) =>
        i === 1
          ? Float64Array.from({ length: n }, (_, j) => ((j % s) < (j < s ? 19 : 9) ? 1 : 0))
          : Float64Array.from({ length: n }, () => r() * 4 - 2),
      gpu: ([x, m]) => op.softmax(x, { mask: m }),
      ref: ([x, m]) => refSoftmax(x, b * h * s, s, 1, m),
    }, {
      name: `layer norm of x + residual, fused (${layout} per row)`,
      shapes: [[4, 3, 77], [4, 3, 77], [77], [77]],
      gpu: ([x, r, g, bias]) => op.addLayerNorm(x, r, g, bias, 1e-12),
      ref: ([x, r, g, bias]) => refLayerNorm(x.map((v, i) => v + r[i]), g, bias, 1e-12),
    }, {
      name: `layer norm (${layout} per row)`,
      shapes: [[5, 3, 77], [77], [77]],
      gpu: ([x, g, bias]) => op.layerNorm(x, g, bias, 1e-12),
      ref: ([x, g, bias]) => refLayerNorm(x, g, bias, 1e-12),
    }];
    return rows.map((row) => ({ ...row, settings: { rowLayout: layout }, browser: true }));
  });

const reductionRows = (): OpRow[] => [
  {
    name: "sum",
    shapes: [[33, 71]],
    gpu: ([x]) => op.sum(x),
    ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0)),
  },
  {
    name: "mean",
    shapes: [[1000]],
    gpu: ([x]) => op.mean(x),
    ref: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0) / x.length),
  },
  {
    name: "columnSums over many rows (two passes)",
    shapes: [[150, 7]],
    gpu: ([x]) => op.columnSums(x),
    ref: ([x]) =>
      Float64Array.from(
        { length: 7 },
        (_, c) => Array.from({ length: 150 }, (_, r) => x[r * 7 + c]).reduce((a, b) => a + b, 0),
      ),
  },
];

const layoutRows = (): OpRow[] => [
  {
    name: "reshape",
    shapes: [[6, 4]],
    gpu: ([x]) => op.mul(op.reshape(x, [3, -1]), op.reshape(x, [3, 8])),
    ref: map((x) => x * x),
  },
  {
    name: "permute (attention heads)",
    shapes: [[2, 5, 3, 4]],
    gpu: ([x]) => op.permute(x, [0, 2, 1, 3]),
    ref: ([x]) => refPermute(x, [2, 5, 3, 4], [0, 2, 1, 3]),
  },
  {
    name: "permute 3-D",
    shapes: [[3, 5, 7]],
    gpu: ([x]) => op.permute(x, [2, 0, 1]),
    ref: ([x]) => refPermute(x, [3, 5, 7], [2, 0, 1]),
  },
  {
    name: "slice (token 0 of each sequence)",
    shapes: [[3, 6, 5]],
    gpu: ([x]) => op.slice(x, 1, 0, 1),
    ref: ([x]) => Float64Array.from({ length: 15 }, (_, i) => x[Math.floor(i / 5) * 30 + (i % 5)]),
  },
  {
    name: "slice in the middle",
    shapes: [[4, 9]],
    gpu: ([x]) => op.slice(x, 1, 2, 5),
    ref: ([x]) => Float64Array.from({ length: 20 }, (_, i) => x[Math.floor(i / 5) * 9 + 2 + (i % 5)]),
  },
];

/** Fused attention against float64, padded rows: q, k, v [B·H, S, D], the mask [B, S] (no gradient). */
function attentionRow(
  [B, H, S, D]: [number, number, number, number],
  lengths: number[],
  scale: number,
  browser = false,
): OpRow {
  return {
    name: `fused attention B=${B} H=${H} S=${S} d=${D}, padded rows`,
    shapes: [[B * H, S, D], [B * H, S, D], [B * H, S, D], [B, S]],
    noGrad: [3],
    init: (i, n, r) =>
      i === 3
        ? Float64Array.from({ length: n }, (_, j) => (j % S) < lengths[Math.floor(j / S)] ? 1 : 0)
        : randn(n, r),
    gpu: ([q, k, v, m]) => op.attention(q, k, v, m, { heads: H, scale }),
    ref: ([q, k, v, m]) => refAttention(q, k, v, m, [B, H, S, D], scale),
    browser,
  };
}

/** The dropout kernel's counter-based hash (kernels/elementwise.ts HASH_WGSL), in u32 arithmetic. */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}
const keepBit = (seed: number, i: number, prob: number) =>
  (pcg(pcg(seed) ^ pcg((i + 0x9e3779b9) >>> 0)) >>> 0) >= Math.round(prob * 2 ** 32);

const otherRows = (): OpRow[] => {
  const labels = [1, 0, 1, 1, 0];
  const ids = Int32Array.from([3, 0, 5, 3, 3, 1, 0, 6]);
  return [
    {
      name: "div",
      shapes: [[6, 9], [9]],
      gpu: ([a, b]) => op.div(a, b),
      ref: zip((a, b) => a / b),
      init: (i, n, r) => Float64Array.from({ length: n }, () => (i === 1 ? 1 + r() : r() * 2 - 1)),
    },
    { name: "scale", shapes: [[257]], gpu: ([x]) => op.scale(x, -0.37), ref: map((x) => x * -0.37) },
    {
      name: "cross-entropy (mean over the batch)",
      shapes: [[5, 2]],
      // The labels are made inside the checked step, so its scope frees them.
      gpu: ([x]) => op.crossEntropy(x, Tensor.fromArray(labels, [5], { dtype: "i32" })),
      ref: ([x]) => {
        let s = 0;
        for (let r = 0; r < 5; r++) {
          const a = x[2 * r], b = x[2 * r + 1], m = Math.max(a, b);
          s += Math.log(Math.exp(a - m) + Math.exp(b - m)) + m - x[2 * r + labels[r]];
        }
        return Float64Array.of(s / 5);
      },
      browser: true,
    },
    {
      name: "embedding (repeated ids sum their gradients)",
      shapes: [[7, 6]],
      gpu: ([t]) => op.embedding(ids, [2, 4], t),
      ref: ([t]) => Float64Array.from({ length: 48 }, (_, i) => t[ids[Math.floor(i / 6)] * 6 + (i % 6)]),
    },
    {
      name: "dropout against a host replay of its hash: forward and gradient",
      shapes: [[9, 37]],
      gpu: ([x]) => op.dropout(x, 0.3, 1234),
      ref: ([x]) => x.map((v, i) => (keepBit(1234, i, 0.3) ? v / 0.7 : 0)),
    },
  ];
};

export const OP_TABLE: OpRow[] = [
  ...matmulRows(),
  ...binaryRows(),
  ...activationRows(),
  ...aliasRows(),
  ...rowKernelRows(),
  ...reductionRows(),
  ...layoutRows(),
  attentionRow([2, 2, 7, 4], [7, 3], 0.5),
  attentionRow([2, 2, 7, 8], [7, 4], 1 / Math.sqrt(8), true),
  attentionRow([1, 2, 33, 16], [30], 1 / Math.sqrt(16), true),
  ...otherRows(),
];
