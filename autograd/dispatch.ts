/**
 * From a launch to a dispatch: a kernel's named buffers and uniforms put in the order its WGSL declares them
 * (checked), the workgroup grid, and the host-side limit checks that keep invalid work off the device.
 */
import { DeviceError } from "../util/errors.ts";
import type { KernelSpec, UniformType } from "../kernels/common.ts";
import { fmtBytes } from "./pool.ts";

/** A storage binding: a pooled buffer and the bytes of it that the kernel sees. */
export interface Binding {
  buffer: GPUBuffer;
  /** Where the binding starts in the buffer (a multiple of 256: minStorageBufferOffsetAlignment). */
  offset?: number;
  bytes: number;
}

/** One launch of a kernel: what `GpuRuntime.launch` binds to its declared names, and how many workgroups. */
export interface Launch {
  /** A buffer for every storage binding the kernel declares, by its name (no other). */
  buffers: Record<string, Binding>;
  /** A value for every uniform field the kernel declares, by its name (no other); u32 fields take integers. */
  uniforms?: Record<string, number>;
  /**
   * How many workgroups: `threads` (one invocation each, in workgroups of the kernel's size, split over x/y
   * by `grid`), or `workgroups` as given.
   */
  count: { threads: number } | { workgroups: [number, number?, number?] };
  /** A label for profiles and errors: the kernel's name. */
  label: string;
  /** What the op works on (shapes), for error messages only: computed when an error needs it. */
  detail?: () => string;
}

/** A launch resolved to binding order: what the device sees. */
export interface Dispatch {
  wgsl: string;
  buffers: Binding[];
  uniforms: { values: number[]; types: UniformType[] };
  workgroups: [number, number?, number?];
  label: string;
  detail?: () => string;
}

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension: every adapter has at least this many. */
const MAX_WORKGROUPS = 65535;

/** Splits `count` workgroups into x/y so neither exceeds the per-dimension limit. */
export function grid(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_WORKGROUPS);
  return [Math.ceil(count / y), y];
}

/** Orders a launch's named buffers and uniforms as the kernel declares them; throws on a mismatch. */
export function resolveLaunch(kernel: KernelSpec, launch: Launch): Dispatch {
  const { label } = launch;
  const matchNames = (what: string, declared: string[], given: string[]) => {
    const missing = declared.filter((n) => !given.includes(n));
    const unknown = given.filter((n) => !declared.includes(n));
    if (missing.length || unknown.length) {
      const parts = [
        ...(missing.length ? [`no ${missing.join(", ")}`] : []),
        ...(unknown.length ? [`unknown ${unknown.join(", ")}`] : []),
      ];
      throw new Error(`${label}: ${what} do not match the kernel's (${parts.join("; ")})`);
    }
  };
  const buffers = launch.buffers, values = launch.uniforms ?? {};
  matchNames("buffers", kernel.storage.map((b) => b.name), Object.keys(buffers));
  matchNames("uniforms", kernel.uniforms.map(([name]) => name), Object.keys(values));
  for (const [name, type] of kernel.uniforms) {
    const v = values[name];
    if (type === "u32" ? !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff) : typeof v !== "number") {
      throw new Error(`${label}: uniform ${name} (${type}) cannot be ${v}`);
    }
  }
  const workgroups = "threads" in launch.count
    ? grid(Math.ceil(launch.count.threads / kernel.workgroupSize))
    : launch.count.workgroups;
  return {
    wgsl: kernel.wgsl,
    buffers: kernel.storage.map((b) => buffers[b.name]),
    uniforms: {
      values: kernel.uniforms.map(([name]) => values[name]),
      types: kernel.uniforms.map(([, t]) => t),
    },
    workgroups,
    label,
    detail: launch.detail,
  };
}

/**
 * Throws a DeviceError naming the kernel, what it works on and the limit, when `spec` needs more than the
 * device allows: the host knows every binding's size and the grid, so nothing invalid reaches the device.
 */
export function checkLimits(spec: Dispatch, l: GPUSupportedLimits): void {
  const label = spec.label;
  const fail = (what: string) => {
    throw new DeviceError(`${label}${spec.detail ? ` ${spec.detail()}` : ""}: ${what}`);
  };
  if (spec.buffers.length > l.maxStorageBuffersPerShaderStage) {
    fail(
      `${spec.buffers.length} storage buffers, over the adapter's maxStorageBuffersPerShaderStage ` +
        `(${l.maxStorageBuffersPerShaderStage})`,
    );
  }
  spec.buffers.forEach((b, i) => {
    if (b.bytes > l.maxStorageBufferBindingSize) {
      fail(
        `binding ${i} is ${fmtBytes(b.bytes)}, over the adapter's maxStorageBufferBindingSize ` +
          `(${fmtBytes(l.maxStorageBufferBindingSize)})`,
      );
    }
    if ((b.offset ?? 0) % l.minStorageBufferOffsetAlignment !== 0) {
      fail(`binding ${i} starts at byte ${b.offset}, not a multiple of minStorageBufferOffsetAlignment`);
    }
  });
  for (const n of spec.workgroups) {
    if (n !== undefined && n > l.maxComputeWorkgroupsPerDimension) {
      fail(
        `${n} workgroups along one dimension, over the adapter's maxComputeWorkgroupsPerDimension ` +
          `(${l.maxComputeWorkgroupsPerDimension})`,
      );
    }
  }
}
