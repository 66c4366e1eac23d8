/** The engine's settings: one object, with scoped overrides for tests and benchmarks. */
import type { AutotuneStore } from "./autotune/cache.ts";
import type { RowLayout } from "../kernels/common.ts";

/** The engine's choices that tests, benchmarks and entry points may change (scoped: `withSettings`). */
export interface EngineSettings {
  /**
   * Forces one matmul plan by name: a variant, or `T+variant` (applied to A·Bᵀ products, the variant alone
   * elsewhere); null: the automatic choice (autograd/matmul_plan.ts).
   */
  matmulPlan: string | null;
  /** Forces the row kernels' layout (softmax, layer norm); null: the adapter's choice. */
  rowLayout: RowLayout | null;
  /** Where tuned choices persist between runs; null: nowhere (tuned once per process, as in a page). */
  autotuneStore: AutotuneStore | null;
}

/**
 * The one settings object, held beside the runtime (and the runtime's `settings`), so that an entry point
 * can choose, e.g. the autotuner's store, before the device starts.
 */
const settings: EngineSettings = { matmulPlan: null, rowLayout: null, autotuneStore: null };

/** The engine's settings, with or without a runtime. */
export function engineSettings(): EngineSettings {
  return settings;
}

/**
 * Runs `fn` with `overrides` applied to the settings, and restores them when it returns or, for a promise,
 * settles: e.g. `withSettings({ matmulPlan: "simple" }, () => check())` in a test.
 */
export function withSettings<T>(overrides: Partial<EngineSettings>, fn: () => T): T {
  const before: Partial<EngineSettings> = {};
  for (const key of Object.keys(overrides) as (keyof EngineSettings)[]) {
    Object.assign(before, { [key]: settings[key] });
  }
  const restore = () => Object.assign(settings, before);
  Object.assign(settings, overrides);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    restore();
    throw err;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}
