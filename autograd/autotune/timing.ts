/**
 * How the autotuner times kernels: on the GPU's own clock with `timestamp-query` where the device has it
 * (each compute pass writes its start and end; the sum of the passes' spans counts), else the wall clock
 * around `onSubmittedWorkDone` (which also counts submission and the host's wait: noise for microsecond
 * kernels on a GPU, and a few percent on a CPU driver).
 */
import { gpu } from "../runtime.ts";

export type TimingMethod = "timestamp-query" | "wall clock";

/** The most timestamped passes one timing holds (a matmul plan opens one; an attention step, dozens). */
const MAX_PASSES = 256;

/** How `timeRuns` times on this device. */
export const timingMethod = (): TimingMethod => gpu().hasTimestamps ? "timestamp-query" : "wall clock";

/** Milliseconds the GPU spent in the passes that `record` opens, from their timestamps. */
export async function timestampSpanMs(record: () => void): Promise<number> {
  const rt = gpu(), device = rt.device;
  const set = device.createQuerySet({ type: "timestamp", count: 2 * MAX_PASSES });
  let used = 0, overflow = false;
  rt.recordTimedPasses(() => {
    if (used + 2 > 2 * MAX_PASSES) {
      overflow = true; // passes beyond the set go untimed: the caller falls back to the wall clock
      return undefined;
    }
    const writes = { querySet: set, beginningOfPassWriteIndex: used, endOfPassWriteIndex: used + 1 };
    used += 2;
    return writes;
  }, record);
  const bytes = Math.max(8, used * 8);
  const resolved = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder();
    if (used > 0) encoder.resolveQuerySet(set, 0, used, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    await rt.checkErrors();
    const stamps = new BigUint64Array(staging.getMappedRange().slice(0, used * 8));
    let ns = 0;
    for (let i = 0; i + 1 < stamps.length; i += 2) ns += Number(stamps[i + 1] - stamps[i]);
    staging.unmap();
    return overflow ? NaN : ns / 1e6;
  } finally {
    staging.destroy();
    resolved.destroy();
    set.destroy();
  }
}

/**
 * Milliseconds for the work `record` records, by this device's timing method. A timestamp span that is not
 * positive and finite (a driver that writes zeros) falls back to the wall clock for that measurement.
 */
export async function timeRuns(record: () => void): Promise<number> {
  const rt = gpu();
  if (rt.hasTimestamps) {
    const ms = await timestampSpanMs(record);
    if (Number.isFinite(ms) && ms > 0) return ms;
  }
  const t0 = performance.now();
  record();
  await rt.sync();
  return performance.now() - t0;
}
