/** Encoded texts as one padded, row-major batch of ids and attention mask. */

/** Row-major [batchSize, seqLength] ids and mask (1 = token, 0 = padding). */
export interface Batch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  batchSize: number;
  seqLength: number;
}

/**
 * Pads sequences into one row-major batch: to the longest (default) or to `padTo`; rows longer than a fixed
 * `padTo` are an error (truncate when encoding instead).
 */
export function padBatch(
  sequences: readonly ArrayLike<number>[],
  opts: { padId?: number; padTo?: "longest" | number } = {},
): Batch {
  const padId = opts.padId ?? 0;
  let longest = 0;
  for (const s of sequences) longest = Math.max(longest, s.length);
  const seqLength = typeof opts.padTo === "number" ? opts.padTo : longest;
  if (longest > seqLength) {
    throw new RangeError(`padBatch: a sequence of ${longest} exceeds padTo ${seqLength}`);
  }
  const batchSize = sequences.length;
  const inputIds = new Int32Array(batchSize * seqLength).fill(padId);
  const attentionMask = new Int32Array(batchSize * seqLength);
  for (let b = 0; b < batchSize; b++) {
    const s = sequences[b];
    const row = b * seqLength;
    for (let t = 0; t < s.length; t++) inputIds[row + t] = s[t];
    attentionMask.fill(1, row, row + s.length);
  }
  return { inputIds, attentionMask, batchSize, seqLength };
}
