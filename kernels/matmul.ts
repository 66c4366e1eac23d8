/**
 * Batched matmul C[b] = op(A[b]) · op(B[b]), op = identity or transpose, every variant a WGSL generator.
 * `simple` is the reference: register-blocked (each thread a 4×4 block of C, scalar loads, any shapes and
 * transposes). Faster variants live beside it and are proven equal to it by tests/matmul_test.ts.
 */
import { bindings } from "./common.ts";

export interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

export interface MatmulVariant {
  name: string;
  /** Whether this variant handles the shape (alignment, transposes). */
  supports(s: MatmulShape): boolean;
  wgsl(s: MatmulShape): string;
  workgroups(s: MatmulShape): [number, number, number];
}

const UNIFORMS = "m: u32, n: u32, k: u32, stride_a: u32, stride_b: u32, stride_c: u32";

/** A element (row r, inner index k) and B element (inner k, column c) under the transposes. */
function loaders(transA: boolean, transB: boolean): string {
  const a = transA ? "A[ab + k * p.m + r]" : "A[ab + r * p.k + k]";
  const b = transB ? "B[bb + c * p.k + k]" : "B[bb + k * p.n + c]";
  return `
fn load_a(ab: u32, r: u32, k: u32) -> f32 { return ${a}; }
fn load_b(bb: u32, k: u32, c: u32) -> f32 { return ${b}; }`;
}

const TILE = 4;
const WG_X = 8;
const WG_Y = 8;

export const simpleMatmul: MatmulVariant = {
  name: "simple",
  supports: () => true,
  workgroups: (s) => [Math.ceil(s.n / (TILE * WG_X)), Math.ceil(s.m / (TILE * WG_Y)), s.batch],
  wgsl: (s) =>
    `${bindings([["A", "read"], ["B", "read"], ["C", "read_write"]], UNIFORMS)}
${loaders(s.transA, s.transB)}
@compute @workgroup_size(${WG_X}, ${WG_Y})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * ${TILE}u;
  let col0 = gid.x * ${TILE}u;
  if (row0 >= p.m || col0 >= p.n) { return; }
  let ab = gid.z * p.stride_a;
  let bb = gid.z * p.stride_b;
  // Out-of-range rows/columns load a valid neighbour and are not stored: no branch in the inner loop.
  let r = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.m - 1u));
  let c = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.n - 1u));
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = 0u; k < p.k; k++) {
    let b = vec4f(load_b(bb, k, c.x), load_b(bb, k, c.y), load_b(bb, k, c.z), load_b(bb, k, c.w));
    acc0 += load_a(ab, r.x, k) * b;
    acc1 += load_a(ab, r.y, k) * b;
    acc2 += load_a(ab, r.z, k) * b;
    acc3 += load_a(ab, r.w, k) * b;
  }
  let cb = gid.z * p.stride_c;
  let accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < p.n) { C[cb + row * p.n + col0 + j] = accs[i][j]; }
    }
  }
}`,
};

/** Every variant kept, the reference first. The op picks the first (after the reference) that supports a shape. */
export const MATMUL_VARIANTS: MatmulVariant[] = [simpleMatmul];

export function matmulUniforms(s: MatmulShape, broadcastB: boolean): number[] {
  return [s.m, s.n, s.k, s.m * s.k, broadcastB ? 0 : s.k * s.n, s.m * s.n];
}
