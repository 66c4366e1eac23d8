/**
 * Matmul autotuning: per adapter and shape bucket, time every variant that supports the shape and keep the
 * fastest. Ops dispatch synchronously, so tuning happens up front: `await autotuneMatmul(shapes)` once
 * before training (with `matmulShapesFor(...)`), which installs a chooser that reads the tuned table and
 * falls back to a heuristic for shapes it has not seen. Choices are cached in memory and, where a store is
 * installed (`setAutotuneStore`: under Deno, autograd/autotune_disk.ts puts them in $XDG_CACHE_HOME or
 * ~/.cache, distilbert-webgpu/matmul-autotune.json; a page has none), keyed by adapter and bucket.
 * `DISTILBERT_AUTOTUNE=0` skips the timing (the heuristic alone is installed).
 */
import { gpu, isCpuAdapter } from "./runtime.ts";
import {
  attention,
  cast,
  castRaw,
  dispatchMatmul,
  matmul,
  type MatmulPlan,
  mul,
  planFromName,
  planName,
  setMatmulChooser,
  softmax,
  sum,
} from "./ops.ts";
import { fill, Tensor } from "./tensor.ts";
import { tidy } from "./tape.ts";
import { MATMUL_VARIANTS, type MatmulShape, type MatmulVariant } from "../kernels/matmul.ts";
import { envVar } from "../util/host.ts";

/** Bumped when variants change meaning, so stale cached choices are not reused. */
const CACHE_VERSION = 5;
/** Interleaved timing passes per shape (see autotuneMatmul). */
const TUNE_PASSES = 3;
/** Problems below this many FLOPs are not worth timing: the heuristic picks. */
const MIN_TUNE_FLOPS = 1e6;

export const flopsOf = (s: MatmulShape) => 2 * s.batch * s.m * s.n * s.k;

export interface TrainShapeConfig {
  batch: number;
  seq: number;
  dim: number;
  hidden: number;
  heads: number;
  /** Not needed for the shapes (every layer has the same ones); kept so a model config can be passed. */
  layers?: number;
  /** Mixed precision: the operands are f16. */
  f16?: boolean;
  /** Whether attention runs unfused (its score products are matmuls); default true. */
  unfusedAttention?: boolean;
  /** Inference (eval, predict): the forward products only, no gradient shapes. */
  forwardOnly?: boolean;
}

/** Forward and backward matmul shapes of one DistilBERT train step (Linear: x [rows, in] · Wᵀ, W [out, in]). */
export function matmulShapesFor(c: TrainShapeConfig): MatmulShape[] {
  const tokens = c.batch * c.seq, bh = c.batch * c.heads, dh = c.dim / c.heads;
  const out: MatmulShape[] = [];
  const linear = (rows: number, inF: number, outF: number) => {
    out.push({ batch: 1, m: rows, n: outF, k: inF, transA: false, transB: true }); // y = x·Wᵀ
    if (c.forwardOnly) return;
    out.push({ batch: 1, m: rows, n: inF, k: outF, transA: false, transB: false }); // dx = dy·W
    out.push({ batch: 1, m: outF, n: inF, k: rows, transA: true, transB: false }); // dW = dyᵀ·x
  };
  linear(tokens, c.dim, c.dim); // q, k, v, out_lin
  linear(tokens, c.dim, c.hidden); // ffn.lin1
  linear(tokens, c.hidden, c.dim); // ffn.lin2
  linear(c.batch, c.dim, c.dim); // pre_classifier
  if (c.unfusedAttention ?? true) {
    // scores = q·kᵀ; d(q) = g·k; d(k) = gᵀ·q
    out.push({ batch: bh, m: c.seq, n: c.seq, k: dh, transA: false, transB: true });
    out.push({ batch: bh, m: c.seq, n: dh, k: c.seq, transA: false, transB: false });
    if (!c.forwardOnly) out.push({ batch: bh, m: c.seq, n: dh, k: c.seq, transA: true, transB: false });
    // ctx = p·v; d(p) = g·vᵀ; d(v) = pᵀ·g  (the same shapes as above)
  }
  return dedupe(c.f16 ? out.map((s) => ({ ...s, f16: true })) : out);
}

function dedupe(shapes: MatmulShape[]): MatmulShape[] {
  const seen = new Map<string, MatmulShape>();
  for (const s of shapes) seen.set(exactKey(s), s);
  return [...seen.values()];
}

