/**
 * Fused attention (FlashAttention-style): softmax(scale · Q·Kᵀ, key mask) · V without ever storing the
 * S × S scores. Each thread owns `rows` query rows (forward, dQ) or key rows (dK/dV) of one head and streams
 * the other side's rows from memory: the forward keeps a running max and sum (online softmax, rescaling its
 * accumulator once per block of keys); the backward recomputes the probabilities from Q, K and the saved
 * row statistics (FlashAttention-2): a row pass (D = rowsum(dO ∘ O) beside the statistics), then dQ (a thread
 * per query row) and dK, dV (a thread per key row) as two kernels, because WGSL has no float atomics.
 *
 * Semantics are Hugging Face DistilBERT's eager attention (transformers 5): scores scaled after the product,
 * masked keys at the f32 minimum (HF adds finfo.min, which absorbs any score: a fully masked row attends
 * uniformly to every key, and its gradient reaches q and k as through HF's addition), dropout on the
 * probabilities (inverted;
 * the mask from the same counter-based hash as `dropoutKernel` at the same linear index (bh·S + i)·S + j of
 * the [B·H, S, S] probabilities, so fused and unfused runs drop the same entries and the backward replays
 * them). No workgroup memory and no barriers: it fits any adapter's limits.
 *
 * Layout: Q, K, V, O, dO, dQ, dK, dV are [B·H, S, head_dim] row-major; MASK is [B, S] (1 = key kept);
 * STATS is [B·H·S, 2] (row max of the scaled scores, 1 / row sum of exp(score − max)); the backward's
 * ROWS is [B·H·S, 4] (the same two, then D = rowsum(dO ∘ O), then 0). At most 8 storage bindings per kernel
 * (the WebGPU default of maxStorageBuffersPerShaderStage).
 */
import { type Access, F32_MIN, kernel, type KernelSpec } from "./common.ts";
import { HASH_WGSL } from "./elementwise.ts";

export interface AttentionKernelConfig {
  headDim: number;
  /** Query rows (forward, dQ) or key rows (dK/dV) per thread. */
  rows: number;
  /** Dropout on the probabilities (the uniforms' seed, threshold and drop_scale apply). */
  dropout: boolean;
  /** Q, K and V are stored as f16 (mixed precision) and widened on load; everything else is f32. */
  f16: boolean;
}

/** Threads per workgroup (one dimension). */
const ATTENTION_WG = 64;
/** Keys per online-softmax block of the forward: the accumulator is rescaled once per block. */
const KEY_BLOCK = 4;

const UNIFORMS = {
  bh: "u32",
  seq: "u32",
  heads: "u32",
  scale: "f32",
  seed: "u32",
  threshold: "u32",
  drop_scale: "f32",
} as const;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** WGSL's max takes two arguments: the max of several, as a balanced tree. */
function maxOf(xs: string[]): string {
  if (xs.length === 1) return xs[0];
  const half = Math.ceil(xs.length / 2);
  return `max(${maxOf(xs.slice(0, half))}, ${maxOf(xs.slice(half))})`;
}

/** Loading one head row as vec4 chunks (the last zero-padded when head_dim % 4 != 0). */
class RowLoader {
  readonly chunks: number;
  readonly vec: boolean;
  constructor(readonly headDim: number, readonly f16: boolean) {
    this.chunks = Math.ceil(headDim / 4);
    this.vec = headDim % 4 === 0;
  }
  /** The storage element type of a head-row array: vec4 when rows are whole vec4s. */
  type(f16: boolean): string {
    const t = f16 ? "f16" : "f32";
    return this.vec ? `vec4<${t}>` : t;
  }
  /** Chunk c of the row starting at element `base` of array `arr`, as a vec4f. */
  load(arr: string, base: string, c: number): string {
    if (this.vec) return `vec4f(${arr}[${base} / 4u + ${c}u])`;
    const parts = range(4).map((t) => {
      const d = 4 * c + t;
      return d < this.headDim ? `f32(${arr}[${base} + ${d}u])` : "0.0";
    });
    return `vec4f(${parts.join(", ")})`;
  }
  /**
   * This thread's row r, chunk by chunk: `let {name}{r}_{c}` loaded from each array of `loads` (the row starts
   * at `off{r}`), and a zeroed `var {acc}{r}_{c}` for each accumulator.
   */
  rowRegisters(r: number, loads: Record<string, string>, accumulators: string[]): string[] {
    return range(this.chunks).flatMap((c) => [
      ...Object.entries(loads).map(([name, arr]) =>
        `  let ${name}${r}_${c} = ${this.load(arr, `off${r}`, c)};`
      ),
      ...accumulators.map((acc) => `  var ${acc}${r}_${c} = vec4f(0.0);`),
    ]);
  }
  /** Stores vec4f `value` as chunk c of the row at `base` of f32 array `arr`. */
  store(arr: string, base: string, c: number, value: string): string {
    if (this.vec) return `${arr}[${base} / 4u + ${c}u] = ${value};`;
    return range(4).filter((t) => 4 * c + t < this.headDim)
      .map((t) => `${arr}[${base} + ${4 * c + t}u] = (${value})[${t}];`).join(" ");
  }
}

