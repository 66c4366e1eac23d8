/**
 * Batched matmul C[b] = op(A[b]) · op(B[b]), op = identity or transpose, every variant a WGSL generator.
 * `simple` is the reference: register-blocked (each thread a 4×4 block of C, scalar loads, any shapes and
 * transposes). Faster variants live beside it and are proven equal to it by tests/matmul_test.ts.
 * With `f16`, A and B are stored as f16 (mixed precision) and widened on load: products and sums are f32,
 * C is f32.
 */
import { kernel, type KernelSpec } from "./common.ts";

export interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** A and B hold f16 (default f32). */
  f16?: boolean;
}

export interface MatmulVariant {
  name: string;
  /** Whether this variant handles the shape (alignment, transposes). */
  supports(s: MatmulShape): boolean;
  spec(s: MatmulShape): KernelSpec;
  workgroups(s: MatmulShape): [number, number, number];
}

const UNIFORMS = {
  m: "u32",
  n: "u32",
  k: "u32",
  stride_a: "u32",
  stride_b: "u32",
  stride_c: "u32",
} as const;

/** A element (row r, inner index k) and B element (inner k, column c) under the transposes, as f32. */
function loaders(s: MatmulShape): string {
  const a = s.transA ? "A[ab + k * p.m + r]" : "A[ab + r * p.k + k]";
  const b = s.transB ? "B[bb + c * p.k + k]" : "B[bb + k * p.n + c]";
  return `
fn load_a(ab: u32, r: u32, k: u32) -> f32 { return f32(${a}); }
fn load_b(bb: u32, k: u32, c: u32) -> f32 { return f32(${b}); }`;
}

/** The storage element type of A and B: f32 or f16, scalar or vec4. */
const operandType = (s: MatmulShape, vec = false) => {
  const t = s.f16 ? "f16" : "f32";
  return vec ? `vec4<${t}>` : t;
};

/** A kernel that loads its operands as scalars: A, B, C, the loaders, then `body`. */
const scalarKernel = (s: MatmulShape, body: string) =>
  kernel(
    [["A", "read", operandType(s)], ["B", "read", operandType(s)], ["C", "read_write"]],
    UNIFORMS,
    `${loaders(s)}
${body}`,
  );

const TILE = 4;
const WG_X = 8;
const WG_Y = 8;

