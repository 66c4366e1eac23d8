/** Embedding lookup, with a deterministic backward grouped on the host. */
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { embeddingBackwardKernel, embeddingKernel } from "../../kernels/embedding.ts";
import { zeros } from "./elementwise.ts";
import { launchOp, perThread } from "./launch.ts";

/**
 * Rows of `table` ([vocab, dim]) for each id. `ids` stay on the host too, to build the backward pass's
 * deterministic grouping. The `paddingIdx` row gets no gradient (PyTorch's padding_idx).
 */
export function embedding(
  ids: Int32Array,
  idsShape: readonly number[],
  table: Tensor,
  paddingIdx?: number,
): Tensor {
  const [vocab, dim] = table.shape;
  for (const id of ids) {
    if (!(id >= 0 && id < vocab)) throw new Error(`embedding: id ${id} outside the table's ${vocab} rows`);
  }
  const idsT = Tensor.fromArray(ids, [ids.length], { dtype: "i32" });
  const y = new Tensor([...idsShape, dim]);
  launchOp(
    embeddingKernel(),
    "embedding",
    { IDS: idsT, TABLE: table, Y: y },
    { n: y.size, dim },
    perThread(y.size),
  );
  idsT.dispose();
  return record(y, [table], (g) => {
    // Group positions by id on the host, in increasing position order.
    const order = Array.from(ids.keys()).filter((i) => ids[i] !== paddingIdx);
    order.sort((x, y) => ids[x] - ids[y] || x - y);
    const uniq: number[] = [], offs: number[] = [];
    order.forEach((pos, k) => {
      if (k === 0 || ids[pos] !== ids[order[k - 1]]) {
        uniq.push(ids[pos]);
        offs.push(k);
      }
    });
    offs.push(order.length);
    const dTable = zeros(table.shape);
    if (uniq.length > 0) {
      const groups = {
        UNIQ: Tensor.fromArray(uniq, [uniq.length], { dtype: "i32" }),
        OFFS: Tensor.fromArray(offs, [offs.length], { dtype: "i32" }),
        POS: Tensor.fromArray(order, [order.length], { dtype: "i32" }),
      };
      const n = uniq.length * dim;
      launchOp(embeddingBackwardKernel(), "embedding_backward", { ...groups, G: g, DT: dTable }, {
        n,
        dim,
      }, perThread(n));
    }
    return [dTable];
  });
}
