/** Data movement: reshape (a view), permutes, the last-two-axes transpose, slices. */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { permuteKernel, sliceKernel } from "../../kernels/layout.ts";
import { launchOp, perThread } from "./launch.ts";

/** A differentiable reshape (a view of the same storage). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = [...shape];
  const infer = resolved.indexOf(-1);
  if (infer >= 0) resolved[infer] = x.size / -resolved.reduce((a, b) => a * b, 1);
  const y = x.view(resolved);
  return record(y, [x], (g) => [g.view(x.shape)]);
}

function permuteRaw(x: Tensor, perm: number[]): Tensor {
  const rank = x.shape.length;
  if (perm.length !== rank || [...perm].sort().some((p, i) => p !== i) || rank > 4) {
    throw new Error(`permute: [${perm}] is not a permutation of ${fmtShape(x.shape)}`);
  }
  const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((p) => x.shape[p]);
  const pad = 4 - rank;
  const o = [...Array(pad).fill(1), ...outShape];
  const s = [...Array(pad).fill(0), ...perm.map((p) => strides[p])];
  const f16 = x.dtype === "f16";
  const y = new Tensor(outShape, x.dtype);
  const threads = f16 ? Math.ceil(y.size / 2) : y.size;
  const u = { n: y.size, o1: o[1], o2: o[2], o3: o[3], s0: s[0], s1: s[1], s2: s[2], s3: s[3] };
  launchOp(permuteKernel(f16), "permute", { X: x, Y: y }, u, perThread(threads));
  return y;
}

/** Reorders axes: output axis i is input axis perm[i]. */
export function permute(x: Tensor, perm: number[]): Tensor {
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(permuteRaw(x, perm), [x], (g) => [permuteRaw(g, inverse)]);
}

/** x[..., start:start+length, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const len = x.shape[axis];
  if (start < 0 || length < 1 || start + length > len) {
    throw new Error(`slice: [${start}, ${start + length}) outside axis ${axis} of ${fmtShape(x.shape)}`);
  }
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const u = (n: number) => ({ n, axis: len, inner, start, len: length });
  const outShape = x.shape.map((d, i) => (i === axis ? length : d));
  const y = new Tensor(outShape);
  launchOp(sliceKernel(false), "slice", { X: x, Y: y }, u(y.size), perThread(y.size));
  return record(y, [x], (g) => {
    const dx = new Tensor(x.shape);
    launchOp(sliceKernel(true), "slice_backward", { X: g, Y: dx }, u(dx.size), perThread(dx.size));
    return [dx];
  });
}

/** The last two axes swapped (a plain copy, no tape). */
export function transposeLast2(x: Tensor): Tensor {
  return permuteRaw(x, x.shape.length === 2 ? [1, 0] : [0, 2, 1]);
}