/** The head of every attention kernel: which head, which rows, clamped row offsets. */
function head(cfg: AttentionKernelConfig): string {
  return `
@compute @workgroup_size(${ATTENTION_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let bh = wid.y + wid.z * nwg.y;
  if (bh >= p.bh) { return; }
  let b = bh / p.heads;
  let head_base = bh * p.seq * ${cfg.headDim}u;
  let row0 = (wid.x * ${ATTENTION_WG}u + lid.x) * ${cfg.rows}u;
  if (row0 >= p.seq) { return; }`;
}

/** Per owned row r: its index (clamped for loads; `live_r` says whether it exists) and element offset. */
function ownedRows(cfg: AttentionKernelConfig): string {
  return range(cfg.rows).map((r) =>
    `  let live${r} = row0 + ${r}u < p.seq;
  let at${r} = min(row0 + ${r}u, p.seq - 1u);
  let off${r} = head_base + at${r} * ${cfg.headDim}u;`
  ).join("\n");
}

type Buffers = [name: string, access: Access, type?: string][];

/**
 * A whole attention kernel: Q, K, V (f16 under mixed precision) and MASK, then `extra` bindings, the uniforms,
 * the hash when dropout is on, the head and owned rows, and `body`.
 */
function assemble(cfg: AttentionKernelConfig, extra: Buffers, body: string[]): KernelSpec {
  const opType = new RowLoader(cfg.headDim, cfg.f16).type(cfg.f16);
  const inputs: Buffers = [["Q", "read", opType], ["K", "read", opType], ["V", "read", opType], [
    "MASK",
    "read",
  ]];
  return kernel(
    [...inputs, ...extra],
    UNIFORMS,
    `${cfg.dropout ? HASH_WGSL : ""}
${head(cfg)}
${ownedRows(cfg)}
${body.join("\n")}
}`,
  );
}

/** WGSL for whether (query i, key j) of head bh is kept by dropout: the multiplier 0 or drop_scale. */
const dropFactor = (i: string, j: string) =>
  `select(0.0, p.drop_scale, hash2(p.seed, (bh * p.seq + ${i}) * p.seq + ${j}) >= p.threshold)`;

