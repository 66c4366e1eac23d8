/** What every op shares: launching a kernel on named tensors, shape checks, and the row-kernel layout. */
import { gpu, type Launch } from "../runtime.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import type { KernelSpec } from "../../kernels/common.ts";

/**
 * Launches `kernel` on tensors named as its bindings declare them; a device error names the kernel and the
 * tensors' shapes.
 */
export function launchOp(
  kernel: KernelSpec,
  label: string,
  tensors: Record<string, Tensor>,
  uniforms: Record<string, number>,
  count: Launch["count"],
): void {
  const buffers: Record<string, Tensor["binding"]> = {};
  for (const [name, t] of Object.entries(tensors)) buffers[name] = t.binding;
  gpu().launch(kernel, {
    buffers,
    uniforms,
    count,
    label,
    detail: () => kernel.storage.map((b) => fmtShape(tensors[b.name].shape)).join(" "),
  });
}

/** One invocation per element of an n-element output (or per row, chunk, pair...). */
export const perThread = (n: number) => ({ threads: n });

export function sameShape(a: Tensor, b: Tensor, op: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not match`);
  }
}

/**
 * How row kernels (softmax, layer norm) lay threads out: a workgroup per row with a tree reduction (GPUs), or
 * a thread per row with no barriers (CPU drivers, where a barrier is a coroutine switch). The settings'
 * `rowLayout` forces one (tests prove the two equal).
 */
export function rowKernelLayout(): "workgroup" | "thread" {
  const rt = gpu();
  return rt.settings.rowLayout ?? (rt.isCpu ? "thread" : "workgroup");
}
