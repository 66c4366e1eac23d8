export * from "./runtime.ts";
export * from "./tensor.ts";
export * from "./tape.ts";
export * from "./ops.ts";
