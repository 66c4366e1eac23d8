/** Float64 CPU references of the ops, for the tests. */
import type { Activation } from "../kernels/elementwise.ts";

/**
 * Matmul test shapes, [batch, m, n, k] (batch 0: a 2-D A and B): tiny, square, unaligned, tile edges,
 * batched. The `mixed` ones are the f16-operand tests' subset.
 */
export const MATMUL_TEST_SHAPES: [number, number, number, number][] = [
  [0, 1, 4, 1],
  [0, 3, 8, 5],
  [0, 4, 4, 4],
  [0, 17, 12, 9],
  [0, 36, 44, 20],
  [0, 70, 132, 21],
  [2, 13, 20, 7],
  [3, 20, 36, 16],
  [2, 64, 68, 12],
  [1, 100, 136, 33],
  [0, 5, 7, 3],
];
export const MIXED_MATMUL_TEST_SHAPES = [1, 3, 5, 6, 8, 9].map((i) => MATMUL_TEST_SHAPES[i]);

export function refMatmul(
  a: Float64Array,
  b: Float64Array,
  batch: number,
  m: number,
  n: number,
  k: number,
  tA: boolean,
  tB: boolean,
  shareB = false,
) {
  const c = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = z * m * k, bo = shareB ? 0 : z * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          s += a[ao + (tA ? q * m + i : i * k + q)] * b[bo + (tB ? j * k + q : q * n + j)];
        }
        c[z * m * n + i * n + j] = s;
      }
    }
  }
  return c;
}

export const map = (f: (x: number) => number) => ([x]: Float64Array[]) => x.map(f);
export const zip = (f: (a: number, b: number) => number) => ([a, b]: Float64Array[]) =>
  a.map((v, i) => f(v, b[i % b.length]));

export function erf(x: number): number {
  // Abramowitz-Stegun 7.1.28-like series is not accurate enough; use a high-precision series/continued fraction.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 100; n++) {
      term *= -t * t / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc asymptotic continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
}

export function refSoftmax(x: Float64Array, rows: number, cols: number, scale: number, mask?: Float64Array) {
  const y = new Float64Array(x.length);
  const rowsPerMask = mask ? rows / (mask.length / cols) : rows;
  for (let r = 0; r < rows; r++) {
    const s = Array.from({ length: cols }, (_, c) => {
      const keep = !mask || mask[Math.floor(r / rowsPerMask) * cols + c] > 0.5;
      return keep ? x[r * cols + c] * scale : -3.4028234663852886e38;
    });
    const m = Math.max(...s);
    const e = s.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (y[r * cols + c] = v / z));
  }
  return y;
}

export function refLayerNorm(x: Float64Array, g: Float64Array, b: Float64Array, eps: number) {
  const cols = g.length, y = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const mean = row.reduce((a, v) => a + v, 0) / cols;
    const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / cols;
    for (let c = 0; c < cols; c++) y[r * cols + c] = (row[c] - mean) / Math.sqrt(v + eps) * g[c] + b[c];
  }
  return y;
}

export function refPermute(x: Float64Array, shape: number[], perm: number[]) {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = perm.map((p) => shape[p]);
  const y = new Float64Array(x.length);
  const idx = new Array(out.length).fill(0);
  for (let i = 0; i < y.length; i++) {
    let r = i;
    for (let d = out.length - 1; d >= 0; d--) {
      idx[d] = r % out[d];
      r = Math.floor(r / out[d]);
    }
    y[i] = x[idx.reduce((s, v, d) => s + v * strides[perm[d]], 0)];
  }
  return y;
}

/** The activations in float64, one per row of kernels/elementwise.ts ACTIVATIONS (a new row needs one). */
export const REF_ACTIVATIONS: Record<Activation, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
};

/** Attention in float64: softmax(scale · q·kᵀ, masked keys at the f32 minimum as HF) · v, per head. */
export function refAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  m: Float64Array,
  [B, H, S, D]: [number, number, number, number],
  scale: number,
): Float64Array {
  const out = new Float64Array(B * H * S * D);
  for (let bh = 0; bh < B * H; bh++) {
    const b = Math.floor(bh / H);
    for (let i = 0; i < S; i++) {
      const s = Array.from({ length: S }, (_, j) => {
        if (m[b * S + j] < 0.5) return -3.4028234663852886e38;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(bh * S + i) * D + d] * k[(bh * S + j) * D + d];
        return dot * scale;
      });
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const total = e.reduce((a, c) => a + c, 0);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += (e[j] / total) * v[(bh * S + j) * D + d];
        out[(bh * S + i) * D + d] = acc;
      }
    }
  }
  return out;
}
