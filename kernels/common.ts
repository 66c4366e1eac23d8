/** Pieces shared by the WGSL generators. */

/** Threads per workgroup for element-wise kernels. */
const WG = 256;

/** Declares the linear invocation index `i` over a 2-D grid of 1-D workgroups (see runtime `grid`). */
const LINEAR_INDEX = `@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u`;
const LINEAR_I = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;

/**
 * A kernel with one invocation per element (`i`, over a 2-D grid of WG-thread workgroups), written once:
 * the declarations, `helpers` (WGSL functions, on their own line when given), the prologue that returns past
 * `guard`, then `body` (indented statements).
 */
export function perElementKernel(
  storage: readonly (readonly [name: string, access: Access, type?: string])[],
  uniforms: Record<string, UniformType>,
  body: string,
  opts: { helpers?: string; guard?: string } = {},
): KernelSpec {
  const helpers = opts.helpers === undefined ? "" : `${opts.helpers}\n`;
  return kernel(
    storage,
    uniforms,
    `${helpers}@compute @workgroup_size(${WG})
fn main(${LINEAR_INDEX}) {
  ${LINEAR_I}
  if (${opts.guard ?? "i >= p.n"}) { return; }
${body}
}`,
  );
}

export type Access = "read" | "read_write";
/** A uniform field's WGSL type: every field is one 32-bit scalar. */
export type UniformType = "u32" | "f32";

/** One storage binding of a kernel: its WGSL name, access and element type (default f32). */
export interface StorageDecl {
  name: string;
  access: Access;
  type: string;
}

/**
 * A kernel's whole contract with the host, declared once: the WGSL, its storage bindings (group 0, bindings
 * 0..n-1 in this order), its uniform fields (the struct `P` at binding n, in this order) and its threads per
 * workgroup. The runtime's `launch` takes buffers and uniform values by these names and checks them.
 */
export interface KernelSpec {
  wgsl: string;
  storage: readonly StorageDecl[];
  uniforms: readonly (readonly [name: string, type: UniformType])[];
  /** Invocations per workgroup (the product of `@workgroup_size`), for launches counted in threads. */
  workgroupSize: number;
}

/** Invocations per workgroup of a WGSL compute shader, from its `@workgroup_size`. */
export function workgroupSizeOf(wgsl: string): number {
  const size = /@workgroup_size\(([^)]*)\)/.exec(wgsl);
  if (!size) throw new Error("kernel: no @workgroup_size");
  return size[1].split(",").map((d) => Number(d.trim().replace(/u$/, ""))).reduce((a, b) => a * b, 1);
}

/**
 * A kernel spec from its declarations and the WGSL after them: the `storage` declarations, then the uniform
 * struct generated from `uniforms` (name → type, in order). A binding of f16 elements puts `enable f16;`
 * first (the device has `shader-f16` whenever f16 tensors exist).
 */
export function kernel(
  storage: readonly (readonly [name: string, access: Access, type?: string])[],
  uniforms: Record<string, UniformType> | null,
  body: string,
): KernelSpec {
  const decls = storage.map(([name, access, type = "f32"]) => ({ name, access, type }));
  const fields = Object.entries(uniforms ?? {});
  const lines = decls.map(({ name, access, type }, i) =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`
  );
  if (fields.length > 0) {
    lines.unshift(`struct P { ${fields.map(([name, type]) => `${name}: ${type}`).join(", ")} }`);
    lines.push(`@group(0) @binding(${decls.length}) var<uniform> p: P;`);
  }
  if (decls.some(({ type }) => type.includes("f16"))) lines.unshift("enable f16;");
  const wgsl = `${lines.join("\n")}\n${body}`;
  return { wgsl, storage: decls, uniforms: fields, workgroupSize: workgroupSizeOf(wgsl) };
}

/**
 * The most negative f32: HF DistilBERT fills masked attention scores with torch.finfo(float32).min. Written
 * with all its digits: a shorter decimal such as -3.40282347e+38 lies outside f32's finite range, which the
 * WGSL spec makes a shader-creation error (Chromium's Tint enforces it; naga rounds).
 */
export const F32_MIN = "-3.4028234663852886e+38";

/** Threads of a row-per-workgroup kernel (softmax, layer norm). */
export const ROW_THREADS = 64;

/** Threads per workgroup of the thread-per-row kernels (CPU drivers). */
const ROW_PER_THREAD_WG = 64;

/**
 * How a row kernel (softmax, layer norm) lays its threads out: one workgroup per row with a tree reduction
 * (the reference, for GPUs), or one thread per row with no workgroup memory and no barriers (its tuned twin
 * for CPU drivers, where each barrier is a coroutine switch). A kernel is written once against `RowWalk`;
 * the op table runs every row-kernel case in both layouts (tests/op_table.ts), which proves them equal.
 */
export type RowLayout = "workgroup" | "thread";

/** The WGSL pieces a row kernel is written with, in one layout. */
export interface RowWalk {
  /** Opens `main`: declares `row`, `base` (its first element) and `var total: f32`; returns beyond p.rows. */
  head: string;
  /** A loop header binding `c` to each column of the row this thread handles. */
  cols: string;
  /** Reduces every thread's `acc` with `op` into `total`, visible to every thread of the row. */
  reduce: (op: "add" | "max") => string;
  /** True in one thread of the row: the one that writes per-row results. */
  leader: string;
}

export const ROW_WALKS: Record<RowLayout, RowWalk> = {
  workgroup: {
    // Rows beyond p.rows return uniformly (a whole workgroup), before any barrier.
    head: `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
fn add(a: f32, b: f32) -> f32 { return a + b; }
@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var total: f32;`,
    cols: `for (var c = lid.x; c < p.cols; c += ${ROW_THREADS}u)`,
    reduce: (op) => `
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = ${op}(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  total = red[0];
  workgroupBarrier();`,
    leader: "lid.x == 0u",
  },
  thread: {
    head: `
@compute @workgroup_size(${ROW_PER_THREAD_WG})
fn main(${LINEAR_INDEX}) {
  let row = gid.x + gid.y * nwg.x * ${ROW_PER_THREAD_WG}u;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var total: f32;`,
    cols: "for (var c = 0u; c < p.cols; c++)",
    reduce: () => `
  total = acc;`,
    leader: "true",
  },
};
