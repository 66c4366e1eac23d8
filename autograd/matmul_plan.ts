/**
 * Matmul planning, in one place: what a plan is, its name, the one heuristic (the untuned choice, and the
 * autotuner's fallback), shape buckets, and the choice for a shape: the settings' forced plan, else the
 * tuned plan for the shape's bucket (autograd/autotune/matmul.ts fills the runtime's table), else the
 * heuristic. Untuned tests and tuned training therefore differ only where timing found a faster plan.
 */
import { gpu } from "./runtime.ts";
import { MATMUL_VARIANTS, type MatmulShape, type MatmulVariant } from "../kernels/matmul.ts";

/**
 * How one matmul runs: a kernel variant, and whether B is first transposed into a temporary so that an
 * A·Bᵀ product runs as A·B. On CPU drivers, elements contiguous along k load one scalar at a time while
 * B's rows load as vec4: one pass over B's k·n elements can pay for itself in the m·n·k inner loop.
 * Plans are named `variant` or `T+variant` (the autotuner's table and the settings' `matmulPlan` use names).
 */
export interface MatmulPlan {
  variant: MatmulVariant;
  transposeB: boolean;
}

export const planName = (plan: MatmulPlan) => `${plan.transposeB ? "T+" : ""}${plan.variant.name}`;

/** The plan a name stands for on shape `s`, or null when the name is unknown or does not support `s`. */
export function planFromName(name: string, s: MatmulShape): MatmulPlan | null {
  const transposeB = name.startsWith("T+");
  if (transposeB && !(s.transB && !s.transA)) return null;
  const variant = MATMUL_VARIANTS.find((v) => v.name === (transposeB ? name.slice(2) : name));
  if (!variant || !variant.supports(transposeB ? { ...s, transB: false } : s)) return null;
  return { variant, transposeB };
}

const byName = (name: string) => MATMUL_VARIANTS.find((v) => v.name === name);

/** The heuristic's variant. On CPU drivers big register blocks win; on GPUs the workgroup-memory tiled kernel. */
function heuristicVariant(s: MatmulShape, cpu: boolean): MatmulVariant {
  // Lanes along m where A is transposed (its vec4 loads then serve four rows) or n is too narrow for a
  // 128-column workgroup; along n otherwise.
  const prefs = !cpu ? ["tiled64"] : s.transA || s.n < 128 ? ["rb16x16m", "rb8x8"] : ["rb16x16", "rb8x8"];
  for (const name of prefs) {
    const v = byName(name);
    if (v?.supports(s)) return v;
  }
  return MATMUL_VARIANTS[0];
}

/**
 * The heuristic plan. On CPU drivers an A·Bᵀ with a wide n and many rows per B element runs on B transposed
 * first (x·Wᵀ at DistilBERT's shapes: 21-23 GFLOP/s as it is, 33-35 with the transpose; QKᵀ, 256 rows per
 * head, gains nothing); elsewhere the heuristic's variant on B as it is.
 */
export function heuristicPlan(s: MatmulShape, cpu: boolean): MatmulPlan {
  if (cpu && s.transB && !s.transA && s.n >= 128 && s.m >= 512) {
    const nn = { ...s, transB: false };
    return { variant: heuristicVariant(nn, cpu), transposeB: true };
  }
  return { variant: heuristicVariant(s, cpu), transposeB: false };
}

export const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/** Shapes in one bucket behave alike: same transposes and alignments, sizes within a power of two. */
export function shapeBucket(s: MatmulShape): string {
  const align = [s.m, s.n, s.k].map((d) => (d % 4 === 0 ? "4" : "1")).join("");
  return `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"} b${pow2(s.batch)} m${pow2(s.m)} n${pow2(s.n)} ` +
    `k${pow2(s.k)} a${align}${s.f16 ? " f16" : ""}`;
}

/** `shapes` without repeats (equal shapes, not buckets), in first-seen order. */
export function uniqueShapes(shapes: MatmulShape[]): MatmulShape[] {
  const key = (s: MatmulShape) =>
    `${s.batch}x${s.m}x${s.n}x${s.k}${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}${s.f16 ? " f16" : ""}`;
  const seen = new Map<string, MatmulShape>();
  for (const s of shapes) seen.set(key(s), s);
  return [...seen.values()];
}

/**
 * The plan for a shape: the settings' forced plan (`T+variant` applies to A·Bᵀ products, the variant alone
 * elsewhere), else the tuned plan for its bucket, else the heuristic.
 */
export function chooseMatmulPlan(s: MatmulShape): MatmulPlan {
  const rt = gpu();
  const forced = rt.settings.matmulPlan;
  if (forced) {
    const plan = planFromName(forced, s) ??
      (forced.startsWith("T+") ? planFromName(forced.slice(2), s) : null);
    if (!plan) throw new Error(`matmul variant ${forced} is unknown or does not support the shape`);
    return plan;
  }
  const tuned = rt.tuned.get(shapeBucket(s));
  return (tuned ? planFromName(tuned, s) : null) ?? heuristicPlan(s, rt.isCpu);
}
