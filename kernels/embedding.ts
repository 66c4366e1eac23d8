/** Embedding lookup and its deterministic backward. */
import { type KernelSpec, perElementKernel } from "./common.ts";

/** Y[n, d] = TABLE[IDS[n], d]. */
export function embeddingKernel(): KernelSpec {
  return perElementKernel(
    [["IDS", "read", "i32"], ["TABLE", "read"], ["Y", "read_write"]],
    { n: "u32", dim: "u32" },
    `  let row = u32(IDS[i / p.dim]);
  Y[i] = TABLE[row * p.dim + i % p.dim];`,
  );
}

/**
 * The gradient rows that ids touched, without float atomics: the host groups positions by id (CSR:
 * UNIQ[u] is an id, its positions are POS[OFFS[u] .. OFFS[u+1]] in increasing order), and thread (u, d)
 * sums them in that order into DTABLE (zeroed before). The order is fixed, so the result is reproducible.
 */
export function embeddingBackwardKernel(): KernelSpec {
  return perElementKernel(
    [["UNIQ", "read", "i32"], ["OFFS", "read", "i32"], ["POS", "read", "i32"], ["G", "read"], [
      "DT",
      "read_write",
    ]],
    { n: "u32", dim: "u32" },
    `  let u = i / p.dim;
  let d = i % p.dim;
  var s = 0.0;
  for (var k = OFFS[u]; k < OFFS[u + 1u]; k++) { s += G[u32(POS[k]) * p.dim + d]; }
  DT[u32(UNIQ[u]) * p.dim + d] = s;`,
  );
}
