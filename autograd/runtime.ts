/**
 * The GPU runtime: one device per process, a pipeline cache keyed by WGSL source, a buffer pool by size
 * class, and dispatch batching (every dispatch of a step is recorded into one command encoder and submitted
 * once, when the host needs a result or the caller flushes).
 */
import { DeviceError, UserError } from "../util/errors.ts";
import { preferVulkanBackend } from "./backend.ts";
import { envVar } from "../util/host.ts";
import type { TapeState } from "./tape.ts";

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
  /** A label for profiles and errors: the kernel's name. */
  label?: string;
  /** What the op works on (shapes), for error messages only: computed when an error needs it. */
  detail?: () => string;
}

/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension: every adapter has at least this many. */
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

  /** A buffer of at least `bytes`; a DeviceError when the adapter cannot make one that large. */
  acquire(bytes: number): GPUBuffer {
    // Rounding up to the size class must not pass the device's largest buffer (a flat buffer can be that big).
    const max = Math.floor(this.device.limits.maxBufferSize / 4) * 4;
    if (bytes > max) {
      throw new DeviceError(
        `${fmtBytes(bytes)} in one buffer is over the adapter's maxBufferSize (${fmtBytes(max)})`,
      );
    }
    const size = Math.min(sizeClass(bytes), max);
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

  /** Starts a new peak from what the pool holds now (live and cached buffers), e.g. for one benchmark cell. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes + this.pooledBytes;
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

/** Options of a runtime; `runtimeOptionsFromEnv` reads them from the environment. */
export interface RuntimeOptions {
  /**
   * "adapter" (default): request the adapter's own maximum buffer and workgroup limits and shader-f16.
   * "default": the WebGPU specification's default limits and no optional feature, what every adapter and
   * browser gives (DISTILBERT_WEBGPU_LIMITS=default; CI runs the test suite this way too).
   */
  limits: "adapter" | "default";
  /**
   * Test-only: skip the host-side limit checks of `dispatch`, so an oversized binding reaches the device
   * and its validation error takes the device-error path (DISTILBERT_SKIP_LIMIT_CHECKS=1).
   */
  skipLimitChecks: boolean;
  /** Test-only: destroy the device after this many dispatches (a device loss; DISTILBERT_LOSE_DEVICE_AFTER=N). */
  loseDeviceAfter: number | null;
  /**
   * Memory planning (DISTILBERT_DRY_RUN=1, benchmarks): buffers are allocated and every dispatch is checked
   * and counted, but nothing is recorded or run and reads return zeros, so a step's pool peak and its host
   * cost are measured at any shape in seconds. Never for results.
   */
  dryRun: boolean;
  /**
   * Self-attention's path (DISTILBERT_ATTENTION): "auto" (default) picks per shape (model `attentionPath`);
   * "fused" or "unfused" forces one (tests, benchmarks, A/B runs).
   */
  attention: "auto" | "fused" | "unfused";
}

export const DEFAULT_RUNTIME_OPTIONS: RuntimeOptions = {
  limits: "adapter",
  skipLimitChecks: false,
  loseDeviceAfter: null,
  dryRun: false,
  attention: "auto",
};

/** An environment variable: none in a page (no Deno), nor without env permission. */
const env = envVar;

export function runtimeOptionsFromEnv(): RuntimeOptions {
  const limits = env("DISTILBERT_WEBGPU_LIMITS") ?? "adapter";
  if (limits !== "adapter" && limits !== "default") {
    throw new UserError(`DISTILBERT_WEBGPU_LIMITS: must be "adapter" or "default", got "${limits}"`);
  }
  const attention = env("DISTILBERT_ATTENTION") ?? "auto";
  if (attention !== "auto" && attention !== "fused" && attention !== "unfused") {
    throw new UserError(`DISTILBERT_ATTENTION: must be "auto", "fused" or "unfused", got "${attention}"`);
  }
  const lose = env("DISTILBERT_LOSE_DEVICE_AFTER");
  return {
    limits,
    skipLimitChecks: env("DISTILBERT_SKIP_LIMIT_CHECKS") === "1",
    loseDeviceAfter: lose ? Number(lose) : null,
    dryRun: env("DISTILBERT_DRY_RUN") === "1",
    attention,
  };
}

const ERROR_FILTERS: GPUErrorFilter[] = ["validation", "out-of-memory", "internal"];

/** One line of a WebGPU error message (wgpu's are multi-line, with the context first). */
const oneLine = (message: string) => message.split("\n").map((l) => l.trim()).filter((l) => l).join("; ");

export class GpuRuntime {
  readonly pool: BufferPool;
  /** The autograd tape's scopes, grad mode and recorded nodes (tape.ts). */
  readonly tape: TapeState = { scopes: [], gradEnabled: true, liveNodes: new Map() };
  private pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: UniformArena;
  private afterSubmit: GPUBuffer[] = [];
  /** Device errors seen so far (uncaptured, from a dispatch's scope, or from a submission's scope). */
  private errors: string[] = [];
  /** Settles once every submission so far has been validated; rejects with the first device error. */
  private validated: Promise<void> = Promise.resolve();
  private lostReason: string | null = null;
  dispatches = 0;
  submits = 0;

  constructor(
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    public options: RuntimeOptions = DEFAULT_RUNTIME_OPTIONS,
  ) {
    this.pool = new BufferPool(device);
    this.arena = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment);
    device.addEventListener("uncapturederror", (event) => {
      this.errors.push(oneLine((event as GPUUncapturedErrorEvent).error.message));
    });
    device.lost.then((info) => {
      this.lostReason = `the device was lost (${info.reason ?? "unknown"}: ${
        oneLine(info.message) || "no message"
      })`;
    });
    this.pushSubmissionScopes();
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /**
   * The first device error since the last one reported (or the device's loss, for good), as a DeviceError;
   * null while all is well. Reported once: a caller that survives it (a test) finds the runtime usable.
   */
  private failure(): DeviceError | null {
    if (this.lostReason) return new DeviceError(this.lostReason);
    const first = this.errors[0];
    this.errors = [];
    return first !== undefined ? new DeviceError(first) : null;
  }

  /**
   * Resolves once every submission so far has been validated by the device, or throws the first device
   * error (validation, out-of-memory, internal, or a lost device) as a DeviceError. Every read calls it, so a
   * step's loss, an evaluation's logits and a checkpoint's weights are never taken from a failed state.
   */
  async checkErrors(): Promise<void> {
    await this.validated;
    const failure = this.failure();
    if (failure) throw failure;
  }

  /** Every command between two flushes runs inside these scopes; `flush` pops them with the submission. */
  private pushSubmissionScopes(): void {
    for (const filter of ERROR_FILTERS) this.device.pushErrorScope(filter);
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

  /** Messages of device errors so far, cleared (tests assert this stays empty). */
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

  /**
   * Throws a DeviceError naming the kernel, what it works on and the limit, when `spec` needs more than the
   * device allows: the host knows every binding's size and the grid, so nothing invalid reaches the device.
   */
  private checkLimits(spec: DispatchSpec): void {
    const l = this.device.limits, label = spec.label ?? "kernel";
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

  dispatch(spec: DispatchSpec): void {
    if (!this.options.skipLimitChecks) this.checkLimits(spec);
    if (this.options.dryRun) {
      this.dispatches++;
      return;
    }
    if (this.options.loseDeviceAfter !== null && this.dispatches === this.options.loseDeviceAfter) {
      // Test-only fault: everything from here on fails as on a real device loss.
      this.lostReason = `the device was lost (destroyed after ${this.dispatches} dispatches: a test fault)`;
      this.device.destroy();
    }
    // Pipeline and bind-group errors are reported to this dispatch's own scope, so they name the kernel.
    this.device.pushErrorScope("validation");
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
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
      label: spec.label,
    });
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = spec.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    this.device.popErrorScope().then((error) => {
      if (error) {
        const detail = spec.detail ? ` ${spec.detail()}` : "";
        this.errors.push(`${spec.label ?? "kernel"}${detail}: ${oneLine(error.message)}`);
      }
    }, () => {}); // a lost device rejects its scopes: `lostReason` says why
  }

  /** Records a copy of host data into `buffer` at `offset`, ordered after every dispatch recorded so far. */
  upload(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0 || this.options.dryRun) return;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    let range: ArrayBuffer;
    try {
      range = staging.getMappedRange();
    } catch (err) {
      // Only a lost or destroyed device refuses to map a buffer it just created mapped.
      staging.destroy();
      throw new DeviceError(
        this.lostReason ?? `the device refused an upload, it was lost (${(err as Error).message})`,
      );
    }
    new Uint8Array(range).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    staging.unmap();
    this.endPass().copyBufferToBuffer(staging, 0, buffer, offset, bytes);
    this.afterSubmit.push(staging);
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    if (this.options.dryRun) return;
    this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, Math.ceil(bytes / 4) * 4);
  }

  /**
   * Submits everything recorded so far as one command buffer, and closes the error scopes it ran in: their
   * errors (a pass's validation, out of memory) are checked by `checkErrors` before any read returns.
   */
  flush(): void {
    if (!this.encoder) return;
    const encoder = this.endPass();
    this.arena.upload(this.device.queue);
    this.device.queue.submit([encoder.finish()]);
    this.encoder = null;
    this.submits++;
    for (const b of this.afterSubmit) b.destroy();
    this.afterSubmit = [];
    const submission = this.submits;
    const scopes = ERROR_FILTERS.map(() => this.device.popErrorScope());
    this.pushSubmissionScopes();
    const errors = Promise.all(scopes).then((found) => {
      for (const e of found) if (e) this.errors.push(`submission ${submission}: ${oneLine(e.message)}`);
    }, () => {}); // a lost device rejects its scopes: `lostReason` says why
    this.validated = Promise.all([this.validated, errors]).then(() => {});
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
    if (this.options.dryRun) return sources.map((s) => new ArrayBuffer(s.bytes));
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
    const mapped = staging.mapAsync(GPUMapMode.READ);
    try {
      await this.checkErrors();
      await mapped;
    } catch (err) {
      mapped.catch(() => {});
      staging.destroy();
      if (err instanceof DeviceError) throw err;
      throw this.failure() ?? new DeviceError(`reading results back failed: ${(err as Error).message}`);
    }
    const range = staging.getMappedRange();
    const out = sources.map((s, i) => range.slice(offsets[i], offsets[i] + s.bytes));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished everything submitted so far; throws the first device error. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }
}

