/**
 * The GPU runtime: one device per process, a pipeline cache keyed by WGSL source, a buffer pool by size
 * class, and dispatch batching (every dispatch of a step is recorded into one command encoder and submitted
 * once, when the host needs a result or the caller flushes).
 */
import { UserError } from "../util/errors.ts";
import { preferVulkanBackend } from "./backend.ts";

/** How to get an adapter when there is none: said once, in one line. */
const NO_ADAPTER = "no WebGPU adapter found: install a GPU driver with Vulkan/Metal/D3D12 support, " +
  "or the CPU driver with `apt-get install mesa-vulkan-drivers` (Linux)";

/** A 32-bit float uniform; plain numbers are packed as u32. */
export class F32 {
  constructor(readonly value: number) {}
}
export const f32 = (value: number): F32 => new F32(value);
export type Uniform = number | F32;

/** A storage binding: a pooled buffer and the bytes of it that the kernel sees. */
export interface Binding {
  buffer: GPUBuffer;
  /** Where the binding starts in the buffer (a multiple of 256: minStorageBufferOffsetAlignment). */
  offset?: number;
  bytes: number;
}

export interface DispatchSpec {
  /** Full WGSL source; bindings are group 0: storage buffers 0..n-1 in `buffers` order, then the uniform. */
  wgsl: string;
  buffers: Binding[];
  uniforms?: Uniform[];
  workgroups: [number, number?, number?];
  /** A label for profiles and errors. */
  label?: string;
}

const MAX_WORKGROUPS = 65535;

/** A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader, WARP): kernels there want other shapes. */
export function isCpuAdapter(): boolean {
  const rt = gpu();
  if (cpuAdapterOf?.rt !== rt) {
    const s = rt.summary;
    const cpu = s.isFallback ||
      /llvmpipe|lavapipe|swiftshader|softpipe|warp|\bcpu\b/i.test(
        `${s.description} ${s.vendor} ${s.architecture}`,
      );
    cpuAdapterOf = { rt, cpu };
  }
  return cpuAdapterOf.cpu;
}
let cpuAdapterOf: { rt: GpuRuntime; cpu: boolean } | null = null;

/** Splits `count` workgroups into x/y so neither exceeds the per-dimension limit. */
export function grid(count: number): [number, number] {
  if (count <= MAX_WORKGROUPS) return [Math.max(1, count), 1];
  const y = Math.ceil(count / MAX_WORKGROUPS);
  return [Math.ceil(count / y), y];
}

/**
 * Buffers are reused by size class (multiples of 256 bytes below 64 KiB, then quarter steps between
 * powers of two), so a training loop whose shapes repeat stops allocating after its first step.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(b));
  const quarter = p / 4;
  return Math.ceil(b / quarter) * quarter;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  liveBytes = 0;
  pooledBytes = 0;
  peakBytes = 0;
  hits = 0;
  misses = 0;
  static readonly USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

  constructor(private device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    // Rounding up to the size class must not pass the device's largest buffer (a flat buffer can be that big).
    const max = Math.floor(this.device.limits.maxBufferSize / 4) * 4;
    const size = bytes <= max ? Math.min(sizeClass(bytes), max) : sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.hits++;
      this.pooledBytes -= size;
    } else {
      this.misses++;
      buffer = this.device.createBuffer({ size, usage: BufferPool.USAGE });
    }
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.liveBytes -= size;
    this.pooledBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, list = []);
    list.push(buffer);
  }

  /** Frees every pooled (not live) buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }
}

/** Uniform data for one submission, packed into 256-byte-aligned slots of a few reusable buffers. */
class UniformArena {
  private static readonly CHUNK = 64 * 1024;
  private chunks: { buffer: GPUBuffer; data: ArrayBuffer }[] = [];
  private chunk = 0;
  private offset = 0;

  constructor(private device: GPUDevice, private align: number) {}

