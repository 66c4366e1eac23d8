/**
 * Imported first by checks.ts, so that it runs before tests/helpers.ts starts the runtime with its defaults:
 * the page's `?limits=default` gives the WebGPU default limits (CI's second suite), else the adapter's.
 */
import { DEFAULT_RUNTIME_OPTIONS, initGpu } from "../../autograd/runtime.ts";

const limits = new URLSearchParams(location.search).get("limits") === "default" ? "default" : "adapter";
export const gpuStarted = initGpu({ ...DEFAULT_RUNTIME_OPTIONS, limits });