const exactKey = (s: MatmulShape) =>
  `${s.batch}x${s.m}x${s.n}x${s.k}${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}${s.f16 ? " f16" : ""}`;

const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** Shapes in one bucket behave alike: same transposes and alignments, sizes within a power of two. */
export function shapeBucket(s: MatmulShape): string {
  const align = [s.m, s.n, s.k].map((d) => (d % 4 === 0 ? "4" : "1")).join("");
  return `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"} b${pow2(s.batch)} m${pow2(s.m)} n${pow2(s.n)} ` +
    `k${pow2(s.k)} a${align}${s.f16 ? " f16" : ""}`;
}

// ---- the adapter and the heuristic ---------------------------------------------------------------------

function adapterKey(): string {
  const s = gpu().summary;
  const names = MATMUL_VARIANTS.map((v) => v.name).join(",");
  return `${s.description} | ${s.vendor} | ${s.architecture} | v${CACHE_VERSION} ${names}`;
}

const byName = (name: string) => MATMUL_VARIANTS.find((v) => v.name === name);

/** The untuned choice. On CPU drivers big register blocks win; on GPUs the workgroup-memory tiled kernel. */
export function heuristicVariant(s: MatmulShape, cpu = isCpuAdapter()): MatmulVariant {
  // Lanes along m where A is transposed (its vec4 loads then serve four rows) or n is too narrow for a
  // 128-column workgroup; along n otherwise.
  const prefs = !cpu ? ["tiled64"] : s.transA || s.n < 128 ? ["rb16x16m", "rb8x8"] : ["rb16x16", "rb8x8"];
  for (const name of prefs) {
    const v = byName(name);
    if (v?.supports(s)) return v;
  }
  return MATMUL_VARIANTS[0];
}

// ---- the tuned table -----------------------------------------------------------------------------------

/** bucket → variant name, for this process's adapter. */
const table = new Map<string, string>();
let tableAdapter: string | null = null;

/** The tuned choices of every adapter seen: bucket → plan name, by adapter key. */
export interface AutotuneCacheFile {
  version: number;
  adapters: Record<string, Record<string, string>>;
}

/**
 * Where tuned choices persist between runs. None by default (tuned once per process, as in a page); under
 * Deno, autograd/autotune_disk.ts installs `~/.cache/distilbert-webgpu/matmul-autotune.json`.
 */
export interface AutotuneStore {
  /** The stored choices; null when there are none or they cannot be read (then everything is retuned). */
  read(): Promise<AutotuneCacheFile | null>;
  /** Stores the choices (failures are the store's to report: tuning goes on without it). */
  write(cache: AutotuneCacheFile): Promise<void>;
}

let store: AutotuneStore | null = null;

/** Installs where tuned choices persist (null: nowhere, this process only). */
export function setAutotuneStore(s: AutotuneStore | null): void {
  store = s;
}

async function readCache(): Promise<AutotuneCacheFile> {
  const empty = { version: CACHE_VERSION, adapters: {} };
  const data = await store?.read().catch(() => null);
  return data && data.version === CACHE_VERSION && typeof data.adapters === "object" ? data : empty;
}

async function writeCache(cache: AutotuneCacheFile): Promise<void> {
  await store?.write(cache);
}

/**
 * The untuned plan. On CPU drivers an A·Bᵀ with a wide n and many rows per B element runs on B transposed
 * first (x·Wᵀ at DistilBERT's shapes: 21-23 GFLOP/s as it is, 33-35 with the transpose; QKᵀ, 256 rows per
 * head, gains nothing); elsewhere the heuristic's variant on B as it is.
 */
export function heuristicPlan(s: MatmulShape, cpu = isCpuAdapter()): MatmulPlan {
  if (cpu && s.transB && !s.transA && s.n >= 128 && s.m >= 512) {
    const nn = { ...s, transB: false };
    return { variant: heuristicVariant(nn, cpu), transposeB: true };
  }
  return { variant: heuristicVariant(s, cpu), transposeB: false };
}

/** The installed chooser: the tuned plan for the shape's bucket, else the heuristic. */
export function tunedPlan(s: MatmulShape): MatmulPlan {
  const name = table.get(shapeBucket(s));
  return (name ? planFromName(name, s) : null) ?? heuristicPlan(s);
}

