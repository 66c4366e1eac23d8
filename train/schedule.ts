/** Learning-rate schedules. */

/**
 * HF's get_linear_schedule_with_warmup: the multiplier for optimizer step `step` (0-based) rises linearly
 * from 0 over `warmup` steps, then falls linearly to 0 at `total`. With warmup > 0 the first step runs at 0.
 */
export function linearWarmupDecay(step: number, warmup: number, total: number): number {
  if (step < warmup) return step / Math.max(1, warmup);
  return Math.max(0, (total - step) / Math.max(1, total - warmup));
}