/** Bytes for messages: "201,326,592 bytes (192 MiB)". */
export function fmtBytes(bytes: number): string {
  const mib = bytes / 2 ** 20;
  return `${bytes.toLocaleString("en-US")} bytes (${mib >= 10 ? mib.toFixed(0) : mib.toPrecision(2)} MiB)`;
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
  "minStorageBufferOffsetAlignment",
];

let runtimePromise: Promise<GpuRuntime> | null = null;
let current: GpuRuntime | null = null;

/**
 * The process's one runtime, created on first use: by default with the adapter's own maximum buffer and
 * workgroup limits and shader-f16 when it has it; with `limits: "default"` (DISTILBERT_WEBGPU_LIMITS=default)
 * with the WebGPU specification's default limits and no optional feature, as the most limited adapter.
 */
export function initGpu(options: RuntimeOptions = runtimeOptionsFromEnv()): Promise<GpuRuntime> {
  if (!runtimePromise) {
    runtimePromise = (async () => {
      preferVulkanBackend(); // before the first adapter request: see backend.ts (the exit abort)
      const gpu = (navigator as { gpu?: GPU }).gpu;
      const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" });
      if (!adapter) throw new UserError(NO_ADAPTER);
      let descriptor: GPUDeviceDescriptor = {};
      if (options.limits === "adapter") {
        const features: GPUFeatureName[] = [];
        if (adapter.features.has("shader-f16")) features.push("shader-f16");
        descriptor = {
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
        };
      }
      const device = await adapter.requestDevice(descriptor);
      current = new GpuRuntime(adapter, device, options);
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
