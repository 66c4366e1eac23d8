/** Data movement: permutes of up to 4 axes, and slices along one axis (and their scatter-back). */
import { type KernelSpec, perElementKernel, type UniformType } from "./common.ts";

/**
 * Y (dims o0..o3, row-major) takes X at input strides s0..s3 of the axes Y's axes came from. With `f16`,
 * each thread writes a pair of elements as one 32-bit word (no two threads share a word).
 */
export function permuteKernel(f16 = false): KernelSpec {
  const u: Record<string, UniformType> = {
    n: "u32",
    o1: "u32",
    o2: "u32",
    o3: "u32",
    s0: "u32",
    s1: "u32",
    s2: "u32",
    s3: "u32",
  };
  const source = `
fn source(i: u32) -> u32 {
  let i3 = i % p.o3;
  let r2 = i / p.o3;
  let i2 = r2 % p.o2;
  let r1 = r2 / p.o2;
  let i1 = r1 % p.o1;
  let i0 = r1 / p.o1;
  return i0 * p.s0 + i1 * p.s1 + i2 * p.s2 + i3 * p.s3;
}`;
  if (f16) {
    return perElementKernel(
      [["X", "read", "f16"], ["Y", "read_write", "vec2<f16>"]],
      u,
      `  Y[i] = vec2<f16>(X[source(2u * i)], X[source(min(2u * i + 1u, p.n - 1u))]);`,
      { helpers: source, guard: "2u * i >= p.n" },
    );
  }
  return perElementKernel([["X", "read"], ["Y", "read_write"]], u, `  Y[i] = X[source(i)];`, {
    helpers: source,
  });
}

/**
 * X viewed as [outer, axis, inner]; Y = X[:, start:start+len, :]. With `scatter`, the reverse: Y is the full
 * [outer, axis, inner] tensor holding X (shaped [outer, len, inner]) at that range and zeros elsewhere.
 */
export function sliceKernel(scatter: boolean): KernelSpec {
  const body = scatter
    ? `let a = (i / p.inner) % p.axis;
  let o = i / (p.inner * p.axis);
  let inside = a >= p.start && a < p.start + p.len;
  let src = (o * p.len + min(a - p.start, p.len - 1u)) * p.inner + i % p.inner;
  Y[i] = select(0.0, X[select(0u, src, inside)], inside);`
    : `let a = (i / p.inner) % p.len;
  let o = i / (p.inner * p.len);
  Y[i] = X[(o * p.axis + p.start + a) * p.inner + i % p.inner];`;
  return perElementKernel(
    [["X", "read"], ["Y", "read_write"]],
    { n: "u32", axis: "u32", inner: "u32", start: "u32", len: "u32" },
    `  ${body}`,
  );
}