/** The tuned table (bucket → plan name), for reports. */
export function tunedChoices(): Map<string, string> {
  return new Map(table);
}

// ---- timing --------------------------------------------------------------------------------------------

/** The largest operand of `s` (A, B or C), in bytes. */
const largestOperand = (s: MatmulShape) => 4 * s.batch * Math.max(s.m * s.k, s.k * s.n, s.m * s.n);

/**
 * A smaller shape with the same k, n and transposes (batch, then m, cut) for timing slow adapters, with
 * every operand within `maxBytes` (one storage binding).
 */
export function proxyShape(s: MatmulShape, maxFlops: number, maxBytes = Infinity): MatmulShape {
  const p = { ...s };
  const tooBig = () => flopsOf(p) > maxFlops || largestOperand(p) > maxBytes;
  while (tooBig() && p.batch > 1) p.batch = Math.ceil(p.batch / 2);
  while (tooBig() && p.m > 256) p.m = Math.max(256, Math.ceil(p.m / 2 / 16) * 16);
  return p;
}

export interface TimeOptions {
  /** Stop timing a variant once this much time went to it (after compile and warm-up). */
  budgetMs?: number;
  /** Runs per submission. */
  reps?: number;
  /** Run once untimed first (compiles the pipelines); default true. */
  warmup?: boolean;
}

/**
 * Milliseconds per run of `plan` on `s`: one warm-up (compiles the pipelines), then rounds of `reps` runs in
 * one submission until the budget is spent (at least one round); the fastest round counts. Inputs are zeros
 * (timing only). A `T+` plan's time includes transposing B.
 */
export async function timePlan(plan: MatmulPlan, s: MatmulShape, opts: TimeOptions = {}): Promise<number> {
  const budget = opts.budgetMs ?? 50, reps = opts.reps ?? 2;
  const rt = gpu();
  const bShape = s.transB ? [s.n, s.k] : [s.k, s.n];
  const operand = (shape: number[]) => {
    const zeros = fill(shape, 0);
    if (!s.f16) return zeros;
    const half = castRaw(zeros, "f16");
    zeros.dispose();
    return half;
  };
  const a = operand([s.batch * s.m, s.k]), b = operand(s.batch > 1 ? [s.batch, ...bShape] : bShape);
  const c = new Tensor([s.batch * s.m * s.n]);
  try {
    if (opts.warmup ?? true) {
      dispatchMatmul(a, b, c, s, plan);
      await rt.sync();
    }
    let best = Infinity, spent = 0;
    do {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) dispatchMatmul(a, b, c, s, plan);
      await rt.sync();
      const ms = performance.now() - t0;
      spent += ms;
      best = Math.min(best, ms / reps);
    } while (spent < budget);
    return best;
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
}

/** Milliseconds per run of variant `v` on `s` (B as it is); see `timePlan`. */
export function timeVariant(v: MatmulVariant, s: MatmulShape, opts: TimeOptions = {}): Promise<number> {
  return timePlan({ variant: v, transposeB: false }, s, opts);
}

export interface AutotuneOptions {
  /** Timing budget per variant and shape, ms. */
  budgetMs?: number;
  /** Ignore cached choices and retune. */
  force?: boolean;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
  /**
   * The most FLOPs a timed matmul proxy may have (default: 4e8 on CPU adapters, 2e10 elsewhere). A page
   * on SwiftShader (about 1 GFLOP/s) asks for less, so that tuning does not hold up loading the model.
   */
  proxyFlops?: number;
}

export interface TuneResult {
  shape: MatmulShape;
  bucket: string;
  choice: string;
  /** ms per run of each variant timed, on `proxy`; empty when the choice came from cache or heuristic. */
  timings: Record<string, number>;
  proxy?: MatmulShape;
  source: "tuned" | "cache" | "heuristic";
}