/** Forward: O and STATS from Q, K, V and the key mask. */
export function attentionForwardKernel(cfg: AttentionKernelConfig): KernelSpec {
  const L = new RowLoader(cfg.headDim, cfg.f16), R = range(cfg.rows), C = range(L.chunks);
  const KB = range(KEY_BLOCK);
  const out: string[] = [];
  const f32Type = L.type(false);
  for (const r of R) {
    out.push(...L.rowRegisters(r, { q: "Q" }, ["o"]));
    out.push(`  var m${r} = ${F32_MIN};`, `  var l${r} = 0.0;`);
  }
  out.push(`  for (var j0 = 0u; j0 < p.seq; j0 += ${KEY_BLOCK}u) {`);
  for (const k of KB) {
    out.push(`    let j${k} = j0 + ${k}u;`);
    out.push(`    let in${k} = j${k} < p.seq;`);
    out.push(`    let jc${k} = min(j${k}, p.seq - 1u);`);
    out.push(`    let kb${k} = head_base + jc${k} * ${cfg.headDim}u;`);
    for (const r of R) out.push(`    var s${r}_${k} = 0.0;`);
    for (const c of C) {
      out.push(`    let k${k}_${c} = ${L.load("K", `kb${k}`, c)};`);
      for (const r of R) out.push(`    s${r}_${k} += dot(q${r}_${c}, k${k}_${c});`);
    }
    // Masked and out-of-range keys score the f32 minimum; out-of-range ones also get probability 0 below.
    out.push(`    let keep${k} = in${k} && MASK[b * p.seq + jc${k}] > 0.5;`);
    for (const r of R) out.push(`    s${r}_${k} = select(${F32_MIN}, s${r}_${k} * p.scale, keep${k});`);
  }
  for (const r of R) {
    out.push(`    let mn${r} = ${maxOf([`m${r}`, ...KB.map((k) => `s${r}_${k}`)])};`);
    out.push(`    let corr${r} = exp(m${r} - mn${r});`);
    for (const k of KB) out.push(`    let p${r}_${k} = select(0.0, exp(s${r}_${k} - mn${r}), in${k});`);
    out.push(`    l${r} = l${r} * corr${r} + ${KB.map((k) => `p${r}_${k}`).join(" + ")};`);
    out.push(`    m${r} = mn${r};`);
    if (cfg.dropout) {
      for (const k of KB) out.push(`    let pd${r}_${k} = p${r}_${k} * ${dropFactor(`at${r}`, `jc${k}`)};`);
    }
    for (const c of C) out.push(`    o${r}_${c} *= corr${r};`);
  }
  for (const k of KB) {
    for (const c of C) {
      out.push(`    let v${k}_${c} = ${L.load("V", `kb${k}`, c)};`);
      for (const r of R) out.push(`    o${r}_${c} += ${cfg.dropout ? "pd" : "p"}${r}_${k} * v${k}_${c};`);
    }
  }
  out.push(`  }`);
  for (const r of R) {
    out.push(`  if (live${r}) {`);
    out.push(`    let inv${r} = 1.0 / l${r};`);
    for (const c of C) out.push(`    ${L.store("O", `off${r}`, c, `o${r}_${c} * inv${r}`)}`);
    out.push(`    STATS[2u * (bh * p.seq + at${r})] = m${r};`);
    out.push(`    STATS[2u * (bh * p.seq + at${r}) + 1u] = inv${r};`);
    out.push(`  }`);
  }
  return assemble(cfg, [["O", "read_write", f32Type], ["STATS", "read_write"]], out);
}

/**
 * Backward, part 1 (a thread per query row): ROWS = (max, 1 / sum, D = rowsum(dO ∘ O), 0) per row, what
 * parts 2 and 3 read for every row they visit.
 */
export function attentionBackwardRowsKernel(cfg: Pick<AttentionKernelConfig, "headDim">): KernelSpec {
  const L = new RowLoader(cfg.headDim, false), C = range(L.chunks), f32Type = L.type(false);
  const dot = C.map((c) => `dot(${L.load("DO", "off", c)}, ${L.load("O", "off", c)})`).join(" + ");
  return kernel(
    [["STATS", "read"], ["O", "read", f32Type], ["DO", "read", f32Type], ["ROWS", "read_write", "vec4f"]],
    { rows: "u32" },
    `@compute @workgroup_size(${ATTENTION_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * ${ATTENTION_WG}u;
  if (row >= p.rows) { return; }
  let off = row * ${cfg.headDim}u;
  ROWS[row] = vec4f(STATS[2u * row], STATS[2u * row + 1u], ${dot}, 0.0);
}`,
  );
}

/** Backward, part 2 (a thread per query row): dQ_i = scale · Σ_j P_ij (z_ij · dO_i·V_j − D_i) K_j. */
export function attentionBackwardQueryKernel(cfg: AttentionKernelConfig): KernelSpec {
  const L = new RowLoader(cfg.headDim, cfg.f16), R = range(cfg.rows), C = range(L.chunks);
  const f32Type = L.type(false);
  const out: string[] = [];
  for (const r of R) {
    out.push(...L.rowRegisters(r, { q: "Q", g: "DO" }, ["dq"]));
    out.push(`  let st${r} = ROWS[bh * p.seq + at${r}];`);
    out.push(`  let m${r} = st${r}.x;`, `  let il${r} = st${r}.y;`, `  let d${r} = st${r}.z;`);
  }
  out.push(`  for (var j = 0u; j < p.seq; j++) {`);
  out.push(`    let kb = head_base + j * ${cfg.headDim}u;`);
  out.push(`    let keep = MASK[b * p.seq + j] > 0.5;`);
  for (const r of R) out.push(`    var s${r} = 0.0;`, `    var dp${r} = 0.0;`);
  for (const c of C) {
    out.push(`    let k_${c} = ${L.load("K", "kb", c)};`);
    out.push(`    let v_${c} = ${L.load("V", "kb", c)};`);
    for (const r of R) {
      out.push(`    s${r} += dot(q${r}_${c}, k_${c});`);
      out.push(`    dp${r} += dot(g${r}_${c}, v_${c});`);
    }
  }
  for (const r of R) {
    out.push(`    let pr${r} = exp(select(${F32_MIN}, s${r} * p.scale, keep) - m${r}) * il${r};`);
    const z = cfg.dropout ? `${dropFactor(`at${r}`, "j")} * ` : "";
    // Masked keys have P = 0 except in a fully masked row, whose gradient flows as through HF's additive mask.
    out.push(`    let ds${r} = pr${r} * (${z}dp${r} - d${r});`);
  }
  for (const c of C) {
    for (const r of R) out.push(`    dq${r}_${c} += ds${r} * k_${c};`);
  }
  out.push(`  }`);
  for (const r of R) {
    out.push(`  if (live${r}) {`);
    for (const c of C) out.push(`    ${L.store("DQ", `off${r}`, c, `dq${r}_${c} * p.scale`)}`);
    out.push(`  }`);
  }
  return assemble(
    cfg,
    [["ROWS", "read", "vec4f"], ["DO", "read", f32Type], ["DQ", "read_write", f32Type]],
    out,
  );
}

