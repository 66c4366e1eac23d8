/** Batching: seeded epoch orders and dynamically padded batches from a tokenized split. */
import type { Batch } from "../model/distilbert.ts";
import { mulberry32, shuffleInPlace } from "../util/random.ts";

/** What the token cache gives: review i has ids[offsets[i] .. offsets[i+1]] and labels[i]. */
export interface TokenizedRows {
  ids: Int32Array;
  offsets: Int32Array;
  labels: Int32Array;
  /** Each row's index in its source file, when known. */
  rows?: Int32Array;
}

export const rowCount = (rows: TokenizedRows) => rows.offsets.length - 1;

/** The row order of one epoch: a seeded Fisher-Yates shuffle of (seed, epoch), or file order. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return order;
  shuffleInPlace(order, mulberry32((seed * 1000003 + epoch * 7919 + 1) >>> 0));
  return order;
}

/** Pads the given rows to the longest among them (dynamic padding), with 0 ids and a 0 mask. */
export function makeBatch(rows: TokenizedRows, indices: ArrayLike<number>): Batch {
  const batch = indices.length;
  let seq = 1;
  for (let b = 0; b < batch; b++) {
    seq = Math.max(seq, rows.offsets[indices[b] + 1] - rows.offsets[indices[b]]);
  }
  const ids = new Int32Array(batch * seq);
  const mask = new Float32Array(batch * seq);
  const labels = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const r = indices[b];
    const start = rows.offsets[r], len = rows.offsets[r + 1] - start;
    ids.set(rows.ids.subarray(start, start + len), b * seq);
    mask.fill(1, b * seq, b * seq + len);
    labels[b] = rows.labels[r];
  }
  return { ids, mask, labels, batch, seq };
}

/** Real (unpadded) tokens in a batch. */
export function batchTokens(batch: Batch): number {
  let n = 0;
  for (const m of batch.mask) n += m;
  return n;
}
