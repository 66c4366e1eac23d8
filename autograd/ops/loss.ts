/** The classification loss: mean cross-entropy from logits. */
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { crossEntropyBackwardKernel, crossEntropyKernel } from "../../kernels/loss.ts";
import { launchOp, perThread } from "./launch.ts";
import { mean } from "./reduce.ts";

/** Mean cross-entropy of logits [batch, classes] against integer labels [batch]. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const [rows, classes] = logits.shape;
  if (logits.shape.length !== 2 || labels.size !== rows || labels.dtype !== "i32") {
    throw new Error(
      `crossEntropy: logits ${fmtShape(logits.shape)} and labels ${fmtShape(labels.shape)} do not match`,
    );
  }
  const perRow = new Tensor([rows]);
  const u = { rows, classes };
  launchOp(
    crossEntropyKernel(),
    "cross_entropy",
    { X: logits, LABELS: labels, L: perRow },
    u,
    perThread(rows),
  );
  const rowLoss = record(perRow, [logits], (g) => {
    const dx = new Tensor(logits.shape);
    const buffers = { X: logits, LABELS: labels, G: g, DX: dx };
    launchOp(crossEntropyBackwardKernel(), "ce_backward", buffers, u, perThread(logits.size));
    return [dx];
  }, [logits, labels]);
  return mean(rowLoss);
}
