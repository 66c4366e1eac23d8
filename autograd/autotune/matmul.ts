/**
 * Matmul autotuning: per adapter and shape bucket, time every plan that supports the shape and keep the
 * fastest. Ops dispatch synchronously, so tuning happens up front: `await autotuneMatmul(shapes)` once
 * before training (the model's `matmulShapes`), which fills the runtime's table that `chooseMatmulPlan`
 * reads (autograd/matmul_plan.ts; shapes it has not seen take the heuristic). Choices are cached in memory
 * and in the settings' store. `DISTILBERT_AUTOTUNE=0` skips the timing (the heuristic alone chooses).
 */
import { gpu } from "../runtime.ts";
import { fill, Tensor } from "../tensor.ts";
import { castRaw } from "../ops/elementwise.ts";
import { dispatchMatmul } from "../ops/matmul.ts";
import {
  heuristicPlan,
  type MatmulPlan,
  planFromName,
  planName,
  shapeBucket,
  uniqueShapes,
} from "../matmul_plan.ts";
import type { MatmulShape } from "../../kernels/matmul.ts";
import { adapterKey, autotuneDisabled, readCache, storeChoices, TUNE_PASSES } from "./cache.ts";
import { matmulCandidates } from "./candidates.ts";
import { timeRuns, timingMethod } from "./timing.ts";

/** Problems below this many FLOPs are not worth timing: the heuristic picks. */
const MIN_TUNE_FLOPS = 1e6;

export const flopsOf = (s: MatmulShape) => 2 * s.batch * s.m * s.n * s.k;

/** The largest operand of `s` (A, B or C), in bytes. */
const largestOperand = (s: MatmulShape) => 4 * s.batch * Math.max(s.m * s.k, s.k * s.n, s.m * s.n);

/**
 * A smaller shape with the same k, n and transposes (batch, then m, cut) for timing slow adapters, with
 * every operand within `maxBytes` (one storage binding).
 */
export function proxyShape(s: MatmulShape, maxFlops: number, maxBytes = Infinity): MatmulShape {
  const proxy = { ...s };
  const tooBig = () => flopsOf(proxy) > maxFlops || largestOperand(proxy) > maxBytes;
  while (tooBig() && proxy.batch > 1) proxy.batch = Math.ceil(proxy.batch / 2);
  while (tooBig() && proxy.m > 256) proxy.m = Math.max(256, Math.ceil(proxy.m / 2 / 16) * 16);
  return proxy;
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
 * one submission until the budget is spent (at least one round); the fastest round counts. Each round is
 * timed by `timeRuns` (timestamp-query where the device has it, else the wall clock); the budget counts wall
 * time. Inputs are zeros (timing only). A `T+` plan's time includes transposing B.
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
      const ms = await timeRuns(() => {
        for (let i = 0; i < reps; i++) dispatchMatmul(a, b, c, s, plan);
      });
      spent += performance.now() - t0;
      best = Math.min(best, ms / reps);
    } while (spent < budget);
    return best;
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
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

/** Tunes `shapes` (cached choices are reused) into the runtime's table, which `chooseMatmulPlan` reads. */
export async function autotuneMatmul(
  shapes: MatmulShape[],
  opts: AutotuneOptions = {},
): Promise<TuneResult[]> {
  const log = opts.log ?? (() => {});
  const rt = gpu(), table = rt.tuned, key = adapterKey();
  const results: TuneResult[] = [];
  if (autotuneDisabled()) {
    log("matmul autotune: disabled by DISTILBERT_AUTOTUNE=0 (heuristic choice)");
    return results;
  }
  const cache = await readCache();
  const cached = cache.adapters[key] ?? {};
  const cpu = rt.isCpu;
  let methodLogged = false;
  // CPU drivers run ~10-40 GFLOP/s: time a proxy of ≤ 0.4 GFLOP (m ≥ 256); GPUs can afford the real shape.
  const maxFlops = opts.proxyFlops ?? (cpu ? 4e8 : 2e10);
  const l = rt.limits;
  const maxBytes = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  let changed = false;
  const done = new Set<string>();
  for (const s of uniqueShapes(shapes)) {
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
    // Only plans that fit the limits and suit the adapter's class (candidates.ts); A·Bᵀ products also try
    // each variant on B transposed first (`T+variant`).
    const { names, skipped } = matmulCandidates(proxy, cpu, l);
    // Too small to be worth timing, no proxy fits one binding (k or n alone too large), or no candidate
    // left: the heuristic.
    if (flopsOf(s) < MIN_TUNE_FLOPS || largestOperand(proxy) > maxBytes || names.length === 0) {
      results.push({
        shape: s,
        bucket,
        choice: planName(heuristicPlan(s, cpu)),
        timings: {},
        source: "heuristic",
      });
      continue;
    }
    if (!methodLogged) {
      log(`matmul autotune: timing with ${timingMethod()} (${cpu ? "CPU driver" : "GPU"} candidates)`);
      methodLogged = true;
    }
    const skips = Object.entries(skipped).map(([n, why]) => `${n}: ${why}`);
    if (skips.length) log(`matmul autotune ${bucket}: not timed: ${skips.join("; ")}`);
    const timings: Record<string, number> = {};
    // Candidates take turns (three passes, a third of the budget each) and keep their best time, so a burst
    // of load from other processes slows every candidate a little instead of one of them a lot.
    const plans = names.map((name) => [name, planFromName(name, proxy)] as const).filter(([, plan]) => plan);
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
  if (changed) await storeChoices(key, cached);
  return results;
}
