/**
 * The autotuner's candidate filter (adapter class, device limits), its timing (timestamp-query where the
 * device has it, wall clock otherwise), and `bench matmul`'s use of the cache (`--retune` retimes).
 */
import assert from "node:assert/strict";
import { gpu } from "../autograd/mod.ts";
import { fill, Tensor } from "../autograd/tensor.ts";
import { dispatchMatmul } from "../autograd/ops/matmul.ts";
import { planFromName } from "../autograd/matmul_plan.ts";
import { matmulCandidates, workgroupBytes, type WorkgroupLimits } from "../autograd/autotune/candidates.ts";
import { timeRuns, timestampSpanMs, timingMethod } from "../autograd/autotune/timing.ts";
import { benchMatmul } from "../tasks/bench_matmul.ts";
import { MATMUL_VARIANTS, type MatmulShape } from "../kernels/matmul.ts";
import { gpuReady, withTempAutotuneCache } from "./helpers.ts";

const LIMITS: WorkgroupLimits = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupStorageSize: 16384,
};
const XWT: MatmulShape = { batch: 1, m: 512, n: 768, k: 768, transA: false, transB: true };

Deno.test("autotune candidates: a GPU times no register-block variant, a CPU driver no tiled64", () => {
  const onGpu = matmulCandidates(XWT, false, LIMITS), onCpu = matmulCandidates(XWT, true, LIMITS);
  assert.deepEqual(onGpu.names, ["simple", "T+simple", "tiled64", "T+tiled64"]);
  assert.ok(Object.keys(onGpu.skipped).every((n) => /^(T\+)?rb/.test(n)), JSON.stringify(onGpu.skipped));
  assert.ok(onCpu.names.includes("rb16x16") && onCpu.names.includes("T+rb16x16"));
  assert.ok(!onCpu.names.some((n) => n.includes("tiled64")));
  assert.match(onCpu.skipped["tiled64"], /slower on CPU drivers/);
});

Deno.test("autotune candidates: workgroup size and memory limits rule variants out", () => {
  const tiled = MATMUL_VARIANTS.find((v) => v.name === "tiled64")!;
  // Two 16 × 64 f32 tiles.
  assert.equal(workgroupBytes(tiled.spec(XWT).wgsl), 2 * 16 * 64 * 4);
  const smallMemory = matmulCandidates(XWT, false, { ...LIMITS, maxComputeWorkgroupStorageSize: 4096 });
  assert.deepEqual(smallMemory.names, ["simple", "T+simple"]);
  assert.match(smallMemory.skipped["tiled64"], /8192 bytes of workgroup memory > 4096/);
  // tiled64 is 16 × 16 = 256 invocations; simple 8 × 8.
  const fewThreads = matmulCandidates(XWT, false, { ...LIMITS, maxComputeInvocationsPerWorkgroup: 64 });
  assert.match(fewThreads.skipped["T+tiled64"], /256 invocations per workgroup > 64/);
  const narrow = matmulCandidates(XWT, true, { ...LIMITS, maxComputeWorkgroupSizeX: 4 });
  assert.deepEqual(narrow.names, []);
});

Deno.test("autotune timing: positive, finite times by the device's method", async () => {
  await gpuReady;
  const s: MatmulShape = { batch: 1, m: 128, n: 128, k: 128, transA: false, transB: false };
  const plan = planFromName("simple", s)!;
  const a = fill([128, 128], 0), b = fill([128, 128], 0), c = new Tensor([128 * 128]);
  try {
    const record = () => dispatchMatmul(a, b, c, s, plan);
    const ms = await timeRuns(record);
    assert.ok(Number.isFinite(ms) && ms > 0, `timeRuns gave ${ms} ms`);
    assert.equal(timingMethod(), gpu().hasTimestamps ? "timestamp-query" : "wall clock");
    if (gpu().hasTimestamps) {
      const span = await timestampSpanMs(record);
      assert.ok(Number.isFinite(span) && span > 0, `timestamps gave ${span} ms`);
    }
    assert.deepEqual(gpu().takeErrors(), []);
  } finally {
    [a, b, c].forEach((t) => t.dispose());
  }
});

/** What `bench matmul` prints, one string. */
async function benchOutput(args: string[]): Promise<string> {
  const lines: string[] = [], log = console.log;
  console.log = (...xs: unknown[]) => lines.push(xs.join(" "));
  try {
    await benchMatmul(args);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

Deno.test("bench matmul: reuses cached choices, --retune times again", () =>
  withTempAutotuneCache(async () => {
    // 160³ is one tuned bucket that no other test of this file (or process) has cached.
    const args = ["--sizes", "160", "--no-distilbert", "--cell-ms", "5", "--variants", "rb8x8"];
    const first = await benchOutput(args);
    assert.match(first, /autotune: 1 shapes timed or by heuristic, 0 from the cache/);
    assert.match(first, /matmul autotune NN b1 m256 n256 k256 a444: \S+ \(.*GFLOP\/s\)/);
    const second = await benchOutput(args);
    assert.match(second, /autotune: 0 shapes timed or by heuristic, 1 from the cache/);
    assert.doesNotMatch(second, /matmul autotune NN/);
    const third = await benchOutput([...args, "--retune"]);
    assert.match(third, /autotune: 1 shapes timed or by heuristic, 0 from the cache \(--retune\)/);
    assert.match(third, /matmul autotune NN b1 m256 n256 k256 a444: \S+ \(.*GFLOP\/s\)/);
  }));
