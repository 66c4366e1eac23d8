/** Softmax over the last axis (scaled, optionally key-masked), in the adapter's row-kernel layout. */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { softmaxBackwardKernel, softmaxKernel } from "../../kernels/softmax.ts";
import { launchOp, rowLaunch } from "./launch.ts";

/**
 * Softmax over the last axis of `x * scale`. With `mask` ([batch, cols], 1 = keep), rows are grouped into
 * `x.size / cols / batch` rows per mask row, and masked columns are set to the f32 minimum first.
 */
export function softmax(x: Tensor, opts: { scale?: number; mask?: Tensor } = {}): Tensor {
  const cols = x.shape.at(-1)!;
  const rows = x.size / cols;
  const scaleBy = opts.scale ?? 1;
  let rowsPerMask = rows;
  if (opts.mask) {
    const m = opts.mask;
    if (m.shape.at(-1) !== cols || rows % (m.size / cols) !== 0) {
      throw new Error(`softmax: mask ${fmtShape(m.shape)} does not fit scores ${fmtShape(x.shape)}`);
    }
    rowsPerMask = rows / (m.size / cols);
  }
  const y = new Tensor(x.shape);
  const u = { rows, cols, rows_per_mask: rowsPerMask, scale: scaleBy };
  const { layout, count } = rowLaunch(rows);
  launchOp(
    softmaxKernel(!!opts.mask, layout),
    "softmax",
    opts.mask ? { X: x, M: opts.mask, Y: y } : { X: x, Y: y },
    u,
    count,
  );
  return record(y, [x], (g) => {
    const dx = new Tensor(x.shape);
    launchOp(softmaxBackwardKernel(layout), "softmax_backward", { Yv: y, G: g, DX: dx }, u, count);
    return [dx];
  }, [y]);
}
