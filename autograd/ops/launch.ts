/** What every op shares: launching a kernel on named tensors, shape checks, and the row-kernel layout. */
import { gpu, grid } from "../runtime.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import type { RowLayout } from "../../kernels/common.ts";

export { launchOp } from "../tensor.ts";

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
export function rowKernelLayout(): RowLayout {
  const rt = gpu();
  return rt.settings.rowLayout ?? (rt.isCpu ? "thread" : "workgroup");
}

/** The row-kernel layout for this adapter and the launch count of `rows` rows in it. */
export function rowLaunch(rows: number) {
  const layout = rowKernelLayout();
  return { layout, count: layout === "thread" ? perThread(rows) : { workgroups: grid(rows) } };
}