const simpleMatmul: MatmulVariant = {
  name: "simple",
  supports: () => true,
  workgroups: (s) => [Math.ceil(s.n / (TILE * WG_X)), Math.ceil(s.m / (TILE * WG_Y)), s.batch],
  spec: (s) =>
    scalarKernel(
      s,
      `@compute @workgroup_size(${WG_X}, ${WG_Y})
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
    ),
};

// ---- register-blocked, no workgroup memory (CPU adapters: lavapipe/llvmpipe, SwiftShader) ------------------

/** How a register-blocked variant lays its threads and blocks out. */
interface BlockedConfig {
  /** Rows (tm) and columns (tn) of C per thread, both multiples of 4. */
  tm: number;
  tn: number;
  /** Workgroup size; x runs along `lanes`, y along the other axis. */
  wgx: number;
  wgy: number;
  /** Which axis of C neighbouring invocations (SIMD lanes on a CPU driver) step along. */
  lanes: "n" | "m";
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const XYZW = "xyzw";

/**
 * A tuned twin of `simpleMatmul` (the reference), proven equal by tests/matmul_test.ts on every shape it
 * supports. Each thread computes a tm×tn block of C in vec4 registers, one k per loop step. Operands
 * contiguous along m (Aᵀ) or n (B) are loaded as vec4, those contiguous along k as scalars. Needs n % 4 == 0 and
 * m % 4 == 0 when A is transposed; any k. Ragged edges load a clamped neighbour and skip the store (no
 * early return, so every lane runs the same loop).
 *
 * Why this shape on llvmpipe: each element a lane loads becomes a scalar load with its own exec-mask test,
 * descriptor reload and bounds check (even when all lanes load the same address, inside a loop), so the
 * cost is elements loaded per FMA, and big blocks (16×16: 32 elements per 256 FMAs) win while the loop body
 * still fits the instruction cache. Unrolling k by 4 with vec4 loads along k made the body too big.
 */
function blockedMatmul(cfg: BlockedConfig, name?: string): MatmulVariant {
  const { tm, tn, wgx, wgy, lanes } = cfg;
  if (tn % 4 !== 0 || tm % 4 !== 0) throw new Error(`blockedMatmul: bad block ${tm}x${tn}`);
  const [wgn, wgm] = lanes === "n" ? [wgx, wgy] : [wgy, wgx];
  const tn4 = tn / 4, tm4 = tm / 4;
  return {
    name: name ?? `rb${tm}x${tn}${lanes}${wgx}x${wgy}`,
    supports: (s) => s.n % 4 === 0 && (!s.transA || s.m % 4 === 0),
    workgroups: (s) => {
      const gn = Math.ceil(s.n / (tn * wgn)), gm = Math.ceil(s.m / (tm * wgm));
      return lanes === "n" ? [gn, gm, s.batch] : [gm, gn, s.batch];
    },
    spec: (s) => {
      const { transA, transB } = s;
      // Operands contiguous along k (A not transposed, B transposed) are scalar arrays.
      const aVec = transA, bVec = !transB;
      const L: string[] = [];
      // Start offsets, in elements of each binding's type.
      if (!transA) {
        for (const i of range(tm)) L.push(`  let oa${i} = ab + min(r0 + ${i}u, p.m - 1u) * p.k;`);
      } else {
        for (const i of range(tm4)) L.push(`  let oa${i} = ab + min(r0 + ${4 * i}u, p.m - 4u) / 4u;`);
      }
      if (!transB) {
        for (const j of range(tn4)) L.push(`  let ob${j} = bb + min(c0 + ${4 * j}u, p.n - 4u) / 4u;`);
      } else {
        for (const t of range(tn)) L.push(`  let ob${t} = bb + min(c0 + ${t}u, p.n - 1u) * p.k;`);
      }
      for (const i of range(tm)) for (const j of range(tn4)) L.push(`  var acc${i}_${j} = vec4f(0.0);`);
      L.push(`  for (var kk = 0u; kk < p.k; kk++) {`);
      // f16 operands are widened on load (a no-op conversion for f32).
      if (!transA) { for (const i of range(tm)) L.push(`    let a${i} = f32(A[oa${i} + kk]);`); }
      else for (const i of range(tm4)) L.push(`    let a${i} = vec4f(A[oa${i} + kk * m4]);`);
      if (!transB) { for (const j of range(tn4)) L.push(`    let b${j} = vec4f(B[ob${j} + kk * n4]);`); }
      else {
        for (const t of range(tn)) L.push(`    let b${t} = f32(B[ob${t} + kk]);`);
        for (const j of range(tn4)) {
          L.push(`    let bv${j} = vec4f(${range(4).map((t) => `b${4 * j + t}`).join(", ")});`);
        }
      }
      for (const i of range(tm)) {
        const a = transA ? `a${Math.floor(i / 4)}.${XYZW[i % 4]}` : `a${i}`;
        for (const j of range(tn4)) L.push(`    acc${i}_${j} += ${a} * ${transB ? "bv" : "b"}${j};`);
      }
      L.push(`  }`);
      for (const i of range(tm)) {
        L.push(`  if (r0 + ${i}u < p.m) {`);
        for (const j of range(tn4)) {
          L.push(
            `    if (c0 + ${4 * j}u < p.n) { C[cb + (r0 + ${i}u) * n4 + c0 / 4u + ${j}u] = acc${i}_${j}; }`,
          );
        }
        L.push(`  }`);
      }
      const [mi, ni] = lanes === "n" ? ["y", "x"] : ["x", "y"];
      // From workgroup_id alone on an axis one invocation wide, so the compiler can see it is uniform.
      const idx = (axis: string) => {
        const size = axis === "x" ? wgx : wgy;
        return size === 1 ? `wid.${axis}` : `(wid.${axis} * ${size}u + lid.${axis})`;
      };
      return kernel(
        [["A", "read", operandType(s, aVec)], ["B", "read", operandType(s, bVec)], [
          "C",
          "read_write",
          "vec4f",
        ]],
        UNIFORMS,
        `@compute @workgroup_size(${wgx}, ${wgy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r0 = ${idx(mi)} * ${tm}u;
  let c0 = ${idx(ni)} * ${tn}u;
  let m4 = p.m / 4u;
  let n4 = p.n / 4u;
  let ab = wid.z * p.stride_a${aVec ? " / 4u" : ""};
  let bb = wid.z * p.stride_b${bVec ? " / 4u" : ""};
  let cb = wid.z * p.stride_c / 4u;
${L.join("\n")}
}`,
      );
    },
  };
}

// ---- workgroup-memory tiled (discrete and integrated GPUs) ------------------------------------------------

const T_TILE = 64;
const T_BK = 16;

/**
 * A tuned twin of `simpleMatmul` (the reference), proven equal by tests/matmul_test.ts. The classic GPU
 * kernel: a 16×16 workgroup computes a 64×64 tile of C, each thread a 4×4 block, staging
 * 64×16 slices of A and B in workgroup memory. Any shape and transposes (out-of-range elements load as 0).
 * Slow on CPU drivers (a barrier there is a coroutine switch), so the autotuner only picks it on GPUs.
 */
const tiledMatmul: MatmulVariant = {
  name: "tiled64",
  supports: () => true,
  workgroups: (s) => [Math.ceil(s.n / T_TILE), Math.ceil(s.m / T_TILE), s.batch],
  spec: (s) =>
    scalarKernel(
      s,
      `var<workgroup> As: array<array<f32, ${T_TILE}>, ${T_BK}>;
var<workgroup> Bs: array<array<f32, ${T_TILE}>, ${T_BK}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let tileRow = wid.y * ${T_TILE}u;
  let tileCol = wid.x * ${T_TILE}u;
  let ab = wid.z * p.stride_a;
  let bb = wid.z * p.stride_b;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += ${T_BK}u) {
    // ${T_TILE * T_BK} elements of each operand, 4 per thread; consecutive threads take consecutive
    // elements along the operand's contiguous axis.
    for (var e = 0u; e < 4u; e++) {
      let idx = li + e * 256u;
      ${s.transA ? "let ak = idx / 64u; let ar = idx % 64u;" : "let ar = idx / 16u; let ak = idx % 16u;"}
      let gr = tileRow + ar;
      let gk = k0 + ak;
      As[ak][ar] = select(0.0, load_a(ab, min(gr, p.m - 1u), min(gk, p.k - 1u)), gr < p.m && gk < p.k);
      ${s.transB ? "let bc = idx / 16u; let bk = idx % 16u;" : "let bk = idx / 64u; let bc = idx % 64u;"}
      let gc = tileCol + bc;
      let gkb = k0 + bk;
      Bs[bk][bc] = select(0.0, load_b(bb, min(gkb, p.k - 1u), min(gc, p.n - 1u)), gc < p.n && gkb < p.k);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${T_BK}u; kk++) {
      let b = vec4f(Bs[kk][lid.x * 4u], Bs[kk][lid.x * 4u + 1u], Bs[kk][lid.x * 4u + 2u], Bs[kk][lid.x * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] += As[kk][lid.y * 4u + i] * b; }
    }
    workgroupBarrier();
  }
  let cb = wid.z * p.stride_c;
  for (var i = 0u; i < 4u; i++) {
    let row = tileRow + lid.y * 4u + i;
    if (row >= p.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = tileCol + lid.x * 4u + j;
      if (col < p.n) { C[cb + row * p.n + col] = acc[i][j]; }
    }
  }
}`,
    ),
};

/** Every variant kept, the reference first. The op picks the first (after the reference) that supports a shape. */
export const MATMUL_VARIANTS: MatmulVariant[] = [
  simpleMatmul,
  blockedMatmul({ tm: 16, tn: 16, wgx: 8, wgy: 1, lanes: "n" }, "rb16x16"),
  blockedMatmul({ tm: 16, tn: 16, wgx: 8, wgy: 1, lanes: "m" }, "rb16x16m"),
  blockedMatmul({ tm: 8, tn: 8, wgx: 8, wgy: 1, lanes: "n" }, "rb8x8"),
  tiledMatmul,
];

/** The uniforms of every variant; a shared (2-D) B has batch stride 0. */
export function matmulUniforms(s: MatmulShape, sharedB: boolean): Record<keyof typeof UNIFORMS, number> {
  return {
    m: s.m,
    n: s.n,
    k: s.k,
    stride_a: s.m * s.k,
    stride_b: sharedB ? 0 : s.k * s.n,
    stride_c: s.m * s.n,
  };
}