/**
 * Backward, part 3 (a thread per key row):
 * dV_j = Σ_i z_ij P_ij dO_i and dK_j = scale · Σ_i P_ij (z_ij · dO_i·V_j − D_i) Q_i (zero for a masked key).
 */
export function attentionBackwardKeyKernel(cfg: AttentionKernelConfig): KernelSpec {
  const L = new RowLoader(cfg.headDim, cfg.f16), R = range(cfg.rows), C = range(L.chunks);
  const f32Type = L.type(false);
  const out: string[] = [];
  for (const r of R) {
    out.push(...L.rowRegisters(r, { k: "K", v: "V" }, ["dk", "dv"]));
    out.push(`  let keep${r} = MASK[b * p.seq + at${r}] > 0.5;`);
  }
  out.push(`  for (var i = 0u; i < p.seq; i++) {`);
  out.push(`    let qb = head_base + i * ${cfg.headDim}u;`);
  out.push(`    let st = ROWS[bh * p.seq + i];`);
  out.push(`    let m = st.x;`, `    let il = st.y;`, `    let d = st.z;`);
  for (const r of R) out.push(`    var s${r} = 0.0;`, `    var dp${r} = 0.0;`);
  for (const c of C) {
    out.push(`    let q_${c} = ${L.load("Q", "qb", c)};`);
    for (const r of R) out.push(`    s${r} += dot(k${r}_${c}, q_${c});`);
  }
  for (const r of R) {
    out.push(`    let pr${r} = exp(select(${F32_MIN}, s${r} * p.scale, keep${r}) - m) * il;`);
    out.push(`    let pz${r} = pr${r}${cfg.dropout ? ` * ${dropFactor("i", `at${r}`)}` : ""};`);
  }
  for (const c of C) {
    out.push(`    let g_${c} = ${L.load("DO", "qb", c)};`);
    for (const r of R) {
      out.push(`    dp${r} += dot(v${r}_${c}, g_${c});`);
      out.push(`    dv${r}_${c} += pz${r} * g_${c};`);
    }
  }
  for (const r of R) {
    // P·(z·dp − D) = pz·dp − P·D: z multiplies dp through the dropped probability.
    out.push(`    let ds${r} = pz${r} * dp${r} - pr${r} * d;`);
  }
  for (const c of C) {
    for (const r of R) out.push(`    dk${r}_${c} += ds${r} * q_${c};`);
  }
  out.push(`  }`);
  for (const r of R) {
    out.push(`  if (live${r}) {`);
    for (const c of C) {
      out.push(`    ${L.store("DK", `off${r}`, c, `dk${r}_${c} * p.scale`)}`);
      out.push(`    ${L.store("DV", `off${r}`, c, `dv${r}_${c}`)}`);
    }
    out.push(`  }`);
  }
  const outputs: Buffers = [["DO", "read", f32Type], ["DK", "read_write", f32Type], [
    "DV",
    "read_write",
    f32Type,
  ]];
  return assemble(cfg, [["ROWS", "read", "vec4f"], ...outputs], out);
}

/** The workgroup grid of an attention kernel: row blocks along x, heads along y (and z past the limit). */
export function attentionWorkgroups(
  bh: number,
  seq: number,
  rows: number,
  maxPerDimension: number,
): [number, number, number] {
  const y = Math.min(bh, maxPerDimension);
  return [Math.ceil(seq / (ATTENTION_WG * rows)), y, Math.ceil(bh / y)];
}
