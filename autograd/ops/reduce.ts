/** Reductions: column sums of a matrix, the sum and the mean of every element. */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { COLUMN_SUMS_CHUNK, columnSumsKernel } from "../../kernels/reduce.ts";
import { binaryRaw, scale, zeros } from "./elementwise.ts";
import { launchOp, perThread } from "./launch.ts";

/** [rows, cols] -> [cols], without the tape: chunks of rows summed in order, then the chunks, until one. */
export function columnSumsRaw(x: Tensor): Tensor {
  let [rows, cols] = x.shape as [number, number];
  let cur = x;
  while (true) {
    const chunks = Math.ceil(rows / COLUMN_SUMS_CHUNK);
    const next = new Tensor(chunks === 1 ? [cols] : [chunks, cols]);
    launchOp(
      columnSumsKernel(),
      "column_sums",
      { X: cur, Y: next },
      { rows, cols, chunks },
      perThread(chunks * cols),
    );
    if (cur !== x) cur.dispose();
    cur = next;
    rows = chunks;
    if (chunks === 1) return cur;
  }
}

/** [rows, cols] -> [cols]: each column's sum (the sum over rows). */
export function columnSums(x: Tensor): Tensor {
  if (x.shape.length !== 2) throw new Error(`columnSums: needs a matrix, got ${fmtShape(x.shape)}`);
  const [rows, cols] = x.shape;
  return record(columnSumsRaw(x), [x], (g) => [repeatRows(g, [rows, cols])]);
}

/** Repeats a [cols] tensor over rows. */
function repeatRows(g: Tensor, shape: readonly number[]): Tensor {
  const z = zeros(shape);
  const y = binaryRaw("add", z, g);
  z.dispose();
  return y;
}

/** The sum of every element, as a [1] tensor. */
export function sum(x: Tensor): Tensor {
  const shape = x.shape;
  return record(columnSumsRaw(x.view([x.size, 1])), [x], (g) => [repeatRows(g, shape)]);
}

export function mean(x: Tensor): Tensor {
  return scale(sum(x), 1 / x.size);
}