  push(values: Uniform[]): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.max(16, Math.ceil(values.length / 4) * 16);
    if (this.offset + size > UniformArena.CHUNK) {
      this.chunk++;
      this.offset = 0;
    }
    if (this.chunk === this.chunks.length) {
      this.chunks.push({
        buffer: this.device.createBuffer({
          size: UniformArena.CHUNK,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        data: new ArrayBuffer(UniformArena.CHUNK),
      });
    }
    const { buffer, data } = this.chunks[this.chunk];
    const u32 = new Uint32Array(data, this.offset, size / 4);
    const fl = new Float32Array(data, this.offset, size / 4);
    values.forEach((v, i) => {
      if (v instanceof F32) fl[i] = v.value;
      else u32[i] = v >>> 0;
    });
    const slot = { buffer, offset: this.offset, size };
    this.offset += Math.ceil(size / this.align) * this.align;
    return slot;
  }

  /** Uploads what this submission used; queue order makes reuse by the next submission safe. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.chunk && i < this.chunks.length; i++) {
      const used = i < this.chunk ? UniformArena.CHUNK : this.offset;
      if (used > 0) queue.writeBuffer(this.chunks[i].buffer, 0, this.chunks[i].data, 0, used);
    }
    this.chunk = 0;
    this.offset = 0;
  }
}

export interface AdapterSummary {
  description: string;
  vendor: string;
  architecture: string;
  isFallback: boolean;
  shaderF16: boolean;
  limits: Record<string, number>;
}

export class GpuRuntime {
  readonly pool: BufferPool;
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: UniformArena;
  private afterSubmit: GPUBuffer[] = [];
  private errors: string[] = [];
  dispatches = 0;
  submits = 0;

  constructor(readonly adapter: GPUAdapter, readonly device: GPUDevice) {
    this.pool = new BufferPool(device);
    this.arena = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment);
    device.addEventListener("uncapturederror", (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      this.errors.push(message);
      console.error(`WebGPU error: ${message.split("\n")[0]}`);
    });
  }

  get summary(): AdapterSummary {
    const info = this.adapter.info;
    const limits: Record<string, number> = {};
    for (const key of LIMIT_KEYS) {
      limits[key] = (this.device.limits as unknown as Record<string, number>)[key];
    }
    return {
      description: info.description || "(no description)",
      vendor: info.vendor,
      architecture: info.architecture,
      isFallback: (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      shaderF16: this.device.features.has("shader-f16"),
      limits,
    };
  }

  /** Throws the one-line error for `--fp16` on an adapter without shader-f16; `instead` says what to do. */
  requireShaderF16(instead: string): void {
    const s = this.summary;
    if (!s.shaderF16) {
      throw new UserError(`--fp16: the adapter (${s.description}) has no shader-f16; ${instead}`);
    }
  }

  /** Messages of WebGPU validation errors so far (tests assert this stays empty). */
  takeErrors(): string[] {
    const e = this.errors;
    this.errors = [];
    return e;
  }

  pipeline(wgsl: string, label = "kernel"): GPUComputePipeline {
    let p = this.pipelines.get(wgsl);
    if (!p) {
      const module = this.device.createShaderModule({ code: wgsl, label });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label,
      });
      this.pipelines.set(wgsl, p);
    }
    return p;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.getEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.getEncoder();
  }

  dispatch(spec: DispatchSpec): void {
    const pipeline = this.pipeline(spec.wgsl, spec.label);
    const entries: GPUBindGroupEntry[] = spec.buffers.map((b, i) => ({
      binding: i,
      resource: { buffer: b.buffer, offset: b.offset ?? 0, size: Math.max(4, Math.ceil(b.bytes / 4) * 4) },
    }));
    if (spec.uniforms && spec.uniforms.length > 0) {
      const slot = this.arena.push(spec.uniforms);
      entries.push({
        binding: spec.buffers.length,
        resource: { buffer: slot.buffer, offset: slot.offset, size: slot.size },
      });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = spec.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  /** Records a copy of host data into `buffer` at `offset`, ordered after every dispatch recorded so far. */
  upload(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Uint8Array(staging.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    staging.unmap();
    this.endPass().copyBufferToBuffer(staging, 0, buffer, offset, bytes);
    this.afterSubmit.push(staging);
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, Math.ceil(bytes / 4) * 4);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    const encoder = this.endPass();
    this.arena.upload(this.device.queue);
    this.device.queue.submit([encoder.finish()]);
    this.encoder = null;
    this.submits++;
    for (const b of this.afterSubmit) b.destroy();
    this.afterSubmit = [];
  }

  /** Reads `bytes` of `buffer` back to the host; flushes first. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    return (await this.readMany([{ buffer, bytes, offset }]))[0];
  }

  /**
   * Reads several buffers with one copy each into one staging buffer and one submission. The copies are
   * recorded and submitted before this returns its promise, so the sources may be released right away.
   */
  async readMany(sources: Binding[]): Promise<ArrayBuffer[]> {
    const sizes = sources.map((s) => Math.max(4, Math.ceil(s.bytes / 4) * 4));
    const offsets: number[] = [];
    let total = 0;
    for (const size of sizes) {
      offsets.push(total);
      total += size;
    }
    const staging = this.device.createBuffer({
      size: total,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.endPass();
    sources.forEach((s, i) =>
      encoder.copyBufferToBuffer(s.buffer, s.offset ?? 0, staging, offsets[i], sizes[i])
    );
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const range = staging.getMappedRange();
    const out = sources.map((s, i) => range.slice(offsets[i], offsets[i] + s.bytes));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}

const LIMIT_KEYS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "minUniformBufferOffsetAlignment",
];

let runtimePromise: Promise<GpuRuntime> | null = null;
let current: GpuRuntime | null = null;

/** The process's one runtime, created on first use with the adapter's own maximum buffer limits. */
export function initGpu(): Promise<GpuRuntime> {
  if (!runtimePromise) {
    runtimePromise = (async () => {
      preferVulkanBackend(); // before the first adapter request: see backend.ts (the exit abort)
      const gpu = (navigator as { gpu?: GPU }).gpu;
      const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" });
      if (!adapter) throw new UserError(NO_ADAPTER);
      const features: GPUFeatureName[] = [];
      if (adapter.features.has("shader-f16")) features.push("shader-f16");
      const device = await adapter.requestDevice({
        requiredFeatures: features,
        requiredLimits: {
          maxBufferSize: adapter.limits.maxBufferSize,
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
          maxComputeWorkgroupSizeY: adapter.limits.maxComputeWorkgroupSizeY,
          maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
        },
      });
      current = new GpuRuntime(adapter, device);
      return current;
    })();
  }
  return runtimePromise;
}

/** The runtime, which `initGpu()` must have created. */
export function gpu(): GpuRuntime {
  if (!current) throw new Error("GPU runtime not initialised: await initGpu() first");
  return current;
}
