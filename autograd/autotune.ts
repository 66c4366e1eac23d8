/** The autotuner: matmul plans and the attention path, timed per adapter and shape bucket (autotune/). */
export type { AutotuneCacheFile, AutotuneStore } from "./autotune/cache.ts";
export * from "./autotune/matmul.ts";
export * from "./autotune/attention.ts";
