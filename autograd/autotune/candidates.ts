/**
 * Which matmul plans the autotuner times on a shape: the plans that support it, less those that do not fit
 * the device's limits (workgroup size, workgroup memory) and those the adapter's class rules out.
 */
import { MATMUL_VARIANTS, type MatmulShape, type MatmulVariant } from "../../kernels/matmul.ts";
import { planFromName } from "../matmul_plan.ts";

/** The limits a kernel's workgroup must fit. */
export type WorkgroupLimits = Pick<
  GPUSupportedLimits,
  | "maxComputeInvocationsPerWorkgroup"
  | "maxComputeWorkgroupSizeX"
  | "maxComputeWorkgroupSizeY"
  | "maxComputeWorkgroupSizeZ"
  | "maxComputeWorkgroupStorageSize"
>;

const SCALAR_BYTES: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2 };

/** Bytes of a WGSL type made of arrays, vectors and scalars (`array<array<f32, 64>, 16>`, `vec4<f16>`). */
function typeBytes(type: string): number {
  const t = type.replace(/\s/g, "");
  const array = /^array<(.+),(\d+)u?>$/.exec(t);
  if (array) return Number(array[2]) * typeBytes(array[1]);
  const vec = /^vec([234])<(\w+)>$/.exec(t) ?? /^vec([234])([fhiu])$/.exec(t);
  if (vec) {
    const scalar = { f: "f32", h: "f16", i: "i32", u: "u32" }[vec[2]] ?? vec[2];
    return Number(vec[1]) * (SCALAR_BYTES[scalar] ?? 4);
  }
  return SCALAR_BYTES[t] ?? 4;
}

/** Bytes of workgroup memory a WGSL shader declares (`var<workgroup> name: type;`). */
export function workgroupBytes(wgsl: string): number {
  let total = 0;
  for (const m of wgsl.matchAll(/var<workgroup>\s*\w+\s*:\s*([^;]+);/g)) total += typeBytes(m[1]);
  return total;
}

/** The `@workgroup_size` of a WGSL shader, three dimensions (missing ones are 1). */
export function workgroupDims(wgsl: string): [number, number, number] {
  const size = /@workgroup_size\(([^)]*)\)/.exec(wgsl);
  const dims = (size?.[1] ?? "1").split(",").map((d) => Number(d.trim().replace(/u$/, "")) || 1);
  return [dims[0], dims[1] ?? 1, dims[2] ?? 1];
}

/** Why `variant`'s kernel for `s` cannot run within `limits`, or null when it fits. */
export function limitProblem(variant: MatmulVariant, s: MatmulShape, limits: WorkgroupLimits): string | null {
  const wgsl = variant.spec(s).wgsl;
  const [x, y, z] = workgroupDims(wgsl);
  if (x * y * z > limits.maxComputeInvocationsPerWorkgroup) {
    return `${x * y * z} invocations per workgroup > ${limits.maxComputeInvocationsPerWorkgroup}`;
  }
  if (
    x > limits.maxComputeWorkgroupSizeX || y > limits.maxComputeWorkgroupSizeY ||
    z > limits.maxComputeWorkgroupSizeZ
  ) {
    return `workgroup ${x}x${y}x${z} over the per-dimension limits`;
  }
  const bytes = workgroupBytes(wgsl);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    return `${bytes} bytes of workgroup memory > ${limits.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/**
 * Why the adapter's class rules a variant out, or null. On GPUs the register-block variants (rb*: 8-thread
 * workgroups, up to 256 accumulators per thread, shaped for a CPU driver's SIMD lanes) spill registers and
 * leave most of each SIMD unit idle. On CPU drivers the workgroup-memory kernel measured ~10x slower
 * (docs/benchmarks.md: each barrier is a coroutine switch), so timing it only costs tuning time.
 */
export function classProblem(variant: MatmulVariant, cpu: boolean): string | null {
  if (!cpu && variant.name.startsWith("rb")) return "a CPU-shaped register block, not timed on a GPU";
  if (cpu && variant.name === "tiled64") return "workgroup barriers, measured ~10x slower on CPU drivers";
  return null;
}

export interface Candidates {
  /** Plan names to time, in MATMUL_VARIANTS order (`T+variant` after its variant). */
  names: string[];
  /** Plans that support the shape but were left out, with the reason. */
  skipped: Record<string, string>;
}

/**
 * The plans to time on `s`: every variant that supports it (A·Bᵀ products also as `T+variant`), fits
 * `limits` and suits the adapter's class.
 */
export function matmulCandidates(s: MatmulShape, cpu: boolean, limits: WorkgroupLimits): Candidates {
  const names: string[] = [], skipped: Record<string, string> = {};
  const transposable = s.transB && !s.transA;
  for (const v of MATMUL_VARIANTS) {
    for (const name of transposable ? [v.name, `T+${v.name}`] : [v.name]) {
      const plan = planFromName(name, s);
      if (!plan) continue;
      const shape = plan.transposeB ? { ...s, transB: false } : s;
      const problem = classProblem(v, cpu) ?? limitProblem(v, shape, limits);
      if (problem) skipped[name] = problem;
      else names.push(name);
    }
  }
  return { names, skipped };
}
