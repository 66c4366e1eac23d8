/** Pieces shared by the WGSL generators. */

/** Threads per workgroup for element-wise kernels. */
export const WG = 256;

/** Declares the linear invocation index `i` over a 2-D grid of 1-D workgroups (see runtime `grid`). */
export const LINEAR_INDEX = `@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u`;
export const LINEAR_I = `let i = gid.x + gid.y * nwg.x * ${WG}u;`;

/** `storage` declarations: name, access, element type, in binding order; the uniform struct comes last. */
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
  return lines.join("\n");
}

/** The most negative f32: HF DistilBERT fills masked attention scores with torch.finfo(float32).min. */
export const F32_MIN = "-3.40282347e+38";
