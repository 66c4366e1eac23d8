/** A runtime's options (from the environment or the caller) and the adapter summary it reports. */
import { UserError } from "../util/errors.ts";
import { envVar } from "../util/host.ts";

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

export const LIMIT_KEYS = [
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
