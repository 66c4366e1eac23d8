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

/**
 * Length bucketing (HF's group_by_length, megabatch-style): the epoch's order is cut into windows of
 * `window` batches, each window is sorted by length (longest first) and cut into batches, then the full
 * batches are shuffled; a final partial batch stays last so batch k is always rows [k·B, (k+1)·B).
 */
export function bucketByLength(
  order: Int32Array,
  lengths: (row: number) => number,
  batchSize: number,
  seed: number,
  window = 50,
): Int32Array {
  const span = batchSize * window;
  const batches: Int32Array[] = [];
  for (let start = 0; start < order.length; start += span) {
    const chunk = Array.from(order.subarray(start, Math.min(order.length, start + span)));
    chunk.sort((a, b) => lengths(b) - lengths(a) || a - b);
    for (let b = 0; b < chunk.length; b += batchSize) {
      batches.push(Int32Array.from(chunk.slice(b, b + batchSize)));
    }
  }
  const last = batches.at(-1);
  const partial = last && last.length < batchSize ? batches.pop()! : null;
  shuffleInPlace(batches, mulberry32((seed ^ 0x5bd1e995) >>> 0));
  if (partial) batches.push(partial);
  const out = new Int32Array(order.length);
  let at = 0;
  for (const b of batches) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Real tokens / computed tokens when `order` is cut into batches of `batchSize` padded to their longest. */
export function paddingEfficiency(
  order: ArrayLike<number>,
  lengths: (row: number) => number,
  batchSize: number,
): number {
  let real = 0, computed = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    let longest = 0;
    const end = Math.min(order.length, start + batchSize);
    for (let i = start; i < end; i++) {
      const len = lengths(order[i]);
      real += len;
      longest = Math.max(longest, len);
    }
    computed += longest * (end - start);
  }
  return computed === 0 ? 1 : real / computed;
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

/**
 * A padded batch cut into as few consecutive pieces of at most `maxRows` rows as it takes, as even as they
 * come (9 rows by at most 8: 5 and 4), each keeping the batch's padded length (the tensors a single pass
 * would see, row for row). One piece when it already fits.
 */
export function splitBatch(batch: Batch, maxRows: number): Batch[] {
  if (batch.batch <= maxRows) return [batch];
  const pieces = Math.ceil(batch.batch / maxRows), size = Math.ceil(batch.batch / pieces);
  const out: Batch[] = [];
  for (let start = 0; start < batch.batch; start += size) {
    const rows = Math.min(size, batch.batch - start);
    const [from, to] = [start * batch.seq, (start + rows) * batch.seq];
    out.push({
      ids: batch.ids.subarray(from, to),
      mask: batch.mask.subarray(from, to),
      labels: batch.labels?.subarray(start, start + rows),
      batch: rows,
      seq: batch.seq,
    });
  }
  return out;
}