/** Tunes `shapes` (cached choices are reused) and installs the tuned chooser. */
export async function autotuneMatmul(
  shapes: MatmulShape[],
  opts: AutotuneOptions = {},
): Promise<TuneResult[]> {
  const log = opts.log ?? (() => {});
  const key = adapterKey();
  if (tableAdapter !== key) {
    table.clear();
    tableAdapter = key;
  }
  setMatmulChooser(tunedPlan);
  const disabled = envVar("DISTILBERT_AUTOTUNE") === "0";
  const results: TuneResult[] = [];
  if (disabled) {
    log("matmul autotune: disabled by DISTILBERT_AUTOTUNE=0 (heuristic choice)");
    return results;
  }
  const cache = await readCache();
  const cached = cache.adapters[key] ?? {};
  const cpu = isCpuAdapter();
  // CPU drivers run ~10-40 GFLOP/s: time a proxy of ≤ 0.4 GFLOP (m ≥ 256); GPUs can afford the real shape.
  const maxFlops = opts.proxyFlops ?? (cpu ? 4e8 : 2e10);
  const l = gpu().limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  let changed = false;
  const done = new Set<string>();
  for (const s of dedupe(shapes)) {
    const bucket = shapeBucket(s);
    if (done.has(bucket)) continue;
    done.add(bucket);
    const hit = opts.force ? undefined : cached[bucket];
    if (hit && planFromName(hit, s)) {
      table.set(bucket, hit);
      results.push({ shape: s, bucket, choice: hit, timings: {}, source: "cache" });
      continue;
    }
    const proxy = proxyShape(s, maxFlops, maxBytes);
    // Too small to be worth timing, or no proxy fits one binding (k or n alone too large): the heuristic.
    if (flopsOf(s) < MIN_TUNE_FLOPS || largestOperand(proxy) > maxBytes) {
      results.push({
        shape: s,
        bucket,
        choice: planName(heuristicPlan(s, cpu)),
        timings: {},
        source: "heuristic",
      });
      continue;
    }
    // The tiled kernel is ~10x slower on CPU drivers (barriers are coroutine switches): not worth timing.
    // A·Bᵀ products also try each variant on B transposed first (`T+variant`).
    const names = MATMUL_VARIANTS.filter((v) => !(cpu && v.name === "tiled64")).flatMap((v) =>
      proxy.transB && !proxy.transA ? [v.name, `T+${v.name}`] : [v.name]
    );
    const timings: Record<string, number> = {};
    // Candidates take turns (three passes, a third of the budget each) and keep their best time, so a burst
    // of load from other processes slows every candidate a little instead of one of them a lot.
    const plans = names.map((name) => [name, planFromName(name, proxy)] as const).filter(([, p]) => p);
    const slice = (opts.budgetMs ?? 50) / TUNE_PASSES;
    for (let pass = 0; pass < TUNE_PASSES; pass++) {
      for (const [name, plan] of plans) {
        const ms = await timePlan(plan!, proxy, { budgetMs: slice, warmup: pass === 0 });
        timings[name] = Math.min(timings[name] ?? Infinity, ms);
      }
    }
    // The heuristic's pick keeps the shape unless another is clearly (10%) faster: timings on a shared
    // CPU are noisy, and a stable choice is worth more than a coin flip between near-equals.
    const fastest = Object.entries(timings).sort((x, y) => x[1] - y[1])[0][0];
    const fallback = planName(heuristicPlan(s, cpu));
    const choice = timings[fallback] !== undefined && timings[fallback] <= 1.1 * timings[fastest]
      ? fallback
      : fastest;
    table.set(bucket, choice);
    cached[bucket] = choice;
    changed = true;
    const rate = (name: string) => (flopsOf(proxy) / timings[name] / 1e6).toFixed(1);
    log(
      `matmul autotune ${bucket}: ${choice} (${
        Object.keys(timings).map((n) => `${n} ${rate(n)}`).join(", ")
      } GFLOP/s)`,
    );
    results.push({ shape: s, bucket, choice, timings, proxy, source: "tuned" });
  }
  if (changed) {
    // Re-read so a concurrent tuner's other buckets are kept.
    const latest = await readCache();
    latest.adapters[key] = { ...(latest.adapters[key] ?? {}), ...cached };
    await writeCache(latest);
  }
  return results;
}

// ---- attention: fused or unfused -----------------------------------------------------------------------

/** One self-attention pass: batch·heads rows of seq tokens, head_dim wide. */
export interface AttentionShape {
  batchHeads: number;
  seq: number;
  headDim: number;
  f16?: boolean;
}

export const attentionBucket = (a: AttentionShape) =>
  `attention bh${pow2(a.batchHeads)} s${pow2(a.seq)} d${a.headDim}${a.f16 ? " f16" : ""}`;

/** The tuned attention path for a shape's bucket, or null when it was not tuned. */
export function tunedAttention(a: AttentionShape): "fused" | "unfused" | null {
  const name = table.get(attentionBucket(a));
  return name === "fused" || name === "unfused" ? name : null;
}

