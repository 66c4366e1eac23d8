/**
 * Differentiable ops, one file per kernel family (autograd/ops/<family>.ts beside kernels/<family>.ts). Each
 * op launches its forward kernel and records a backward closure that builds its inputs' gradients from other
 * ops and kernels. Shapes are checked on the host: a mismatch is an error naming both shapes.
 */
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/matmul.ts";
export * from "./ops/softmax.ts";
export * from "./ops/layernorm.ts";
export * from "./ops/attention.ts";
export * from "./ops/embedding.ts";
export * from "./ops/layout.ts";
export * from "./ops/loss.ts";
export { rowKernelLayout } from "./ops/launch.ts";
export { chooseMatmulPlan, type MatmulPlan, planFromName, planName } from "./matmul_plan.ts";
