/** Pieces shared by the WGSL generators. */

/** Threads per workgroup for element-wise kernels. */
export const WG = 256;

/** Declares the linear invocation index `i` over a 2-D grid of 1-D workgroups (see runtime `grid`). */
export const LINEAR_INDEX = `@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u`;
export const LINEAR_I = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;

/**
 * `storage` declarations: name, access, element type, in binding order; the uniform struct comes last.
 * A binding of f16 elements puts `enable f16;` first (the device has `shader-f16` whenever f16 tensors exist).
 */
export function bindings(
  buffers: [name: string, access: "read" | "read_write", type?: string][],
  uniforms?: string,
): string {
  const lines = buffers.map(([name, access, type = "f32"], i) =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`
  );
  if (uniforms) {
    lines.unshift(`struct P { ${uniforms} }`);
    lines.push(`@group(0) @binding(${buffers.length}) var<uniform> p: P;`);
  }
  if (buffers.some(([, , type]) => type?.includes("f16"))) lines.unshift("enable f16;");
  return lines.join("\n");
}

/**
 * The most negative f32: HF DistilBERT fills masked attention scores with torch.finfo(float32).min. Written
 * with all its digits: a shorter decimal such as -3.40282347e+38 lies outside f32's finite range, which the
 * WGSL spec makes a shader-creation error (Chromium's Tint enforces it; naga rounds).
 */
export const F32_MIN = "-3.4028234663852886e+38";

/** Threads of a row-per-workgroup kernel (softmax, layer norm). */
export const ROW_THREADS = 64;

/**
 * The head of a row-per-workgroup kernel: `red` scratch, `add`, and `row`, `base` (its first element) and a
 * `total` variable that `rowReduce` fills. Rows beyond `p.rows` return (uniformly, before any barrier).
 */
export const ROW_KERNEL_HEAD = `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
fn add(a: f32, b: f32) -> f32 { return a + b; }
@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var total: f32;`;

/** Tree-reduces each thread's `acc` with `op` (add or max) into `total`, visible to every thread. */
export const rowReduce = (op: "add" | "max") => `
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = ${op}(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  total = red[0];
  workgroupBarrier();`;

/** Threads per workgroup of the thread-per-row kernels (CPU drivers). */
export const ROW_PER_THREAD_WG = 64;

/**
 * The head of a thread-per-row kernel: `row` (one per invocation), `base` (its first element). No workgroup
 * memory and no barriers: on CPU drivers each barrier is a coroutine switch.
 */
export const ROW_PER_THREAD_HEAD = `
@compute @workgroup_size(${ROW_PER_THREAD_WG})
fn main(${LINEAR_INDEX}) {
  let row = gid.x + gid.y * nwg.x * ${ROW_PER_THREAD_WG}u;
  if (row >= p.rows) { return; }
  let base = row * p.cols;`;