/**
 * Milliseconds of one forward and backward of attention on `a` by one path (inputs random, all keys kept);
 * the best of rounds until `budgetMs` is spent, after a warm-up that compiles the pipelines.
 */
export async function timeAttention(
  path: "fused" | "unfused",
  a: AttentionShape,
  budgetMs = 50,
): Promise<number> {
  const rt = gpu();
  const shape = [a.batchHeads, a.seq, a.headDim];
  const n = a.batchHeads * a.seq * a.headDim;
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const [q, k, v] = [0, 1, 2].map(() => Tensor.fromArray(data, shape, { requiresGrad: true }));
  const mask = fill([1, a.seq], 1), weights = fill(shape, 1e-3);
  const scale = 1 / Math.sqrt(a.headDim);
  // Mixed precision rounds the probabilities to f16 for their product with v, as the model's autocast does.
  const half = (t: Tensor) => a.f16 ? cast(t, "f16") : t;
  const once = () => {
    tidy(() => {
      const [qo, ko, vo] = a.f16 ? [q, k, v].map((t) => castRaw(t, "f16")) : [q, k, v];
      if (a.f16) [qo, ko, vo].forEach((t) => (t.requiresGrad = true));
      const y = path === "fused"
        ? attention(qo, ko, vo, mask, { heads: a.batchHeads, scale })
        : matmul(half(softmax(matmul(qo, ko, { transB: true }), { scale, mask })), vo);
      sum(mul(y, weights)).backward();
      for (const t of [q, k, v, qo, ko, vo]) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
  };
  try {
    once();
    await rt.sync();
    let best = Infinity, spent = 0;
    do {
      const t0 = performance.now();
      once();
      await rt.sync();
      const ms = performance.now() - t0;
      spent += ms;
      best = Math.min(best, ms);
    } while (spent < budgetMs);
    return best;
  } finally {
    [q, k, v, mask, weights].forEach((t) => t.dispose());
  }
}

/**
 * Times fused against unfused attention for each shape whose unfused scores fit one binding (where they do
 * not, the fused path is the only one) and records the choice beside the matmul plans: the fused path unless
 * the unfused one is clearly (10%) faster, since it also needs far less memory. Cached like the matmul plans;
 * the shapes are proxies (fewer batch·heads rows) on CPU adapters.
 */
export async function autotuneAttention(shapes: AttentionShape[], opts: AutotuneOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const disabled = envVar("DISTILBERT_AUTOTUNE") === "0";
  if (disabled) return;
  const key = adapterKey();
  if (tableAdapter !== key) {
    table.clear();
    tableAdapter = key;
  }
  const cache = await readCache();
  const cached = cache.adapters[key] ?? {};
  const l = gpu().limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  let changed = false;
  for (const a of shapes) {
    const bucket = attentionBucket(a);
    if (table.has(bucket)) continue;
    const hit = opts.force ? undefined : cached[bucket];
    if (hit === "fused" || hit === "unfused") {
      table.set(bucket, hit);
      continue;
    }
    // A proxy of a few heads: the choice depends on seq and head_dim, the time on batch·heads linearly.
    const proxy = { ...a, batchHeads: Math.min(a.batchHeads, isCpuAdapter() ? 4 : 64) };
    if (proxy.batchHeads * a.seq * a.seq * 4 > maxBytes) continue; // only fused fits
    const budget = (opts.budgetMs ?? 50) / TUNE_PASSES;
    const times = { fused: Infinity, unfused: Infinity };
    for (let pass = 0; pass < TUNE_PASSES; pass++) {
      for (const p of ["fused", "unfused"] as const) {
        times[p] = Math.min(times[p], await timeAttention(p, proxy, budget));
      }
    }
    const choice = times.unfused * 1.1 < times.fused ? "unfused" : "fused";
    table.set(bucket, choice);
    cached[bucket] = choice;
    changed = true;
    log(
      `autotune ${bucket}: ${choice} (fused ${times.fused.toFixed(1)} ms, unfused ${
        times.unfused.toFixed(1)
      } ms on ${proxy.batchHeads} heads)`,
    );
  }
  if (changed) {
    const latest = await readCache();
    latest.adapters[key] = { ...(latest.adapters[key] ?? {}), ...cached };
    await writeCache(latest);
  }
}
