export * from "./runtime.ts";
export * from "./tensor.ts";
export * from "./ops.ts";
