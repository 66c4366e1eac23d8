/**
 * The GPU runtime: one device per process, a pipeline cache keyed by WGSL source, a buffer pool by size
 * class, and dispatch batching (every dispatch of a step is recorded into one command encoder and submitted
 * once, when the host needs a result or the caller flushes).
 */
import { DeviceError, UserError } from "../util/errors.ts";
import { preferVulkanBackend } from "./backend.ts";
import type { KernelSpec } from "../kernels/common.ts";
import { type Binding, checkLimits, type Dispatch, type Launch, resolveLaunch } from "./dispatch.ts";
import { BufferPool, UniformArena } from "./pool.ts";
import {
  type AdapterSummary,
  DEFAULT_RUNTIME_OPTIONS,
  LIMIT_KEYS,
  type RuntimeOptions,
  runtimeOptionsFromEnv,
} from "./runtime_options.ts";
import { type EngineSettings, engineSettings } from "./settings.ts";

export * from "./dispatch.ts";
export * from "./pool.ts";
export * from "./runtime_options.ts";
export * from "./settings.ts";
import type { TapeState } from "./tape.ts";

/** How to get an adapter when there is none: said once, in one line. */
const NO_ADAPTER = "no WebGPU adapter found: install a GPU driver with Vulkan/Metal/D3D12 support, " +
  "or the CPU driver with `apt-get install mesa-vulkan-drivers` (Linux)";

/** A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader, WARP): kernels there want other shapes. */
export function isCpuAdapter(): boolean {
  return gpu().isCpu;
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

  /** The engine's settings (one object for the process; see `withSettings`). */
  readonly settings: EngineSettings = engineSettings();
  /** This adapter's tuned choices, by shape bucket: matmul plan names, attention paths (the autotuner's). */
  readonly tuned = new Map<string, string>();

  private cpu: boolean | null = null;
  /** A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader, WARP): kernels there want other shapes. */
  get isCpu(): boolean {
    if (this.cpu === null) {
      const s = this.summary;
      this.cpu = s.isFallback ||
        /llvmpipe|lavapipe|swiftshader|softpipe|warp|\bcpu\b/i.test(
          `${s.description} ${s.vendor} ${s.architecture}`,
        );
    }
    return this.cpu;
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

  /**
   * Throws a one-line UserError when the adapter has no shader-f16: `asked` names what needed it (the caller's
   * flag), `instead` says what to do.
   */
  requireShaderF16(asked: string, instead: string): void {
    const s = this.summary;
    if (!s.shaderF16) {
      throw new UserError(`${asked}: the adapter (${s.description}) has no shader-f16; ${instead}`);
    }
  }

  /** Messages of device errors so far, cleared (tests assert this stays empty). */
  takeErrors(): string[] {
    const e = this.errors;
    this.errors = [];
    return e;
  }

  pipeline(wgsl: string, label = "kernel"): GPUComputePipeline {
    let pipeline = this.pipelines.get(wgsl);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code: wgsl, label });
      pipeline = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label,
      });
      this.pipelines.set(wgsl, pipeline);
    }
    return pipeline;
  }

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.pass = this.getEncoder().beginComputePass({ timestampWrites: this.passTimestamps?.() });
    }
    return this.pass;
  }

  /** While set, each new compute pass writes its start and end timestamps where this says (autotune/timing.ts). */
  private passTimestamps: (() => GPUComputePassTimestampWrites | undefined) | null = null;

  /** Whether the device has `timestamp-query` (passes can be timed on the GPU's own clock). */
  get hasTimestamps(): boolean {
    return this.device.features.has("timestamp-query");
  }

  /** Runs `record` with each compute pass it opens timestamped by `writes`, then submits: only its passes. */
  recordTimedPasses(writes: () => GPUComputePassTimestampWrites | undefined, record: () => void): void {
    this.flush();
    this.passTimestamps = writes;
    try {
      record();
    } finally {
      this.flush();
      this.passTimestamps = null;
    }
  }

  private endPass(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.getEncoder();
  }

  /**
   * Records one dispatch of `kernel`: binds `launch.buffers` and `launch.uniforms` to the names the kernel
   * declares (throwing, before anything is recorded, when a name is missing or unknown or a u32 field gets a
   * non-integer), checks the device limits, and records it. Every kernel of the project runs through here.
   */
  launch(kernel: KernelSpec, launch: Launch): void {
    this.dispatch(resolveLaunch(kernel, launch));
  }

  private dispatch(spec: Dispatch): void {
    if (!this.options.skipLimitChecks) checkLimits(spec, this.device.limits);
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
    if (spec.uniforms.values.length > 0) {
      const slot = this.arena.push(spec.uniforms.values, spec.uniforms.types);
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
        this.errors.push(`${spec.label}${detail}: ${oneLine(error.message)}`);
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
        // timestamp-query: the autotuner times kernels on the GPU's clock where it can.
        const features = (["shader-f16", "timestamp-query"] as GPUFeatureName[]).filter((f) =>
          adapter.features.has(f)
        );
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
